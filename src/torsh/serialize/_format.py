"""The safetensors container: encoding a header, and parsing one as strictly as the reference reader.

A file is ``u64 little-endian header length N``, ``N`` bytes of UTF-8 JSON (padded with spaces to a
multiple of 8), then the data section. The JSON maps keys to ``{"dtype", "shape", "data_offsets"}``
(offsets relative to the data section) plus an optional ``"__metadata__"`` map of strings. The
tensors must tile the data section exactly: sorted by offset, each starts where the previous ended,
each spans ``prod(shape) * itemsize`` bytes, and the last ends at the end of the file.

Parsing validates everything before any data is touched, so a forged header cannot make the loader
read out of bounds, allocate a huge buffer, loop or recurse without bound.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ._dtypes import BITS
from ._errors import CorruptFileError

__all__ = [
    "MAX_HEADER_BYTES",
    "METADATA_KEY",
    "strict_json",
    "TensorEntry",
    "Header",
    "header_length",
    "parse_header",
    "encode_header",
]

MAX_HEADER_BYTES = 100_000_000  # the reference reader's limit
_U64_MAX = 2**64 - 1
METADATA_KEY = "__metadata__"


@dataclass(frozen=True)
class TensorEntry:
    """One tensor of a file: its safetensors dtype code, shape and byte range in the data section."""

    key: str
    code: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Header:
    """A validated header: tensors by key (in file order), the string metadata, where the data starts."""

    entries: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int
    data_size: int


def header_length(prefix: bytes, total_size: int, where: str) -> int:
    """Validate the 8-byte length prefix against the file size; return the header length ``N``."""
    if total_size < 8 or len(prefix) < 8:
        raise CorruptFileError(
            f"{where}: not a safetensors file: {total_size} bytes, shorter than the 8-byte header length"
        )
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER_BYTES:
        raise CorruptFileError(
            f"{where}: header length field says {n} bytes, more than the {MAX_HEADER_BYTES}-byte limit "
            "(not a safetensors file, or a corrupted one)"
        )
    if 8 + n > total_size:
        raise CorruptFileError(
            f"{where}: header length field says {n} bytes but the file has only {total_size - 8} bytes "
            "after it (truncated file?)"
        )
    return n


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def strict_json(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_pairs_to_dict, parse_constant=_reject_constant)


def _is_u64(x: Any) -> bool:
    return type(x) is int and 0 <= x <= _U64_MAX


def _check_text(s: str) -> bool:
    try:
        s.encode("utf-8")  # rejects lone surrogates produced by \\ud800 escapes
    except UnicodeEncodeError:
        return False
    return True


def parse_header(raw: bytes, total_size: int, where: str) -> Header:
    """Parse and validate header bytes (without the 8-byte prefix) of a file of ``total_size`` bytes."""
    n = len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptFileError(f"{where}: header is not valid UTF-8 (byte {e.start} of the header)") from None
    if not text.lstrip(" \t\n\r").startswith("{"):
        raise CorruptFileError(
            f"{where}: header does not start with '{{' (got {text[:16]!r}): not a safetensors file"
        )
    try:
        doc = strict_json(text)
    except (ValueError, RecursionError) as e:
        raise CorruptFileError(f"{where}: header is not valid JSON: {str(e)[:200]}") from None
    if not isinstance(doc, dict):
        raise CorruptFileError(f"{where}: header is JSON but not an object")

    metadata: dict[str, str] = {}
    raw_meta = doc.pop(METADATA_KEY, None)
    if raw_meta is not None:
        if not isinstance(raw_meta, dict) or not all(
            isinstance(v, str) and _check_text(v) and _check_text(k) for k, v in raw_meta.items()
        ):
            raise CorruptFileError(f"{where}: {METADATA_KEY} must map strings to strings")
        metadata = raw_meta

    entries: list[TensorEntry] = []
    for key, info in doc.items():
        if not _check_text(key):
            raise CorruptFileError(f"{where}: a key is not valid Unicode text: {key!r}")
        entries.append(_parse_entry(key, info, where))

    entries.sort(key=lambda entry: (entry.start, entry.end))
    position = 0
    for entry in entries:
        if entry.start != position or entry.end < entry.start:
            raise CorruptFileError(
                f"{where}: key {entry.key!r}: data_offsets [{entry.start}, {entry.end}] do not continue "
                f"at byte {position} (overlapping, out-of-order or gapped tensors)"
            )
        nbits = (_checked_prod(list(entry.shape)) or 0) * BITS[entry.code]
        if nbits % 8 or nbits // 8 != entry.end - entry.start:
            raise CorruptFileError(
                f"{where}: key {entry.key!r}: {entry.code} of shape {list(entry.shape)} needs "
                f"{nbits / 8:g} bytes, data_offsets give {entry.end - entry.start}"
            )
        position = entry.end
    data_size = total_size - 8 - n
    if position != data_size:
        raise CorruptFileError(
            f"{where}: tensors cover {position} bytes of data but the file has {data_size} "
            "(truncated file, or trailing garbage)"
        )
    return Header({e.key: e for e in entries}, metadata, 8 + n, data_size)


def _parse_entry(key: str, info: Any, where: str) -> TensorEntry:
    bad = f"{where}: key {key!r}: "
    if not isinstance(info, dict):
        raise CorruptFileError(bad + "entry is not an object")
    code, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(code, str) or code not in BITS:
        raise CorruptFileError(bad + f"unknown dtype {code!r}; expected one of {sorted(BITS)}")
    if not isinstance(shape, list) or not all(_is_u64(d) for d in shape):
        raise CorruptFileError(bad + f"shape must be a list of non-negative integers, got {shape!r}"[:300])
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_u64(o) for o in offsets):
        raise CorruptFileError(bad + f"data_offsets must be two non-negative integers, got {offsets!r}"[:300])
    if _checked_prod(shape) is None:
        raise CorruptFileError(bad + "the number of elements overflows 64 bits")
    return TensorEntry(key, code, tuple(shape), offsets[0], offsets[1])


def _checked_prod(shape: list[int]) -> int | None:
    """prod(shape), or None past 64 bits (stops early: a forged shape cannot make this slow)."""
    if 0 in shape:
        return 0
    total = 1
    for d in shape:
        total *= d
        if total > _U64_MAX:
            return None
    return total


def encode_header(
    tensors: Iterable[tuple[str, str, tuple[int, ...], int]], metadata: Mapping[str, str] | None
) -> tuple[bytes, list[tuple[int, int]]]:
    """The 8-byte prefix plus padded JSON header for tensors given as ``(key, code, shape, nbytes)`` in
    data order; also returns each tensor's ``(start, end)``."""
    doc: dict[str, Any] = {}
    if metadata:
        doc[METADATA_KEY] = dict(metadata)
    offsets: list[tuple[int, int]] = []
    position = 0
    for key, code, shape, nbytes in tensors:
        offsets.append((position, position + nbytes))
        doc[key] = {"dtype": code, "shape": list(shape), "data_offsets": [position, position + nbytes]}
        position += nbytes
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    body += b" " * (-len(body) % 8)  # keeps the data section 8-byte aligned, as safetensors does
    return struct.pack("<Q", len(body)) + body, offsets
