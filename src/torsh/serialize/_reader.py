"""Opening a safetensors file (memory-mapped) or buffer, and describing its leaves as torsh sees them."""

from __future__ import annotations

import functools
import mmap
import os
import sys
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ..errors import CheckpointError
from ._dtypes import BITS, numpy_dtype
from ._errors import CheckpointNotFoundError, CorruptFileError
from ._format import TensorEntry, header_length, parse_header
from ._leaves import StoredLeaves, decode_metadata

__all__ = ["Stored", "FileReader", "key_data_shape"]


@functools.cache
def key_data_shape(impl: str) -> tuple[int, ...]:
    """The trailing shape of one key's raw data for a PRNG implementation (threefry: (2,))."""
    return tuple(jax.eval_shape(lambda: jax.random.key_data(jax.random.key(0, impl=impl))).shape)


@dataclass(frozen=True)
class Stored:
    """One leaf of a file, as torsh will return it.

    ``kind`` is ``"array"``, ``"key"`` (typed PRNG key; ``impl`` names it) or ``"scalar"`` (``value``).
    ``dtype``/``shape`` are the logical ones (complex128 for stored float64 pairs, the key array's shape
    without the key-data axis).
    """

    key: str
    kind: str
    dtype: np.dtype | None = None
    shape: tuple[int, ...] | None = None
    entry: TensorEntry | None = None
    value: Any = None
    impl: str | None = None
    complex_pairs: bool = False

    def describe(self) -> str:
        if self.kind == "scalar":
            return f"Python {type(self.value).__name__}"
        if self.kind == "key":
            return f"PRNG key array {list(self.shape or ())} ({self.impl})"
        return f"{self.dtype} array {list(self.shape or ())}"


def _check_representable(entry: TensorEntry, where: str) -> None:
    """A shape such as [0, 2**31, 2**31] is valid safetensors (zero bytes) but numpy and XLA refuse
    arrays whose dimensions, zeros left out, span more than 2**63 bytes."""
    span = max(BITS[entry.code] // 8, 1)
    for d in entry.shape:
        span *= d or 1
        if span > sys.maxsize:
            raise CorruptFileError(f"{where}: shape {list(entry.shape)} cannot be represented as an array")


class FileReader:
    """A validated, memory-mapped view of a safetensors file (or of bytes).

    Use as a context manager; the mapping is released on exit. Arrays handed out by :meth:`view` are
    read-only views into the mapping and must be copied before the reader closes.
    """

    def __init__(self, source: Any) -> None:
        self._buffer: memoryview = memoryview(b"")
        self._file: Any = None
        self._map: Any = None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.where = "<bytes>"
            buffer = memoryview(source).cast("B") if isinstance(source, memoryview) else memoryview(source)
            self._buffer = buffer
            total = len(buffer)
            n = header_length(bytes(buffer[:8]), total, self.where)
            self.header = parse_header(bytes(buffer[8 : 8 + n]), total, self.where)
        else:
            self.where = os.fspath(source)
            self._open_file(self.where)
        self.leaves: StoredLeaves = decode_metadata(self.header.metadata, self.header.entries, self.where)
        self.stored: dict[str, Stored] = self._describe()

    def _open_file(self, path: str) -> None:
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed in close()
        except FileNotFoundError:
            raise CheckpointNotFoundError(f"{path}: no such file") from None
        except OSError as e:
            raise CheckpointError(f"{path}: cannot open: {e.strerror or e}") from None
        self._file = f
        try:
            total = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            n = header_length(prefix, max(total, len(prefix)), path)
            raw = f.read(n)
            if len(raw) != n:
                raise CorruptFileError(f"{path}: file shrank while reading its header")
            self.header = parse_header(raw, total, path)
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            if len(self._map) != total:
                raise CorruptFileError(f"{path}: file changed size while opening it")
            self._buffer = memoryview(self._map)
        except BaseException:
            self.close()
            raise

    def _describe(self) -> dict[str, Stored]:
        out: dict[str, Stored] = {}
        leaves = self.leaves
        for key, entry in self.header.entries.items():
            where = f"{self.where}: key {key!r}"
            _check_representable(entry, where)
            if key in leaves.prng_keys:
                impl = leaves.prng_keys[key]
                tail = key_data_shape(impl)
                if entry.code != "U32" or entry.shape[len(entry.shape) - len(tail) :] != tail:
                    raise CorruptFileError(
                        f"{where}: marked as a {impl} PRNG key but stored as {entry.code} {list(entry.shape)}"
                    )
                shape = entry.shape[: -len(tail)]
                out[key] = Stored(key, "key", np.dtype(np.uint32), shape, entry, impl=impl)
            elif key in leaves.complex128:
                if entry.code != "F64" or not entry.shape or entry.shape[-1] != 2:
                    raise CorruptFileError(
                        f"{where}: marked as complex128 but stored as {entry.code} {list(entry.shape)}"
                    )
                shape = entry.shape[:-1]
                out[key] = Stored(key, "array", np.dtype(np.complex128), shape, entry, complex_pairs=True)
            else:
                out[key] = Stored(key, "array", numpy_dtype(entry.code, where), entry.shape, entry)
        for key, value in leaves.scalars.items():
            out[key] = Stored(key, "scalar", value=value)
        return out

    def view(self, stored: Stored) -> np.ndarray:
        """A read-only zero-copy view of a tensor's stored bytes, in its logical dtype and shape.

        PRNG keys are returned as their ``uint32`` key data.
        """
        entry = stored.entry
        assert entry is not None
        start = self.header.data_start + entry.start
        raw = np.frombuffer(self._buffer, np.uint8, entry.nbytes, start)
        if stored.complex_pairs:
            return raw.view("<c16").reshape(stored.shape)
        return raw.view(numpy_dtype(entry.code, self.where)).reshape(entry.shape)

    def close(self) -> None:
        try:
            self._buffer.release()
        except (BufferError, AttributeError):
            pass  # numpy views still hold it; the mapping is released when they die
        self._buffer = memoryview(b"")
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:
                # Something still views the mapping (it is unmapped when that view dies); never fatal.
                pass
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

