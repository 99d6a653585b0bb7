"""Datasets: map-style (``len`` + indexing) and iterable, plus the usual wrappers.

A map-style dataset is anything with ``__len__`` and ``__getitem__`` (PyTorch datasets work as they
are); subclass :class:`Dataset` to get ``.map(fn)`` and ``+``. An iterable dataset yields samples
in order; subclass :class:`IterableDataset`.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np
import optree

from ..errors import ConfigError, ShapeError
from ._errors import SampleIndexError
from ._nojax import NAMESPACE, is_array, is_jax_array
from ._sharing import is_pickling_for_workers, share

__all__ = [
    "Dataset",
    "IterableDataset",
    "ArrayDataset",
    "MapDataset",
    "MapIterableDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
]

T = TypeVar("T")
# destinations for a one-gather batch read: one array per (shape, dtype), or None for fresh arrays
Gather = Callable[[list[tuple[tuple[int, ...], np.dtype]]], "list[np.ndarray] | None"]
U = TypeVar("U")

_SPLIT_SALT = 0x5B117


def gather_rows(
    arrays: Sequence[np.ndarray], idx: np.ndarray, into: Gather | None, dtypes: Sequence[Any] | None = None
) -> list[np.ndarray]:
    """Rows ``idx`` (already range-checked) of each array as ``dtypes`` (default: their own), one
    gather per array: a one-gather batch read (``ArrayDataset``, torsh.vision's array-backed datasets).

    ``into([(shape, dtype), ...])`` may give one destination per array (a worker process's shared-memory
    segment): the rows are written straight into them instead of fresh arrays and a copy.
    """
    kinds = [np.dtype(d) for d in dtypes] if dtypes is not None else [a.dtype for a in arrays]
    specs = [((idx.size, *a.shape[1:]), kind) for a, kind in zip(arrays, kinds, strict=True)]
    out = into(specs) if into is not None else None
    if out is None:
        return [a.take(idx, axis=0).astype(kind, copy=False) for a, kind in zip(arrays, kinds, strict=True)]
    for a, dst in zip(arrays, out, strict=True):
        if dst.dtype == a.dtype:
            # mode="wrap" is exact for checked indices; "raise" would gather into a temporary first
            np.take(a, idx, axis=0, out=dst, mode="wrap")
        else:  # a converting read (labels as int64): one pass through the gathered rows
            dst[...] = a[idx]
    return out


def _check_index(index: Any, length: int, owner: str) -> int:
    try:
        i = operator.index(index)
    except TypeError:
        raise SampleIndexError(
            f"{owner}: expected an integer sample index, got {type(index).__name__} {index!r}"
        ) from None
    if not -length <= i < length:
        raise SampleIndexError(f"{owner}: index {i} is out of range for {length} samples")
    return i + length if i < 0 else i


class Dataset(Generic[T]):
    """Base class of map-style datasets: implement ``__len__`` and ``__getitem__(index)``.

    Example:
      >>> from torsh.data import Dataset
      >>> class Squares(Dataset):
      ...     def __len__(self):
      ...         return 4
      ...     def __getitem__(self, i):
      ...         return i * i
      >>> ds = Squares().map(lambda x: x + 1)
      >>> [ds[i] for i in range(len(ds))]
      [1, 2, 5, 10]
    """

    def __getitem__(self, index: int) -> T:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def map(self, fn: Callable[[T], U]) -> MapDataset[U]:
        """A dataset whose sample ``i`` is ``fn(self[i])``, applied lazily when loaded (in workers).

        Args:
            fn: Called on each sample when it is loaded.

        Returns:
            A :class:`MapDataset` of the same length.

        Raises:
            ConfigError: If ``fn`` is not callable.

        Example:
            >>> import numpy as np
            >>> from torsh import data
            >>> ds = data.ArrayDataset(np.arange(3)).map(lambda sample: sample[0] * 10)
            >>> len(ds), int(ds[2])
            (3, 20)
        """
        return MapDataset(self, fn)

    def __add__(self, other: Any) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Generic[T]):
    """Base class of iterable datasets (streams): implement ``__iter__``.

    The loader reads the stream in the main process, in order; ``.map(fn)`` transforms and collation
    run in the workers, so batches come out in stream order for any number of workers. An optional
    ``set_epoch(epoch)`` method is called at the start of every epoch.

    Example:
      >>> from torsh.data import IterableDataset
      >>> class Count(IterableDataset):
      ...     def __iter__(self):
      ...         return iter(range(3))
      >>> list(Count().map(lambda x: 10 * x))
      [0, 10, 20]
    """

    def __iter__(self) -> Iterator[T]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def map(self, fn: Callable[[T], U]) -> MapIterableDataset[U]:
        """A stream of ``fn(sample)``; in a loader ``fn`` runs in the workers.

        Args:
            fn: Called on each sample of the stream.

        Returns:
            A :class:`MapIterableDataset`.

        Raises:
            ConfigError: If ``fn`` is not callable.

        Example:
            >>> from torsh import data
            >>> class Count(data.IterableDataset):
            ...     def __iter__(self):
            ...         return iter(range(3))
            >>> list(Count().map(lambda x: x * 10))
            [0, 10, 20]
        """
        return MapIterableDataset(self, fn)


def is_iterable_dataset(dataset: Any) -> bool:
    """True for streams: torsh/PyTorch iterable datasets, or objects with ``__iter__`` but no indexing."""
    if isinstance(dataset, IterableDataset):
        return True
    if isinstance(dataset, Dataset):
        return False
    return hasattr(dataset, "__iter__") and not hasattr(dataset, "__getitem__")


class MapDataset(Dataset[U]):
    """``fn`` applied to every sample of ``dataset`` (made by ``dataset.map(fn)``).

    Args:
        dataset: The source dataset.
        fn: Called on each sample when it is loaded.

    Raises:
        ConfigError: If ``fn`` is not callable.

    Example:
        >>> import numpy as np
        >>> from torsh import data
        >>> ds = data.MapDataset(data.ArrayDataset(np.arange(3)), lambda sample: sample[0] + 1)
        >>> [int(ds[i]) for i in range(len(ds))]
        [1, 2, 3]
    """

    def __init__(self, dataset: Any, fn: Callable[[Any], U]) -> None:
        if not callable(fn):
            raise ConfigError(f"Dataset.map: fn must be callable, got {type(fn).__name__}")
        self.dataset = dataset
        self.fn = fn

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> U:
        return self.fn(self.dataset[index])

    def __repr__(self) -> str:
        return f"{self.dataset!r}.map({getattr(self.fn, '__qualname__', self.fn)!r})"


class MapIterableDataset(IterableDataset[U]):
    """``fn`` applied to every sample of the stream ``source`` (made by ``source.map(fn)``).

    Args:
        source: The source stream (any iterable; ``set_epoch`` is forwarded).
        fn: Called on each sample.

    Raises:
        ConfigError: If ``fn`` is not callable.

    Example:
        >>> from torsh import data
        >>> list(data.MapIterableDataset([1, 2, 3], lambda x: -x))
        [-1, -2, -3]
    """

    def __init__(self, source: Iterable[Any], fn: Callable[[Any], U]) -> None:
        if not callable(fn):
            raise ConfigError(f"IterableDataset.map: fn must be callable, got {type(fn).__name__}")
        self.source = source
        self.fn = fn

    def __iter__(self) -> Iterator[U]:
        fn = self.fn
        return (fn(x) for x in self.source)

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the source stream (when it has ``set_epoch``), so a seeded source reshuffles.

        Args:
            epoch: The epoch number.

        Example:
            >>> from torsh import data
            >>> stream = data.MapIterableDataset([1, 2, 3], lambda x: x * 2)
            >>> stream.set_epoch(1)  # a plain list has no set_epoch: nothing to forward
            >>> list(stream)
            [2, 4, 6]
        """
        if hasattr(self.source, "set_epoch"):
            self.source.set_epoch(epoch)


def unwrap_maps(dataset: Any) -> tuple[Any, list[Callable[[Any], Any]]]:
    """Split chained ``.map`` layers into (base dataset, functions in application order)."""
    fns: list[Callable[[Any], Any]] = []
    while type(dataset) in (MapDataset, MapIterableDataset):
        fns.append(dataset.fn)
        dataset = dataset.dataset if isinstance(dataset, MapDataset) else dataset.source
    fns.reverse()
    return dataset, fns


class ArrayDataset(Dataset[Any]):
    """Samples are slices along axis 0 of arrays (NumPy or JAX), like ``TensorDataset``.

    ``ArrayDataset(x, y)`` yields tuples ``(x[i], y[i])``; ``ArrayDataset(tree)`` with one pytree
    (dict, struct, ...) of arrays yields that structure. JAX arrays are copied to host memory once.
    With process workers, arrays of 1 MiB or more are copied into shared memory once and mapped by
    every worker, instead of being pickled to each; the dataset then reads that shared copy itself, so
    the original can be freed (a ``numpy.memmap`` is reopened by file name instead: no copy).

    Raises:
      ShapeError: the arrays do not share the leading (sample) dimension, or an array is a scalar.
      ConfigError: If no array is given, or the pytree has no array leaves.

    Args:
      *arrays: Arrays (or one pytree of arrays) with the same length along axis 0.

    Example:
      >>> import numpy as np
      >>> from torsh.data import ArrayDataset
      >>> ds = ArrayDataset({"x": np.arange(6).reshape(3, 2), "y": np.array([0, 1, 0])})
      >>> len(ds), ds[1]
      (3, {'x': array([2, 3]), 'y': np.int64(1)})
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ConfigError("ArrayDataset: expected at least one array or a pytree of arrays")
        if len(arrays) == 1 and not is_array(arrays[0]):
            tree = arrays[0]
        else:
            tree = tuple(arrays)
        self._init_tree(tree)

    def _init_tree(self, tree: Any) -> None:
        from ..tree import flatten_with_path  # building a dataset (main process) may load JAX

        pairs, spec = flatten_with_path(tree)
        if not pairs:
            raise ConfigError("ArrayDataset: the pytree has no array leaves")
        leaves: list[np.ndarray] = []
        length: int | None = None
        first_path = ""
        for path, leaf in pairs:
            if is_jax_array(leaf):
                leaf = np.asarray(leaf)
            if not isinstance(leaf, np.ndarray):
                raise ConfigError(
                    f"ArrayDataset: leaf `{path}` is {type(leaf).__name__}; expected a NumPy or JAX array "
                    "whose axis 0 indexes the samples"
                )
            if leaf.ndim == 0:
                raise ShapeError(f"ArrayDataset: leaf `{path}` is a scalar; expected an axis 0 of samples")
            if length is None:
                length, first_path = leaf.shape[0], path
            elif leaf.shape[0] != length:
                raise ShapeError(
                    f"ArrayDataset: every array needs the same number of samples (axis 0); "
                    f"`{first_path}` has {length}, `{path}` has {leaf.shape[0]}"
                )
            leaves.append(leaf)
        self._leaves = leaves
        self._spec = spec
        self._length = int(length)  # type: ignore[arg-type]
        positions: Any = tuple(range(len(leaves)))  # optree's stubs type leaves too narrowly here
        self._plain_tuple = type(tree) is tuple and spec == optree.tree_structure(
            positions, namespace=NAMESPACE
        )
        # One gather per array reproduces default_collate only for plain (non-object) arrays.
        self._torsh_batchable = not any(leaf.dtype.hasobject for leaf in leaves)

    @property
    def arrays(self) -> Any:
        """The arrays, in the structure given at construction."""
        return optree.tree_unflatten(self._spec, list(self._leaves))

    def __len__(self) -> int:
        return self._length

    def _build(self, leaves: list[Any]) -> Any:
        if self._plain_tuple:
            return tuple(leaves)
        return optree.tree_unflatten(self._spec, leaves)

    def __getitem__(self, index: int) -> Any:
        i = _check_index(index, self._length, "ArrayDataset")
        return self._build([leaf[i] for leaf in self._leaves])

    def __getitems__(self, indices: Sequence[int]) -> list[Any]:
        return [self[i] for i in indices]

    _torsh_gathers_into = True  # _torsh_get_batch accepts destinations (a worker's shared memory)

    def _torsh_get_batch(self, indices: Sequence[int], into: Gather | None = None) -> Any:
        """The collated batch for ``indices`` in one gather per array (what default_collate would build).

        ``into([(shape, dtype), ...])`` may return one destination array per leaf (a worker process's
        shared-memory segment) to gather straight into, instead of fresh arrays and a copy."""
        idx = np.asarray(indices, dtype=np.intp)
        if idx.size and (idx.min() < -self._length or idx.max() >= self._length):
            bad = idx[(idx < -self._length) | (idx >= self._length)][0]
            raise SampleIndexError(
                f"ArrayDataset: index {int(bad)} is out of range for {self._length} samples"
            )
        return self._build(gather_rows(self._leaves, idx, into))

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if is_pickling_for_workers():
            kept, pickled = [], []
            for leaf in self._leaves:
                view, handle = share(leaf)
                kept.append(leaf if view is None else view)
                pickled.append(leaf if handle is None else handle)
            self._leaves = kept  # read the shared copy from now on: the original can be freed
            state["_leaves"] = pickled
        return state

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)}:{a.dtype}" for a in self._leaves)
        return f"ArrayDataset({self._length} samples; {shapes})"


class Subset(Dataset[T]):
    """The samples of ``dataset`` at ``indices`` (in that order).

    Args:
      dataset: The source dataset.
      indices: The indices to keep, in order.

    Raises:
      ConfigError: If ``indices`` is not a 1-D sequence of ints.
      SampleIndexError: If an index is out of range for ``dataset``.

    Example:
      >>> from torsh.data import Subset
      >>> Subset(["a", "b", "c"], [2, 0])[0]
      'c'
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
            raise ConfigError(
                f"Subset: indices must be a 1-D sequence of ints, got shape {idx.shape} {idx.dtype}"
            )
        n = len(dataset)
        bad = np.flatnonzero((idx < -n) | (idx >= n))
        if bad.size:
            raise SampleIndexError(
                f"Subset: indices[{int(bad[0])}] = {int(idx[bad[0]])} is out of range "
                f"for a dataset of {n} samples"
            )
        self.indices = np.where(idx < 0, idx + n, idx).astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> T:
        return self.dataset[int(self.indices[_check_index(index, len(self.indices), "Subset")])]

    def __getitems__(self, indices: Sequence[int]) -> list[T]:
        mapped = [int(self.indices[_check_index(i, len(self.indices), "Subset")]) for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(mapped)
        return [self.dataset[i] for i in mapped]

    def _torsh_get_batch(self, indices: Sequence[int], into: Gather | None = None) -> Any:
        idx = np.asarray(indices, dtype=np.intp)
        n = len(self.indices)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise SampleIndexError(f"Subset: an index in {idx.tolist()[:8]} is out of range for {n} samples")
        if into is None:  # the dataset's read may not take destinations (_torsh_gathers_into)
            return self.dataset._torsh_get_batch(self.indices[idx])
        return self.dataset._torsh_get_batch(self.indices[idx], into=into)

    @property
    def _torsh_batchable(self) -> bool:
        return bool(getattr(self.dataset, "_torsh_batchable", False))

    @property
    def _torsh_gathers_into(self) -> bool:
        return bool(getattr(self.dataset, "_torsh_gathers_into", False))


class ConcatDataset(Dataset[Any]):
    """Datasets one after another.

    Args:
      datasets: The sized datasets, in order.

    Raises:
      ConfigError: If there is no dataset, or one is an iterable (not map-style) dataset.

    Example:
      >>> from torsh.data import ConcatDataset
      >>> ds = ConcatDataset([[1, 2], [3]])
      >>> len(ds), ds[2], ds[-1]
      (3, 3, 3)
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ConfigError("ConcatDataset: expected at least one dataset")
        for i, d in enumerate(self.datasets):
            if is_iterable_dataset(d):
                raise ConfigError(f"ConcatDataset: datasets[{i}] is an iterable dataset; expected map-style")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        i = _check_index(index, len(self), "ConcatDataset")
        part = bisect.bisect_right(self.cumulative_sizes, i)
        offset = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part][i - offset]


def random_split(dataset: Any, lengths: Sequence[int | float], seed: int = 0) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths (or fractions).

    Fractions are turned into lengths as PyTorch does: floor of each, then the remainder is handed
    out one by one from the first subset on. The permutation depends only on ``seed``.

    Raises:
      ConfigError: the lengths do not add up to ``len(dataset)`` (or the fractions to 1).

    Args:
      dataset: A sized dataset.
      lengths: Subset sizes summing to ``len(dataset)``, or fractions summing to 1.
      seed: The permutation's seed.

    Returns:
      A list of :class:`Subset`, one per length.

    Example:
      >>> from torsh.data import random_split
      >>> train, val = random_split(range(10), [0.8, 0.2], seed=0)
      >>> len(train), len(val), sorted(list(train) + list(val)) == list(range(10))
      (8, 2, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ConfigError("random_split: expected at least one length")
    if any(x < 0 for x in lengths):
        raise ConfigError(f"random_split: lengths must be non-negative, got {lengths}")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        sizes = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0) and all(0 <= x <= 1 for x in lengths):
        sizes = [int(math.floor(n * frac)) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        raise ConfigError(
            f"random_split: expected integer lengths summing to {n} or fractions summing to 1, got {lengths}"
        )
    if sum(sizes) != n:
        raise ConfigError(
            f"random_split: the lengths {sizes} add up to {sum(sizes)}, but the dataset has {n} samples"
        )
    perm = np.random.Generator(np.random.PCG64(np.random.SeedSequence([_SPLIT_SALT, seed]))).permutation(n)
    out: list[Subset] = []
    start = 0
    for size in sizes:
        out.append(Subset(dataset, perm[start : start + size]))
        start += size
    return out
