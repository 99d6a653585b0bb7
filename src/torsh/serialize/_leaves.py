"""What each kind of pytree leaf becomes in a safetensors file, and back.

* arrays (``jax.Array``, ``numpy.ndarray``, numpy scalars) are tensors under their dotted path;
* complex128 arrays (safetensors has no such code) are stored as float64 ``[..., 2]`` pairs, the
  layout of ``torch.view_as_real``;
* typed PRNG keys are stored as their raw ``uint32`` key data (``jax.random.key_data``);
* Python ``bool``/``int``/``float``/``complex``/``str`` leaves go into the header's metadata.

A tree that is a single leaf (e.g. a PRNG key) has the empty path and is stored under the key ``""``.

Everything that is not a plain tensor is recorded, typed, in the metadata entry ``torsh.leaves`` so
that it round-trips exactly (floats as ``float.hex``, integers of any size as decimal strings).
Other readers (``safetensors.numpy``, ``safetensors.torch``) still see standard tensors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from .. import tree as _tree
from ..errors import CheckpointError, ConfigError, TraceError
from ._dtypes import BITS, code_of
from ._errors import CorruptFileError, FormatVersionError, UnsupportedDTypeError
from ._format import METADATA_KEY, strict_json
from ._host import to_host

__all__ = [
    "FORMAT_VERSION",
    "VERSION_KEY",
    "LEAVES_KEY",
    "Record",
    "encode_tree",
    "StoredLeaves",
    "decode_metadata",
    "user_metadata",
]

FORMAT_VERSION = 1
VERSION_KEY = "torsh.format_version"
LEAVES_KEY = "torsh.leaves"
_RESERVED_PREFIX = "torsh."
_KEY_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


@dataclass
class Record:
    """One tensor to write: where it goes in the header and how to fetch its bytes."""

    key: str
    code: str
    shape: tuple[int, ...]
    nbytes: int
    source: Any
    complex_pairs: bool = False

    def fetch(self, copy: bool) -> np.ndarray:
        """The stored layout as a contiguous little-endian host array."""
        host = to_host(self.source, self.key, copy=copy)
        if self.complex_pairs:
            host = host.reshape(-1).view("<f8").reshape(self.shape)
        return host


def is_key_array(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _encode_scalar(x: Any) -> list[Any]:
    if isinstance(x, bool):
        return ["bool", x]
    if isinstance(x, int):
        return ["int", str(int(x))]
    if isinstance(x, float):
        return ["float", float(x).hex()]
    if isinstance(x, complex):
        return ["complex", [x.real.hex(), x.imag.hex()]]
    return ["str", str(x)]


def _check_key(key: str) -> None:
    if key == METADATA_KEY:
        raise ConfigError(f"save: {METADATA_KEY!r} is reserved by the safetensors format; rename that entry")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"save: key {key!r} is not valid Unicode text") from None


def user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Validate the user's metadata: a str -> str mapping without torsh's reserved names."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"save: metadata must be a dict of str to str, got {type(metadata).__name__}")
    out: dict[str, str] = {}
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(
                f"save: metadata must map str to str (safetensors stores text only); got "
                f"{type(k).__name__} {k!r} -> {type(v).__name__}; use json.dumps for structured values"
            )
        if k.startswith(_RESERVED_PREFIX):
            raise ConfigError(f"save: metadata key {k!r} uses the reserved prefix {_RESERVED_PREFIX!r}")
        out[k] = v
    return out


def encode_tree(tree: Any, metadata: Mapping[str, str] | None) -> tuple[list[Record], dict[str, str]]:
    """Records in data order (largest item size first, then by key) and the full header metadata."""
    meta = user_metadata(metadata)
    pairs, _ = _tree.flatten_with_path(tree)
    records: list[Record] = []
    scalars: dict[str, list[Any]] = {}
    keys: dict[str, str] = {}
    complex_keys: list[str] = []
    seen: set[str] = set()
    for path, leaf in pairs:
        _check_key(path)
        if path in seen:
            raise ConfigError(
                f"save: two leaves have the same dotted path {path!r} (e.g. a dict key containing a dot "
                "next to a nested entry); rename one"
            )
        seen.add(path)
        if isinstance(leaf, jax.core.Tracer):
            raise TraceError(
                f"save: leaf {path!r} is a traced value; save outside jit/grad/vmap (return the arrays "
                "from the traced function, then save them)"
            )
        if isinstance(leaf, jax.Array) and leaf.is_deleted():
            raise CheckpointError(
                f"save: leaf {path!r} is a deleted array (donated to a jitted function?); save the arrays "
                "that the function returned instead"
            )
        if is_key_array(leaf):
            impl = str(jax.random.key_impl(leaf))
            data = jax.random.key_data(leaf)
            keys[path] = impl
            records.append(_array_record(path, data))
        elif isinstance(leaf, (jax.Array, np.ndarray, np.generic)):
            if np.dtype(leaf.dtype) == np.complex128:
                shape = (*leaf.shape, 2)
                records.append(Record(path, "F64", shape, 16 * int(np.prod(leaf.shape)), leaf, True))
                complex_keys.append(path)
            else:
                records.append(_array_record(path, leaf))
        elif isinstance(leaf, (bool, int, float, complex, str)):
            scalars[path] = _encode_scalar(leaf)
        else:
            raise UnsupportedDTypeError(
                f"save: leaf {path!r} is a {type(leaf).__module__}.{type(leaf).__qualname__}; storable "
                "leaves are arrays, PRNG keys, and Python bool/int/float/complex/str"
            )
    records.sort(key=lambda r: (-BITS[r.code], r.key))
    leaves_doc: dict[str, Any] = {}
    if scalars:
        leaves_doc["scalars"] = scalars
    if keys:
        leaves_doc["prng_keys"] = keys
    if complex_keys:
        leaves_doc["complex128"] = sorted(complex_keys)
    meta[VERSION_KEY] = str(FORMAT_VERSION)
    if leaves_doc:
        meta[LEAVES_KEY] = json.dumps(leaves_doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return records, meta


def _array_record(path: str, x: Any) -> Record:
    code = code_of(x.dtype, f"save: leaf {path!r}")
    shape = tuple(int(d) for d in np.shape(x))
    return Record(path, code, shape, int(np.prod(shape)) * np.dtype(x.dtype).itemsize, x)


@dataclass
class StoredLeaves:
    """The torsh interpretation of a header's metadata."""

    scalars: dict[str, Any]
    prng_keys: dict[str, str]
    complex128: frozenset[str]
    user: dict[str, str]


