"""Token files: a corpus tokenised once into a memory-mapped ``uint16``/``uint32`` array.

Layout for ``path = "train.tokens"``: ``train.tokens`` (raw little-endian ids, documents one after
the other, each followed by the separator id when one is given), ``train.tokens.idx`` (``uint64``
start offset of every document plus the end) and ``train.tokens.json`` (the header: dtype, counts,
tokenizer hash, separator, corpus fingerprint and a SHA-256 of the ids). The header is written last,
so an interrupted write leaves no valid file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from ...data import Dataset
from .._errors import EmptyCorpusError, TokenFileError
from ..tokenizers._base import Tokenizer

__all__ = ["TokenFile", "tokenize_to_file"]

_FORMAT = "torsh.tokens"
_VERSION = 1
_CHUNK_DOCS = 256


def _paths(path: str | os.PathLike[str]) -> tuple[pathlib.Path, pathlib.Path, pathlib.Path]:
    p = pathlib.Path(path)
    return p, p.with_name(p.name + ".idx"), p.with_name(p.name + ".json")


def _dtype_for(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


class TokenFile(Dataset[np.ndarray]):
    """A memory-mapped token file (see :func:`tokenize_to_file`); a dataset of its documents.

    ``tokens`` is the whole id stream (a read-only ``np.memmap``; separators included), ``len(f)``
    the number of documents and ``f[i]`` document ``i``'s ids (with its trailing separator).

    Args:
      path: the token file (``.idx`` and ``.json`` beside it).
      tokenizer: when given, its :attr:`~torsh.text.tokenizers.Tokenizer.hash` must match the header's.
      verify: recompute the SHA-256 of the ids (reads the whole file once; ``False`` only checks sizes).

    Raises:
      TokenFileError: a missing or malformed header or index, a data file whose size or SHA-256
        disagrees with the header, or another tokenizer than the one the file was written with.

    Example:
      >>> import tempfile, os
      >>> from torsh.text.tokenizers import ByteTokenizer
      >>> tok = ByteTokenizer(["<eos>"])
      >>> path = os.path.join(tempfile.mkdtemp(), "docs.tokens")
      >>> f = tokenize_to_file(["ab", "c"], tok, path, separator="<eos>")
      >>> f.tokens.tolist(), len(f), f[1].tolist()
      ([97, 98, 256, 99, 256], 2, [99, 256])
      >>> TokenFile(path, tokenizer=tok).num_tokens
      5
    """

    def __init__(
        self, path: str | os.PathLike[str], *, tokenizer: Tokenizer | None = None, verify: bool = True
    ) -> None:
        data, idx, head = _paths(path)
        self.path = data
        self.header = _read_header(head)
        h = self.header
        where = f"token file {str(data)!r}"
        try:
            dtype = np.dtype(h["dtype"])
            n, d = int(h["num_tokens"]), int(h["num_documents"])
        except (KeyError, TypeError, ValueError) as e:
            raise TokenFileError(f"{where}: malformed header {str(head)!r} ({e!r})") from None
        for p, want in ((data, n * dtype.itemsize), (idx, (d + 1) * 8)):
            if not p.is_file():
                raise TokenFileError(f"{where}: {str(p)!r} is missing (header {str(head)!r} expects it)")
            got = p.stat().st_size
            if got != want:
                raise TokenFileError(
                    f"{where}: {str(p)!r} has {got} bytes but the header expects {want}; "
                    "the file is truncated "
                    "or was overwritten: re-create it with tokenize_to_file(..., overwrite=True)"
                )
        if tokenizer is not None and tokenizer.hash != h.get("tokenizer_hash"):
            raise TokenFileError(
                f"{where}: written with tokenizer {str(h.get('tokenizer_hash'))[:12]}..., not the given one "
                f"({tokenizer.hash[:12]}...); re-tokenise with tokenize_to_file(..., overwrite=True)"
            )
        self.tokens = np.memmap(data, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)
        self.offsets = np.fromfile(idx, dtype="<u8")
        if verify:
            digest = hashlib.sha256(np.ascontiguousarray(self.tokens).tobytes()).hexdigest()
            if digest != h.get("sha256"):
                raise TokenFileError(
                    f"{where}: the ids' SHA-256 does not match the header (the file is corrupt); "
                    "re-create it "
                    "with tokenize_to_file(..., overwrite=True)"
                )
            if (
                self.offsets[0] != 0
                or self.offsets[-1] != n
                or np.any(np.diff(self.offsets.astype(np.int64)) < 0)
            ):
                raise TokenFileError(f"{where}: the document index {str(idx)!r} is corrupt")

    # Pickled (e.g. to DataLoader worker processes) by path: the receiver maps the file again
    # instead of copying its contents through the pickle.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("tokens")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        n, dtype = int(self.header["num_tokens"]), np.dtype(self.header["dtype"])
        self.tokens = np.memmap(self.path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)

    @property
    def num_tokens(self) -> int:
        """Number of ids (separators included)."""
        return int(self.header["num_tokens"])

    @property
    def vocab_size(self) -> int:
        """The vocabulary size of the tokenizer that wrote the file."""
        return int(self.header["vocab_size"])

    @property
    def separator(self) -> int | None:
        """The id appended after every document, or ``None``."""
        return self.header.get("separator")

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        from ...data.dataset import _check_index

        i = _check_index(index, len(self), "TokenFile")
        return np.asarray(self.tokens[int(self.offsets[i]) : int(self.offsets[i + 1])])

    def __repr__(self) -> str:
        return (
            f"TokenFile({str(self.path)!r}, documents={len(self)}, tokens={self.num_tokens}, "
            f"dtype={self.tokens.dtype})"
        )


def _read_header(head: pathlib.Path) -> dict[str, Any]:
    if not head.is_file():
        raise TokenFileError(f"token file header {str(head)!r} is missing (was the file written completely?)")
    try:
        h = json.loads(head.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise TokenFileError(f"token file header {str(head)!r} is not valid JSON ({e})") from None
    if not isinstance(h, dict) or h.get("format") != _FORMAT:
        raise TokenFileError(f"{str(head)!r} is not a torsh token-file header (format is not {_FORMAT!r})")
    if h.get("version") != _VERSION:
        raise TokenFileError(f"{str(head)!r}: unsupported token-file version {h.get('version')!r}")
    return h


def tokenize_to_file(
    documents: Iterable[str],
    tokenizer: Tokenizer,
    path: str | os.PathLike[str],
    *,
    separator: str | None = None,
    fingerprint: str | None = None,
    overwrite: bool = False,
    dtype: Any = None,
) -> TokenFile:
    """Tokenise ``documents`` into a token file at ``path`` once; later calls reopen it.

    When a valid file exists at ``path`` written with the same tokenizer (hash) and ``fingerprint``,
    it is opened without tokenising anything; a different tokenizer or fingerprint re-tokenises.
    ``fingerprint`` identifies the corpus (``StdlibCorpus.fingerprint``; any string): give one so a
    changed corpus is noticed, or pass ``overwrite=True``.

    Args:
      documents: texts (an iterable; consumed once).
      tokenizer: any torsh tokenizer.
      path: the output file (``.idx`` and ``.json`` are written beside it).
      separator: a special token appended after every document (e.g. ``"<|endoftext|>"``).
      fingerprint: identifies the corpus; a file with another fingerprint is re-tokenised.
      overwrite: re-tokenise even when a matching file exists.
      dtype: ``uint16`` or ``uint32``; default the smallest that holds the vocabulary.

    Returns:
      The :class:`TokenFile`, reopened or freshly written.

    Raises:
      EmptyCorpusError: no documents, or no tokens at all.
      TokenFileError: the file cannot be written, or a ``dtype`` too small for the vocabulary.
      UnknownTokenError: ``separator`` is not a special token of ``tokenizer``.

    Example:
      >>> import os, tempfile
      >>> from torsh.text.datasets import tokenize_to_file
      >>> from torsh.text.tokenizers import ByteTokenizer
      >>> path = os.path.join(tempfile.mkdtemp(), "corpus.tokens")
      >>> tok = ByteTokenizer(["<eos>"])
      >>> f = tokenize_to_file(["hi", "yo"], tok, path, separator="<eos>", fingerprint="v1")
      >>> f.num_tokens, f.tokens.dtype, f.separator
      (6, dtype('uint16'), 256)
    """
    data, idx, head = _paths(path)
    if not overwrite and head.is_file():
        try:
            h = _read_header(head)
        except TokenFileError:
            h = None
        if (
            h is not None
            and h.get("tokenizer_hash") == tokenizer.hash
            and h.get("fingerprint") == fingerprint
        ):
            try:
                return TokenFile(data, tokenizer=tokenizer, verify=False)
            except TokenFileError:
                pass  # damaged: write it again
    sep = None if separator is None else tokenizer.token_to_id(separator)
    dt = _dtype_for(tokenizer.vocab_size) if dtype is None else np.dtype(dtype).newbyteorder("<")
    if dt not in (np.dtype("<u2"), np.dtype("<u4")):
        raise TokenFileError(f"tokenize_to_file: dtype must be uint16 or uint32, got {dtype!r}")
    if tokenizer.vocab_size > np.iinfo(dt).max + 1:
        raise TokenFileError(
            f"tokenize_to_file: a vocabulary of {tokenizer.vocab_size} ids does not fit in {dt.name}; "
            "use uint32"
        )
    data.parent.mkdir(parents=True, exist_ok=True)
    head.unlink(missing_ok=True)  # invalid until the new header is written
    sha = hashlib.sha256()
    offsets = [0]
    chunk: list[str] = []

    def flush(f: Any) -> None:
        for ids in tokenizer._encode_many(chunk):
            if sep is not None:
                ids = [*ids, sep]
            arr = np.asarray(ids, dtype=dt)
            f.write(arr.tobytes())
            sha.update(arr.tobytes())
            offsets.append(offsets[-1] + len(arr))
        chunk.clear()

    from ..tokenizers._base import clean_text

    with open(data, "wb") as f:
        for i, doc in enumerate(documents):
            chunk.append(clean_text(doc, tokenizer.errors, f"tokenize_to_file (document {i})"))
            if len(chunk) >= _CHUNK_DOCS:
                flush(f)
        flush(f)
    if offsets[-1] == 0:
        data.unlink(missing_ok=True)
        raise EmptyCorpusError(
            f"tokenize_to_file({str(data)!r}): the documents produced no tokens (empty corpus)"
        )
    np.asarray(offsets, dtype="<u8").tofile(idx)
    header = {
        "format": _FORMAT,
        "version": _VERSION,
        "dtype": dt.str,
        "num_tokens": offsets[-1],
        "num_documents": len(offsets) - 1,
        "vocab_size": tokenizer.vocab_size,
        "tokenizer_hash": tokenizer.hash,
        "tokenizer": type(tokenizer).__name__,
        "separator": sep,
        "fingerprint": fingerprint,
        "sha256": sha.hexdigest(),
    }
    tmp = head.with_name(head.name + ".tmp")
    tmp.write_text(json.dumps(header, indent=1), encoding="utf-8")
    os.replace(tmp, head)
    return TokenFile(data, tokenizer=tokenizer, verify=False)
