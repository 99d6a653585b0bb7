"""The tokenizer interface shared by every torsh tokenizer: text <-> ids, batches -> padded arrays.

Subclasses implement ``_encode_one``, ``_decode_ids``, ``vocab_size``, ``special_tokens`` and
``to_str``; this base adds batching, padding/truncation to arrays with an attention mask, id checks
and the tokenizer hash that token files record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .._errors import TokenIdError, TokenizerError, UnknownTokenError

__all__ = ["Tokenizer", "clean_text"]


def clean_text(text: object, errors: str = "replace", where: str = "encode") -> str:
    """``text`` with lone UTF-16 surrogates replaced by U+FFFD (``errors="replace"``, tiktoken's rule).

    Python strings may hold lone surrogates (``"\\ud800"``) that have no UTF-8 encoding. Like
    ``tiktoken``, torsh replaces each with U+FFFD (a valid surrogate *pair* becomes its character);
    ``errors="strict"`` raises :class:`TokenizerError` instead.

    Args:
      text: the text.
      errors: ``"replace"`` or ``"strict"``.
      where: the caller's name, for messages.

    Returns:
      ``text`` itself when it is valid, else the cleaned copy.

    Raises:
      TokenizerError: ``text`` is not a str, it has a lone surrogate and ``errors="strict"``, or an
        unknown ``errors``.

    Example:
      >>> clean_text("a\\ud800b") == "a\\ufffdb"
      True
    """
    if not isinstance(text, str):
        raise TokenizerError(f"{where}: expected a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError as e:
        if errors == "strict":
            raise TokenizerError(
                f"{where}: text has a lone surrogate {text[e.start]!r} at index {e.start} (not encodable as "
                "UTF-8); pass errors='replace' to map it to U+FFFD"
            ) from None
        if errors != "replace":
            raise TokenizerError(f"{where}: errors must be 'replace' or 'strict', got {errors!r}") from None
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Tokenizer:
    """Base class: ``encode``/``decode`` single texts, ``encode_batch`` to padded arrays.

    Padding and truncation follow HF ``transformers``' names: ``padding=True``/``"longest"`` pads to
    the longest sequence, ``"max_length"`` to ``max_length``; ``truncation=True`` cuts to
    ``max_length``; ``padding_side`` is ``"right"`` (default) or ``"left"`` (for generation).

    Example:
      >>> from torsh.text.tokenizers import ByteTokenizer, Tokenizer
      >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
      >>> isinstance(tok, Tokenizer), tok("hi"), tok(["hi", "a"])["input_ids"].tolist()
      (True, [104, 105], [[104, 105], [97, 256]])
    """

    # -- implemented by subclasses ---------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of ids (special tokens included)."""
        raise NotImplementedError

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token strings and their ids."""
        raise NotImplementedError

    def _encode_one(self, text: str) -> list[int]:
        raise NotImplementedError

    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        return [self._encode_one(t) for t in texts]

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        raise NotImplementedError

    def to_str(self) -> str:
        """A canonical text form of the tokenizer (what :attr:`hash` digests).

        Returns:
          A JSON string (for BPE: HF's ``tokenizer.json``).

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> tok.to_str()
          '{"pad_token": "<pad>", "special_tokens": ["<pad>"], "type": "torsh.ByteTokenizer"}'
        """
        raise NotImplementedError

    # -- shared API ------------------------------------------------------------------------------
    errors: str = "replace"

    @property
    def hash(self) -> str:
        """SHA-256 of :meth:`to_str`: identifies the tokenizer in token-file headers."""
        return hashlib.sha256(self.to_str().encode("utf-8")).hexdigest()

    def token_to_id(self, token: str) -> int:
        """The id of a special token (subclasses also look up ordinary tokens).

        Args:
          token: the token string.

        Returns:
          Its id.

        Raises:
          UnknownTokenError: the token is not in the vocabulary.

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> tok.token_to_id("<pad>")
          256
        """
        try:
            return self.special_tokens[token]
        except KeyError:
            raise UnknownTokenError(
                f"{type(self).__name__}: unknown token {token!r}; special tokens are "
                f"{sorted(self.special_tokens)}"
            ) from None

    @property
    def pad_token_id(self) -> int | None:
        """Id used for padding: ``pad_token`` if set, else ``None``."""
        tok = getattr(self, "pad_token", None)
        return None if tok is None else self.token_to_id(tok)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (special-token strings in the text map to their ids).

        Args:
          text: the text (lone surrogates become U+FFFD unless ``errors="strict"``).

        Returns:
          The ids.

        Raises:
          TokenizerError: ``text`` is not a str (or has a lone surrogate with ``errors="strict"``).
          UnknownTokenError: (character tokenizers) a character outside the vocabulary.

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> tok.encode("hi<pad>")
          [104, 105, 256]
        """
        return self._encode_one(clean_text(text, self.errors, f"{type(self).__name__}.encode"))

    def decode(self, ids: Iterable[int] | np.ndarray, skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (bytes that are not valid UTF-8 decode to U+FFFD, as ``errors="replace"``).

        Args:
          ids: token ids (a list or a 1-D integer array).
          skip_special_tokens: leave special tokens out.

        Returns:
          The text.

        Raises:
          TokenIdError: an id outside ``[0, vocab_size)``, or non-integer ids.

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> tok.decode([104, 105, 256]), tok.decode([104, 105, 256], skip_special_tokens=True)
          ('hi<pad>', 'hi')
        """
        return self._decode_ids(self._check_ids(ids, "decode"), skip_special_tokens)

    def decode_batch(self, batch: Any, skip_special_tokens: bool = False) -> list[str]:
        """:meth:`decode` of every row (a 2-D array or a list of id lists).

        Args:
          batch: rows of ids.
          skip_special_tokens: leave special tokens (padding) out.

        Returns:
          One text per row.

        Raises:
          TokenIdError: an id outside the vocabulary.

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> tok.decode_batch([[104, 105], [97, 256]], skip_special_tokens=True)
          ['hi', 'a']
        """
        return [self.decode(row, skip_special_tokens) for row in batch]

    def __call__(self, text: str | Sequence[str], **kwargs: Any) -> Any:
        """``encode_batch`` for a list of texts, ``encode`` for one."""
        if isinstance(text, str):
            return self.encode(text)
        return self.encode_batch(text, **kwargs)

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        padding: bool | str = True,
        truncation: bool = False,
        max_length: int | None = None,
        padding_side: str = "right",
        return_tensors: str | None = "np",
        pad_id: int | None = None,
    ) -> dict[str, Any]:
        """Encode several texts to ``{"input_ids", "attention_mask"}`` (arrays, or lists of lists).

        Args:
          texts: the texts.
          padding: ``True``/``"longest"``: pad to the longest; ``"max_length"``: to ``max_length``;
            ``False``: no padding (only with ``return_tensors=None`` unless lengths are equal).
          truncation: cut sequences longer than ``max_length`` (on the right).
          max_length: the length for truncation / ``padding="max_length"``.
          padding_side: ``"right"`` or ``"left"`` (decoder-only generation pads left).
          return_tensors: ``"np"`` (int32 numpy), ``"jax"`` (jax arrays) or ``None`` (lists).
          pad_id: id written at padded positions (default :attr:`pad_token_id`).

        Returns:
          ``{"input_ids": ..., "attention_mask": ...}``: int32 ``[batch, width]`` arrays (1 marks
          real tokens), or lists of lists with ``return_tensors=None``.

        Raises:
          TokenizerError: a bad option, ``max_length`` missing where needed, unequal lengths without
            padding, a sequence longer than ``max_length`` without truncation, or no pad id.

        Example:
          >>> from torsh.text.tokenizers import ByteTokenizer
          >>> tok = ByteTokenizer(special_tokens=["<pad>"], pad_token="<pad>")
          >>> out = tok.encode_batch(["hi", "a"], padding_side="left")
          >>> out["input_ids"].tolist(), out["attention_mask"].tolist()
          ([[104, 105], [256, 97]], [[1, 1], [0, 1]])
        """
        name = f"{type(self).__name__}.encode_batch"
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TokenizerError(f"{name}: expected a list of str, got {type(texts).__name__}")
        if padding not in (True, False, "longest", "max_length", "do_not_pad"):
            raise TokenizerError(
                f"{name}: padding must be True, False, 'longest', 'max_length' or 'do_not_pad', "
                f"got {padding!r}"
            )
        if padding_side not in ("right", "left"):
            raise TokenizerError(f"{name}: padding_side must be 'right' or 'left', got {padding_side!r}")
        if return_tensors not in ("np", "jax", None):
            raise TokenizerError(
                f"{name}: return_tensors must be 'np', 'jax' or None, got {return_tensors!r}"
            )
        if (truncation or padding == "max_length") and max_length is None:
            raise TokenizerError(f"{name}: truncation/padding='max_length' need max_length=")
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise TokenizerError(f"{name}: max_length must be a positive int, got {max_length!r}")
        cleaned = [clean_text(t, self.errors, f"{name} (text {i})") for i, t in enumerate(texts)]
        seqs = self._encode_many(cleaned)
        if truncation:
            seqs = [s[:max_length] for s in seqs]
        if padding in (False, "do_not_pad"):
            if return_tensors is None:
                return {"input_ids": seqs, "attention_mask": [[1] * len(s) for s in seqs]}
            if len({len(s) for s in seqs}) > 1:
                raise TokenizerError(
                    f"{name}: sequences have different lengths {sorted({len(s) for s in seqs})} and "
                    "padding=False; pass padding=True (and a pad token) or return_tensors=None"
                )
        longest = max((len(s) for s in seqs), default=0)
        # (padding="max_length" without max_length was rejected above)
        width = max_length if padding == "max_length" and max_length is not None else longest
        if padding == "max_length" and longest > width:
            raise TokenizerError(
                f"{name}: a sequence has {longest} tokens > max_length={width}; pass truncation=True"
            )
        pad = self.pad_token_id if pad_id is None else pad_id
        if pad is None and any(len(s) < width for s in seqs):
            raise TokenizerError(
                f"{name}: padding needs a pad id; set pad_token= on the tokenizer (a special token) or pass "
                "pad_id="
            )
        ids = np.full((len(seqs), width), pad if pad is not None else 0, np.int32)
        mask = np.zeros((len(seqs), width), np.int32)
        for i, s in enumerate(seqs):
            if not s:
                continue
            if padding_side == "right":
                ids[i, : len(s)] = s
                mask[i, : len(s)] = 1
            else:
                ids[i, width - len(s) :] = s
                mask[i, width - len(s) :] = 1
        if return_tensors is None:
            return {"input_ids": ids.tolist(), "attention_mask": mask.tolist()}
        if return_tensors == "jax":
            import jax.numpy as jnp

            return {"input_ids": jnp.asarray(ids), "attention_mask": jnp.asarray(mask)}
        return {"input_ids": ids, "attention_mask": mask}

    def _check_ids(self, ids: Any, where: str) -> list[int]:
        arr = np.asarray(ids)
        if arr.ndim != 1:
            raise TokenIdError(
                f"{type(self).__name__}.{where}: expected a 1-D sequence of ids, got shape {list(arr.shape)} "
                "(use decode_batch for 2-D)"
            )
        if arr.size == 0:
            return []
        if not np.issubdtype(arr.dtype, np.integer):
            raise TokenIdError(f"{type(self).__name__}.{where}: expected integer ids, got dtype {arr.dtype}")
        bad = (arr < 0) | (arr >= self.vocab_size)
        if bad.any():
            i = int(np.argmax(bad))
            raise TokenIdError(
                f"{type(self).__name__}.{where}: id {int(arr[i])} at position {i} is out of the vocabulary "
                f"[0, {self.vocab_size})"
            )
        return arr.astype(np.int64).tolist()


def _check_specials(owner: str, specials: Any) -> list[str]:
    if specials is None:
        return []
    if isinstance(specials, str) or not isinstance(specials, (Sequence, Mapping)):
        raise TokenizerError(f"{owner}: special_tokens must be a list of str, got {specials!r}")
    out = list(specials)
    for s in out:
        if not isinstance(s, str) or not s:
            raise TokenizerError(f"{owner}: special tokens must be non-empty strings, got {s!r}")
    if len(set(out)) != len(out):
        raise TokenizerError(f"{owner}: special_tokens repeat an entry: {out}")
    return out
