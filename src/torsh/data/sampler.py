"""Samplers: which sample indices an epoch visits, and in what order.

Random samplers draw from ``(seed, epoch)`` only: the same epoch always gives the same order, and
:meth:`Sampler.set_epoch` (called by the loader every epoch) reshuffles. That is what makes a
mid-epoch resume exact and multi-process shards consistent.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
]

_SAMPLER_SALT = 0x5A3B1E


def _generator(seed: int, epoch: int, salt: int = _SAMPLER_SALT) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([salt, seed, epoch])))


def _check_seed(owner: str, seed: Any) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{owner}: seed must be a non-negative int, got {seed!r}")
    return int(seed)


def _check_positive_int(owner: str, name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


def _length_of(owner: str, data: Any) -> int:
    if isinstance(data, (int, np.integer)) and not isinstance(data, bool):
        if data < 0:
            raise ConfigError(f"{owner}: the dataset size must be >= 0, got {data}")
        return int(data)
    try:
        return len(data)
    except TypeError:
        raise ConfigError(f"{owner}: expected a sized dataset or an int, got {type(data).__name__}") from None


class Sampler:
    """Base class: ``__iter__`` yields indices (or lists of indices, for batch samplers).

    ``set_epoch(epoch)`` selects the epoch; seeded samplers derive their order from it.

    Example:
        >>> from torsh import data
        >>> class EvenFirst(data.Sampler):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def __iter__(self):
        ...         return iter([*range(0, self.n, 2), *range(1, self.n, 2)])
        ...     def __len__(self):
        ...         return self.n
        >>> list(EvenFirst(5))
        [0, 2, 4, 1, 3]
    """

    epoch: int = 0

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (the loader calls this before every epoch).

        Args:
            epoch: The epoch number (an int ``>= 0``); seeded samplers draw a new order per epoch.

        Raises:
            ConfigError: If ``epoch`` is not an int ``>= 0``.

        Example:
            >>> from torsh import data
            >>> sampler = data.RandomSampler(range(5), seed=0)
            >>> sampler.set_epoch(1)
            >>> sorted(sampler) == [0, 1, 2, 3, 4]
            True
        """
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ConfigError(f"{type(self).__name__}.set_epoch: expected an int >= 0, got {epoch!r}")
        self.epoch = int(epoch)


class SequentialSampler(Sampler):
    """``0, 1, ..., n - 1``.

    Args:
      data_source: A sized dataset (or an int length).

    Raises:
      ConfigError: If ``data_source`` has no size (or a negative one).

    Example:
      >>> from torsh.data import SequentialSampler
      >>> list(SequentialSampler(range(3)))
      [0, 1, 2]
    """

    def __init__(self, data_source: Any) -> None:
        _length_of("SequentialSampler", data_source)
        self.data_source = data_source

    @property
    def num_samples_total(self) -> int:
        """``len(data_source)`` now (as in PyTorch, a dataset that grows or shrinks is followed)."""
        return _length_of("SequentialSampler", self.data_source)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.num_samples_total))

    def __len__(self) -> int:
        return self.num_samples_total


