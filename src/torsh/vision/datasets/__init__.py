"""Image datasets read from local files (torsh never downloads): torchvision's names, attributes and order.

All are :class:`torsh.data.Dataset` s, so the torsh ``DataLoader`` batches them; array-backed ones
(MNIST, CIFAR, Digits) without transforms are fetched a batch at a time in one gather.

Example:
    >>> from torsh import data
    >>> from torsh.vision.datasets import Digits
    >>> images, labels = next(iter(data.DataLoader(Digits(train=True), batch_size=4)))
    >>> images.shape, labels.dtype.name
    ((4, 8, 8), 'int64')
"""

from ._base import DatasetFormatError, VisionDataset
from .cifar import CIFAR10, CIFAR100
from .digits import Digits
from .folder import (
    IMG_EXTENSIONS,
    DatasetFolder,
    ImageFolder,
    find_classes,
    has_file_allowed_extension,
    pil_loader,
)
from .mnist import MNIST, FashionMNIST, read_idx

__all__ = [
    "VisionDataset",
    "DatasetFormatError",
    "ImageFolder",
    "DatasetFolder",
    "IMG_EXTENSIONS",
    "find_classes",
    "has_file_allowed_extension",
    "pil_loader",
    "MNIST",
    "FashionMNIST",
    "read_idx",
    "CIFAR10",
    "CIFAR100",
    "Digits",
]
