"""MNIST and Fashion-MNIST from their IDX files (raw or gzip-compressed), read without downloads."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from ._base import DatasetFormatError, _SplitFiles, require_file

__all__ = ["read_idx", "MNIST", "FashionMNIST"]

# IDX type codes -> big-endian NumPy dtypes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_bytes(path: str) -> bytes:
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetFormatError(f"cannot read {path!r}: {exc} (a truncated or corrupt file?)") from None


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` is decompressed) into a native-endian NumPy array.

    Raises:
      DatasetFormatError: bad magic number, unknown type code, or a size that does not match the header.

    Args:
      path: the file (``.gz`` files are decompressed).

    Returns:
      The array, with the file's dtype and shape.

    Example:
        >>> import numpy as np, tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
        >>> _ = open(p, "wb").write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 2]))
        >>> read_idx(p)
        array([7, 1, 2], dtype=uint8)
    """
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        magic = raw[:4].hex() if len(raw) >= 4 else f"{len(raw)} bytes"
        raise DatasetFormatError(
            f"{path!r} is not an IDX file: its magic number is {magic}, expected 0000TTNN "
            f"(TT a type code in {[f'{t:02x}' for t in _IDX_TYPES]}, NN the number of dimensions)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path!r}: truncated IDX header ({len(raw)} bytes, expected {header})")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetFormatError(
            f"{path!r}: IDX header says shape {dims} of {dtype.name} ({expected} bytes with the header), "
            f"but the file has {len(raw)} bytes"
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


class MNIST(_SplitFiles):
    """The MNIST handwritten digits (``torchvision.datasets.MNIST``'s files, attributes and order).

    Reads ``train-images-idx3-ubyte``/``train-labels-idx1-ubyte`` (``train=True``) or the ``t10k-``
    files, each raw or ``.gz``, from ``root/MNIST/raw/`` (torchvision's layout) or from ``root``
    itself. Samples are ``(image, label)``: a ``(28, 28)`` ``uint8`` array (torchvision gives the same
    pixels as a PIL image; torsh transforms take both) and an int. ``data`` is ``(N, 28, 28)`` uint8,
    ``targets`` ``(N,)`` int64.

    Nothing is downloaded (``download=True`` is refused): a missing file raises
    :class:`~torsh.data.DataFileNotFoundError` naming the paths looked at and where to get the files.

    Args:
      root: the folder holding the files (see above).
      train: the training files (else the test files).
      transform: applied to each image.
      target_transform: applied to each label.
      download: must be ``False``: torsh never downloads.

    Raises:
      ConfigError: ``download=True``.
      DataFileNotFoundError: a missing file (the message lists where it looked and where to get it).
      DatasetFormatError: a file that is not IDX, or images and labels that do not match.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from torsh.vision.datasets import MNIST
        >>> root = tempfile.mkdtemp()
        >>> def idx(name, arr):
        ...     head = bytes([0, 0, 8, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
        ...     open(os.path.join(root, name), "wb").write(head + arr.astype(np.uint8).tobytes())
        >>> idx("t10k-images-idx3-ubyte", np.zeros((2, 28, 28)))
        >>> idx("t10k-labels-idx1-ubyte", np.array([3, 9]))
        >>> ds = MNIST(root, train=False)
        >>> len(ds), ds[1][0].shape, ds[1][1], ds.classes[3]
        (2, (28, 28), 9, '3 - three')
    """

    resources_url = (
        "https://ossci-datasets.s3.amazonaws.com/mnist/ (mirror of http://yann.lecun.com/exdb/mnist/)"
    )
    training_file = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    test_file = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    classes = [
        "0 - zero",
        "1 - one",
        "2 - two",
        "3 - three",
        "4 - four",
        "5 - five",
        "6 - six",
        "7 - seven",
        "8 - eight",
        "9 - nine",
    ]

    def _how_to_get(self) -> str:
        return f"fetch the files from {self.resources_url} into {self.raw_folder!r}"

    def _load(self) -> None:
        name = type(self).__name__
        images_name, labels_name = self.training_file if self.train else self.test_file
        images_path = self._find(images_name)
        labels_path = self._find(labels_name)
        data = read_idx(images_path)
        targets = read_idx(labels_path)
        if data.dtype != np.uint8 or data.ndim != 3:
            raise DatasetFormatError(
                f"{name}: {images_path!r} should hold uint8 images (N, H, W), got {data.dtype.name} "
                f"of shape {data.shape}"
            )
        if targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
            raise DatasetFormatError(
                f"{name}: {labels_path!r} should hold integer labels (N,), got {targets.dtype.name} of shape "
                f"{targets.shape}"
            )
        if len(targets) != len(data):
            raise DatasetFormatError(
                f"{name}: {images_path!r} has {len(data)} images but {labels_path!r} has "
                f"{len(targets)} labels"
            )
        if targets.size and (targets.min() < 0 or targets.max() >= len(self.classes)):
            raise DatasetFormatError(
                f"{name}: {labels_path!r} has labels outside [0, {len(self.classes)}): "
                f"min {int(targets.min())}, max {int(targets.max())}"
            )
        self.data = data
        self.targets = targets.astype(np.int64)

    @property
    def raw_folder(self) -> str:
        """``root/<ClassName>/raw``, torchvision's layout (the files may also sit in ``root``)."""
        return os.path.join(self.root or "", type(self).__name__, "raw")

    @property
    def class_to_idx(self) -> dict[str, int]:
        """``{class name: index}``."""
        return {c: i for i, c in enumerate(self.classes)}

    def _find(self, filename: str) -> str:
        folders = [self.raw_folder, self.root or ""]
        candidates = [os.path.join(d, filename + ext) for d in folders for ext in ("", ".gz")]
        return require_file(candidates, type(self).__name__, f"Get {filename}.gz from {self.resources_url}")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando's clothes): MNIST's file names and format, in ``root/FashionMNIST/raw/``.

    Args:
      root, train, transform, target_transform, download: as :class:`MNIST`.

    Raises:
      ConfigError, DataFileNotFoundError, DatasetFormatError: as :class:`MNIST`.

    Example:
        >>> from torsh.vision.datasets import FashionMNIST
        >>> FashionMNIST.classes[:3]
        ['T-shirt/top', 'Trouser', 'Pullover']
    """

    resources_url = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]
