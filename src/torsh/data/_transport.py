"""Move a collated batch from a worker process to the main process.

Two transports, compared in ``benchmarks/data.py``:

* ``"shm"`` (default): the batch lives in a shared-memory segment the worker owns, and only a small
  skeleton (the batch with array leaves replaced by offsets) goes through the worker's pipe.

  - *Worker*: with the default collate function and samples whose leaves are plain NumPy arrays,
    scalars and strings, :func:`collate_into_segment` computes the stacked sizes first, takes a
    segment and stacks every array column straight into it (``np.stack(..., out=view)``: one write,
    no fresh batch-sized array). Anything else (a custom ``collate_fn``, object arrays, dataclass or
    JAX leaves, ``pad_last``) is collated as before and :func:`encode` copies its arrays into a
    segment. A dataset with a one-gather batch read that accepts destinations (``ArrayDataset`` and
    its ``Subset``) gathers straight into a segment (:func:`segment_arrays`).
  - *Main process*: :class:`Attachments` maps each segment once and hands the user NumPy *views* of
    it: every array of a batch is a view of one per-batch base array, and a ``weakref.finalize`` on
    that base sends ``("release", name)`` back when the last view of the batch (a slice, a row,
    something ``jax.device_put`` aliases on CPU) has died. Only then does the worker reuse the
    segment, so a batch the user keeps never points at memory that gets reused; a user who keeps
    every batch makes the workers create more segments (and, when ``/dev/shm`` is full, the batches
    go through the pipe with a ``SharedMemoryWarning``). The finaliser can run in any thread, even in
    the middle of another send on the same pipe: see ``_pool._Releaser``. The worker's pipe reader
    applies releases as they arrive (not behind queued tasks).
  - *Lifetime*: the main process's mapping is its own ``mmap``; NumPy's views hold buffer exports on
    it, so it cannot be unmapped while a view exists (``mmap.close`` refuses) and is unmapped by
    reference counting when the last one dies. A worker that needs a larger segment than any it has
    free unlinks its smallest free one and reports it (``("retired", names)``, before its next
    message); the main process then unmaps it at once (a free segment has no live view), so its
    memory is freed during the epoch, not at shutdown. Shutdown unlinks the names and closes the
    mappings no batch points into; a batch that outlives its loader stays readable (and frees its
    memory when it dies). Releases after shutdown are dropped.

  Measured on this machine for a 64x3x224x224 float32 batch (38.5 MB): stacking into a fresh array
  21-74 ms (page faults on every page), copying it into a reused segment ~11 ms, copying it out in the
  main process ~20 ms (fresh pages again); stacking into a reused segment 8-12 ms and handing out
  views ~0. For a 3 MB batch: a fresh segment per batch ~14 ms, a reused one ~0.4 ms, pickling ~6 ms.
  ``benchmarks/data.py --pipeline jpeg --n 1000 --batch-size 64 --epochs 2`` (2 process workers, load
  2.6-3.9, 6 interleaved rounds, medians): before 165 samples/s and 6,220 CPU ms per 1k samples,
  after 211 samples/s and 5,220 ms, PyTorch 169 samples/s and 5,900 ms (1.25x its samples/s, 0.88x
  its CPU; single rounds swing 2x in wall clock on this shared machine). The CIFAR-like 3 MB batches
  did not move beyond the noise (9 rounds: 1.12x -> 1.15x PyTorch's samples/s, CPU 0.90x -> 0.92x;
  10 more at load ~2: 1.31x -> 1.24x, CPU 0.78x -> 0.82x; see docs/data.md).
* ``"pickle"``: the batch is pickled through the worker's pipe (pickle, kernel copy in, kernel copy
  out, unpickle; ~6 ms for 3 MB here).

Batches smaller than :data:`SHM_MIN_BYTES` always go through the pipe, and so does a batch for which
shared memory has no room (segments are reserved whole before writing, see ``_shm``: a full
``/dev/shm`` must not kill the worker with SIGBUS); the message then says so, and the main process
warns once. Where the main process cannot map a segment itself (no file descriptor: Windows), or a
caller decodes without a release callback, the arrays are copied out and the segment is given back
at once, as before.
"""

from __future__ import annotations

import mmap
import queue
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import shared_memory
from typing import Any

