"""Readable, bounded ``repr`` for structs: arrays are summarised as ``f32[64,10]``."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

_DTYPE_SHORT = {
    "float32": "f32",
    "float64": "f64",
    "float16": "f16",
    "bfloat16": "bf16",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "bool": "bool",
    "complex64": "c64",
    "complex128": "c128",
}


def array_summary(x: Any) -> str:
    """A short description of an array, as reprs of modules and optimizer states show it.

    Args:
      x: an array (or anything with ``shape`` and ``dtype``); other values use their ``repr``.

    Returns:
      ``"f32[64,10]"``-style text: the short dtype name and the shape.

    Example:
      >>> import jax.numpy as jnp
      >>> import torsh
      >>> torsh.tree.array_summary(jnp.zeros((64, 10))), torsh.tree.array_summary(3)
      ('f32[64,10]', '3')
    """
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return repr(x)
    name = str(dtype)
    if name.startswith("key<"):
        return f"{name}[{','.join(map(str, shape))}]"
    short = _DTYPE_SHORT.get(np.dtype(dtype).name if name in _DTYPE_SHORT else name, name)
    return f"{short}[{','.join(map(str, shape))}]"


def _value_repr(value: Any, indent: str) -> str:
    from ._struct import Struct

    if isinstance(value, Struct):
        return struct_repr(value, indent)
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return array_summary(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Struct) or hasattr(v, "shape") for v in value):
        inner = indent + "  "
        items = ",\n".join(f"{inner}{_value_repr(v, inner)}" for v in value)
        brackets = "[]" if isinstance(value, list) else "()"
        return f"{brackets[0]}\n{items}\n{indent}{brackets[1]}"
    if isinstance(value, dict) and any(isinstance(v, Struct) or hasattr(v, "shape") for v in value.values()):
        inner = indent + "  "
        items = ",\n".join(f"{inner}{k!r}: {_value_repr(v, inner)}" for k, v in value.items())
        return f"{{\n{items}\n{indent}}}"
    return repr(value)


def struct_repr(obj: Any, indent: str = "") -> str:
    """Multi-line repr of a struct, one field per line, arrays summarised."""
    custom = getattr(type(obj), "__torsh_repr__", None)
    if custom is not None:
        return custom(obj, indent)
    inner = indent + "  "
    parts = [
        f"{inner}{f.name}={_value_repr(obj.__dict__.get(f.name), inner)}"
        for f in dataclasses.fields(obj)
        if f.repr
    ]
    if not parts:
        return f"{type(obj).__name__}()"
    return f"{type(obj).__name__}(\n" + ",\n".join(parts) + f"\n{indent})"
