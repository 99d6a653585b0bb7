"""torsh.vision: image transforms, datasets, image I/O and torchvision-compatible models.

Subpackages load on first use, so ``import torsh.vision`` stays cheap (Pillow and the model zoo are
imported only when touched):

* :mod:`torsh.vision.transforms` - host-side transforms for DataLoader workers (numpy HWC / PIL),
  and :mod:`torsh.vision.transforms.device` - batched, jit-able augmentation with explicit keys.
* :mod:`torsh.vision.datasets` - ``ImageFolder``, ``MNIST``, ``FashionMNIST``, ``CIFAR10/100``, ``Digits``.
* :mod:`torsh.vision.io` - ``read_image``, ``decode_image``, ``write_png``.
* :mod:`torsh.vision.utils` - ``make_grid``, ``save_image``.
* :mod:`torsh.vision.models` - torchvision's model families with identical state-dict keys.

Example:
    >>> import numpy as np
    >>> import torsh.vision as tv
    >>> grid = tv.make_grid(np.zeros((3, 3, 4, 4), np.float32), nrow=3, padding=1)
    >>> grid.shape
    (3, 6, 16)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY_SUBMODULES = ("transforms", "datasets", "io", "models", "utils")

# Top-level names that live in lazily loaded submodules.
_LAZY_ATTRIBUTES = {
    "make_grid": "utils",
    "save_image": "utils",
    "read_image": "io",
    "decode_image": "io",
    "write_png": "io",
}

__all__ = [
    "transforms",
    "datasets",
    "io",
    "models",
    "utils",
    "make_grid",
    "save_image",
    "read_image",
    "decode_image",
    "write_png",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        value = getattr(importlib.import_module(f".{_LAZY_ATTRIBUTES[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'torsh.vision' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
