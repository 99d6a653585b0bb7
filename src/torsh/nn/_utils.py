"""Small helpers shared by the layers: construction keys, dtypes, input checks."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .. import random as _random
from .._dtype import dtype as _as_dtype
from .._dtype import get_default_dtype
from ..errors import ConfigError, DTypeError, ShapeError

__all__ = ["split_key"]


def resolve_key(key: Any) -> jax.Array:
    """``key`` itself, or the next key of the construction stream (``torsh.manual_seed``)."""
    if key is None:
        return _random.next_key()
    if isinstance(key, int) and not isinstance(key, bool):
        return jax.random.key(key)
    return key


def split_key(key: Any, num: int) -> list[jax.Array | None]:
    """``num`` keys from ``key`` (or from the construction stream when ``key`` is None).

    Inside a traced function (``jit``/``grad``, e.g. a ``forward`` in eval mode, where the key is
    None) ``split_key(None, n)`` returns ``n`` Nones: layers given ``key=None`` in ``forward`` are
    deterministic, and drawing from the construction stream while tracing would be an error.

    Example:
      >>> from torsh import nn
      >>> import torsh
      >>> len(nn.split_key(torsh.random.key(0), 3))
      3
    """
    try:
        n = operator.index(num)
    except TypeError:
        n = -1
    if isinstance(num, bool) or n < 0:
        raise ConfigError(f"split_key: num must be a non-negative int, got {num!r}")
    num = n
    if key is None and _random.is_tracing():
        return [None] * num
    return list(jax.random.split(resolve_key(key), num))


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
