"""Common parts of the vision datasets: the base class, index checks, file errors."""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...data import DataFileNotFoundError, Dataset, SampleIndexError
from ...data.dataset import Gather, gather_rows
from ...errors import DataError

__all__ = ["VisionDataset", "DatasetFormatError", "DataFileNotFoundError"]


class DatasetFormatError(DataError, ValueError):
    """A dataset file with the wrong format: bad magic number, wrong size, labels out of range (names it).

    Example:
        >>> import os, tempfile
        >>> from torsh.vision.datasets import DatasetFormatError
        >>> from torsh.vision.datasets.mnist import read_idx
        >>> path = os.path.join(tempfile.mkdtemp(), "bad-idx1-ubyte")
        >>> _ = open(path, "wb").write(b"not an idx file")
        >>> try:
        ...     read_idx(path)
        ... except DatasetFormatError as e:
        ...     print(type(e).__name__)
        DatasetFormatError
    """


class VisionDataset(Dataset[Any]):
    """Base of the vision datasets: ``root``, ``transform`` (on images), ``target_transform`` (on labels).

    Args:
        root: the data folder, or ``None`` (datasets that need no files).
        transform: applied to each image.
        target_transform: applied to each label.

    Raises:
        ConfigError: a transform that is not callable.

    Example:
        >>> from torsh.vision.datasets import VisionDataset
        >>> class Squares(VisionDataset):
        ...     def __len__(self):
        ...         return 3
        ...     def __getitem__(self, i):
        ...         return self._finish(i * i, i)
        >>> Squares(None, transform=lambda x: x + 1)[2]
        (5, 2)
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        from ...errors import ConfigError

        for name, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise ConfigError(f"{type(self).__name__}: {name} must be callable, got {type(fn).__name__}")
        self.root = os.path.expanduser(os.fspath(root)) if root is not None else None
        self.transform = transform
        self.target_transform = target_transform

    def _index(self, index: Any) -> int:
        n = len(self)
        try:
            i = operator.index(index)
        except TypeError:
            raise SampleIndexError(
                f"{type(self).__name__}: expected an integer sample index, got "
                f"{type(index).__name__} {index!r}"
            ) from None
        if not -n <= i < n:
            raise SampleIndexError(f"{type(self).__name__}: index {i} is out of range for {n} samples")
        return i + n if i < 0 else i

    def _finish(self, img: Any, target: Any) -> tuple[Any, Any]:
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def extra_repr(self) -> str:
        """Dataset-specific lines of ``repr`` (the split, ...); empty by default.

        Returns:
            The extra text.

        Example:
            >>> from torsh.vision.datasets import Digits
            >>> Digits(train=False).extra_repr()
            'Split: Test'
        """
        return ""

    def __repr__(self) -> str:
        lines = [f"Number of datapoints: {len(self)}"]
        if self.root is not None:
            lines.append(f"Root location: {self.root}")
        if self.extra_repr():
            lines.append(self.extra_repr())
        if self.transform is not None:
            lines.append(f"Transform: {self.transform!r}")
        if self.target_transform is not None:
            lines.append(f"Target transform: {self.target_transform!r}")
        return f"Dataset {type(self).__name__}\n    " + "\n    ".join(lines)


class ArrayBackedDataset(VisionDataset):
    """Images and labels held as arrays (``data``, ``targets``): batches are gathered in one step.

    Without transforms, the torsh DataLoader fetches a batch as ``(data[idx], targets[idx])`` instead
    of sample by sample (the same values ``default_collate`` would build).
    """

    data: np.ndarray
    targets: np.ndarray

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        i = self._index(index)
        return self._finish(self.data[i], int(self.targets[i]))

    @property
    def _torsh_batchable(self) -> bool:
        return self.transform is None and self.target_transform is None

    _torsh_gathers_into = True  # _torsh_get_batch accepts destinations (a worker's shared memory)

    def _torsh_get_batch(
        self, indices: Sequence[int], into: Gather | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray([self._index(i) for i in indices], dtype=np.intp)
        images, labels = gather_rows([self.data, self.targets], idx, into, [self.data.dtype, np.int64])
        return images, labels


class _SplitFiles(ArrayBackedDataset):
    """An :class:`ArrayBackedDataset` read from the train or test files of a folder (CIFAR, MNIST).

    Subclasses say where the files come from (``_how_to_get``) and read them (``_load``, which sets
    ``data`` and ``targets``); torsh never downloads, so ``download=True`` is refused here.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        download: bool = False,
    ) -> None:
        super().__init__(root, transform, target_transform)
        if download:
            from ...errors import ConfigError

            raise ConfigError(
                f"{type(self).__name__}: torsh does not download datasets (download=True); "
                f"{self._how_to_get()} and pass download=False"
            )
        self.train = bool(train)
        self._load()

    def _how_to_get(self) -> str:
        raise NotImplementedError

    def _load(self) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


def require_file(candidates: Sequence[str], dataset: str, how_to_get: str) -> str:
    """The first existing path of ``candidates``; otherwise a DataFileNotFoundError naming them all."""
    for path in candidates:
        if os.path.isfile(path):
            return path
    listed = "\n  ".join(candidates)
    raise DataFileNotFoundError(
        f"{dataset}: missing data file; expected one of:\n  {listed}\n{how_to_get} "
        "(torsh never downloads: place the files there, or pass the folder that holds them as root=)"
    )
