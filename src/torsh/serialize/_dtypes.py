"""The safetensors dtype codes and their numpy (ml_dtypes) equivalents.

safetensors has no complex128 and stores sub-byte floats (F4, F6) packed; torsh reads and writes every
code that maps onto a whole-byte numpy dtype, stores complex128 as float64 pairs (see ``_leaves``), and
reports the rest as unsupported instead of guessing.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from ._errors import UnsupportedDTypeError

__all__ = ["BITS", "code_of", "numpy_dtype"]

# Element size in bits of every code safetensors 0.8 knows (used to validate headers, even for codes
# torsh cannot turn into arrays).
BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E5M2FNUZ": 8,
    "F8_E4M3FNUZ": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}

_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "U8": np.dtype("<u1"),
    "I8": np.dtype("<i1"),
    "U16": np.dtype("<u2"),
    "I16": np.dtype("<i2"),
    "U32": np.dtype("<u4"),
    "I32": np.dtype("<i4"),
    "U64": np.dtype("<u8"),
    "I64": np.dtype("<i8"),
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "C64": np.dtype("<c8"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "F8_E5M2": np.dtype(ml_dtypes.float8_e5m2),
    "F8_E4M3": np.dtype(ml_dtypes.float8_e4m3fn),
    "F8_E5M2FNUZ": np.dtype(ml_dtypes.float8_e5m2fnuz),
    "F8_E4M3FNUZ": np.dtype(ml_dtypes.float8_e4m3fnuz),
    "F8_E8M0": np.dtype(ml_dtypes.float8_e8m0fnu),
}

_FROM_NUMPY: dict[str, str] = {dt.newbyteorder("=").name: code for code, dt in _TO_NUMPY.items()}


def numpy_dtype(code: str, where: str) -> np.dtype:
    """The little-endian numpy dtype of a safetensors code (``where`` names the file and key)."""
    try:
        return _TO_NUMPY[code]
    except KeyError:
        raise UnsupportedDTypeError(
            f"{where}: dtype {code} is valid safetensors but has no whole-byte array type in torsh; "
            f"supported: {sorted(_TO_NUMPY)}"
        ) from None


def code_of(dtype: np.dtype, where: str) -> str:
    """The safetensors code of a numpy/JAX dtype (``where`` names the leaf)."""
    name = np.dtype(dtype).newbyteorder("=").name
    try:
        return _FROM_NUMPY[name]
    except KeyError:
        raise UnsupportedDTypeError(
            f"{where}: cannot store dtype {name} in safetensors; storable dtypes: "
            f"{sorted(_FROM_NUMPY)} (complex128 is stored as float64 pairs, PRNG keys as their data)"
        ) from None
