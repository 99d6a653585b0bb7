"""Classification batches of similar lengths: ``TokenizedTexts``, ``BucketBatchSampler``, ``PadCollate``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ...data import Dataset, default_collate
from ...data.dataset import _check_index
from ...errors import ConfigError
from .._errors import EmptyCorpusError
from ..tokenizers._base import Tokenizer

__all__ = ["TokenizedTexts", "BucketBatchSampler", "PadCollate"]


class TokenizedTexts(Dataset[dict]):
    """Texts (and optional labels) tokenised once: sample ``{"input_ids": int32 [n], "label": int}``.

    ``max_length`` truncates. ``lengths`` (the token counts) feeds :class:`BucketBatchSampler`.

    Args:
      texts: the texts.
      tokenizer: any torsh tokenizer.
      labels: one int label per text (optional).
      max_length: truncate longer texts to this many tokens.

    Raises:
      EmptyCorpusError: no texts.
      ConfigError: ``labels`` of another length.

    Example:
      >>> from torsh.text.tokenizers import ByteTokenizer
      >>> ds = TokenizedTexts(["hi", "hello"], ByteTokenizer(), labels=[0, 1], max_length=4)
      >>> ds[1]["input_ids"].tolist(), ds.lengths.tolist()
      ([104, 101, 108, 108], [2, 4])
    """

    def __init__(
        self,
        texts: Sequence[str],
        tokenizer: Tokenizer,
        labels: Sequence[int] | None = None,
        *,
        max_length: int | None = None,
    ) -> None:
        texts = list(texts)
        if not texts:
            raise EmptyCorpusError("TokenizedTexts: no texts")
        if labels is not None and len(labels) != len(texts):
            raise ConfigError(f"TokenizedTexts: {len(texts)} texts but {len(labels)} labels")
        enc = tokenizer.encode_batch(
            texts,
            padding=False,
            truncation=max_length is not None,
            max_length=max_length,
            return_tensors=None,
        )
        self._ids = [np.asarray(s, np.int32) for s in enc["input_ids"]]
        self._labels = None if labels is None else np.asarray(labels)
        self.lengths = np.array([len(s) for s in self._ids], np.int64)

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = _check_index(index, len(self), "TokenizedTexts")
        out: dict[str, Any] = {"input_ids": self._ids[i]}
        if self._labels is not None:
            out["label"] = self._labels[i]
        return out


class BucketBatchSampler:
    """Batches of indices whose lengths are close, so padding is small.

    Each epoch: shuffle the indices (seeded by ``(seed, epoch)``), cut them into pools of
    ``batch_size * pool_batches``, sort each pool by length, cut pools into batches and shuffle the
    batch order. ``shuffle=False`` sorts the whole dataset by length instead. Pass it as
    ``DataLoader(ds, batch_sampler=..., collate_fn=PadCollate(pad_id))``.

    Args:
      lengths: the length of every sample (``TokenizedTexts.lengths``).
      batch_size: samples per batch.
      shuffle: bucket within shuffled pools (else sort everything by length).
      pool_batches: batches per pool.
      drop_last: drop a last batch shorter than ``batch_size``.
      seed: the shuffling seed (with the epoch).

    Raises:
      ConfigError: empty or non-1-D ``lengths``, or a non-positive ``batch_size``/``pool_batches``.

    Example:
      >>> s = BucketBatchSampler([5, 1, 4, 2, 3, 6], batch_size=2, shuffle=False)
      >>> list(s)
      [[1, 3], [4, 2], [0, 5]]
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        *,
        shuffle: bool = True,
        pool_batches: int = 50,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.lengths = np.asarray(lengths, np.int64)
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise ConfigError(
                f"BucketBatchSampler: expected a non-empty 1-D list of lengths, got {lengths!r}"
            )
        for name, v in (("batch_size", batch_size), ("pool_batches", pool_batches)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError(f"BucketBatchSampler: {name} must be a positive int, got {v!r}")
        self.batch_size, self.pool_batches = batch_size, pool_batches
        self.shuffle, self.drop_last, self.seed, self.epoch = shuffle, drop_last, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's order (called by the training loop).

        Args:
          epoch: the epoch number.

        Example:
          >>> s = BucketBatchSampler([3, 1, 2, 5], batch_size=2, seed=0)
          >>> s.set_epoch(1)
          >>> sorted(i for batch in s for i in batch)
          [0, 1, 2, 3]
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n, b = len(self.lengths), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[list[int]]:
        n, b = len(self.lengths), self.batch_size
        if not self.shuffle:
            order = np.argsort(self.lengths, kind="stable")
            batches = [order[i : i + b] for i in range(0, n, b)]
        else:
            rng = np.random.default_rng((self.seed, self.epoch, 0xB0C))
            perm = rng.permutation(n)
            pool = b * self.pool_batches
            batches = []
            for i in range(0, n, pool):
                chunk = perm[i : i + pool]
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
                batches.extend(chunk[j : j + b] for j in range(0, len(chunk), b))
            # keep at most one short batch, and put it last
            short = [x for x in batches if len(x) < b]
            full = [x for x in batches if len(x) == b]
            full = [full[k] for k in rng.permutation(len(full))]
            if short:
                full.append(np.concatenate(short))
                if len(full[-1]) > b:  # several short pools: re-split their union
                    rest = full.pop()
                    full.extend(rest[j : j + b] for j in range(0, len(rest), b))
            batches = full
        for batch in batches:
            if self.drop_last and len(batch) < b:
                continue
            yield [int(i) for i in batch]


class PadCollate:
    """Collate dicts with variable-length ``input_ids`` into padded arrays plus ``attention_mask``.

    Other entries are collated with :func:`torsh.data.default_collate`. ``pad_to_multiple_of``
    rounds the padded length up (fewer distinct shapes means fewer ``jit`` compilations).

    Args:
      pad_id: the id at padded positions.
      pad_to_multiple_of: round the padded width up to a multiple of this.
      padding_side: ``"right"`` or ``"left"``.

    Raises:
      ConfigError: an unknown ``padding_side`` or a non-positive ``pad_to_multiple_of``.

    Example:
      >>> import numpy as np
      >>> c = PadCollate(pad_id=0, pad_to_multiple_of=4)
      >>> b = c([{"input_ids": np.array([5, 6]), "label": 1}, {"input_ids": np.array([7]), "label": 0}])
      >>> b["input_ids"].tolist(), b["attention_mask"].tolist(), b["label"].tolist()
      ([[5, 6, 0, 0], [7, 0, 0, 0]], [[1, 1, 0, 0], [1, 0, 0, 0]], [1, 0])
    """

    def __init__(self, pad_id: int, *, pad_to_multiple_of: int = 1, padding_side: str = "right") -> None:
        if padding_side not in ("right", "left"):
            raise ConfigError(f"PadCollate: padding_side must be 'right' or 'left', got {padding_side!r}")
        if not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1:
            raise ConfigError(
                f"PadCollate: pad_to_multiple_of must be a positive int, got {pad_to_multiple_of!r}"
            )
        self.pad_id, self.multiple, self.side = int(pad_id), pad_to_multiple_of, padding_side

    def __call__(self, samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
        seqs = [np.asarray(s["input_ids"]) for s in samples]
        width = max(len(s) for s in seqs)
        width = -(-width // self.multiple) * self.multiple
        ids = np.full((len(seqs), width), self.pad_id, np.int32)
        mask = np.zeros((len(seqs), width), np.int32)
        for i, s in enumerate(seqs):
            sl = slice(0, len(s)) if self.side == "right" else slice(width - len(s), width)
            ids[i, sl], mask[i, sl] = s, 1
        rest = [{k: v for k, v in s.items() if k != "input_ids"} for s in samples]
        out = default_collate(rest) if rest and rest[0] else {}
        return {"input_ids": ids, "attention_mask": mask, **out}