def _decode_scalar(path: str, value: Any, where: str) -> Any:
    bad = CorruptFileError(f"{where}: metadata {LEAVES_KEY}: scalar {path!r} is malformed: {value!r}"[:300])
    if not isinstance(value, list) or len(value) != 2 or not isinstance(value[0], str):
        raise bad
    kind, v = value
    try:
        if kind == "bool" and isinstance(v, bool):
            return v
        if kind == "int" and isinstance(v, str) and len(v) <= 4300:
            return int(v)
        if kind == "float" and isinstance(v, str):
            return float.fromhex(v)
        if kind == "complex" and isinstance(v, list) and len(v) == 2 and all(isinstance(p, str) for p in v):
            return complex(float.fromhex(v[0]), float.fromhex(v[1]))
        if kind == "str" and isinstance(v, str):
            return v
    except (ValueError, OverflowError):
        raise bad from None
    raise bad


def decode_metadata(metadata: dict[str, str], tensor_keys: Mapping[str, Any], where: str) -> StoredLeaves:
    """Validate torsh's entries of a header's metadata against the file's tensors."""
    version = metadata.get(VERSION_KEY)
    if version is not None:
        if not (version.isascii() and version.isdigit() and len(version) < 10):
            raise CorruptFileError(f"{where}: metadata {VERSION_KEY} is not a number: {version!r}"[:200])
        if int(version) > FORMAT_VERSION:
            raise FormatVersionError(
                f"{where}: written by torsh format version {int(version)}; this torsh reads versions up to "
                f"{FORMAT_VERSION}. Upgrade torsh to load it."
            )
    user = {k: v for k, v in metadata.items() if not k.startswith(_RESERVED_PREFIX)}
    raw = metadata.get(LEAVES_KEY)
    if raw is None:
        return StoredLeaves({}, {}, frozenset(), user)
    bad = f"{where}: metadata {LEAVES_KEY} is malformed"
    try:
        doc = strict_json(raw)
    except (ValueError, RecursionError):
        raise CorruptFileError(f"{bad}: not JSON") from None
    if not isinstance(doc, dict) or set(doc) - {"scalars", "prng_keys", "complex128"}:
        raise CorruptFileError(f"{bad}: expected an object with scalars/prng_keys/complex128")
    raw_scalars = doc.get("scalars", {})
    raw_keys = doc.get("prng_keys", {})
    raw_complex = doc.get("complex128", [])
    if not (isinstance(raw_scalars, dict) and isinstance(raw_keys, dict) and isinstance(raw_complex, list)):
        raise CorruptFileError(f"{bad}: wrong types of scalars/prng_keys/complex128")
    scalars = {}
    for path, value in raw_scalars.items():
        if path in tensor_keys:
            raise CorruptFileError(f"{bad}: scalar {path!r} also appears as a tensor")
        scalars[path] = _decode_scalar(path, value, where)
    for path, impl in raw_keys.items():
        if path not in tensor_keys or impl not in _KEY_IMPLS:
            detail = f"PRNG key {path!r} (impl {impl!r})"[:200]
            raise CorruptFileError(f"{bad}: {detail} has no matching uint32 tensor")
    complex_set = frozenset(raw_complex)
    for path in complex_set:
        if not isinstance(path, str) or path not in tensor_keys or path in raw_keys:
            raise CorruptFileError(f"{bad}: complex128 entry {path!r} has no matching float64 tensor"[:300])
    return StoredLeaves(scalars, dict(raw_keys), complex_set, user)