class RandomSampler(Sampler):
    """A random permutation per epoch (or ``num_samples`` draws with replacement), seeded.

    Without replacement and ``num_samples > len(data)``, whole permutations are concatenated (as in
    PyTorch). The order depends only on ``(seed, epoch)``.

    Args:
      data_source: A sized dataset (or an int length).
      replacement: Draw with replacement.
      num_samples: How many indices per epoch (default: the dataset size).
      seed: The base seed (each epoch's order derives from it and the epoch).

    Raises:
      ConfigError: For a bad ``replacement``, ``num_samples`` or ``seed``, or an empty dataset with
        replacement.

    Example:
      >>> from torsh.data import RandomSampler
      >>> s = RandomSampler(range(5), seed=0)
      >>> sorted(s) == list(range(5)), list(s) == list(s)
      (True, True)
      >>> s.set_epoch(1); sorted(s) == list(range(5))
      True
    """

    def __init__(
        self, data_source: Any, replacement: bool = False, num_samples: int | None = None, seed: int = 0
    ) -> None:
        n = _length_of("RandomSampler", data_source)
        self.data_source = data_source
        if not isinstance(replacement, bool):
            raise ConfigError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        self.replacement = replacement
        self._num_samples = (
            None if num_samples is None else _check_positive_int("RandomSampler", "num_samples", num_samples)
        )
        self.seed = _check_seed("RandomSampler", seed)
        if n == 0 and self.num_samples > 0:
            raise ConfigError("RandomSampler: cannot draw samples from an empty dataset")

    @property
    def n(self) -> int:
        """``len(data_source)`` now (as in PyTorch, a dataset that grows or shrinks is followed)."""
        return _length_of("RandomSampler", self.data_source)

    @property
    def num_samples(self) -> int:
        """The number of indices drawn per epoch (``num_samples``, or the dataset size when not given)."""
        return self.n if self._num_samples is None else self._num_samples

    def indices(self) -> np.ndarray:
        """This epoch's indices as an array.

        Returns:
            A numpy array of this epoch's indices.

        Example:
            >>> from torsh import data
            >>> sorted(data.RandomSampler(range(4), seed=0).indices().tolist())
            [0, 1, 2, 3]
        """
        g = _generator(self.seed, self.epoch)
        n = self.n
        if self.replacement:
            return g.integers(0, n, size=self.num_samples, dtype=np.int64)
        reps = -(-self.num_samples // n) if n else 0
        perms = [g.permutation(n) for _ in range(reps)]
        return np.concatenate(perms)[: self.num_samples] if perms else np.zeros(0, np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order per epoch (seeded).

    Args:
      indices: The indices to draw from (1-D).
      seed: The base seed.

    Raises:
      ConfigError: If ``indices`` is not 1-D or ``seed`` is bad.

    Example:
      >>> from torsh.data import SubsetRandomSampler
      >>> sorted(SubsetRandomSampler([5, 7, 9], seed=0))
      [5, 7, 9]
    """

    def __init__(self, indices: Sequence[int], seed: int = 0) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1:
            raise ConfigError(f"SubsetRandomSampler: indices must be 1-D, got shape {self.indices.shape}")
        self.seed = _check_seed("SubsetRandomSampler", seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices[_generator(self.seed, self.epoch).permutation(len(self.indices))].tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights`` (seeded per epoch).

    Raises:
      ConfigError: weights that are not 1-D, negative, non-finite or all zero; or, without
        replacement, more samples than there are positive weights.

    Args:
      weights: One non-negative weight per index (not all zero).
      num_samples: How many indices per epoch.
      replacement: Draw with replacement.
      seed: The base seed.

    Example:
      >>> from torsh.data import WeightedRandomSampler
      >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], num_samples=4, seed=0)
      >>> list(s)
      [1, 1, 1, 1]
    """

    def __init__(
        self, weights: Sequence[float], num_samples: int, replacement: bool = True, seed: int = 0
    ) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ConfigError(
                f"WeightedRandomSampler: weights must be a non-empty 1-D sequence, got shape {w.shape}"
            )
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            bad = int(np.flatnonzero(~np.isfinite(w) | (w < 0))[0])
            raise ConfigError(
                f"WeightedRandomSampler: weights must be finite and >= 0; weights[{bad}] = {w[bad]}"
            )
        if w.sum() <= 0:
            raise ConfigError("WeightedRandomSampler: the weights sum to zero")
        if not isinstance(replacement, bool):
            raise ConfigError(f"WeightedRandomSampler: replacement must be a bool, got {replacement!r}")
        self.num_samples = _check_positive_int("WeightedRandomSampler", "num_samples", num_samples)
        positive = int(np.count_nonzero(w))
        if not replacement and self.num_samples > positive:
            raise ConfigError(
                f"WeightedRandomSampler: cannot draw {self.num_samples} samples without replacement from "
                f"{positive} positive weights"
            )
        self.weights = w
        self.replacement = replacement
        self.seed = _check_seed("WeightedRandomSampler", seed)

    def __iter__(self) -> Iterator[int]:
        g = _generator(self.seed, self.epoch)
        p = self.weights / self.weights.sum()
        return iter(g.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (same semantics as PyTorch).

    Args:
      sampler: Any iterable of indices (a sampler, a range).
      batch_size: Indices per batch (a positive int).
      drop_last: Drop the last, incomplete batch.

    Raises:
      ConfigError: If ``batch_size`` is not a positive int or ``drop_last`` is not a bool.

    Example:
      >>> from torsh.data import BatchSampler, SequentialSampler
      >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
      [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool = False) -> None:
        self.batch_size = _check_positive_int("BatchSampler", "batch_size", batch_size)
        if not isinstance(drop_last, bool):
            raise ConfigError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.drop_last = drop_last

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        return self._batches(iter(self.sampler))  # the sampler's order is fixed now, not at first next()

    def _batches(self, it: Iterator[int]) -> Iterator[list[int]]:
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(Sampler):
    """This process's share of the data set in a multi-process job (PyTorch's ``DistributedSampler``).

    Each of ``num_replicas`` processes gets every ``num_replicas``-th index of one shared order
    (seeded permutation when ``shuffle``). Without ``drop_last`` the order is padded by repeating
    its start so every process gets ``ceil(n / num_replicas)`` indices (the shares cover the data
    set; a few samples appear twice); with ``drop_last`` the tail is dropped so shares are disjoint
    and equal. Call ``set_epoch`` every epoch (the loader does) to reshuffle.

    Args:
      dataset: a sized dataset, or its length.
      num_replicas: number of processes; default ``jax.process_count()``.
      rank: this process's index; default ``jax.process_index()``.

    Raises:
      ConfigError: For bad ``num_replicas``/``rank``/``seed`` values, or padding an empty dataset.

    Example:
      >>> from torsh.data import DistributedSampler
      >>> [list(DistributedSampler(5, num_replicas=2, rank=r, shuffle=False)) for r in range(2)]
      [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(
        self,
        dataset: Any,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            import jax

            num_replicas = jax.process_count() if num_replicas is None else num_replicas
            rank = jax.process_index() if rank is None else rank
        self.num_replicas = _check_positive_int("DistributedSampler", "num_replicas", num_replicas)
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < self.num_replicas:
            raise ConfigError(
                f"DistributedSampler: rank must be in [0, {self.num_replicas - 1}], got {rank!r}"
            )
        self.rank = int(rank)
        self.n = _length_of("DistributedSampler", dataset)
        self.shuffle = bool(shuffle)
        self.seed = _check_seed("DistributedSampler", seed)
        self.drop_last = bool(drop_last)
        if self.drop_last and self.n % self.num_replicas:
            self.num_samples = math.ceil((self.n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        if not self.drop_last and self.n == 0 and self.total_size:
            raise ConfigError("DistributedSampler: cannot pad an empty dataset")

    def indices(self) -> np.ndarray:
        """This process's indices for the current epoch.

        Returns:
            A numpy array of this process's indices for the current epoch.

        Example:
            >>> from torsh import data
            >>> data.DistributedSampler(range(10), num_replicas=2, rank=1, shuffle=False).indices().tolist()
            [1, 3, 5, 7, 9]
        """
        order = _generator(self.seed, self.epoch).permutation(self.n) if self.shuffle else np.arange(self.n)
        if self.drop_last:
            order = order[: self.total_size]
        elif self.total_size > self.n:
            order = np.resize(order, self.total_size)  # repeats the start: the PyTorch padding
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples
