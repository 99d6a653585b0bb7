"""Share a dataset's large arrays with worker processes instead of copying them into each one.

Worker processes are started with spawn/forkserver (never fork, see jax#3382), so the dataset is
pickled to every worker. Pickled naively, a 150 MB image array would cost 150 MB per worker, plus
the time to pickle it. Instead, while the loader pickles a dataset for its workers, arrays of at
least :data:`SHARE_THRESHOLD` bytes are copied once into POSIX shared memory (or, for a
``numpy.memmap`` opened from a file, referred to by file name) and every worker maps the same pages.
Unlike fork's copy-on-write sharing, nothing is duplicated when Python touches reference counts
(pytorch#13246): the pages hold raw array data, not Python objects.
"""

from __future__ import annotations

import mmap
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import shared_memory
from typing import Any

import numpy as np

__all__ = ["SHARE_THRESHOLD", "pickling_for_workers", "is_pickling_for_workers", "SharedArrays"]

SHARE_THRESHOLD = 1 << 20  # 1 MiB: below this, pickling is cheaper than a shared-memory segment

_state = threading.local()
_ATTACHED: list[shared_memory.SharedMemory] = []  # keeps worker-side mappings alive for the process


@contextmanager
def pickling_for_workers() -> Iterator[None]:
    """While active, datasets pickle their large arrays as shared-memory handles."""
    previous = getattr(_state, "active", False)
    _state.active = True
    try:
        yield
    finally:
        _state.active = previous


def is_pickling_for_workers() -> bool:
    return getattr(_state, "active", False)


def _attach_shared(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    shm = shared_memory.SharedMemory(name=name, create=False)
    _ATTACHED.append(shm)
    view = np.ndarray(shape, np.dtype(dtype), buffer=shm.buf)
    view.flags.writeable = False
    return view


def _open_memmap(filename: str, dtype: str, shape: tuple[int, ...], offset: int, order: str) -> np.ndarray:
    return np.memmap(filename, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape, order=order)


class _SharedHandle:
    __slots__ = ("args",)

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _attach_shared, self.args


class _MemmapHandle(_SharedHandle):
    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _open_memmap, self.args


def _memmap_handle(array: np.ndarray) -> _MemmapHandle | None:
    """A handle for a memmap that maps a whole file region directly (not a view of one)."""
    if not isinstance(array, np.memmap) or not isinstance(array.base, mmap.mmap) or array.filename is None:
        return None
    if array.flags.c_contiguous:
        order = "C"
    elif array.flags.f_contiguous:
        order = "F"
    else:
        return None
    return _MemmapHandle(array.filename, array.dtype.str, array.shape, int(array.offset), order)


def _unlink_all(segments: list[shared_memory.SharedMemory]) -> None:
    for shm in segments:
        try:
            shm.close()
        except BufferError:  # a NumPy view still uses the mapping; the OS frees it at exit
            pass
        try:
            shm.unlink()
        except FileNotFoundError:
            pass
    segments.clear()


class SharedArrays:
    """Shared-memory copies of one dataset's arrays, made on first use and unlinked with the owner.

    ``share(key, array)`` returns ``(array_to_keep, picklable)``: the dataset keeps the shared view
    in place of its original (so the original can be freed) and pickles the handle.
    """

    def __init__(self) -> None:
        self._segments: list[shared_memory.SharedMemory] = []
        self._handles: dict[Any, tuple[int, _SharedHandle]] = {}
        self._finalizer = weakref.finalize(self, _unlink_all, self._segments)

    def share(self, key: Any, array: np.ndarray) -> tuple[np.ndarray, Any]:
        cached = self._handles.get(key)
        if cached is not None and cached[0] == id(array):
            return array, cached[1]
        handle: _SharedHandle | None = _memmap_handle(array)
        if handle is not None:
            self._handles[key] = (id(array), handle)
            return array, handle
        if array.nbytes < SHARE_THRESHOLD or array.dtype.hasobject:
            return array, array
        shm = shared_memory.SharedMemory(create=True, size=array.nbytes)
        self._segments.append(shm)
        view = np.ndarray(array.shape, array.dtype, buffer=shm.buf)
        view[...] = array
        handle = _SharedHandle(shm.name, array.shape, array.dtype.str)
        self._handles[key] = (id(view), handle)
        return view, handle

    def close(self) -> None:
        self._finalizer()
