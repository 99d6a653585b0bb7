"""Helpers shared by the layers and functions: keys, logical axes, dtypes, argument and input checks.

The public ones (``split_key``, ``resolve_key``, ``check_axes``) are for layer authors and exported by
:mod:`torsh.nn`; the rest are torsh.nn's own, imported from here rather than copied.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import random as _random
from .._dtype import dtype as _as_dtype
from .._dtype import get_default_dtype
from ..errors import ConfigError, DTypeError, ShapeError
from ..tree._struct import constructing

__all__ = ["check_axes", "resolve_key", "split_key"]

Axes = tuple[str | None, ...]
REDUCTIONS = ("none", "mean", "sum")


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_key(key: Any, where: str) -> jax.Array:
    """A single PRNG key (typed, or a legacy ``uint32[2]`` one), else ConfigError/ShapeError."""
    dt = getattr(key, "dtype", None)
    if dt is not None and hasattr(key, "shape"):
        typed = jax.dtypes.issubdtype(dt, jax.dtypes.prng_key)
        raw = not typed and np.dtype(dt) == np.uint32 and tuple(key.shape)[-1:] == (2,)
        if typed or raw:
            batch = tuple(key.shape) if typed else tuple(key.shape)[:-1]
            if batch:
                raise ShapeError(
                    f"{where}: expected a single key, got an array of keys of shape {list(batch)}; "
                    "index it (keys[0])"
                )
            return key
    raise ConfigError(
        f"{where}: key must be None, an int seed or a PRNG key (torsh.random.key(seed)), got "
        f"{type(key).__name__} {key!r:.60}"
    )


def resolve_key(key: Any) -> jax.Array:
    """A concrete PRNG key for building a layer: ``key`` itself, a seed's key, or the next stream key.

    Use it in ``__init__`` where parameters are drawn. ``None`` takes the next key of the
    construction stream (seeded by :func:`torsh.manual_seed`), which is only possible outside
    ``jit``/``grad`` (a key drawn while tracing would be frozen into the compiled code). In
    ``forward`` use :func:`split_key`, which passes ``None`` on instead.

    Args:
      key: None, an int seed, or a PRNG key (``torsh.random.key(seed)``).

    Returns:
      A single PRNG key.

    Raises:
      ConfigError: ``key`` is not None, an int or a PRNG key.
      ShapeError: ``key`` is a batch of keys.
      TraceError: ``key`` is None inside a traced function.

    Example:
      >>> import jax, torsh
      >>> from torsh import nn
      >>> kw, kb = jax.random.split(nn.resolve_key(0))
      >>> torsh.manual_seed(1)
      >>> nn.resolve_key(None).shape
      ()
    """
    if key is None:
        return _random.next_key()
    if _is_int(key):
        return jax.random.key(int(key))
    return _check_key(key, "resolve_key")


def split_key(key: Any, num: int) -> list[Any]:
    """``num`` independent keys from ``key`` (the helper for handing one ``key`` to several sub-layers).

    ``key=None`` depends on where it is called, not on whether JAX is tracing:

    - in a module's ``__init__`` (construction) it splits the next key of the construction stream
      (:func:`resolve_key`; seeded by :func:`torsh.manual_seed`);
    - anywhere else, e.g. in ``forward``, it returns ``num`` Nones, eagerly and under ``jit`` alike:
      sub-layers given ``key=None`` run deterministically (eval mode) or say that they need a key.
      A compiled ``forward`` therefore never depends on the global stream.

    Args:
      key: None, an int seed, or a PRNG key.
      num: how many keys (a non-negative int).

    Returns:
      A list of ``num`` keys, or of ``num`` Nones.

    Raises:
      ConfigError: ``num`` is not a non-negative int, or ``key`` is not None, an int or a key.
      ShapeError: ``key`` is a batch of keys.
      TraceError: ``key`` is None in an ``__init__`` that runs inside a traced function.

    Example:
      >>> import jax, jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> len(nn.split_key(torsh.random.key(0), 3))
      3
      >>> nn.split_key(None, 2)  # outside __init__ (e.g. an eval-mode forward), eager or under jit
      [None, None]
    """
    if not _is_int(num) or num < 0:
        raise ConfigError(f"split_key: num must be a non-negative int, got {num!r}")
    if key is None and not constructing():
        return [None] * int(num)
    if key is None:
        return list(jax.random.split(_random.next_key(), int(num)))
    k = jax.random.key(int(key)) if _is_int(key) else _check_key(key, "split_key")
    return list(jax.random.split(k, int(num)))


def check_axes(axes: Any, shape: Sequence[int] | None = None, *, name: str = "axes") -> Axes:
    """Validate logical axis names: a tuple of names (or None per unnamed axis), one per array axis.

    Args:
      axes: a sequence of axis names (``str``) or None, e.g. ``("mlp", "embed")``.
      shape: the array's shape, to check one name per axis (None: not checked).
      name: what the names belong to, for messages (``"Linear.weight"``).

    Returns:
      ``axes`` as a tuple.

    Raises:
      ConfigError: ``axes`` is not a sequence of str/None, or repeats a name.
      ShapeError: ``len(axes)`` differs from ``len(shape)``.

    Example:
      >>> from torsh import nn
      >>> nn.check_axes(["mlp", "embed"], (8, 4), name="Linear.weight")
      ('mlp', 'embed')
    """
    ok = isinstance(axes, Sequence) and not isinstance(axes, str)
    if not ok or not all(a is None or isinstance(a, str) for a in axes):
        hint = f" (one name is a 1-tuple: ({axes!r},))" if isinstance(axes, str) else ""
        raise ConfigError(f"{name}: logical axes must be a tuple of axis names or None, got {axes!r}{hint}")
    axes = tuple(axes)
    if shape is not None and len(axes) != len(shape):
        raise ShapeError(
            f"{name}: has shape {list(shape)} ({len(shape)} axes) but {len(axes)} logical axis names "
            f"were given: {axes!r}"
        )
    named = [a for a in axes if a is not None]
    if len(set(named)) != len(named):
        raise ConfigError(f"{name}: logical axes repeat a name: {axes!r}")
    return axes


def at(where: str) -> str:
    """Message prefix naming the function (``"conv2d: "``); empty inside a module, whose ``__call__``
    prefixes its own path and description."""
    return f"{where}: " if where else ""


def ntuple(value: Any, n: int, name: str, where: str, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as an ``n``-tuple of ints >= ``minimum`` (an int is repeated), else ConfigError."""
    if isinstance(value, int) and not isinstance(value, bool):
        values: tuple[Any, ...] = (value,) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) == 1 and n > 1:
            values = values * n
    else:
        raise ConfigError(f"{at(where)}{name} must be an int or a tuple of {n} ints, got {value!r}")
    if len(values) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"{at(where)}{name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        bound = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f">= {minimum}"
        raise ConfigError(f"{at(where)}{name} must be {bound}, got {value!r}")
    return values


