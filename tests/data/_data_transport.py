"""Datasets for the shared-memory transport tests (module level: worker processes import them)."""

from __future__ import annotations

import numpy as np

from torsh.data import Dataset


class Mixed(Dataset):
    """Dicts of arrays (several dtypes), NumPy and Python scalars, strings and nested tuples; each
    batch is large enough (>= 64 KiB) to travel through shared memory."""

    def __init__(self, n: int = 96, size: int = 32) -> None:
        self.n, self.size = n, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        rng = np.random.default_rng(i)
        return {
            "image": rng.random((3, self.size, self.size), dtype=np.float32),
            "mask": rng.random((self.size, self.size)) > 0.5,
            "label": i,
            "weight": 0.5 * i,
            "meta": (np.int16(i), np.arange(7, dtype=np.uint8) + i % 200, f"s{i}"),
            "big_endian": np.arange(5, dtype=">f8") * i,
        }


class Tuples(Dataset):
    """``(float64 image, int32 vector)`` tuples (two make a batch of more than 64 KiB)."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int):
        return np.full((72, 72), float(i)), np.arange(10, dtype=np.int32) * i


class Ragged(Dataset):
    """Sample 5 has a different shape (collation must fail naming it)."""

    def __len__(self) -> int:
        return 16

    def __getitem__(self, i: int):
        return {"x": np.zeros((64, 64) if i != 5 else (64, 63), np.float32)}


def stack_sum(samples):
    """A custom collate_fn: the sum of the samples' arrays."""
    return {"total": np.sum([s["image"] for s in samples], axis=0), "n": len(samples)}


class FullShm(Mixed):
    """:class:`Mixed` whose worker process sees a full /dev/shm (use it with workers only)."""

    def __getitem__(self, i: int):
        from torsh.data import _shm

        _shm.shm_space = lambda: (4096, 64 << 20)  # in the worker only (a separate process)
        return super().__getitem__(i)
