"""Share a dataset's large arrays with worker processes instead of copying them into each one.

Worker processes are started with forkserver/spawn (never fork, see jax#3382), so the dataset is
pickled to every worker. Pickled naively, a 150 MB image array would cost 150 MB per worker, plus
the time to pickle it. Instead, while the loader pickles for its workers (:func:`dumps_for_workers`),
every NumPy array of at least :data:`SHARE_THRESHOLD` bytes -- wherever it sits in the dataset: an
attribute, a list, a dict -- is copied once into POSIX shared memory, and every worker maps the same
pages. A ``numpy.memmap`` opened from a file is reopened by file name instead (no copy at all).
Unlike fork's copy-on-write, nothing is duplicated when Python touches reference counts
(pytorch#13246): the shared pages hold raw array data, not Python objects.

A shared copy is a snapshot taken the first time workers start; it lives as long as the source array
(and any view of the copy) and is unlinked after. :class:`~torsh.data.ArrayDataset` goes one step
further and switches to the shared copy, so its original can be freed.

When shared memory has no room for an array (Docker's default ``/dev/shm`` is 64 MiB), the copy goes
to a file in the temporary directory instead, which the workers map by name: the same sharing, backed
by the page cache. Space is reserved before writing (``_shm``), so a full ``/dev/shm`` never kills the
process with SIGBUS.
"""

from __future__ import annotations

import io
import mmap
import os
import pickle
import tempfile
import threading
import warnings
import weakref
from collections.abc import Callable
from multiprocessing import shared_memory
from typing import Any, Literal

import numpy as np

from ._errors import DataError
from ._shm import SharedMemoryWarning, create_segment, full_message

__all__ = ["SHARE_THRESHOLD", "dumps_for_workers", "is_pickling_for_workers", "share", "share_memory"]

SHARE_THRESHOLD = 1 << 20  # 1 MiB: below this, pickling is cheaper than a shared-memory segment

_state = threading.local()
_lock = threading.Lock()
_REGISTRY: dict[int, _SharedHandle] = {}  # id(array) -> handle of its shared copy, while the array lives
_ATTACHED: list[shared_memory.SharedMemory] = []  # worker side: mappings kept for the process lifetime


def is_pickling_for_workers() -> bool:
    return getattr(_state, "active", False)


class _WorkerPickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, np.ndarray):
            handle = share(obj)[1]
            if handle is not None:
                return handle.__reduce__()
        return NotImplemented


def dumps_for_workers(obj: Any) -> bytes:
    """Pickle ``obj`` for worker processes, sharing its large arrays."""
    previous = is_pickling_for_workers()
    _state.active = True
    try:
        buffer = io.BytesIO()
        _WorkerPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
        return buffer.getvalue()
    finally:
        _state.active = previous


