"""``StdlibCorpus``: the Python standard library's own ``.py`` files as an offline text corpus."""

from __future__ import annotations

import hashlib
import os
import pathlib
import sys
import sysconfig

from ...data import Dataset
from ...data.dataset import _check_index
from ...errors import ConfigError
from .._errors import EmptyCorpusError

__all__ = ["StdlibCorpus"]

_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}


class StdlibCorpus(Dataset[str]):
    """The ``.py`` files of the running Python's standard library, one document per file.

    Real, varied text that every machine with Python has. Files are found under ``root`` (default
    ``sysconfig.get_paths()["stdlib"]``), skipping ``site-packages`` and test directories, read
    as UTF-8 (invalid bytes replaced), and sorted by relative path.

    **Split** (deterministic, by file): a file belongs to ``"val"`` when the first 8 hex digits
    of the SHA-1 of its relative path (``/``-separated), read as an integer, are below
    ``val_fraction * 16**8``; otherwise to ``"train"``. The split depends on names only, so it is
    the same on every machine with the same Python version, and adding a file never moves another.
    ``split="all"`` keeps every file. ``max_files`` keeps the first files (by path) of the split.

    ``fingerprint`` (the Python version and a digest of the files' paths and sizes) identifies the
    corpus for :func:`~torsh.text.datasets.tokenize_to_file`.

    Args:
      split: ``"train"``, ``"val"`` or ``"all"``.
      val_fraction: the share of files in ``"val"``, in [0, 1).
      root: the directory to read (default: the standard library).
      max_files: keep only the first files of the split.

    Raises:
      ConfigError: an unknown ``split`` or a ``val_fraction`` outside [0, 1).
      EmptyCorpusError: ``root`` is not a directory, or the split has no file.

    Example:
      >>> train, val = StdlibCorpus("train"), StdlibCorpus("val")
      >>> len(train) > 5 * len(val) > 0, set(train.files).isdisjoint(val.files)
      (True, True)
      >>> "def " in train[0] or "import" in train[0]
      True
    """

    def __init__(
        self,
        split: str = "train",
        *,
        val_fraction: float = 0.1,
        root: str | os.PathLike[str] | None = None,
        max_files: int | None = None,
    ) -> None:
        if split not in ("train", "val", "all"):
            raise ConfigError(f"StdlibCorpus: split must be 'train', 'val' or 'all', got {split!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigError(f"StdlibCorpus: val_fraction must be in [0, 1), got {val_fraction!r}")
        self.root = pathlib.Path(root if root is not None else sysconfig.get_paths()["stdlib"])
        if not self.root.is_dir():
            raise EmptyCorpusError(f"StdlibCorpus: {str(self.root)!r} is not a directory")
        self.split, self.val_fraction = split, val_fraction
        files = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            for name in filenames:
                if name.endswith(".py"):
                    rel = pathlib.Path(dirpath, name).relative_to(self.root).as_posix()
                    if split == "all" or (self.is_val(rel, val_fraction) == (split == "val")):
                        files.append(rel)
        files.sort()
        if max_files is not None:
            files = files[:max_files]
        if not files:
            raise EmptyCorpusError(
                f"StdlibCorpus: no .py files for split {split!r} under {str(self.root)!r} "
                f"(val_fraction={val_fraction}, max_files={max_files})"
            )
        self.files = tuple(files)
        digest = hashlib.sha256()
        for rel in self.files:
            digest.update(f"{rel}:{(self.root / rel).stat().st_size}\n".encode())
        self.fingerprint = (
            f"python{sys.version_info[0]}.{sys.version_info[1]}-{split}-{digest.hexdigest()[:16]}"
        )

    @staticmethod
    def is_val(relative_path: str, val_fraction: float = 0.1) -> bool:
        """Whether a file (relative ``/`` path) is in the validation split.

        Args:
          relative_path: the file's path relative to the root, ``/``-separated.
          val_fraction: the validation share.

        Returns:
          ``True`` for validation files.

        Example:
          >>> StdlibCorpus.is_val("json/decoder.py", 0.0), StdlibCorpus.is_val("json/decoder.py", 0.999)
          (False, True)
        """
        h = int(hashlib.sha1(relative_path.encode("utf-8")).hexdigest()[:8], 16)
        return h < val_fraction * 16**8

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> str:
        i = _check_index(index, len(self), "StdlibCorpus")
        return (self.root / self.files[i]).read_bytes().decode("utf-8", "replace")

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"StdlibCorpus(split={self.split!r}, files={len(self)}, root={str(self.root)!r})"
