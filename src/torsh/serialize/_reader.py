"""Opening a safetensors file or buffer, and describing its leaves as torsh sees them.

Files are read with ``pread`` into buffers the load owns, never memory-mapped: a mapping of a file
that another program truncates or rewrites in place kills the process with SIGBUS on the next read
of a vanished page (pytorch and safetensors users hit this when a training job rewrites the
checkpoint another process is loading). A read that comes up short raises :class:`CorruptFileError`
naming the file and the key, and a file whose size or modification time changed while it was being
read is refused the same way (it may mix old and new bytes).
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ..errors import CheckpointError, ConfigError
from ._dtypes import BITS, numpy_dtype
from ._errors import CheckpointNotFoundError, CorruptFileError
from ._format import TensorEntry, header_length, parse_header
from ._host import aligned_empty
from ._leaves import StoredLeaves, decode_metadata

__all__ = ["Stored", "FileReader", "key_data_shape"]

_HAVE_PREADV = hasattr(os, "preadv")


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
    """A validated safetensors file (read with ``pread``, never mapped) or a buffer of bytes.

    Use as a context manager. For a file, :meth:`view` reads a tensor into a fresh 64-byte-aligned
    buffer that the caller owns (``owns_views`` is True: no further copy is needed before handing it
    to XLA); for bytes it returns a read-only zero-copy view that must be copied before the bytes go.
    """

    def __init__(self, source: Any) -> None:
        self._buffer: memoryview = memoryview(b"")
        self._file: Any = None
        self._identity: tuple[int, int, int] | None = None
        self.owns_views = False
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.where = "<bytes>"
            buffer = memoryview(source).cast("B") if isinstance(source, memoryview) else memoryview(source)
            self._buffer = buffer
            total = len(buffer)
            n = header_length(bytes(buffer[:8]), total, self.where)
            self.header = parse_header(bytes(buffer[8 : 8 + n]), total, self.where)
        elif isinstance(source, (str, os.PathLike)):
            self.where = os.fspath(source)
            self._open_file(self.where)
        else:
            raise ConfigError(
                f"torsh.serialize: expected a file path (str or os.PathLike), got {type(source).__name__} "
                f"{source!r:.60}"
            )
        self.leaves: StoredLeaves = decode_metadata(self.header.metadata, self.header.entries, self.where)
        self.stored: dict[str, Stored] = self._describe()

    def _open_file(self, path: str) -> None:
        try:
            f = open(path, "rb", buffering=0)
        except FileNotFoundError:
            raise CheckpointNotFoundError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise CheckpointError(
                f"{path}: cannot open: it is a directory, expected a safetensors file"
            ) from None
        except OSError as e:
            raise CheckpointError(f"{path}: cannot open: {e.strerror or e}") from None
        self._file = f
        self.owns_views = True
        try:
            st = os.fstat(f.fileno())
            self._identity = (st.st_size, st.st_mtime_ns, st.st_ino)
            total = st.st_size
            prefix = self._pread(0, 8)
            n = header_length(prefix, max(total, len(prefix)), path)
            raw = self._pread(8, n)
            if len(raw) != n:
                raise CorruptFileError(
                    f"{path}: the file ended inside its {n}-byte header: it was truncated or rewritten "
                    "while being opened"
                )
            self.header = parse_header(raw, total, path)
        except BaseException:
            self.close()
            raise

    def _pread(self, offset: int, n: int) -> bytes:
        out = bytearray(n)
        got = self._fill(memoryview(out), offset)
        return bytes(out[:got])

    def _fill(self, view: memoryview, offset: int) -> int:
        """Read into ``view`` from ``offset`` until it is full or the file ends; bytes read."""
        fd, done, n = self._file.fileno(), 0, len(view)
        while done < n:
            if _HAVE_PREADV:
                got = os.preadv(fd, [view[done:]], offset + done)
            else:  # Windows, older macOS: no positional reads; this reader owns the file object
                self._file.seek(offset + done)
                got = self._file.readinto(view[done:]) or 0
            if got <= 0:
                break
            done += got
        return done

    def _read_into(self, out: np.ndarray, offset: int, key: str) -> None:
        """Fill ``out`` (uint8) from the file at ``offset``; a short read means the file shrank."""
        view = out.data.cast("B")  # ndarray.data: a memoryview of its buffer
        n = len(view)
        done = self._fill(view, offset)
        if done < n:
            now = os.fstat(self._file.fileno()).st_size
            was = self.header.data_start + self.header.data_size
            raise CorruptFileError(
                f"{self.where}: key {key!r}: the file ended at byte {offset + done} while reading bytes "
                f"[{offset}, {offset + n}); it has {now} bytes, {was} when opened: another program "
                "truncated or rewrote it while it was being loaded"
            )

    def check_unchanged(self) -> None:
        """Raise :class:`CorruptFileError` if the file changed size or was modified since it was opened
        (its tensors may mix old and new bytes). A file *replaced* by a rename is fine: the open file
        is the old one, read whole."""
        if self._file is None or self._identity is None:
            return
        st = os.fstat(self._file.fileno())
        if (st.st_size, st.st_mtime_ns, st.st_ino) != self._identity:
            raise CorruptFileError(
                f"{self.where}: the file was modified while it was being loaded ({self._identity[0]} bytes "
                f"when opened, {st.st_size} now); load it again once the writer has finished (writers "
                "should write a temporary file and rename it into place, as torsh.save does)"
            )

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
        """A tensor's stored bytes in its logical dtype and shape (PRNG keys as their ``uint32`` data).

        From a file: a fresh array the caller owns. From bytes: a read-only zero-copy view.
        """
        entry = stored.entry
        assert entry is not None
        start = self.header.data_start + entry.start
        if self._file is not None:
            raw = aligned_empty(entry.nbytes)
            self._read_into(raw, start, stored.key)
        else:
            raw = np.frombuffer(self._buffer, np.uint8, entry.nbytes, start)
        if stored.complex_pairs:
            return raw.view("<c16").reshape(stored.shape)
        return raw.view(numpy_dtype(entry.code, self.where)).reshape(entry.shape)

    def close(self) -> None:
        try:
            self._buffer.release()
        except (BufferError, AttributeError):
            pass  # numpy views of the caller's bytes still hold it; nothing to unmap
        self._buffer = memoryview(b"")
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
