"""``ImageFolder``/``DatasetFolder``: one sub-folder per class, torchvision's discovery rules and order."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import ConfigError
from ..io import open_image
from ._base import DataFileNotFoundError, VisionDataset

__all__ = [
    "IMG_EXTENSIONS",
    "DatasetFolder",
    "ImageFolder",
    "find_classes",
    "make_dataset",
    "pil_loader",
    "has_file_allowed_extension",
]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def has_file_allowed_extension(filename: str, extensions: str | Sequence[str]) -> bool:
    """Whether ``filename`` ends (case-insensitively) with one of ``extensions``.

    Args:
      filename: a file name or path.
      extensions: one extension or several (with the dot).

    Returns:
      ``True`` if it matches.

    Example:
        >>> has_file_allowed_extension("a/B.JPG", IMG_EXTENSIONS)
        True
    """
    return filename.lower().endswith(extensions if isinstance(extensions, str) else tuple(extensions))


def find_classes(directory: str | os.PathLike[str]) -> tuple[list[str], dict[str, int]]:
    """Sorted sub-folder names of ``directory`` and their indices (torchvision's ``find_classes``).

    Args:
      directory: the dataset root.

    Returns:
      ``(classes, class_to_idx)``.

    Raises:
      DataFileNotFoundError: the folder has no sub-folder.

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); os.mkdir(os.path.join(d, "dog")); os.mkdir(os.path.join(d, "cat"))
        >>> find_classes(d)
        (['cat', 'dog'], {'cat': 0, 'dog': 1})
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise DataFileNotFoundError(f"ImageFolder: root {directory!r} is not a folder")
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise DataFileNotFoundError(
            f"ImageFolder: found no class folder in {directory!r}; expected one sub-folder per class "
            "(root/cat/1.png, root/dog/2.png, ...)"
        )
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(
    directory: str | os.PathLike[str],
    class_to_idx: dict[str, int],
    extensions: str | Sequence[str] | None = None,
    is_valid_file: Callable[[str], bool] | None = None,
    allow_empty: bool = False,
) -> list[tuple[str, int]]:
    """``(path, class_index)`` pairs: classes in sorted order, files walked and sorted as torchvision does.

    Args:
      directory: the dataset root.
      class_to_idx: the classes to collect and their indices.
      extensions: allowed file extensions (exactly one of this and ``is_valid_file``).
      is_valid_file: a predicate on paths.
      allow_empty: allow classes without files.

    Returns:
      The sorted ``(path, class_index)`` pairs.

    Raises:
      ConfigError: both or neither of ``extensions`` and ``is_valid_file``.
      DataFileNotFoundError: a class folder without valid files (unless ``allow_empty``).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp(); os.mkdir(os.path.join(d, "a"))
        >>> _ = open(os.path.join(d, "a", "x.png"), "w")
        >>> [(os.path.basename(p), c) for p, c in make_dataset(d, {"a": 0}, extensions=(".png",))]
        [('x.png', 0)]
    """
    directory = os.path.expanduser(os.fspath(directory))
    if (extensions is None) == (is_valid_file is None):
        raise ConfigError(
            "ImageFolder: pass exactly one of extensions= and is_valid_file= "
            f"(got extensions={extensions!r}, is_valid_file={is_valid_file!r})"
        )
    if is_valid_file is None:
        exts = extensions

        def is_valid_file(path: str) -> bool:
            return has_file_allowed_extension(path, exts)  # type: ignore[arg-type]

    instances: list[tuple[str, int]] = []
    available: set[str] = set()
    for target_class in sorted(class_to_idx):
        class_index = class_to_idx[target_class]
        target_dir = os.path.join(directory, target_class)
        if not os.path.isdir(target_dir):
            continue
        for root, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    instances.append((path, class_index))
                    available.add(target_class)
    empty = set(class_to_idx) - available
    if empty and not allow_empty:
        what = (
            "Supported extensions are: "
            f"{extensions if isinstance(extensions, str) else ', '.join(extensions)}"
            if extensions is not None
            else "No file passed is_valid_file"
        )
        raise DataFileNotFoundError(
            f"ImageFolder: found no valid file for the classes {', '.join(sorted(empty))} under "
            f"{directory!r}. "
            f"{what} (pass allow_empty=True to keep empty classes)"
        )
    return instances


def pil_loader(path: str) -> Any:
    """Open ``path`` with Pillow, decode it fully and convert to RGB (torchvision's default loader).

    A corrupt or truncated file raises :class:`~torsh.vision.io.ImageDecodeError` naming it.

    Args:
      path: the image file.

    Returns:
      The image as an RGB PIL image.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from PIL import Image
        >>> p = os.path.join(tempfile.mkdtemp(), "x.png"); Image.fromarray(np.zeros((2, 2), np.uint8)).save(p)
        >>> pil_loader(p).mode
        'RGB'
    """
    img = open_image(path, repr(path))
    return img.convert("RGB")


