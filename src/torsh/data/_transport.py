"""Move a collated batch from a worker process to the main process.

Two transports, both measured in ``benchmarks/data.py``:

* ``"shm"``: the worker copies the batch's NumPy arrays into one new POSIX shared-memory segment and
  sends only a small skeleton (the batch with array leaves replaced by offsets); the main process
  copies the arrays out into ordinary NumPy memory and unlinks the segment. Two copies of the data,
  no pickling of array bytes, no pipe traffic proportional to the batch.
* ``"pickle"``: the batch is pickled through the worker's pipe (pickle, kernel copy in, kernel copy
  out, unpickle).

Arrays are copied out of the segment rather than handed to the user as views, so a batch the user
keeps (or that ``jax.device_put`` aliases on CPU) never points at memory that is recycled. Batches
smaller than :data:`SHM_MIN_BYTES` go through the pipe: a segment costs a few system calls.
"""

from __future__ import annotations

from multiprocessing import shared_memory
from typing import Any

import numpy as np
import optree

from ..tree import NAMESPACE

__all__ = ["encode", "decode", "discard", "SHM_MIN_BYTES"]

SHM_MIN_BYTES = 64 * 1024
_ALIGN = 64


class _Slot:
    """Placeholder for an array stored in the segment at ``offset``."""

    __slots__ = ("offset", "shape", "dtype")

    def __init__(self, offset: int, shape: tuple[int, ...], dtype: str) -> None:
        self.offset, self.shape, self.dtype = offset, shape, dtype

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _Slot, (self.offset, self.shape, self.dtype)


def _is_plain_array(x: Any) -> bool:
    return type(x) is np.ndarray and not x.dtype.hasobject


def encode(batch: Any, transport: str) -> tuple[str, Any, Any]:
    """``(kind, segment_name, skeleton_or_batch)`` for sending over a pipe."""
    if transport != "shm":
        return ("pickle", None, batch)
    leaves, spec = optree.tree_flatten(batch, namespace=NAMESPACE)
    total = 0
    offsets: list[int | None] = []
    for leaf in leaves:
        if _is_plain_array(leaf):
            offsets.append(total)
            total += -(-leaf.nbytes // _ALIGN) * _ALIGN
        else:
            offsets.append(None)
    if total < SHM_MIN_BYTES:
        return ("pickle", None, batch)
    shm = shared_memory.SharedMemory(create=True, size=total)
    try:
        buf = shm.buf
        skeleton_leaves = []
        for leaf, offset in zip(leaves, offsets):
            if offset is None:
                skeleton_leaves.append(leaf)
                continue
            dst = np.ndarray(leaf.shape, leaf.dtype, buffer=buf, offset=offset)
            np.copyto(dst, leaf, casting="no")
            del dst
            skeleton_leaves.append(_Slot(offset, leaf.shape, leaf.dtype.str))
        del buf
    finally:
        shm.close()
    return ("shm", shm.name, optree.tree_unflatten(spec, skeleton_leaves))


def decode(message: tuple[str, Any, Any]) -> Any:
    """The batch from :func:`encode`'s message (unlinks the segment)."""
    kind, name, body = message
    if kind == "pickle":
        return body
    shm = shared_memory.SharedMemory(name=name, create=False)
    try:
        buf = shm.buf

        def materialise(leaf: Any) -> Any:
            if type(leaf) is not _Slot:
                return leaf
            src = np.ndarray(leaf.shape, np.dtype(leaf.dtype), buffer=buf, offset=leaf.offset)
            return src.copy()

        out = optree.tree_map(materialise, body, namespace=NAMESPACE)
        del buf
    finally:
        shm.close()
        shm.unlink()
    return out


def discard(message: tuple[str, Any, Any]) -> None:
    """Free a message's segment without reading it (a stale batch)."""
    kind, name, _ = message
    if kind != "shm":
        return
    try:
        shm = shared_memory.SharedMemory(name=name, create=False)
    except FileNotFoundError:
        return
    shm.close()
    shm.unlink()