def opmath(x: jax.Array) -> jax.Array:
    """``x`` in its computation dtype: half precision is computed in float32, as PyTorch's CPU kernels."""
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def check_p(p: Any, name: str = "dropout probability") -> None:
    """ConfigError unless ``p`` is a number in [0, 1] (PyTorch's message for dropout probabilities)."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name} has to be between 0 and 1, but got {p!r}")


def check_reduction(name: str, reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    """ConfigError unless ``reduction`` is one of ``allowed`` (a loss's ``reduction=`` argument)."""
    if reduction not in allowed:
        raise ConfigError(f"{name}: reduction must be one of {list(allowed)}, got {reduction!r}")


def join_path(*parts: str) -> str:
    """Dotted path of the non-empty ``parts`` (``join_path("", "0", "weight") == "0.weight"``)."""
    return ".".join(p for p in parts if p)


def float_dtype(dtype: Any) -> Any:
    """``dtype`` normalised, or the default floating dtype; must be floating."""
    d = get_default_dtype() if dtype is None else _as_dtype(dtype)
    if not jnp.issubdtype(d, jnp.floating):
        raise ConfigError(f"expected a floating dtype for parameters, got {d}")
    return d


def shape_str(shape: Sequence[Any]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def check_float_input(x: Any, like: Any = None, what: str = "input") -> None:
    """Raise DTypeError unless ``x`` is a floating array (of ``like``'s dtype when given)."""
    dt = getattr(x, "dtype", None)
    if dt is None or not jnp.issubdtype(dt, jnp.floating):
        raise DTypeError(
            f"expected a floating-point {what}, got {dt if dt is not None else type(x).__name__}"
        )
    if like is not None and dt != like.dtype:
        raise DTypeError(
            f"expected {what} of dtype {like.dtype} (the parameters' dtype), got {dt}; cast the input "
            f"or convert the module with `.to({str(dt)!r})`"
        )


def check_ndim(x: Any, allowed: Sequence[int], layout: str) -> None:
    """Raise ShapeError unless ``x.ndim`` is one of ``allowed`` (``layout`` names the axes)."""
    if x.ndim not in allowed:
        ranks = " or ".join(f"{r}D" for r in allowed)
        raise ShapeError(
            f"expected {ranks} input {layout}, got {x.ndim}D input of shape {shape_str(x.shape)}"
        )


def positive_int(name: str, value: Any, owner: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        kind = "a non-negative" if allow_zero else "a positive"
        raise ConfigError(f"{owner}: {name} must be {kind} int, got {value!r}")
    return value
