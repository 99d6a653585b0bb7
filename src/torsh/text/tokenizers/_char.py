"""Dependency-free tokenizers: UTF-8 bytes (``ByteTokenizer``) and characters (``CharTokenizer``)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .._errors import TokenizerError, UnknownTokenError
from ._base import Tokenizer, _check_specials, clean_text

__all__ = ["ByteTokenizer", "CharTokenizer"]


def _special_splitter(specials: Sequence[str]) -> re.Pattern[str] | None:
    if not specials:
        return None
    # Longest first, so "<|end|>" wins over a special that is its prefix.
    return re.compile("(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")")


def _check_pad(owner: str, pad_token: str | None, specials: list[str]) -> None:
    if pad_token is not None and pad_token not in specials:
        raise UnknownTokenError(
            f"{owner}: pad_token {pad_token!r} is not one of the special tokens {specials}"
        )


class _SpecialsMixin(Tokenizer):
    _specials: tuple[str, ...]
    _special_ids: dict[str, int]
    _splitter: re.Pattern[str] | None

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special_ids)

    def _encode_one(self, text: str) -> list[int]:
        if self._splitter is None:
            return self._encode_plain(text)
        out: list[int] = []
        for i, part in enumerate(self._splitter.split(text)):
            if i % 2:
                out.append(self._special_ids[part])
            elif part:
                out.extend(self._encode_plain(part))
        return out

    def _encode_plain(self, text: str) -> list[int]:
        raise NotImplementedError


class ByteTokenizer(_SpecialsMixin):
    """Ids 0-255 are the UTF-8 bytes of the text; special tokens get ids 256, 257, ...

    Needs no vocabulary, so it never meets an unknown character; decoding bytes that are not valid
    UTF-8 (a cut multi-byte character) gives U+FFFD. Lone surrogates are replaced by U+FFFD on
    encoding (``errors="strict"`` raises instead).

    Args:
      special_tokens: special token strings (ids 256, 257, ...).
      pad_token: one of them, used for padding.
      errors: ``"replace"`` or ``"strict"`` for lone surrogates.

    Raises:
      TokenizerError: malformed or repeated special tokens, or an unknown ``errors``.
      UnknownTokenError: ``pad_token`` is not a special token.

    Example:
      >>> tok = ByteTokenizer(special_tokens=["<|endoftext|>"], pad_token="<|endoftext|>")
      >>> tok.encode("hé<|endoftext|>")
      [104, 195, 169, 256]
      >>> tok.decode([104, 195, 169])
      'hé'
      >>> tok.vocab_size
      257
    """

    def __init__(
        self,
        special_tokens: Sequence[str] | None = None,
        *,
        pad_token: str | None = None,
        errors: str = "replace",
    ) -> None:
        specials = _check_specials("ByteTokenizer", special_tokens)
        _check_pad("ByteTokenizer", pad_token, specials)
        if errors not in ("replace", "strict"):
            raise TokenizerError(f"ByteTokenizer: errors must be 'replace' or 'strict', got {errors!r}")
        self._specials = tuple(specials)
        self._special_ids = {s: 256 + i for i, s in enumerate(specials)}
        self._splitter = _special_splitter(specials)
        self.pad_token = pad_token
        self.errors = errors

    @property
    def vocab_size(self) -> int:
        return 256 + len(self._specials)

    def _encode_plain(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        parts: list[str] = []
        buf = bytearray()
        for i in ids:
            if i < 256:
                buf.append(i)
                continue
            parts.append(buf.decode("utf-8", "replace"))
            buf = bytearray()
            if not skip_special_tokens:
                parts.append(self._specials[i - 256])
        parts.append(buf.decode("utf-8", "replace"))
        return "".join(parts)

    def to_str(self) -> str:
        return json.dumps(
            {
                "type": "torsh.ByteTokenizer",
                "special_tokens": list(self._specials),
                "pad_token": self.pad_token,
            },
            sort_keys=True,
        )

    def __repr__(self) -> str:
        return f"ByteTokenizer(vocab_size={self.vocab_size}, special_tokens={list(self._specials)})"


class CharTokenizer(_SpecialsMixin):
    """One id per character: special tokens first (ids 0..k-1), then the characters in sorted order.

    Build it from a corpus with :meth:`from_texts` (or give ``chars``). A character outside the
    vocabulary raises :class:`~torsh.text.UnknownTokenError`, unless ``unk_token`` (a special token)
    is given, which it then maps to. Save/load with :meth:`save`/:meth:`load` (a small JSON file).

    Args:
      chars: the vocabulary's characters (any order; repeats are ignored).
      special_tokens: special token strings (ids 0..k-1).
      unk_token: a special token that unknown characters map to (default: they raise).
      pad_token: a special token used for padding.
      errors: ``"replace"`` or ``"strict"`` for lone surrogates.

    Raises:
      TokenizerError: malformed special tokens, or ``chars`` that are not single characters.
      UnknownTokenError: ``unk_token`` or ``pad_token`` is not a special token.

    Example:
      >>> tok = CharTokenizer.from_texts(["hello", "world"], special_tokens=["<pad>"], pad_token="<pad>")
      >>> tok.vocab_size
      8
      >>> ids = tok.encode("hold")
      >>> ids, tok.decode(ids)
      ([3, 5, 4, 1], 'hold')
      >>> tok.encode_batch(["he", "low"])["input_ids"].tolist()
      [[3, 2, 0], [4, 5, 7]]
    """

    def __init__(
        self,
        chars: Iterable[str],
        special_tokens: Sequence[str] | None = None,
        *,
        unk_token: str | None = None,
        pad_token: str | None = None,
        errors: str = "replace",
    ) -> None:
        specials = _check_specials("CharTokenizer", special_tokens)
        _check_pad("CharTokenizer", pad_token, specials)
        if unk_token is not None and unk_token not in specials:
            raise UnknownTokenError(f"CharTokenizer: unk_token {unk_token!r} is not one of {specials}")
        charset = sorted(set(chars))
        for c in charset:
            if not isinstance(c, str) or len(c) != 1:
                raise TokenizerError(f"CharTokenizer: chars must be single characters, got {c!r}")
        self._specials = tuple(specials)
        self._special_ids = {s: i for i, s in enumerate(specials)}
        self._splitter = _special_splitter(specials)
        # Lone surrogates are replaced (one by one: joining them could pair a high and a low one).
        self._chars = tuple(sorted({clean_text(c, "replace", "CharTokenizer") for c in charset}))
        self._char_ids = {c: len(specials) + i for i, c in enumerate(self._chars)}
        self._id_to_piece = [*specials, *self._chars]
        self.unk_token, self.pad_token, self.errors = unk_token, pad_token, errors

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], special_tokens: Sequence[str] | None = None, **kwargs: Any
    ) -> CharTokenizer:
        """The tokenizer whose characters are those occurring in ``texts``.

        Args:
          texts: the corpus.
          special_tokens: special token strings.
          **kwargs: ``unk_token``, ``pad_token``, ``errors`` as in the constructor.

        Returns:
          The tokenizer.

        Raises:
          EmptyCorpusError: the texts contain no characters.

        Example:
          >>> from torsh.text.tokenizers import CharTokenizer
          >>> tok = CharTokenizer.from_texts(["abc", "cab"], special_tokens=["<unk>"], unk_token="<unk>")
          >>> tok.encode("ax")
          [1, 0]
        """
        chars: set[str] = set()
        for t in texts:
            chars.update(clean_text(t, "replace", "CharTokenizer.from_texts"))
        if not chars:
            from .._errors import EmptyCorpusError

            raise EmptyCorpusError("CharTokenizer.from_texts: the texts contain no characters")
        return cls(chars, special_tokens, **kwargs)

    @property
    def vocab_size(self) -> int:
        return len(self._id_to_piece)

    def token_to_id(self, token: str) -> int:
        if token in self._char_ids:
            return self._char_ids[token]
        return super().token_to_id(token)

    def _encode_plain(self, text: str) -> list[int]:
        ids = self._char_ids
        try:
            return [ids[c] for c in text]
        except KeyError:
            pass
        unk = None if self.unk_token is None else self._special_ids[self.unk_token]
        out = []
        for pos, c in enumerate(text):
            i = ids.get(c, unk)
            if i is None:
                raise UnknownTokenError(
                    f"CharTokenizer.encode: character {c!r} (U+{ord(c):04X}) at index {pos} is not in the "
                    f"vocabulary of {len(self._chars)} characters; build the tokenizer from texts that "
                    "contain "
                    "it or pass unk_token="
                )
            out.append(i)
        return out

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        k = len(self._specials)
        table = self._id_to_piece
        return "".join(table[i] for i in ids if not (skip_special_tokens and i < k))

    def to_str(self) -> str:
        return json.dumps(
            {
                "type": "torsh.CharTokenizer",
                "chars": "".join(self._chars),
                "special_tokens": list(self._specials),
                "unk_token": self.unk_token,
                "pad_token": self.pad_token,
            },
            sort_keys=True,
            ensure_ascii=False,
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the vocabulary to a JSON file.

        Args:
          path: the file to write.

        Example:
          >>> import os, tempfile
          >>> from torsh.text.tokenizers import CharTokenizer
          >>> path = os.path.join(tempfile.mkdtemp(), "chars.json")
          >>> CharTokenizer("abc").save(path)
          >>> CharTokenizer.load(path).vocab_size
          3
        """
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_str())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CharTokenizer:
        """Read a file written by :meth:`save`.

        Args:
          path: the JSON file.

        Returns:
          The tokenizer.

        Raises:
          TokenFileError: the file is missing, not JSON, or not a CharTokenizer file.

        Example:
          >>> import os, tempfile
          >>> from torsh.text.tokenizers import CharTokenizer
          >>> path = os.path.join(tempfile.mkdtemp(), "chars.json")
          >>> CharTokenizer("xy", ["<pad>"], pad_token="<pad>").save(path)
          >>> CharTokenizer.load(path).encode("yx")
          [2, 1]
        """
        from .._errors import TokenFileError

        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
            if d.get("type") != "torsh.CharTokenizer":
                raise ValueError(f"type is {d.get('type')!r}")
            return cls(d["chars"], d["special_tokens"], unk_token=d["unk_token"], pad_token=d["pad_token"])
        except (OSError, ValueError, KeyError) as e:
            raise TokenFileError(
                f"CharTokenizer.load({str(path)!r}): not a torsh CharTokenizer file ({e})"
            ) from None

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, special_tokens={list(self._specials)})"
