"""Damaged safetensors files for fuzzing torsh's loader (shared by tests and scripts/fuzz_load.py).

``damaged_files()`` is a hypothesis strategy: a small valid file (written by torsh or by the reference
safetensors writer) with one damage applied: truncation, appended junk, flipped bytes, a forged
header length (huge, off by a little, past the end), a forged header (overlapping / shifted offsets,
wrong shapes, unknown dtypes, missing fields, non-string metadata, broken torsh metadata), bytes that
are not UTF-8, another format's magic, or deeply nested JSON.

``check(data)`` is the property: loading either succeeds or raises a CheckpointError, never anything
else; and torsh's header validation agrees with the reference parser (``safetensors.deserialize``):
a file one accepts the other accepts with the same tensors and bytes. The one deliberate difference:
torsh rejects headers with duplicate keys, which the reference silently resolves to one of them.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import safetensors
import safetensors.numpy as stn
from hypothesis import strategies as st

from torsh import serialize
from torsh.errors import CheckpointError
from torsh.serialize import _format

__all__ = ["damaged_files", "check"]

_DTYPES = [np.float32, np.float16, np.int8, np.uint16, np.int64, np.bool_, np.float64]
_CODES = [
    "BOOL",
    "U8",
    "I8",
    "I16",
    "U16",
    "F16",
    "BF16",
    "I32",
    "U32",
    "F32",
    "F64",
    "I64",
    "U64",
    "C64",
    "F8_E4M3",
    "F8_E5M2",
    "F8_E8M0",
    "F4",
]
_MAGICS = [
    b"PK\x03\x04",
    b"\x80\x04\x95",
    b"\x93NUMPY",
    b"\x89HDF\r\n\x1a\n",
    b"\x00" * 8,
    b"\xff" * 8,
    b'{"a":1}',
]
_NOT_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf0\x28\x8c\x28", b"\x80", b"\xfe\xfe"]


@st.composite
def _arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    n = draw(st.integers(0, 3))
    out = {}
    for i in range(n):
        dtype = draw(st.sampled_from(_DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        size = int(np.prod(shape))
        raw = draw(
            st.binary(min_size=size * np.dtype(dtype).itemsize, max_size=size * np.dtype(dtype).itemsize)
        )
        arr = np.frombuffer(raw, np.uint8).view(dtype).reshape(shape) if size else np.zeros(shape, dtype)
        out[draw(st.sampled_from(["w", "b", "layer.0.weight", "x.y", f"k{i}"])) + str(i)] = arr
    return out


@st.composite
def _valid_file(draw: st.DrawFn) -> bytes:
    arrays = draw(_arrays())
    if draw(st.booleans()):
        tree = dict(arrays)
        if draw(st.booleans()):
            tree["epoch"] = draw(st.integers(-5, 10**20))
            tree["name"] = draw(st.text(max_size=5))
        return serialize.to_bytes(
            tree, metadata=draw(st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))
        )
    arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    return stn.save(arrays, metadata=draw(st.none() | st.just({"format": "np"})))


def _split(data: bytes) -> tuple[dict, bytes]:
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def _join(header: object, body: bytes) -> bytes:
    raw = json.dumps(header).encode() if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(raw)) + raw + body


@st.composite
def _header_damage(draw: st.DrawFn, data: bytes) -> bytes:
    header, body = _split(data)
    keys = [k for k in header if k != "__metadata__"]
    kind = draw(
        st.sampled_from(
            [
                "offsets",
                "overlap",
                "shape",
                "dtype",
                "drop_field",
                "extra_entry",
                "metadata",
                "torsh_leaves",
                "body",
            ]
        )
    )
    if kind in ("offsets", "overlap", "shape", "dtype", "drop_field") and keys:
        key = draw(st.sampled_from(keys))
        entry = header[key]
        if kind == "offsets":
            i = draw(st.integers(0, 1))
            entry["data_offsets"][i] = max(0, entry["data_offsets"][i] + draw(st.integers(-9, 9)))
        elif kind == "overlap":
            other = header[draw(st.sampled_from(keys))]
            entry["data_offsets"] = list(other["data_offsets"])
        elif kind == "shape":
            entry["shape"] = draw(
                st.lists(
                    st.one_of(st.integers(0, 5), st.integers(2**31, 2**64 - 1), st.just(-1), st.just(1.5)),
                    max_size=4,
                )
            )
        elif kind == "dtype":
            entry["dtype"] = draw(st.sampled_from(_CODES) | st.text(max_size=4))
        else:
            del entry[draw(st.sampled_from(sorted(entry)))]
    elif kind == "extra_entry":
        start = draw(st.integers(0, len(body) + 4))
        header[draw(st.text(max_size=4))] = {
            "dtype": draw(st.sampled_from(_CODES)),
            "shape": [draw(st.integers(0, 4))],
            "data_offsets": [start, start + draw(st.integers(0, 8))],
        }
    elif kind == "metadata":
        header["__metadata__"] = draw(
            st.sampled_from(
                [
                    {"a": 1},
                    ["x"],
                    "s",
                    None,
                    {"torsh.format_version": "99"},
                    {"torsh.format_version": "x"},
                    {"torsh.leaves": "{"},
                ]
            )
        )
    elif kind == "torsh_leaves":
        meta = header.setdefault("__metadata__", {})
        meta["torsh.leaves"] = draw(
            st.sampled_from(
                [
                    "[]",
                    '{"scalars":{"a":["int","1e9999"]}}',
                    '{"scalars":{"a":["float","zz"]}}',
                    '{"scalars":{"a":["bool",1]}}',
                    '{"prng_keys":{"nope":"threefry2x32"}}',
                    '{"complex128":["nope"]}',
                    '{"unknown":1}',
                    '{"scalars":{"a":["str",5]}}',
                    '{"scalars":{"a":["int","' + "9" * 5000 + '"]}}',
                ]
                + [json.dumps({"prng_keys": {k: "threefry2x32"}}) for k in keys]
                + [json.dumps({"complex128": [k]}) for k in keys]
            )
        )
    else:
        body = body + draw(st.binary(min_size=1, max_size=8)) if draw(st.booleans()) else body[:-1]
    return _join(header, body)


@st.composite
def damaged_files(draw: st.DrawFn) -> bytes:
    data = draw(_valid_file())
    kind = draw(
        st.sampled_from(
            ["none", "truncate", "append", "flip", "length", "header", "not_utf8", "magic", "nested", "tiny"]
        )
    )
    if kind == "truncate":
        return data[: draw(st.integers(0, max(0, len(data) - 1)))]
    if kind == "append":
        return data + draw(st.binary(min_size=1, max_size=16))
    if kind == "flip":
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            out[draw(st.integers(0, len(out) - 1))] = draw(st.integers(0, 255))
        return bytes(out)
    if kind == "length":
        (n,) = struct.unpack("<Q", data[:8])
        forged = draw(
            st.one_of(
                st.integers(0, 2**64 - 1),
                st.integers(max(0, n - 16), n + 16),
                st.sampled_from([100_000_000, 100_000_001, 2**63, 2**64 - 1, len(data)]),
            )
        )
        return struct.pack("<Q", forged) + data[8:]
    if kind == "header":
        return draw(_header_damage(data))
    if kind == "not_utf8":
        (n,) = struct.unpack("<Q", data[:8])
        at = draw(st.integers(8, 8 + n))
        bad = draw(st.sampled_from(_NOT_UTF8))
        head = data[8 : 8 + n]
        head = (
            head[: at - 8] + bad + head[at - 8 + len(bad) :]
            if draw(st.booleans())
            else head[: at - 8] + bad + head[at - 8 :]
        )
        return struct.pack("<Q", len(head)) + head + data[8 + n :]
    if kind == "magic":
        magic = draw(st.sampled_from(_MAGICS))
        return magic + data[len(magic) :] if draw(st.booleans()) else magic + draw(st.binary(max_size=32))
    if kind == "nested":
        depth = draw(st.sampled_from([10, 1000, 100_000]))
        return _join(b'{"a":' + b"[" * depth + b"]" * depth + b"}", b"")
    if kind == "tiny":
        return draw(st.binary(max_size=12))
    return data


def _reference(data: bytes) -> dict | None:
    try:
        return {k: (v["dtype"], list(v["shape"]), bytes(v["data"])) for k, v in safetensors.deserialize(data)}
    except Exception:  # any rejection by the reference parser
        return None


def _header_only(data: bytes) -> dict | str:
    """torsh's container-level verdict: the tensors, or the error message."""
    try:
        n = _format.header_length(data[:8], len(data), "<bytes>")
        header = _format.parse_header(data[8 : 8 + n], len(data), "<bytes>")
    except serialize.CorruptFileError as e:
        return str(e)
    return {
        k: (e.code, list(e.shape), data[header.data_start + e.start : header.data_start + e.end])
        for k, e in header.entries.items()
    }


def check(data: bytes) -> None:
    """The fuzz property (raises AssertionError with the offending input on failure)."""
    try:
        serialize.from_bytes(data, flat=True)
    except CheckpointError as e:
        assert "<bytes>" in str(e) or isinstance(e, serialize.StateDictMismatchError), str(e)
    ours = _header_only(data)
    ref = _reference(data)
    if isinstance(ours, dict):
        assert ref is not None, f"torsh accepted a header the reference rejects: {data[:200]!r}"
        assert ours == ref, f"torsh and the reference disagree on {data[:200]!r}"
    elif ref is not None:
        assert "duplicate key" in ours, (
            f"torsh rejected a file the reference accepts ({ours}): {data[:200]!r}"
        )
