"""scikit-learn's 8x8 handwritten digits (bundled with scikit-learn: works offline)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ...errors import ConfigError
from ._base import ArrayBackedDataset

__all__ = ["Digits"]


class Digits(ArrayBackedDataset):
    """The UCI optical digits from ``sklearn.datasets.load_digits`` (1797 images of 8x8, classes 0-9).

    Images are ``(8, 8)`` ``uint8`` arrays: scikit-learn's 0-16 intensities scaled to 0-255
    (``round(v * 255 / 16)``), so the usual image transforms apply. ``train=None`` gives all samples in
    scikit-learn's order; ``train=True``/``False`` a fixed, stratified 80/20 split (every class's samples
    in order, each fifth one to the test split), the same on every machine.

    Args:
      root: ignored (scikit-learn ships the data).
      train: ``True``/``False`` for the fixed 80/20 split, ``None`` for all samples.
      transform: applied to each image.
      target_transform: applied to each label.

    Raises:
      ConfigError: ``train`` other than ``True``, ``False`` or ``None``.
      MissingDependencyError: scikit-learn is not installed.

    Example:
        >>> from torsh.vision.datasets import Digits
        >>> ds = Digits(train=False)
        >>> len(ds), ds[0][0].shape, ds[0][0].dtype, ds.classes[:3]
        (355, (8, 8), dtype('uint8'), [0, 1, 2])
    """

    classes = list(range(10))

    def __init__(
        self,
        root: Any = None,
        train: bool | None = None,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(None, transform, target_transform)
        try:
            from sklearn.datasets import load_digits
        except ImportError:
            from ...data import MissingDependencyError

            raise MissingDependencyError(
                "Digits needs scikit-learn (it ships the data); install it: pip install scikit-learn"
            ) from None
        if train not in (None, True, False):
            raise ConfigError(f"Digits: train must be True, False or None (all samples), got {train!r}")
        bunch = load_digits()
        images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)
        targets = bunch.target.astype(np.int64)
        self.train = train
        if train is not None:
            test = np.zeros(len(targets), bool)
            for c in range(10):
                idx = np.flatnonzero(targets == c)
                test[idx[4::5]] = True
            keep = ~test if train else test
            images, targets = images[keep], targets[keep]
        self.data = images
        self.targets = targets

    @property
    def class_to_idx(self) -> dict[int, int]:
        """``{class: index}`` (the digits are their own indices)."""
        return {c: c for c in self.classes}

    def extra_repr(self) -> str:
        return f"Split: {'All' if self.train is None else 'Train' if self.train else 'Test'}"
