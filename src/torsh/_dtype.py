"""Dtype names and the default floating dtype."""

from __future__ import annotations

import threading
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ConfigError, DTypeError

__all__ = [
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "half",
    "float",
    "double",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool_",
    "dtype",
    "get_default_dtype",
    "set_default_dtype",
    "finfo",
    "iinfo",
]

float16 = half = jnp.dtype("float16")
bfloat16 = jnp.dtype(jnp.bfloat16)
float32 = float = jnp.dtype("float32")  # shadows the builtin on purpose: PyTorch's names
float64 = double = jnp.dtype("float64")
complex64 = jnp.dtype("complex64")
complex128 = jnp.dtype("complex128")
int8, int16, int32, int64 = (jnp.dtype(n) for n in ("int8", "int16", "int32", "int64"))
uint8, uint16, uint32, uint64 = (jnp.dtype(n) for n in ("uint8", "uint16", "uint32", "uint64"))
bool_ = jnp.dtype("bool")

_NAMES = {
    "float16": float16,
    "half": float16,
    "bfloat16": bfloat16,
    "float32": float32,
    "float": float32,
    "float64": float64,
    "double": float64,
    "complex64": complex64,
    "complex128": complex128,
    "int8": int8,
    "int16": int16,
    "int32": int32,
    "int64": int64,
    "long": int64,
    "int": int32,
    "uint8": uint8,
    "uint16": uint16,
    "uint32": uint32,
    "uint64": uint64,
    "bool": bool_,
}
_lock = threading.Lock()
_default_float = float32


def dtype(x: Any) -> np.dtype:
    """Normalise a dtype given by name, numpy/JAX dtype or ``torch.dtype`` to a numpy dtype.

    Names are PyTorch's and numpy's: ``"float32"``, ``"float"``, ``"half"``, ``"bfloat16"``, ``"long"``,
    ``"torch.float16"``...

    Args:
        x: A dtype name, a numpy or JAX dtype (or scalar type), or a ``torch.dtype``.

    Returns:
        The ``numpy.dtype`` (JAX's dtypes are numpy dtypes).

    Raises:
        DTypeError: If ``x`` is not a known name or a dtype (``None`` included).

    Example:
        >>> import torch, torsh
        >>> torsh.dtype("half")
        dtype('float16')
        >>> torsh.dtype(torch.bfloat16) == torsh.bfloat16
        True
    """
    if isinstance(x, str):
        name = x.removeprefix("torch.")
        if name in _NAMES:
            return _NAMES[name]
        raise DTypeError(f"unknown dtype name {x!r}; expected one of {sorted(_NAMES)}")
    if type(x).__module__ == "torch" and type(x).__name__ == "dtype":
        return dtype(str(x))
    # numpy reads None as float64 and accepts Python objects: neither is an array dtype here.
    if x is not None:
        try:
            d = jnp.dtype(x)
        except (TypeError, ValueError):  # JAX raises ValueError for objects carrying a foreign .dtype
            d = None
        if d is not None and d.kind != "O":
            return d
    raise DTypeError(f"expected a dtype (name, numpy or JAX dtype), got {type(x).__name__} {x!r}")


def get_default_dtype() -> np.dtype:
    """The floating dtype used when none is given (float32 unless changed), like ``torch.get_default_dtype``.

    Returns:
        The default floating ``numpy.dtype``.

    Example:
        >>> import torsh
        >>> torsh.get_default_dtype()
        dtype('float32')
        >>> torsh.tensor([1.5]).dtype == torsh.get_default_dtype()
        True
    """
    return _default_float


def set_default_dtype(d: Any) -> None:
    """Set the default floating dtype: float16, bfloat16, float32 or float64 (``torch.set_default_dtype``).

    float64 turns on JAX's 64-bit mode (``jax_enable_x64``), without which JAX would silently
    produce float32. Setting a narrower default later leaves 64-bit mode on (turning it off would
    change the dtype of arrays other code already relies on).

    Args:
        d: A floating dtype (name, numpy/JAX dtype or ``torch.dtype``).

    Raises:
        DTypeError: If ``d`` is not a dtype.
        ConfigError: If ``d`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> torsh.set_default_dtype("bfloat16")
        >>> torsh.zeros(2).dtype
        dtype(bfloat16)
        >>> torsh.set_default_dtype(torsh.float32)
        >>> torsh.zeros(2).dtype
        dtype('float32')
    """
    global _default_float
    d = dtype(d)
    if not jnp.issubdtype(d, jnp.floating):
        raise ConfigError(f"set_default_dtype: expected a floating dtype, got {d}")
    if d == float64 and not jax.config.values["jax_enable_x64"]:
        jax.config.update("jax_enable_x64", True)
    with _lock:
        _default_float = d


def finfo(d: Any) -> Any:
    """Machine limits of a floating dtype (``torch.finfo`` / ``jnp.finfo``).

    Args:
        d: A floating dtype (name, numpy/JAX dtype or ``torch.dtype``).

    Returns:
        A ``finfo`` object with ``eps``, ``max``, ``min``, ``tiny``, ``bits``...

    Raises:
        DTypeError: If ``d`` is not a dtype.

    Example:
        >>> import torsh
        >>> torsh.finfo("bfloat16").eps
        0.0078125
        >>> torsh.finfo(torsh.float16).max.item(), torsh.finfo("float32").bits
        (65504.0, 32)
    """
    return jnp.finfo(dtype(d))


def iinfo(d: Any) -> Any:
    """Machine limits of an integer dtype (``torch.iinfo`` / ``jnp.iinfo``).

    Args:
        d: An integer dtype (name, numpy/JAX dtype or ``torch.dtype``).

    Returns:
        An ``iinfo`` object with ``min``, ``max`` and ``bits``.

    Raises:
        DTypeError: If ``d`` is not a dtype.

    Example:
        >>> import torsh
        >>> torsh.iinfo("int8").min, torsh.iinfo(torsh.uint8).max
        (-128, 255)
    """
    return jnp.iinfo(dtype(d))
