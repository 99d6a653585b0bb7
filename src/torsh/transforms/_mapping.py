"""Vectorising and parallel maps: ``vmap`` and ``pmap`` with per-argument axes by name."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from ..errors import ConfigError, ShapeError
from ._args import ArgSpec, bind_to_positional, positional_names, resolve_positions

__all__ = ["vmap", "pmap"]


def _axes_by_position(fn: Callable, in_axes: Any, what: str) -> tuple[Any, tuple[int, ...] | None]:
    """A dict ``{param_name: axes}`` becomes a positional tuple (unnamed parameters map axis 0)."""
    if not isinstance(in_axes, Mapping):
        return in_axes, None
    names = positional_names(fn)
    if names is None:
        raise ConfigError(f"{what}: in_axes by name needs a function with an inspectable signature")
    unknown = sorted(set(in_axes) - set(names))
    if unknown:
        raise ConfigError(f"{what}: in_axes names {unknown} are not parameters of {fn.__name__}: {names}")
    return tuple(in_axes.get(n, 0) for n in names), tuple(range(len(names)))


def _reraise_shape(what: str, fn: Callable) -> Callable:
    def decorate(call: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except ValueError as e:
                message = str(e)
                if "inconsistent sizes" in message or "axis" in message and "out of bounds" in message:
                    raise ShapeError(f"{what} of {getattr(fn, '__name__', fn)}: {message}") from None
                raise

        return wrapper

    return decorate


def vmap(
    fn: Callable,
    in_axes: int | None | Sequence[Any] | Mapping[str, Any] = 0,
    out_axes: Any = 0,
    axis_name: Any = None,
    axis_size: int | None = None,
    spmd_axis_name: Any = None,
) -> Callable:
    """Vectorise ``fn`` over a leading (or chosen) axis of its arguments.

    Args:
      in_axes: an int/None for all arguments, a tuple with one entry per positional argument (each a
        pytree prefix of that argument: e.g. ``{"weight": None, "bias": 0}``), or a dict from parameter
        name to axes (parameters not named map axis 0). ``None`` broadcasts an argument.
      out_axes: the same, for outputs.
      axis_name: a name for the mapped axis, for collectives (``torsh.psum(x, "batch")``).
      axis_size, spmd_axis_name: as in :func:`jax.vmap`.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> def affine(w, x):
      ...     return w @ x
      >>> torsh.vmap(affine, in_axes={"w": None})(jnp.eye(2), jnp.ones((5, 2))).shape
      (5, 2)
    """
    axes, positions = _axes_by_position(fn, in_axes, "vmap")
    mapped = jax.vmap(
        fn, in_axes=axes, out_axes=out_axes, axis_name=axis_name, axis_size=axis_size,
        spmd_axis_name=spmd_axis_name,
    )
    if positions is not None:
        inner = mapped

        def mapped(*args: Any, **kwargs: Any) -> Any:  # noqa: F811 - keyword args become positional
            args, kwargs = bind_to_positional(fn, args, kwargs, positions)
            return inner(*args, **kwargs)

    return _reraise_shape("vmap", fn)(mapped)


def pmap(
    fn: Callable,
    axis_name: Any = None,
    *,
    in_axes: int | None | Sequence[Any] | Mapping[str, Any] = 0,
    out_axes: Any = 0,
    static: ArgSpec | None = None,
    donate: ArgSpec | None = None,
    devices: Sequence[Any] | None = None,
    axis_size: int | None = None,
) -> Callable:
    """Run ``fn`` in parallel on several devices, one slice of the leading axis each (SPMD).

    The classic style; since JAX 0.8 it is implemented with ``jit`` + ``shard_map``. For new code,
    prefer sharding annotations (``torsh.distributed``). Collectives such as ``torsh.psum(x,
    axis_name)`` reduce across devices.

    Args:
      axis_name: name of the mapped axis for collectives.
      in_axes, out_axes: as in :func:`vmap` (dict by parameter name allowed).
      static: arguments (names or positions) broadcast as compile-time constants.
      donate: arguments (names or positions) whose buffers may be reused.
      devices: the devices to use (default: the first ``n`` local devices).

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> n = jax.local_device_count()
      >>> torsh.pmap(lambda x: torsh.psum(x, "i"), axis_name="i")(jnp.ones(n)).tolist() == [float(n)] * n
      True
    """
    axes, positions = _axes_by_position(fn, in_axes, "pmap")
    static_pos = resolve_positions(fn, static, "pmap(static=...)") if static is not None else ()
    donate_pos = resolve_positions(fn, donate, "pmap(donate=...)") if donate is not None else ()
    mapped = jax.pmap(
        fn, axis_name=axis_name, in_axes=axes, out_axes=out_axes, static_broadcasted_argnums=static_pos,
        devices=devices, axis_size=axis_size, donate_argnums=donate_pos,
    )
    wanted = tuple(sorted(set(static_pos) | set(donate_pos) | set(positions or ())))
    if wanted:
        inner = mapped

        def mapped(*args: Any, **kwargs: Any) -> Any:  # noqa: F811
            args, kwargs = bind_to_positional(fn, args, kwargs, wanted)
            return inner(*args, **kwargs)

    return _reraise_shape("pmap", fn)(mapped)
