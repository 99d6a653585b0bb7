"""Shared memory that cannot kill the process: space is reserved before any byte is written.

POSIX shared memory lives in a tmpfs (``/dev/shm`` on Linux), 64 MiB by default in Docker. Creating a
segment only sets its size; the pages are allocated when first written, and a write the tmpfs has no
room for kills the writer with SIGBUS -- the main process when it shares a large dataset, a worker
when it writes a batch. Here every segment is reserved whole with ``posix_fallocate`` first, which
fails cleanly with ENOSPC, and callers fall back (a file in the temp directory for the dataset, the
worker's pipe for batches) or raise :class:`~torsh.errors.DataError` saying how to enlarge it.
"""

from __future__ import annotations

import errno
import os
from multiprocessing import shared_memory

__all__ = ["SHM_DIR", "SharedMemoryWarning", "shm_space", "create_segment", "full_message"]

SHM_DIR = "/dev/shm"
_NO_SPACE = (errno.ENOSPC, errno.ENOMEM, errno.EFBIG)


class SharedMemoryWarning(UserWarning):
    """Shared memory (``/dev/shm``) is too small: the loader fell back to a slower path.

    Example:
        >>> import warnings, numpy as np
        >>> from torsh import data
        >>> with warnings.catch_warnings():  # e.g. a container whose /dev/shm is known to be small
        ...     warnings.simplefilter("ignore", data.SharedMemoryWarning)
        ...     batches = list(data.DataLoader(data.ArrayDataset(np.ones((2, 1))), batch_size=2))
        >>> len(batches)
        1
    """


def shm_space() -> tuple[int, int] | None:
    """``(free, total)`` bytes of the shared-memory filesystem, or None where there is none to ask."""
    try:
        st = os.statvfs(SHM_DIR)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def _reserve(shm: shared_memory.SharedMemory, nbytes: int) -> bool:
    """Allocate every page of ``shm`` now; False when the filesystem has no room."""
    fd = getattr(shm, "_fd", -1)
    if fd < 0 or not hasattr(os, "posix_fallocate") or nbytes == 0:
        space = shm_space()  # cannot reserve (macOS): the best check left
        return space is None or space[0] >= nbytes
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as e:
        if e.errno in _NO_SPACE:
            return False
        if e.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENODEV):
            space = shm_space()
            return space is None or space[0] >= nbytes
        raise
    return True


def create_segment(nbytes: int) -> shared_memory.SharedMemory | None:
    """A new segment of ``nbytes`` whose pages are all allocated, or None when shared memory is full."""
    space = shm_space()
    if space is not None and space[0] < nbytes:
        return None
    shm = shared_memory.SharedMemory(create=True, size=max(nbytes, 1))
    if _reserve(shm, nbytes):
        return shm
    shm.close()
    try:
        shm.unlink()
    except FileNotFoundError:
        pass
    return None


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def full_message(what: str, nbytes: int) -> str:
    """Why shared memory could not take ``nbytes`` for ``what``, and how to enlarge it."""
    space = shm_space()
    state = f"{_mib(space[0])} free of {_mib(space[1])}" if space is not None else "no room"
    return (
        f"shared memory ({SHM_DIR}) is full: {what} needs {_mib(nbytes)}, {SHM_DIR} has {state}. "
        "Enlarge it: `docker run --shm-size=2g ...` (docker compose: `shm_size: 2gb`; Kubernetes: an "
        f"emptyDir volume with `medium: Memory` mounted at {SHM_DIR}; as root: "
        f"`mount -o remount,size=2G {SHM_DIR}`)"
    )
