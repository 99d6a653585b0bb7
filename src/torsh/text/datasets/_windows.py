"""Language-model samples from a token stream: ``LMWindows`` and document packing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ...data import Dataset
from ...data.dataset import _check_index
from ...errors import ConfigError
from .._errors import EmptyCorpusError
from ._tokenfile import TokenFile

__all__ = ["LMWindows", "PackedDocuments"]

_SALT = 0x7E47


def _as_stream(tokens: Any, owner: str) -> np.ndarray:
    arr = tokens.tokens if isinstance(tokens, TokenFile) else np.asarray(tokens)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(
            f"{owner}: expected a 1-D integer token array or a TokenFile, got "
            f"{arr.dtype} array of shape {list(arr.shape)}"
        )
    return arr


def _positive(owner: str, name: str, value: Any) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")
    return int(value)


class LMWindows(Dataset[np.ndarray]):
    """Windows of ``block_size + 1`` consecutive tokens (inputs ``w[:-1]``, targets ``w[1:]``).

    ``random=False``: the windows tile the stream, window ``i`` starting at ``i * block_size``
    (consecutive windows share one token, so every token is a target once); there are
    ``(len(tokens) - 1) // block_size``. ``random=True``: window ``i`` starts at a position drawn
    from ``(seed, i)``, uniformly over every valid start (deterministic, so any worker count gives
    the same samples); ``num_samples`` windows (default: as many as the sequential tiling).
    Samples are ``int32`` arrays; the memory map is only read, never copied whole.

    Args:
      tokens: a :class:`TokenFile` or a 1-D integer array (the token stream).
      block_size: the model's context; each window holds ``block_size + 1`` tokens.
      random: windows at random starts instead of a tiling.
      num_samples: the number of random windows.
      seed: the seed of the random starts.

    Raises:
      ConfigError: a non-positive ``block_size`` or ``num_samples``, or a stream that is not 1-D
        integers.
      EmptyCorpusError: fewer than ``block_size + 1`` tokens.

    Example:
      >>> import numpy as np
      >>> ds = LMWindows(np.arange(10), block_size=4)
      >>> len(ds), ds[0].tolist(), ds[1].tolist()
      (2, [0, 1, 2, 3, 4], [4, 5, 6, 7, 8])
      >>> LMWindows(np.arange(10), 4, random=True, num_samples=3, seed=0)[2].shape
      (5,)
    """

    def __init__(
        self,
        tokens: Any,
        block_size: int,
        *,
        random: bool = False,
        num_samples: int | None = None,
        seed: int = 0,
    ) -> None:
        self._file = tokens if isinstance(tokens, TokenFile) else None
        self.tokens = _as_stream(tokens, "LMWindows")
        self.block_size = _positive("LMWindows", "block_size", block_size)
        if len(self.tokens) < block_size + 1:
            raise EmptyCorpusError(
                f"LMWindows: {len(self.tokens)} tokens are fewer than one window of block_size + 1 = "
                f"{block_size + 1}"
            )
        self.random, self.seed = bool(random), int(seed)
        tiling = (len(self.tokens) - 1) // self.block_size
        if num_samples is not None and not random:
            raise ConfigError(
                "LMWindows: num_samples= only applies with random=True (sequential windows tile)"
            )
        self._len = tiling if num_samples is None else _positive("LMWindows", "num_samples", num_samples)

    def __len__(self) -> int:
        return self._len

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if self._file is not None:  # the TokenFile pickles by path; do not copy the memory map
            state.pop("tokens")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self._file is not None:
            self.tokens = self._file.tokens

    def start(self, index: int) -> int:
        """Start position of window ``index``.

        Args:
          index: the window's index.

        Returns:
          The position of its first token in the stream.

        Raises:
          SampleIndexError: ``index`` is out of range.

        Example:
          >>> import numpy as np
          >>> LMWindows(np.arange(10), block_size=4).start(1)
          4
        """
        i = _check_index(index, self._len, "LMWindows")
        if not self.random:
            return i * self.block_size
        rng = np.random.default_rng((self.seed, _SALT, i))
        return int(rng.integers(0, len(self.tokens) - self.block_size))

    def __getitem__(self, index: int) -> np.ndarray:
        s = self.start(index)
        return np.asarray(self.tokens[s : s + self.block_size + 1], dtype=np.int32)

    def __repr__(self) -> str:
        return (
            f"LMWindows(tokens={len(self.tokens)}, block_size={self.block_size}, "
            f"random={self.random}, n={self._len})"
        )


class PackedDocuments(Dataset[dict]):
    """Documents packed into rows of ``block_size`` ids, a ``separator`` id after each document.

    Documents are concatenated in order (``doc0 sep doc1 sep ...``) and cut into rows; a long
    document continues in the next row. The last, partial row is padded with ``pad_id`` (and masked)
    or dropped when ``pad_id`` is None. A sample is ``{"input_ids": int32 [block_size],
    "attention_mask": int32 [block_size], "document_ids": int32 [block_size]}``; ``document_ids``
    (-1 on padding) lets a model keep documents from attending to each other.

    Args:
      documents: id sequences, or a :class:`TokenFile` (whose separators are already in place).
      block_size: ids per row.
      separator: the id appended after every document (``None``: none).
      pad_id: the id padding the last row (``None`` drops a partial last row).

    Raises:
      ConfigError: a non-positive ``block_size``, or a ``separator`` that disagrees with the token
        file's.
      EmptyCorpusError: no documents, or too few ids for one row.

    Example:
      >>> ds = PackedDocuments([[1, 2, 3], [4], [5, 6]], block_size=4, separator=0, pad_id=9)
      >>> [ds[i]["input_ids"].tolist() for i in range(len(ds))]
      [[1, 2, 3, 0], [4, 0, 5, 6], [0, 9, 9, 9]]
      >>> ds[1]["document_ids"].tolist(), ds[2]["attention_mask"].tolist()
      ([1, 1, 2, 2], [1, 0, 0, 0])
    """

    def __init__(
        self,
        documents: Iterable[Sequence[int]] | TokenFile,
        block_size: int,
        *,
        separator: int | None = None,
        pad_id: int | None = None,
    ) -> None:
        self.block_size = _positive("PackedDocuments", "block_size", block_size)
        lengths: np.ndarray  # (numpy's stubs type np.diff of these int64 offsets as timedelta64)
        if isinstance(documents, TokenFile):  # separators are already in the stream
            stream = np.asarray(documents.tokens, dtype=np.int32)
            lengths = np.diff(documents.offsets.astype(np.int64))
            if separator is not None:
                raise ConfigError("PackedDocuments: a TokenFile has its separators already; drop separator=")
        else:
            docs = [np.asarray(d, dtype=np.int32).reshape(-1) for d in documents]
            if separator is not None:
                docs = [np.append(d, np.int32(separator)) for d in docs]
            stream = np.concatenate(docs) if docs else np.zeros(0, np.int32)
            lengths = np.array([len(d) for d in docs], np.int64)
        if len(stream) == 0:
            raise EmptyCorpusError("PackedDocuments: no tokens to pack (empty corpus)")
        doc_ids = np.repeat(np.arange(len(lengths), dtype=np.int32), lengths)
        rows, rest = divmod(len(stream), self.block_size)
        if rest and pad_id is not None:
            pad = self.block_size - rest
            stream = np.concatenate([stream, np.full(pad, pad_id, np.int32)])
            doc_ids = np.concatenate([doc_ids, np.full(pad, -1, np.int32)])
            rows += 1
        elif rows == 0:
            raise EmptyCorpusError(
                f"PackedDocuments: {len(stream)} tokens fill no row of {self.block_size}; pass pad_id= to pad"
            )
        n = rows * self.block_size
        self._ids = stream[:n].reshape(rows, self.block_size)
        self._docs = doc_ids[:n].reshape(rows, self.block_size)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        i = _check_index(index, len(self), "PackedDocuments")
        docs = self._docs[i]
        return {
            "input_ids": self._ids[i],
            "attention_mask": (docs >= 0).astype(np.int32),
            "document_ids": docs,
        }