class DatasetFolder(VisionDataset):
    """Samples ``root/<class>/**/<file>`` loaded with ``loader``, labelled by the sorted class folders.

    Attributes (as torchvision): ``classes``, ``class_to_idx``, ``samples`` (``(path, class_index)``),
    ``targets``.

    Args:
      root: the folder of class sub-folders.
      loader: reads one file (``path -> sample``).
      extensions: allowed file extensions (exactly one of this and ``is_valid_file``).
      transform: applied to each image.
      target_transform: applied to each label.
      is_valid_file: a predicate on paths.
      allow_empty: allow classes without files.

    Raises:
      ConfigError: both or neither of ``extensions`` and ``is_valid_file``, or a non-callable loader.
      DataFileNotFoundError: no class folder, or a class without files.

    Example:
      >>> import os, tempfile
      >>> from torsh.vision.datasets import DatasetFolder
      >>> d = tempfile.mkdtemp()
      >>> for c in ("cat", "dog"):
      ...     os.mkdir(os.path.join(d, c))
      ...     _ = open(os.path.join(d, c, "1.txt"), "w").write(c)
      >>> ds = DatasetFolder(d, loader=lambda p: open(p).read(), extensions=(".txt",))
      >>> ds.classes, ds[1]
      (['cat', 'dog'], ('dog', 1))
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        loader: Callable[[str], Any],
        extensions: str | Sequence[str] | None = None,
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(root, transform, target_transform)
        if not callable(loader):
            raise ConfigError(f"{type(self).__name__}: loader must be callable, got {type(loader).__name__}")
        self.classes, self.class_to_idx = self.find_classes(self.root)  # type: ignore[arg-type]
        self.samples = make_dataset(self.root, self.class_to_idx, extensions, is_valid_file, allow_empty)  # type: ignore[arg-type]
        if not self.samples:
            raise DataFileNotFoundError(f"{type(self).__name__}: found no files in {self.root!r}")
        self.loader = loader
        self.extensions = extensions
        self.targets = [s[1] for s in self.samples]

    @staticmethod
    def find_classes(directory: str) -> tuple[list[str], dict[str, int]]:
        """The classes of ``directory`` (override to choose them; see the function :func:`find_classes`).

        Args:
            directory: the dataset root.

        Returns:
            ``(classes, class_to_idx)``.

        Raises:
            DataFileNotFoundError: the folder has no sub-folder.

        Example:
            >>> import os, tempfile
            >>> from torsh.vision.datasets import DatasetFolder
            >>> d = tempfile.mkdtemp(); os.mkdir(os.path.join(d, "b")); os.mkdir(os.path.join(d, "a"))
            >>> DatasetFolder.find_classes(d)
            (['a', 'b'], {'a': 0, 'b': 1})
        """
        return find_classes(directory)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[self._index(index)]
        return self._finish(self.loader(path), target)


class ImageFolder(DatasetFolder):
    """Images in ``root/<class>/...`` (``torchvision.datasets.ImageFolder``): PIL RGB images, class indices.

    ``classes``, ``class_to_idx`` and the sample order equal torchvision's. Files are kept when their
    extension is one of :data:`IMG_EXTENSIONS` (case-insensitive), or when ``is_valid_file(path)`` says so.
    A folder without class sub-folders, or a class without images, raises
    :class:`~torsh.data.DataFileNotFoundError`; an unreadable image raises
    :class:`~torsh.vision.io.ImageDecodeError` naming the file when it is loaded.

    Args:
      root: the folder of class sub-folders.
      transform: applied to each image.
      target_transform: applied to each label.
      loader: reads one image (default: :func:`pil_loader`).
      is_valid_file: a predicate on paths (instead of the image extensions).
      allow_empty: allow classes without images.

    Example:
        >>> import numpy as np, tempfile, os
        >>> from PIL import Image
        >>> from torsh.vision.datasets import ImageFolder
        >>> from torsh.vision import transforms as T
        >>> root = tempfile.mkdtemp()
        >>> for c in ("cat", "dog"):
        ...     os.mkdir(os.path.join(root, c))
        ...     Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(root, c, "0.png"))
        >>> ds = ImageFolder(root, transform=T.ToArray())
        >>> ds.classes, ds[1][0].shape, ds[1][1]
        (['cat', 'dog'], (3, 4, 4), 1)
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[Any], Any] | None = None,
        loader: Callable[[str], Any] = pil_loader,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(
            root,
            loader,
            IMG_EXTENSIONS if is_valid_file is None else None,
            transform=transform,
            target_transform=target_transform,
            is_valid_file=is_valid_file,
            allow_empty=allow_empty,
        )
        self.imgs = self.samples
