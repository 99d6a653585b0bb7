"""Per-batch randomness and worker information.

Every batch gets its own random stream, derived from ``(seed, epoch, batch_index)`` only, so a
transform draws the same numbers whichever worker (thread, process, or the main process) loads the
batch and however many workers there are. Transforms read the stream with :func:`rng`.
"""

from __future__ import annotations

import random as _py_random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["WorkerInfo", "get_worker_info", "rng", "batch_seed"]

# Salt that separates the loader's augmentation streams from other users of the same seed
# (e.g. a RandomSampler seeded with the same number).
_AUGMENT_SALT = 0x7A5D_A7A


@dataclass(frozen=True)
class WorkerInfo:
    """Describes the worker running the current code (``None`` from :func:`get_worker_info` otherwise).

    Attributes:
      id: worker number in ``[0, num_workers)``.
      num_workers: number of workers of the loader.
      seed: the loader's seed (the per-batch streams derive from it, the epoch and the batch index).
      kind: ``"thread"`` or ``"process"``.
      dataset: the dataset object this worker reads (a copy in a worker process).

    Args:
      id: Worker number in ``[0, num_workers)``.
      num_workers: Number of workers of the loader.
      seed: The loader's seed (the per-batch streams derive from it, the epoch and the batch index).
      kind: ``"thread"`` or ``"process"``.
      dataset: The dataset object this worker reads (a copy in a worker process).

    Example:
      >>> import numpy as np
      >>> from torsh import data
      >>> class WhoLoads(data.Dataset):
      ...     def __len__(self):
      ...         return 2
      ...     def __getitem__(self, i):
      ...         info = data.get_worker_info()
      ...         return np.array([info.id, info.num_workers])
      >>> loader = data.DataLoader(WhoLoads(), batch_size=2, num_workers=1, worker_type="thread")
      >>> next(iter(loader)).tolist()  # both samples loaded by worker 0 of 1
      [[0, 1], [0, 1]]
    """

    id: int
    num_workers: int
    seed: int
    kind: str
    dataset: Any


_local = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """Information about the current loader worker, or ``None`` in the main process (as PyTorch).

    Returns:
      The current worker's :class:`WorkerInfo`, or None outside a loader worker.

    Example:
      >>> import torsh
      >>> torsh.data.get_worker_info() is None
      True
    """
    return getattr(_local, "worker", None)


def _set_worker_info(info: WorkerInfo | None) -> None:
    _local.worker = info


def batch_seed(seed: int, epoch: int, batch_index: int) -> np.random.SeedSequence:
    """The seed sequence of one batch: a function of ``(seed, epoch, batch_index)`` only."""
    return np.random.SeedSequence([_AUGMENT_SALT, seed, epoch, batch_index])


def rng() -> np.random.Generator:
    """The random generator for the batch being loaded (use it in transforms).

    Inside a :class:`~torsh.data.DataLoader` the generator is seeded from ``(seed, epoch, batch)``,
    so augmentations are reproducible and identical for any ``num_workers`` and worker kind. Outside
    a loader it is a per-thread generator seeded from OS entropy.

    Returns:
      A ``numpy.random.Generator``.

    Example:
      >>> import numpy as np, torsh
      >>> from torsh.data import ArrayDataset, DataLoader, rng
      >>> noisy = ArrayDataset(np.zeros((4, 2), np.float32)).map(lambda s: s[0] + rng().normal(size=2))
      >>> a = [b for b in DataLoader(noisy, batch_size=2, seed=0)]
      >>> b = [b for b in DataLoader(noisy, batch_size=2, seed=0, num_workers=2, worker_type="thread")]
      >>> all(np.array_equal(x, y) for x, y in zip(a, b))
      True
    """
    gen = getattr(_local, "batch_rng", None)
    if gen is not None:
        return gen
    fallback = getattr(_local, "fallback_rng", None)
    if fallback is None:
        fallback = _local.fallback_rng = np.random.default_rng()
    return fallback


@contextmanager
def batch_random_context(seed: int, epoch: int, batch_index: int, globals_mode: str) -> Iterator[None]:
    """Install the batch's generator for :func:`rng` while one batch loads.

    ``globals_mode`` says what to do with Python's ``random`` and NumPy's legacy global generator:
    ``"seed"`` reseeds them per batch (a worker process owns them), ``"scoped"`` reseeds them and
    restores the caller's state afterwards (loading in the main process), ``"leave"`` does not touch
    them (thread workers share them, so they cannot be made deterministic there).
    """
    ss = batch_seed(seed, epoch, batch_index)
    saved: tuple[Any, Any] | None = None
    if globals_mode != "leave":
        words = ss.spawn(1)[0].generate_state(2)
        if globals_mode == "scoped":
            saved = (_py_random.getstate(), np.random.get_state())
        _py_random.seed(int(words[0]) << 32 | int(words[1]))
        np.random.seed(int(words[0]))
    previous = getattr(_local, "batch_rng", None)
    _local.batch_rng = np.random.Generator(np.random.PCG64(ss))
    try:
        yield
    finally:
        _local.batch_rng = previous
        if saved is not None:
            _py_random.setstate(saved[0])
            np.random.set_state(saved[1])
