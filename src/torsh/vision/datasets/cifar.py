"""CIFAR-10 and CIFAR-100 from the *binary* distribution (never the pickled Python version)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._base import DatasetFormatError, _SplitFiles, require_file

__all__ = ["CIFAR10", "CIFAR100"]


class CIFAR10(_SplitFiles):
    """CIFAR-10 read from ``cifar-10-batches-bin/`` (the "CIFAR-10 binary version" archive).

    ``root`` holds the extracted folder (or is that folder). Training data is ``data_batch_1.bin`` ..
    ``data_batch_5.bin`` in order, test data ``test_batch.bin``; each record is one label byte then
    3072 pixel bytes (R, G, B planes of 32x32). Samples are ``(image, label)`` with a ``(32, 32, 3)``
    ``uint8`` image; ``data`` is ``(N, 32, 32, 3)`` and ``targets`` ``(N,)`` int64, the same arrays and
    order as ``torchvision.datasets.CIFAR10`` builds from the pickled version. Class names come from
    ``batches.meta.txt`` when present.

    Args:
      root: the folder holding the files (see above).
      train: the training batches (else the test batch).
      transform: applied to each image.
      target_transform: applied to each label.
      download: must be ``False``: torsh never downloads.

    Raises:
      ConfigError: ``download=True``.
      DataFileNotFoundError: a missing file (the message lists where it looked).
      DatasetFormatError: a file of the wrong size or with labels out of range.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from torsh.vision.datasets import CIFAR10
        >>> root = tempfile.mkdtemp(); d = os.path.join(root, "cifar-10-batches-bin"); os.mkdir(d)
        >>> rec = np.concatenate([[7], np.arange(3072) % 256]).astype(np.uint8)
        >>> _ = open(os.path.join(d, "test_batch.bin"), "wb").write(rec.tobytes() * 2)
        >>> ds = CIFAR10(root, train=False)
        >>> len(ds), ds[0][0].shape, ds[0][1], ds.classes[7]
        (2, (32, 32, 3), 7, 'horse')
    """

    base_folder = "cifar-10-batches-bin"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    train_list = [f"data_batch_{i}.bin" for i in range(1, 6)]
    test_list = ["test_batch.bin"]
    meta_file = "batches.meta.txt"
    label_bytes = 1
    num_classes = 10
    default_classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]

    def _how_to_get(self) -> str:
        return f"get {self.url}, extract it under {self.root!r}"

    def _load(self) -> None:
        images, labels = [], []
        for filename in self.train_list if self.train else self.test_list:
            path = self._path(filename)
            img, lab = self._read(path)
            images.append(img)
            labels.append(lab)
        self.data = np.concatenate(images)
        all_labels = np.concatenate(labels)
        self.targets = all_labels[:, -1].astype(np.int64)  # the fine label is the last label byte
        self._all_labels = all_labels
        self.classes = self._read_classes()
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    def _folders(self) -> list[str]:
        return [os.path.join(self.root or "", self.base_folder), self.root or ""]

    def _path(self, filename: str) -> str:
        candidates = [os.path.join(d, filename) for d in self._folders()]
        return require_file(
            candidates, type(self).__name__, f"Get the binary version {self.url} and extract it"
        )

    def _read(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        record = self.label_bytes + 3072
        size = os.path.getsize(path)
        if size == 0 or size % record:
            raise DatasetFormatError(
                f"{type(self).__name__}: {path!r} has {size} bytes, not a positive multiple of the "
                f"{record}-byte "
                f"records of the CIFAR binary format ({self.label_bytes} label byte(s) + 3072 pixels); "
                "a truncated file, or the wrong CIFAR version?"
            )
        raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
        labels = raw[:, : self.label_bytes]
        limits = self._label_limits()
        for col, limit in enumerate(limits):
            if labels.size and labels[:, col].max() >= limit:
                raise DatasetFormatError(
                    f"{type(self).__name__}: {path!r} has label {int(labels[:, col].max())} in "
                    f"label byte {col}, "
                    f"expected < {limit}; is this the right CIFAR version's file?"
                )
        images = raw[:, self.label_bytes :].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(images), labels

    def _label_limits(self) -> list[int]:
        return [self.num_classes]

    def _read_classes(self, meta_file: str | None = None) -> list[str]:
        for d in self._folders():
            path = os.path.join(d, meta_file or self.meta_file)
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    names = [line.strip() for line in f if line.strip()]
                if len(names) >= self.num_classes:
                    return names[: self.num_classes]
        return list(self.default_classes)


class CIFAR100(CIFAR10):
    """CIFAR-100 from ``cifar-100-binary/`` (``train.bin``, ``test.bin``; records: coarse, fine, 3072 pixels).

    ``targets`` are the fine labels (as torchvision); ``coarse_targets`` the 20 superclasses. Class
    names come from ``fine_label_names.txt`` (``coarse_classes`` from ``coarse_label_names.txt``).

    Args:
      *args, **kwargs: as :class:`CIFAR10`.

    Raises:
      ConfigError, DataFileNotFoundError, DatasetFormatError: as :class:`CIFAR10`.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from torsh.vision.datasets import CIFAR100
        >>> root = tempfile.mkdtemp(); d = os.path.join(root, "cifar-100-binary"); os.mkdir(d)
        >>> rec = np.concatenate([[3, 42], np.zeros(3072)]).astype(np.uint8)
        >>> _ = open(os.path.join(d, "test.bin"), "wb").write(rec.tobytes())
        >>> ds = CIFAR100(root, train=False)
        >>> ds[0][1], int(ds.coarse_targets[0])
        (42, 3)
    """

    base_folder = "cifar-100-binary"
    url = "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz"
    train_list = ["train.bin"]
    test_list = ["test.bin"]
    meta_file = "fine_label_names.txt"
    label_bytes = 2
    num_classes = 100
    # the dataset's alphabetical fine label names (fine_label_names.txt), used when that file is absent
    default_classes = (
        "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
        "butterfly camel can "
        "castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup "
        "dinosaur dolphin "
        "elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard "
        "lion lizard lobster "
        "man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
        "pear pickup_truck "
        "pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal "
        "shark shrew skunk "
        "skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank "
        "telephone television tiger "
        "tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
    ).split()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coarse_targets = self._all_labels[:, 0].astype(np.int64)
        names = []
        for d in self._folders():
            path = os.path.join(d, "coarse_label_names.txt")
            if os.path.isfile(path):
                with open(path, encoding="utf-8") as f:
                    names = [line.strip() for line in f if line.strip()][:20]
                break
        self.coarse_classes = names or [f"superclass_{i}" for i in range(20)]

    def _label_limits(self) -> list[int]:
        return [20, 100]
