"""Datasets and functions for torsh.data tests that run in worker processes.

They live in a module of their own (importing only numpy and torsh.data) so that worker processes
can unpickle them quickly; test modules import them from here.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

import numpy as np

from torsh.data import Dataset, IterableDataset, get_worker_info, rng


def images(n: int = 48, seed: int = 0, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(seed)
    return g.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8), np.arange(n, dtype=np.int64)


def augment(sample):
    """Random crop (pad 1) + flip + normalise, drawing from torsh.data.rng()."""
    x, y = sample
    r = rng()
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    i, j = r.integers(0, 3, size=2)
    crop = padded[i : i + x.shape[0], j : j + x.shape[1]]
    if r.random() < 0.5:
        crop = crop[:, ::-1]
    out = (crop.astype(np.float32) / 255.0 - 0.5) / 0.25
    return np.ascontiguousarray(out.transpose(2, 0, 1)), y


def augment_global(sample):
    """Uses NumPy's and Python's global generators (seeded per batch in processes and in-process)."""
    import random

    x, y = sample
    return x.astype(np.float32) + np.float32(np.random.rand()) + np.float32(random.random()), y


def to_dict(sample):
    x, y = sample
    return {"image": x, "label": y, "meta": {"index": int(y), "name": f"s{int(y)}"}}


def fail_at_7(sample):
    if int(sample[1]) == 7:
        raise ValueError("sample seven is broken")
    return sample


def add_pid(sample):
    x, y = sample
    return x, y, np.int64(os.getpid())


class KillSelfAt(Dataset):
    """Kills (SIGKILL, or ``sig``) the worker process that loads ``index`` (only inside a worker process)."""

    def __init__(self, n: int, index: int, sig: int = signal.SIGKILL) -> None:
        self.n, self.index, self.sig = n, index, sig

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        info = get_worker_info()
        if i == self.index and info is not None and info.kind == "process":
            os.kill(os.getpid(), self.sig)
        return np.int64(i)


class Slow(Dataset):
    """Sleeps ``delay`` s per sample and ``stall`` s at ``stall_index``; samples carry the pid."""

    def __init__(self, n: int, delay: float = 0.0, stall_index: int = -1, stall: float = 0.0) -> None:
        self.n, self.delay, self.stall_index, self.stall = n, delay, stall_index, stall

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        time.sleep(self.delay)
        if i == self.stall_index:
            time.sleep(self.stall)
        return np.int64(i), np.int64(os.getpid())


class Stream(IterableDataset):
    """0, 1, ..., n-1 as (x, y) samples; the epoch shifts the values (to check set_epoch)."""

    def __init__(self, n: int, sized: bool = True) -> None:
        self.n, self.sized, self.epoch = n, sized, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        for i in range(self.n):
            yield np.full(3, i + 1000 * self.epoch, np.float32), np.int64(i)

    def __len__(self) -> int:
        if not self.sized:
            raise TypeError("unsized")
        return self.n


def noisy(sample):
    x, y = sample
    return x + rng().normal(size=x.shape).astype(np.float32), y


@dataclass
class Pair:
    left: np.ndarray
    right: int


def init_marks_env(worker_id: int) -> None:
    os.environ["TORSH_TEST_WORKER"] = str(worker_id)


def read_marked_env(sample):
    return np.int64(int(os.environ.get("TORSH_TEST_WORKER", "-1")))


def init_fails(worker_id: int) -> None:
    raise RuntimeError(f"init of worker {worker_id} failed on purpose")


def pid_is_alive(pid: int) -> bool:
    """True if ``pid`` runs (a zombie, dead but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pids, timeout: float = 10.0) -> list[int]:
    """Pids still alive after waiting up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_is_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_is_alive(p)]
    return alive


def descendants(pid: int) -> set[int]:
    """All live descendant pids of ``pid`` (from /proc)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            parent[int(entry)] = int(fields[1])
    out: set[int] = set()
    frontier = [pid]
    while frontier:
        p = frontier.pop()
        for child, ppid in parent.items():
            if ppid == p and child not in out:
                out.add(child)
                frontier.append(child)
    return out


def noisy_scalar(sample):
    return sample[0] + rng().integers(0, 1000)


def describe_worker_arrays(sample):
    """Reports how the worker sees the base ArrayDataset's first array: (writeable, is_memmap)."""
    info = get_worker_info()
    leaf = info.dataset.dataset._leaves[0]
    return np.array([leaf.flags.writeable, isinstance(leaf, np.memmap)]), sample[0][:2]


class Holder(Dataset):
    """A plain dataset class keeping its arrays in attributes (no torsh container)."""

    def __init__(self, table: np.ndarray) -> None:
        self.columns = {"table": table}

    def __len__(self) -> int:
        return len(self.columns["table"])

    def __getitem__(self, i: int):
        table = self.columns["table"]
        return np.array([table.flags.writeable]), table[i, :2]


class Items(Dataset):
    """A dataset over a Python list attribute, for the snapshot rule (mutations after workers start)."""

    def __init__(self, items) -> None:
        self.items = list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return np.int64(self.items[i])


class Huge:
    """A sample whose field holds a Python int too large for int64."""

    def __init__(self, n: int, bad: int) -> None:
        self.n, self.bad = n, bad

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        return {"x": np.float32(i), "meta": {"id": 2**64 + i if i == self.bad else i}}


def heavy_modules_loaded(sample):
    """The sample's label replaced by which heavy modules this (worker) process has imported."""
    import sys

    x, _ = sample
    return x, np.array([name in sys.modules for name in ("jax", "jaxlib", "torsh.tree", "torsh.nn")])


def float_label(sample):
    """A Python float in every sample (collated with torsh's default float dtype)."""
    x, y = sample
    return x, float(y)