def _attach_shared(name: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    shm = shared_memory.SharedMemory(name=name, create=False)
    _ATTACHED.append(shm)
    view = np.ndarray(shape, np.dtype(dtype), buffer=shm.buf)
    view.flags.writeable = False
    return view


def _open_memmap(
    filename: str, dtype: str, shape: tuple[int, ...], offset: int, order: Literal["C", "F"]
) -> np.ndarray:
    return np.memmap(filename, dtype=np.dtype(dtype), mode="r", offset=offset, shape=shape, order=order)


class _SharedHandle:
    """Pickles as "attach this shared-memory segment as an array"."""

    __slots__ = ("args",)

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _attach_shared, self.args


class _MemmapHandle(_SharedHandle):
    """Pickles as "open this file region as a read-only memmap"."""

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


class _Segment:
    """One shared copy (a shared-memory segment or a spill file) and the number of live arrays
    registered for it; ``free`` runs when the last one dies."""

    def __init__(self, free: Callable[[], None]) -> None:
        self.free = free
        self.users = 0

    def release(self, key: int) -> None:
        with _lock:
            _REGISTRY.pop(key, None)
            self.users -= 1
            if self.users:
                return
        self.free()


def _free_segment(shm: shared_memory.SharedMemory) -> None:
    try:
        shm.close()
    except BufferError:  # a NumPy view still uses the mapping; the OS frees it with the process
        pass
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


def _free_file(path: str) -> None:
    try:
        os.unlink(path)  # mappings stay valid until unmapped
    except FileNotFoundError:
        pass


_SPILL_PREFIX = "torsh-data-"


def _pid_is_dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def clean_stale_spill_files(directory: str) -> list[str]:
    """Remove spill files whose main process is gone (killed before it could remove them)."""
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(directory) if n.startswith(_SPILL_PREFIX) and n.endswith(".bin")]
    except OSError:
        return removed
    for name in names:
        pid = name[len(_SPILL_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _pid_is_dead(int(pid)):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def _spill_to_file(array: np.ndarray) -> tuple[np.ndarray, _MemmapHandle, Callable[[], None]]:
    """Shared memory is full: copy ``array`` into a file in the temp directory that workers map."""
    directory = tempfile.gettempdir()
    clean_stale_spill_files(directory)
    fd, path = tempfile.mkstemp(prefix=f"{_SPILL_PREFIX}{os.getpid()}-", suffix=".bin", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)  # errors (ENOSPC) raise
    except OSError as e:
        _free_file(path)
        raise DataError(
            "DataLoader: cannot share the dataset's arrays with the worker processes: "
            + full_message(f"an array {array.shape} {array.dtype}", array.nbytes)
            + f"; the fallback, a file in the temporary directory {directory}, failed too: "
            f"{e.strerror or e} (set TMPDIR to a directory with room)"
        ) from e
    view = np.memmap(path, dtype=array.dtype, mode="r+", shape=array.shape)
    warnings.warn(
        "DataLoader: "
        + full_message(f"an array {array.shape} {array.dtype} of the dataset", array.nbytes)
        + f". The array is shared with the workers through a file in {directory} instead.",
        SharedMemoryWarning,
        stacklevel=2,
    )
    return view, _MemmapHandle(path, array.dtype.str, array.shape, 0, "C"), lambda: _free_file(path)


def _register(array: np.ndarray, handle: _SharedHandle, segment: _Segment) -> None:
    _REGISTRY[id(array)] = handle
    segment.users += 1
    weakref.finalize(array, segment.release, id(array))


def share(array: np.ndarray, force: bool = False) -> tuple[np.ndarray | None, _SharedHandle | None]:
    """``(shared_view, handle)`` for a large array, ``(None, handle)`` for a file memmap, or
    ``(None, None)`` when the array should simply be pickled (small unless ``force``, or of object
    dtype)."""
    memmap = _memmap_handle(array)
    if memmap is not None:
        return None, memmap
    if (array.nbytes < SHARE_THRESHOLD and not force) or array.dtype.hasobject or array.nbytes == 0:
        return None, None
    with _lock:
        handle = _REGISTRY.get(id(array))
        if handle is not None:
            return None, handle
        shm = create_segment(array.nbytes)  # every page reserved: the copy below cannot SIGBUS
        if shm is not None:
            view = np.ndarray(array.shape, array.dtype, buffer=shm.buf)
            view[...] = array
            handle = _SharedHandle(shm.name, array.shape, array.dtype.str)
            segment = _Segment(lambda: _free_segment(shm))
        else:
            view, handle, free = _spill_to_file(array)
            segment = _Segment(free)
        _register(array, handle, segment)
        _register(view, handle, segment)  # the copy can stand in for the original
    return view, handle


def share_memory(array: Any) -> np.ndarray:
    """A copy of ``array`` in shared memory, for arrays kept in a custom dataset.

    Worker processes map the copy's pages instead of receiving a pickled copy, and the original can
    be freed: keep the returned array, not the original (``self.images = share_memory(images)``).
    Writes to it are seen by every worker. ``ArrayDataset`` does this by itself when workers start; a
    ``numpy.memmap`` needs nothing (workers reopen the file) and is returned unchanged.

    Raises:
      ConfigError: an array of Python objects (object dtype), which cannot live in shared memory.

    Args:
      array: A numpy (or JAX) array, or a ``numpy.memmap`` (returned unchanged).

    Returns:
      A numpy array backed by shared memory (keep it, not the original).

    Example:
      >>> import numpy as np
      >>> from torsh.data import share_memory
      >>> images = share_memory(np.zeros((1000, 32, 32, 3), np.uint8))
      >>> images.shape, images.flags.writeable
      ((1000, 32, 32, 3), True)
    """
    from ..errors import ConfigError

    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise ConfigError("share_memory: arrays of Python objects (object dtype) cannot be shared")
    view, _ = share(arr, force=True)
    return arr if view is None else view
