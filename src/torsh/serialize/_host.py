"""Moving arrays between devices and host memory without extra copies.

Saving: a ``jax.Array`` becomes one contiguous little-endian numpy array. A CPU array is read in place
(zero-copy); an accelerator array is copied once to a fresh CPU buffer that dies with the write, so no
host copy is left cached on the model's arrays. A sharded array is assembled from its addressable
shards (each distinct shard once).

Loading: XLA's CPU client adopts suitably aligned host buffers instead of copying them, even with
``may_alias=False``; it would therefore alias any view it is given (of the caller's bytes, of a
memory-mapped file). Files are read into fresh 64-byte-aligned buffers that the load owns (see
``_reader``), which XLA may adopt as they are; views of bytes given to ``from_bytes`` are copied once
into such a buffer first (``owned_copy``). For accelerators the transfer itself is the one copy.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from ..errors import CheckpointError

__all__ = ["to_host", "aligned_empty", "owned_copy", "is_cpu_only", "cpu_device"]

_ALIGN = 64


def cpu_device() -> Any:
    return jax.devices("cpu")[0]


def is_cpu_only(devices: Any) -> bool:
    return all(d.platform == "cpu" for d in devices)


def aligned_empty(nbytes: int) -> np.ndarray:
    """An uninitialised ``uint8`` buffer of ``nbytes`` starting at a 64-byte boundary."""
    raw = np.empty(nbytes + _ALIGN, np.uint8)
    offset = -raw.ctypes.data % _ALIGN
    return raw[offset : offset + nbytes]


def owned_copy(view: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``view`` in a fresh 64-byte-aligned buffer (one memcpy)."""
    out = aligned_empty(view.size * view.dtype.itemsize).view(view.dtype).reshape(view.shape)
    np.copyto(out, view, casting="no")
    return out


def _little_endian(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    return a


def _single_device_to_numpy(a: jax.Array, copy: bool) -> np.ndarray:
    if is_cpu_only(a.devices()):
        host = np.asarray(a)  # zero-copy view of the CPU buffer
        return np.array(host, copy=True) if copy else host
    # A fresh CPU array: the transfer is the one copy, and nothing is cached on ``a``.
    return np.asarray(jax.device_put(a, cpu_device()))


def to_host(x: Any, key: str, *, copy: bool) -> np.ndarray:
    """``x`` (jax or numpy array) as a contiguous little-endian numpy array.

    ``copy=True`` guarantees the result owns its memory (needed when the write happens later, in the
    background, while training goes on and may donate or mutate the source).
    """
    if isinstance(x, (np.ndarray, np.generic)):
        out = _little_endian(np.asarray(x))
        if copy and isinstance(x, np.ndarray) and np.may_share_memory(out, x):
            out = out.copy()  # the caller may mutate its numpy array before the background write
        return out
    if not isinstance(x, jax.Array):  # pragma: no cover - callers dispatch on type first
        raise TypeError(type(x))
    shards = x.addressable_shards
    if x.is_fully_replicated and shards:
        return _single_device_to_numpy(shards[0].data, copy)
    if not x.is_fully_addressable:
        raise CheckpointError(
            f"key {key!r}: the array is sharded over devices of other processes "
            f"({x.sharding}); a single file can only be written from a process that holds every shard. "
            "Gather it first (jax.experimental.multihost_utils.process_allgather) or save per process."
        )
    out = np.empty(x.shape, x.dtype)
    seen: set[tuple] = set()
    for shard in shards:
        index = tuple((s.start, s.stop, s.step) if isinstance(s, slice) else s for s in shard.index)
        if index in seen:  # replicas along some mesh axis hold the same block
            continue
        seen.add(index)
        out[shard.index] = _single_device_to_numpy(shard.data, copy=False)
    return out