import numpy as np
import optree

from ._nojax import NAMESPACE
from ._shm import create_segment
from .collate import Alloc, collate_into, default_collate

__all__ = ["SegmentPool", "Attachments", "encode", "collate_into_segment", "segment_arrays", "SHM_MIN_BYTES"]

SHM_MIN_BYTES = 64 * 1024
_ALIGN = 64
_PAGE = 4096


class _Slot:
    """Placeholder for an array stored in the segment at ``offset``."""

    __slots__ = ("offset", "shape", "dtype")

    def __init__(self, offset: int, shape: tuple[int, ...], dtype: str) -> None:
        self.offset, self.shape, self.dtype = offset, shape, dtype

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _Slot, (self.offset, self.shape, self.dtype)


class SegmentPool:
    """Worker side: the segments this worker writes batches into, reused once released."""

    def __init__(self) -> None:
        self.free: list[shared_memory.SharedMemory] = []
        self.busy: dict[str, shared_memory.SharedMemory] = {}
        # names the main process gave back, put by the worker's pipe reader thread as they arrive (a
        # release queued behind tasks would make the worker create segments it does not need)
        self.released: queue.SimpleQueue[str] = queue.SimpleQueue()
        # the segment the last batch was collated into, and its arrays by id: (offset, array)
        self.pending: tuple[shared_memory.SharedMemory, dict[int, tuple[int, np.ndarray]]] | None = None
        # segments unlinked to make room for larger ones, not yet reported: the main process still
        # maps them, and their memory is freed only when it unmaps them too
        self.retired: list[str] = []

    def acquire(self, nbytes: int) -> shared_memory.SharedMemory | None:
        """A segment of at least ``nbytes``, or None when shared memory has no room for one."""
        while True:
            try:
                self.release(self.released.get_nowait())
            except queue.Empty:
                break
        fitting = [s for s in self.free if s.size >= nbytes]
        if fitting:
            shm = min(fitting, key=lambda s: s.size)
            self.free.remove(shm)
        else:
            if self.free:  # too small for this batch: replace the smallest rather than accumulate
                smallest = min(self.free, key=lambda s: s.size)
                self.free.remove(smallest)
                _unlink(smallest)
                self.retired.append(smallest.name)
            size = -(-(nbytes + nbytes // 8) // _PAGE) * _PAGE  # headroom for slightly larger batches
            created = create_segment(size) or create_segment(nbytes)
            if created is None:
                return None
            shm = created
        self.busy[shm.name] = shm
        return shm

    def release(self, name: str) -> None:
        shm = self.busy.pop(name, None)
        if shm is not None:
            self.free.append(shm)

    def take_retired(self) -> list[str]:
        """The segments retired since the last call (for the main process to unmap)."""
        retired, self.retired = self.retired, []
        return retired

    def drop_pending(self) -> None:
        """Give back the segment of a batch that was collated into it but never sent."""
        if self.pending is not None:
            shm, placed = self.pending
            self.pending = None
            placed.clear()
            self.release(shm.name)

    def close(self) -> None:
        self.pending = None
        for shm in [*self.free, *self.busy.values()]:
            _unlink(shm)
        self.free.clear()
        self.busy.clear()


def _unlink(shm: shared_memory.SharedMemory) -> None:
    try:
        shm.close()
    except BufferError:
        pass
    try:
        shm.unlink()
    except FileNotFoundError:
        pass


def _is_plain_array(x: Any) -> bool:
    return type(x) is np.ndarray and not x.dtype.hasobject


def _aligned(nbytes: int) -> int:
    return -(-nbytes // _ALIGN) * _ALIGN


_TEXT_OR_SCALAR = (np.generic, bool, int, float, complex, str, bytes)


def _direct_bytes(samples: Sequence[Any]) -> int | None:
    """Bytes the stacked array leaves of ``samples`` take in a segment, or None when the first sample
    has leaves other than plain NumPy arrays, scalars and strings (today's path then)."""
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence) or not samples:
        return None
    total = 0
    for leaf in optree.tree_leaves(samples[0], namespace=NAMESPACE):
        if type(leaf) is np.ndarray:
            if leaf.dtype.hasobject:
                return None
            total += _aligned(len(samples) * leaf.nbytes)
        elif not isinstance(leaf, _TEXT_OR_SCALAR):
            return None
    return total


def _segment_alloc(total: int, segments: SegmentPool) -> Alloc | None:
    """An allocator of consecutive arrays in one segment of ``segments`` with room for ``total``
    bytes, recorded as ``segments.pending`` so that :func:`encode` sends that segment; None when the
    batch is smaller than :data:`SHM_MIN_BYTES` or shared memory is full (fresh arrays then)."""
    if total < SHM_MIN_BYTES:
        return None
    segments.drop_pending()
    shm = segments.acquire(total)
    if shm is None:
        return None
    placed: dict[int, tuple[int, np.ndarray]] = {}
    cursor = 0

    def alloc(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
        nonlocal cursor
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if cursor + nbytes > shm.size:  # cannot happen for the arrays ``total`` was counted from
            return None
        view = np.ndarray(shape, dtype, buffer=shm.buf, offset=cursor)
        placed[id(view)] = (cursor, view)
        cursor += _aligned(nbytes)
        return view

    segments.pending = (shm, placed)
    return alloc


def collate_into_segment(samples: Sequence[Any], segments: SegmentPool) -> Any:
    """:func:`default_collate` that stacks the array columns straight into a segment of ``segments``
    (one write instead of a fresh array plus a copy); :func:`encode` then sends that segment.
    Falls back to :func:`default_collate` when the samples have other leaves, the batch is smaller
    than :data:`SHM_MIN_BYTES` or shared memory is full (encode then tries again and reports it)."""
    total = _direct_bytes(samples)
    alloc = None if total is None else _segment_alloc(total, segments)
    if alloc is None:
        return default_collate(samples)
    try:
        return collate_into(samples, alloc)
    except BaseException:
        segments.drop_pending()
        raise


def segment_arrays(
    specs: Sequence[tuple[tuple[int, ...], np.dtype]], segments: SegmentPool
) -> list[np.ndarray] | None:
    """Arrays of these ``(shape, dtype)`` in one segment of ``segments``, for a dataset's one-gather
    batch read to write into (``ArrayDataset._torsh_get_batch(..., into=)``); :func:`encode` then
    sends that segment. None (the dataset gathers into fresh arrays) when the batch is smaller than
    :data:`SHM_MIN_BYTES` or shared memory is full."""
    plan = [(tuple(shape), np.dtype(dtype)) for shape, dtype in specs]
    if any(dtype.hasobject for _, dtype in plan):
        return None
    total = sum(_aligned(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize) for shape, dtype in plan)
    alloc = _segment_alloc(total, segments)
    if alloc is None:
        return None
    out = [alloc(shape, dtype) for shape, dtype in plan]
    if any(o is None for o in out):  # pragma: no cover - the segment was sized from these specs
        segments.drop_pending()
        return None
    return out  # type: ignore[return-value]  # no None left


def encode(batch: Any, transport: str, segments: SegmentPool | None) -> tuple[str, Any, Any]:
    """``(kind, segment_name, skeleton_or_batch)`` for sending over a pipe; for a batch that did not
    fit in shared memory, ``("pickle", ("shm-full", nbytes), batch)``."""
    if transport != "shm" or segments is None:
        return ("pickle", None, batch)
    if segments.pending is not None:  # collated into a segment already: send its offsets
        written, placed = segments.pending
        segments.pending = None

        def slot(leaf: Any) -> Any:
            hit = placed.get(id(leaf))
            if hit is None or hit[1] is not leaf:
                return leaf
            return _Slot(hit[0], leaf.shape, leaf.dtype.str)

        try:
            skeleton = optree.tree_map(slot, batch, namespace=NAMESPACE)
        except BaseException:
            segments.release(written.name)
            raise
        finally:
            placed.clear()
        return ("shm", written.name, skeleton)
    leaves, spec = optree.tree_flatten(batch, namespace=NAMESPACE)
    total = 0
    offsets: list[int | None] = []
    for leaf in leaves:
        if _is_plain_array(leaf):
            offsets.append(total)
            total += _aligned(leaf.nbytes)
        else:
            offsets.append(None)
    if total < SHM_MIN_BYTES:
        return ("pickle", None, batch)
    shm = segments.acquire(total)
    if shm is None:
        return ("pickle", ("shm-full", total), batch)
    buf = shm.buf
    skeleton_leaves = []
    for leaf, offset in zip(leaves, offsets, strict=True):
        if offset is None:
            skeleton_leaves.append(leaf)
            continue
        dst = np.ndarray(leaf.shape, leaf.dtype, buffer=buf, offset=offset)
        np.copyto(dst, leaf, casting="no")
        skeleton_leaves.append(_Slot(offset, leaf.shape, leaf.dtype.str))
    del dst, buf
    return ("shm", shm.name, optree.tree_unflatten(spec, skeleton_leaves))


class Attachments:
    """Main-process side: the workers' segments, each mapped once and kept mapped until its worker
    retires it (:meth:`forget`) or the pool shuts down; batches are views into them, and a segment
    goes back to its worker when the last view of its batch dies."""

    def __init__(self) -> None:
        self._mapped: dict[str, tuple[shared_memory.SharedMemory, mmap.mmap | None]] = {}

    def _map(self, name: str) -> tuple[shared_memory.SharedMemory, mmap.mmap | None]:
        entry = self._mapped.get(name)
        if entry is None:
            shm = shared_memory.SharedMemory(name=name, create=False)
            fd = getattr(shm, "_fd", -1)
            # Our own mapping, owned by the views' buffer exports: mmap refuses to close while an
            # array points into it, and unmaps when the last one dies (no use after unmap).
            mm = mmap.mmap(fd, shm.size) if fd >= 0 else None
            if mm is not None:
                shm.close()
            entry = self._mapped[name] = (shm, mm)
        return entry

    def decode(self, message: tuple[str, Any, Any], on_release: Callable[[], None] | None = None) -> Any:
        """The batch of an :func:`encode` message: views into the segment, which is handed back with
        ``on_release()`` once no view is alive any more (at once when there is none or no
        ``on_release``: then the arrays are private copies)."""
        kind, name, body = message
        if kind == "pickle":
            return body
        shm, mm = self._map(name)
        if mm is None or on_release is None:  # no mapping of our own (Windows), or no way to release
            buf: Any = shm.buf if mm is None else memoryview(mm)

            def copied(leaf: Any) -> Any:
                if type(leaf) is not _Slot:
                    return leaf
                return np.ndarray(leaf.shape, np.dtype(leaf.dtype), buffer=buf, offset=leaf.offset).copy()

            out = optree.tree_map(copied, body, namespace=NAMESPACE)
            if mm is not None:
                buf.release()
            del buf
            if on_release is not None:
                on_release()
            return out
        owner = np.frombuffer(mm, dtype=np.uint8)  # every view's .base: alive while any view is

        def view(leaf: Any) -> Any:
            if type(leaf) is not _Slot:
                return leaf
            return np.ndarray(leaf.shape, np.dtype(leaf.dtype), buffer=owner, offset=leaf.offset)

        out = optree.tree_map(view, body, namespace=NAMESPACE)
        finalizer = weakref.finalize(owner, on_release)
        finalizer.atexit = False
        return out

    def forget(self, names: Sequence[str]) -> None:
        """Unmap segments their worker retired (unlinked to make room for a larger one): their
        memory is freed now, not when the pool shuts down. A worker retires only segments it got
        back, which no view points into; and should one still (a view dying in another thread),
        ``mmap.close`` refuses and the last view unmaps it instead."""
        for name in names:
            entry = self._mapped.pop(name, None)
            if entry is not None:
                _close_mapping(*entry, unlink=False)

    def close(self, unlink: bool) -> None:
        """Unmap every segment no batch points into (the others are unmapped when their last view
        dies); ``unlink`` also removes their names (workers that were killed)."""
        for shm, mm in self._mapped.values():
            _close_mapping(shm, mm, unlink)
        self._mapped.clear()


def _close_mapping(shm: shared_memory.SharedMemory, mm: mmap.mmap | None, unlink: bool) -> None:
    if mm is not None:
        try:
            mm.close()
        except BufferError:
            pass  # a batch the user still holds: its views keep the mapping alive
    if unlink:
        _unlink(shm)
    else:
        try:
            shm.close()
        except BufferError:
            pass
