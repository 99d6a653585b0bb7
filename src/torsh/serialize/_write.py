"""Writing a pytree as a safetensors file, streaming one array at a time.

The header is computed from shapes and dtypes alone, so arrays are fetched to the host and written
one by one: at most one host copy of one array exists at a time (zero on CPU, where arrays are read
in place). For background saves the arrays are fetched first (one host copy of the model, owned by
the save) and written later.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from ..errors import CheckpointError
from ._format import encode_header
from ._leaves import Record, encode_tree
from ._names import HOST, pid_is_dead

__all__ = ["Prepared", "prepare", "write_file", "fsync_dir", "temp_file_name", "clean_stale_temp_files"]

# A temporary file nobody has written to for this long is abandoned whoever made it (another host
# sharing the directory, or a reused pid): a live writer touches its file continuously.
STALE_TEMP_SECONDS = 24 * 3600


@dataclass
class Prepared:
    """A tree ready to write: its header bytes, its records, and (after :meth:`fetch_all`) host copies."""

    header: bytes
    records: list[Record]
    hosts: list[np.ndarray | None] | None = field(default=None)

    @property
    def size(self) -> int:
        return len(self.header) + sum(r.nbytes for r in self.records)

    def fetch_all(self) -> None:
        """Copy every array to host memory now (for a write that happens later)."""
        self.hosts = [r.fetch(copy=True) for r in self.records]

    def write_to(self, f: BinaryIO, hasher: Any = None) -> int:
        _write_all(f, memoryview(self.header), hasher)
        for i, record in enumerate(self.records):
            if self.hosts is not None:
                host, self.hosts[i] = self.hosts[i], None  # free each copy once written
            else:
                host = record.fetch(copy=False)
            assert host is not None
            data = host.reshape(-1).view(np.uint8)
            if data.size != record.nbytes:  # pragma: no cover - guards the header/data invariant
                raise CheckpointError(f"key {record.key!r}: {data.size} bytes, header says {record.nbytes}")
            _write_all(f, data.data, hasher)  # ndarray.data: a memoryview of its buffer
            del host, data
        return self.size


def prepare(tree: Any, metadata: Mapping[str, str] | None) -> Prepared:
    records, meta = encode_tree(tree, metadata)
    header, _ = encode_header(((r.key, r.code, r.shape, r.nbytes) for r in records), meta)
    return Prepared(header, records)


def _write_all(f: BinaryIO, data: memoryview, hasher: Any) -> None:
    if hasher is not None:
        hasher.update(data)
    while len(data):
        written = f.write(data)
        if not written:
            raise CheckpointError(f"{getattr(f, 'name', '<file>')}: write made no progress (disk full?)")
        data = data[written:]


def temp_file_name(name: str) -> str:
    """``.NAME.tmp-HOST-PID-RANDOM``: hidden, next to the target, and traceable to its writer."""
    return f".{name}.tmp-{HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def _is_stale(entry: os.DirEntry, rest: str, now: float) -> bool:
    """For the part after ``.NAME.tmp-`` (``HOST-PID-RANDOM``, or ``PID-RANDOM`` before the host was
    recorded): was the file left by a dead process of this host, or abandoned for a day?"""
    parts = rest.split("-")
    if len(parts) == 3:
        host, pid, tail = parts
    elif len(parts) == 2:
        host, (pid, tail) = HOST, parts
    else:
        return False
    if not pid.isdigit() or len(tail) != 8 or any(c not in "0123456789abcdef" for c in tail):
        return False
    try:
        if not entry.is_file(follow_symlinks=False):
            return False
        age = now - entry.stat(follow_symlinks=False).st_mtime
    except OSError:
        return False
    return (host == HOST and pid_is_dead(int(pid))) or age > STALE_TEMP_SECONDS


def clean_stale_temp_files(directory: str, name: str) -> list[str]:
    """Remove the temporary files of earlier saves to ``directory/name`` whose writer was killed
    (SIGKILL, power loss) before it could rename or delete them. Returns the removed paths."""
    prefix = f".{name}.tmp-"
    removed: list[str] = []
    now = time.time()
    try:
        entries = [e for e in os.scandir(directory) if e.name.startswith(prefix)]
    except OSError:
        return removed
    for entry in entries:
        if _is_stale(entry, entry.name[len(prefix) :], now):
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass  # removed by a concurrent save, or not ours to remove
    return removed


def write_file(path: str, prepared: Prepared, *, atomic: bool, fsync: bool, hasher: Any = None) -> int:
    """Write ``prepared`` to ``path``; with ``atomic`` via a temporary name in the same directory and a
    rename, so ``path`` is either the old file or the complete new one, after removing temporary files
    that killed earlier saves to ``path`` left behind. Returns the size in bytes."""
    directory, name = os.path.split(os.path.abspath(path))
    if atomic:
        clean_stale_temp_files(directory, name)
    target = os.path.join(directory, temp_file_name(name)) if atomic else path
    try:
        with open(target, "wb", buffering=0) as f:
            size = prepared.write_to(f, hasher)
            if fsync:
                os.fsync(f.fileno())
        if atomic:
            os.replace(target, path)
    except BaseException:
        if atomic:
            try:
                os.unlink(target)
            except OSError:
                pass
        raise
    return size


def fsync_dir(directory: str) -> None:
    """Make a directory's entries (new names, renames) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
