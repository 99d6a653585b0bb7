"""Damaged files never crash or hang the loader: hypothesis fuzzing (1,000 examples, in memory, plus a
file-based run through the memory-mapped path) and one explicit case per kind of damage."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from _hypothesis_budget import examples
from _serialize_fuzz_cases import check, damaged_files
from hypothesis import given, settings

from torsh import serialize
from torsh.errors import CheckpointError


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=examples(1000), deadline=None)
@given(damaged_files())
def test_damaged_bytes_raise_checkpoint_errors_and_agree_with_the_reference_parser(data):
    check(data)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=examples(60), deadline=None)
@given(damaged_files())
def test_damaged_files_on_disk_raise_checkpoint_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "f.safetensors"
    path.write_bytes(data)
    try:
        serialize.load(path, flat=True)
    except CheckpointError as e:
        assert str(path) in str(e)


def _file(header: object, body: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


GOOD = serialize.to_bytes({"a": np.arange(4, dtype=np.float32), "b": np.ones(2, np.int8)})
_ENTRY = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "shorter than the 8-byte header length"),
        (GOOD[:7], "shorter than the 8-byte header length"),
        (GOOD[:-1], "tensors cover 18 bytes of data but the file has 17"),
        (GOOD + b"\0", "trailing garbage"),
        (struct.pack("<Q", 2**63) + GOOD[8:], "more than the 100000000-byte limit"),
        (struct.pack("<Q", 10**6) + GOOD[8:], "truncated file"),
        (b"PK\x03\x04\x14\x00\x00\x00" + GOOD[8:], "more than the 100000000-byte limit"),
        (_file(b"\x80\x04\x95{}"), "not valid UTF-8"),
        (_file(b'{"a\xff":1}'), "not valid UTF-8"),
        (_file(b"[1, 2]"), "does not start with '{'"),
        (_file(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"), "not valid JSON"),
        (_file({"a": _ENTRY, "b": _ENTRY}, b"\0" * 16), "do not continue at byte 8"),
        (
            _file({"a": {**_ENTRY, "data_offsets": [0, 12]}}, b"\0" * 12),
            "needs 8 bytes, data_offsets give 12",
        ),
        (_file({"a": {**_ENTRY, "shape": [2**40, 2**40]}}, b"\0" * 8), "overflows 64 bits"),
        (_file({"a": {**_ENTRY, "dtype": "F128"}}, b"\0" * 8), "unknown dtype 'F128'"),
        (
            _file({"a": {**_ENTRY, "shape": [0, 2**31, 2**31], "data_offsets": [0, 0]}}),
            "cannot be represented",
        ),
        (_file({"a": {**_ENTRY, "shape": [-2]}}, b"\0" * 8), "non-negative integers"),
        (_file({"__metadata__": {"n": 1}}), "must map strings to strings"),
        (
            _file(
                b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],'
                b'"data_offsets":[0,8]}}',
                b"\0" * 8,
            ),
            "duplicate key 'a'",
        ),
        (
            _file(
                {"__metadata__": {"torsh.leaves": '{"prng_keys":{"a":"threefry2x32"}}'}, "a": _ENTRY},
                b"\0" * 8,
            ),
            "marked as a threefry2x32 PRNG key but stored as F32",
        ),
        (
            _file({"__metadata__": {"torsh.leaves": '{"scalars":{"a":["float","zz"]}}'}}),
            "scalar 'a' is malformed",
        ),
    ],
)
def test_each_kind_of_damage_is_named(data, message):
    with pytest.raises(serialize.CorruptFileError, match="<bytes>") as info:
        serialize.from_bytes(data)
    assert message in str(info.value)


def test_newer_format_versions_fail_clearly():
    data = _file({"__metadata__": {"torsh.format_version": "2"}})
    with pytest.raises(
        serialize.FormatVersionError, match="format version 2; this torsh reads versions up to 1"
    ):
        serialize.from_bytes(data)


def test_sub_byte_dtypes_are_valid_safetensors_but_unsupported():
    data = _file({"a": {"dtype": "F4", "shape": [4], "data_offsets": [0, 2]}}, b"\0\0")
    with pytest.raises(serialize.UnsupportedDTypeError, match="F4"):
        serialize.from_bytes(data)
