"""Vectorising and parallel maps: ``vmap`` and ``pmap`` with per-argument axes by name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from ..errors import ConfigError, ShapeError
from ._args import ArgSpec, bind_to_positional, positional_names, resolve_positions, signature_of

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


def _map_by_name(
    fn: Callable, axes: tuple, build: Callable[[tuple], Callable], fill_to: int = -1
) -> Callable:
    """Call ``build(in_axes)``'s mapped function with in_axes given per parameter (``axes``).

    JAX matches in_axes to the positional arguments actually passed, so keyword arguments for
    positional parameters are moved into place; a parameter the caller leaves at its default gets
    that default, broadcast (axis ``None``), and in_axes is cut to the arguments given. One mapped
    function is built per calling convention and reused. Parameters up to ``fill_to`` (pmap's static
    arguments, which JAX needs positionally) are always filled.
    """
    names = positional_names(fn) or []
    sig = signature_of(fn)
    built: dict[tuple, Callable] = {}

    def call(*args: Any, **kwargs: Any) -> Any:
        args_list = list(args)
        kwargs = dict(kwargs)
        given = [i for i in range(len(args_list), len(names)) if names[i] in kwargs]
        last = max([*given, fill_to, len(args_list) - 1])
        defaulted = []
        for i in range(len(args_list), last + 1):
            name = names[i]
            if name in kwargs:
                args_list.append(kwargs.pop(name))
                continue
            default = sig.parameters[name].default if sig is not None else inspect.Parameter.empty
            if default is inspect.Parameter.empty:
                raise ConfigError(f"{getattr(fn, '__name__', fn)}: missing argument {name!r}")
            args_list.append(default)
            defaulted.append(i)
        key = (len(args_list), tuple(defaulted))
        mapped = built.get(key)
        if mapped is None:
            call_axes = tuple(
                None if i in defaulted else (axes[i] if i < len(axes) else 0) for i in range(len(args_list))
            )
            mapped = built[key] = build(call_axes)
        return mapped(*args_list, **kwargs)

    return call


def _reraise_shape(what: str, fn: Callable) -> Callable:
    def decorate(call: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except ValueError as e:
                message = str(e)
                # JAX's wording for mismatched sizes and for an axis past an argument's rank.
                shape_problem = ("inconsistent sizes", "rank should be at least", "out of bounds")
                if any(text in message for text in shape_problem):
                    raise ShapeError(f"{what} of {getattr(fn, '__name__', fn)}: {message}") from None
                # pmap (jit + shard_map since JAX 0.8) words mapped sizes that differ or exceed the
                # device count as sharding or squeeze failures.
                if what == "pmap" and ("evenly divide" in message or "axis to squeeze out" in message):
                    raise ShapeError(
                        f"pmap of {getattr(fn, '__name__', fn)}: every mapped axis must have the same size, "
                        f"at most the number of devices ({jax.local_device_count()} local device(s) unless "
                        f"devices= is given); JAX says: {message}"
                    ) from None
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
    """Vectorise ``fn`` over a leading (or chosen) axis of its arguments (``torch.vmap``).

    Args:
        fn: The function to vectorise (written for one example).
        in_axes: An int/None for all arguments, a tuple with one entry per positional argument (each a
            pytree prefix of that argument: e.g. ``{"weight": None, "bias": 0}``), or a dict from parameter
            name to axes (parameters not named map axis 0). ``None`` broadcasts an argument.
        out_axes: The same, for outputs.
        axis_name: A name for the mapped axis, for collectives (``torsh.psum(x, "batch")``).
        axis_size: The mapped size, when no argument is mapped (as in :func:`jax.vmap`).
        spmd_axis_name: As in :func:`jax.vmap`.

    Returns:
        The vectorised function, with ``fn``'s parameters.

    Raises:
        ConfigError: If ``in_axes`` names parameters ``fn`` does not have (or ``fn``'s signature cannot
            be read), or a call misses an argument.
        ShapeError: From the returned function, if the mapped axes differ in size or do not exist.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> def affine(w, x):
        ...     return w @ x
        >>> torsh.vmap(affine, in_axes={"w": None})(jnp.eye(2), jnp.ones((5, 2))).shape
        (5, 2)
    """
    axes, positions = _axes_by_position(fn, in_axes, "vmap")

    def build(axes: Any) -> Callable:
        return jax.vmap(
            fn,
            in_axes=axes,
            out_axes=out_axes,
            axis_name=axis_name,
            axis_size=axis_size,
            spmd_axis_name=spmd_axis_name,
        )

    mapped = build(axes) if positions is None else _map_by_name(fn, axes, build)
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
        fn: The per-device function.
        axis_name: Name of the mapped axis for collectives.
        in_axes: As in :func:`vmap` (dict by parameter name allowed).
        out_axes: As in :func:`vmap`.
        static: Arguments (names or positions) broadcast as compile-time constants.
        donate: Arguments (names or positions) whose buffers may be reused.
        devices: The devices to use (default: the first ``n`` local devices).
        axis_size: The mapped size, as in :func:`jax.pmap`.

    Returns:
        The parallel function; its outputs have the mapped axis first.

    Raises:
        ConfigError: If ``in_axes``, ``static`` or ``donate`` name unknown parameters.
        ShapeError: From the returned function, if mapped sizes differ or exceed the device count.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> n = jax.local_device_count()
        >>> torsh.pmap(lambda x: torsh.psum(x, "i"), axis_name="i")(jnp.ones(n)).tolist() == [float(n)] * n
        True
    """
    axes, positions = _axes_by_position(fn, in_axes, "pmap")
    static_pos = resolve_positions(fn, static, "pmap(static=...)") if static is not None else ()
    donate_pos = resolve_positions(fn, donate, "pmap(donate=...)") if donate is not None else ()

    def build(axes: Any) -> Callable:
        return jax.pmap(
            fn,
            axis_name=axis_name,
            in_axes=axes,
            out_axes=out_axes,
            static_broadcasted_argnums=static_pos,
            devices=devices,
            axis_size=axis_size,
            donate_argnums=donate_pos,
        )

    if positions is not None:
        return _reraise_shape("pmap", fn)(_map_by_name(fn, axes, build, fill_to=max(static_pos, default=-1)))
    mapped = build(axes)
    wanted = tuple(sorted(set(static_pos) | set(donate_pos)))
    if wanted:
        inner = mapped

        def mapped(*args: Any, **kwargs: Any) -> Any:
            args, kwargs = bind_to_positional(fn, args, kwargs, wanted)
            return inner(*args, **kwargs)

    return _reraise_shape("pmap", fn)(mapped)
