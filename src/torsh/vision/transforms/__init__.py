"""Image transforms: host-side classes for DataLoader workers, and batched device-side augmentation.

Host-side transforms (torchvision.transforms.v2's names, arguments and numbers) take ``(H, W, C)``
NumPy arrays (``uint8`` or float) or PIL images and return the same type; :class:`ToArray` turns an
image into a ``(C, H, W)`` float32 array in [0, 1], which :class:`Normalize` and :class:`RandomErasing`
take. Random transforms draw from :func:`torsh.data.rng`, so inside a torsh ``DataLoader`` results
depend only on the loader's seed, the epoch and the batch, never on ``num_workers``; standalone, pass
``generator=`` (a NumPy ``Generator`` or an int seed).

:mod:`torsh.vision.transforms.device` has jit-able, batched flips, crops, normalisation, MixUp and
CutMix on ``(B, C, H, W)`` arrays with explicit JAX keys.

Example:
    >>> import numpy as np
    >>> from torsh.vision import transforms as T
    >>> train = T.Compose([
    ...     T.RandomResizedCrop(8), T.RandomHorizontalFlip(), T.ToArray(),
    ...     T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ... ])
    >>> x = train(np.zeros((16, 12, 3), np.uint8), generator=0)
    >>> x.shape, x.dtype
    ((3, 8, 8), dtype('float32'))
"""

from __future__ import annotations

import importlib
from typing import Any

from . import functional
from ._transforms import (
    CenterCrop,
    ColorJitter,
    Compose,
    GaussianBlur,
    Grayscale,
    Normalize,
    Pad,
    RandAugment,
    RandomApply,
    RandomCrop,
    RandomErasing,
    RandomGrayscale,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomVerticalFlip,
    Resize,
    ToArray,
    Transform,
    TrivialAugmentWide,
)
from .functional import InterpolationMode

__all__ = [
    "functional",
    "device",
    "InterpolationMode",
    "Transform",
    "Compose",
    "RandomApply",
    "ToArray",
    "Normalize",
    "Resize",
    "CenterCrop",
    "Pad",
    "RandomCrop",
    "RandomResizedCrop",
    "RandomHorizontalFlip",
    "RandomVerticalFlip",
    "ColorJitter",
    "RandomRotation",
    "RandomErasing",
    "Grayscale",
    "RandomGrayscale",
    "GaussianBlur",
    "TrivialAugmentWide",
    "RandAugment",
]


def __getattr__(name: str) -> Any:
    if name == "device":  # imports JAX: only when used
        module = importlib.import_module(".device", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'torsh.vision.transforms' has no attribute {name!r}")
