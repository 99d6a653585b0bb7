"""Byte-level BPE (GPT-2 style) on HF ``tokenizers``: training, files, and a tiktoken view."""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Iterable, Sequence
from typing import Any

from .._errors import TokenFileError, TokenizerError, UnknownTokenError
from ._base import Tokenizer, _check_specials

__all__ = ["BPETokenizer", "GPT2_PATTERN"]

#: GPT-2's pre-tokenisation pattern (tiktoken's spelling of the regex HF's ``ByteLevel`` uses).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_SPECIAL_LIKE = re.compile(r"^<\|[^|]+\|>$")


def _hf() -> Any:
    try:
        import tokenizers
    except ImportError:  # pragma: no cover - the text extra installs it
        raise TokenizerError(
            "BPETokenizer needs HF tokenizers: pip install 'torsh[text]' (or pip install tokenizers); "
            "ByteTokenizer and CharTokenizer need nothing"
        ) from None
    return tokenizers


def _byte_level(tok: Any) -> Any:
    t = _hf()
    tok.pre_tokenizer = t.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = t.decoders.ByteLevel()
    return tok


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's reversible byte -> printable character table (what HF's ByteLevel uses).
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


class BPETokenizer(Tokenizer):
    """Byte-level BPE with GPT-2's pre-tokenisation, run by HF ``tokenizers`` (Rust).

    Build one with :meth:`train` (files or an iterator of texts, a vocabulary size, special
    tokens), :meth:`from_file` (an HF ``tokenizer.json``) or :meth:`from_gpt2_files`
    (``vocab.json`` + ``merges.txt``). Special-token strings in a text encode to their ids. Lone
    surrogates are replaced by U+FFFD before encoding (tiktoken's rule); ``errors="strict"`` raises.
    Decoding invalid UTF-8 (e.g. half of a multi-byte character) gives U+FFFD.

    :meth:`to_tiktoken` gives a ``tiktoken.Encoding`` with the same ids (ranks = ids, GPT-2 pattern).

    Args:
      hf_tokenizer: a byte-level BPE ``tokenizers.Tokenizer`` (use the class methods instead).
      pad_token: a special token used for padding.
      errors: ``"replace"`` or ``"strict"`` for lone surrogates.

    Raises:
      TokenizerError: an unknown ``errors``.
      UnknownTokenError: ``pad_token`` is not a special token.

    Example:
      >>> texts = ["the cat sat on the mat", "the dog sat on the log"] * 10
      >>> tok = BPETokenizer.train(texts, vocab_size=280, special_tokens=["<|endoftext|>"])
      >>> ids = tok.encode("the cat<|endoftext|>")
      >>> tok.decode(ids)
      'the cat<|endoftext|>'
      >>> tok.token_to_id("<|endoftext|>")
      0
    """

    def __init__(self, hf_tokenizer: Any, *, pad_token: str | None = None, errors: str = "replace") -> None:
        if errors not in ("replace", "strict"):
            raise TokenizerError(f"BPETokenizer: errors must be 'replace' or 'strict', got {errors!r}")
        self._tok = hf_tokenizer
        self._tok.no_padding()
        self._tok.no_truncation()
        self.errors = errors
        self._specials = {t.content: i for i, t in self._tok.get_added_tokens_decoder().items() if t.special}
        self._specials = {k: int(v) for k, v in sorted(self._specials.items(), key=lambda kv: kv[1])}
        if pad_token is not None and pad_token not in self._specials:
            raise UnknownTokenError(
                f"BPETokenizer: pad_token {pad_token!r} is not a special token; special tokens are "
                f"{list(self._specials)}"
            )
        self.pad_token = pad_token

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        data: Iterable[str] | str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        vocab_size: int,
        special_tokens: Sequence[str] | None = None,
        *,
        min_frequency: int = 2,
        files: bool | None = None,
        pad_token: str | None = None,
        show_progress: bool = False,
    ) -> BPETokenizer:
        """Learn merges from texts (an iterable of str) or from files (paths, ``files=True``).

        The vocabulary starts with the special tokens (ids 0..k-1), then the 256 byte symbols, then
        one token per merge, up to ``vocab_size``. ``files=None`` treats ``data`` as paths when it is a
        path or a list of ``os.PathLike``.

        Args:
          data: an iterable of texts, or file paths.
          vocab_size: the final vocabulary size (>= 256 + the special tokens).
          special_tokens: special token strings (ids 0..k-1).
          min_frequency: a pair must occur this often to be merged.
          files: read ``data`` as paths (``None``: decide from its type).
          pad_token: a special token used for padding.
          show_progress: HF's progress bar.

        Returns:
          The trained tokenizer.

        Raises:
          TokenizerError: a too small ``vocab_size``, bad special tokens, or one str as ``data``.
          TokenFileError: a missing file.
          EmptyCorpusError: empty files or texts.

        Example:
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> tok.vocab_size <= 270, tok.decode(tok.encode("the cat"))
          (True, 'the cat')
        """
        t = _hf()
        specials = _check_specials("BPETokenizer.train", special_tokens)
        if not isinstance(vocab_size, int) or vocab_size < 256 + len(specials):
            raise TokenizerError(
                f"BPETokenizer.train: vocab_size must be an int >= 256 + {len(specials)} special tokens "
                f"(the byte alphabet), got {vocab_size!r}"
            )
        tok = _byte_level(t.Tokenizer(t.models.BPE()))
        trainer = t.trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=specials,
            initial_alphabet=t.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=show_progress,
        )
        if isinstance(data, (str, os.PathLike)) and (files or isinstance(data, os.PathLike)):
            data = [data]
        as_files = (
            files
            if files is not None
            else (
                isinstance(data, (list, tuple))
                and bool(data)
                and all(isinstance(p, os.PathLike) for p in data)
            )
        )
        if as_files:
            paths = [os.fspath(p) for p in data]
            missing = [p for p in paths if not os.path.isfile(p)]
            if missing:
                raise TokenFileError(f"BPETokenizer.train: no such file(s) {missing}")
            if all(os.path.getsize(p) == 0 for p in paths):
                from .._errors import EmptyCorpusError

                raise EmptyCorpusError(f"BPETokenizer.train: the files {paths} are empty")
            tok.train(paths, trainer)
        else:
            if isinstance(data, str):
                raise TokenizerError(
                    "BPETokenizer.train: got one str; pass a list of texts, or files=True for a path"
                )
            seen = [0]

            def texts() -> Iterable[str]:
                from ._base import clean_text

                for s in data:
                    s = clean_text(s, "replace", "BPETokenizer.train")
                    seen[0] += len(s)
                    yield s

            tok.train_from_iterator(texts(), trainer)
            if seen[0] == 0:
                from .._errors import EmptyCorpusError

                raise EmptyCorpusError("BPETokenizer.train: the texts are empty (nothing to learn from)")
        return cls(tok, pad_token=pad_token)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **kwargs: Any) -> BPETokenizer:
        """Load an HF ``tokenizer.json`` (written by :meth:`save` or by ``transformers``).

        Args:
          path: the ``tokenizer.json``.
          **kwargs: ``pad_token``, ``errors`` as in the constructor.

        Returns:
          The tokenizer.

        Raises:
          TokenFileError: a missing or invalid file.
          TokenizerError: bad constructor options.

        Example:
          >>> import os, tempfile
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> path = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
          >>> tok.save(path)
          >>> BPETokenizer.from_file(path).encode("the dog") == tok.encode("the dog")
          True
        """
        t = _hf()
        if not os.path.isfile(path):
            raise TokenFileError(f"BPETokenizer.from_file: no such file {str(path)!r}")
        try:
            tok = t.Tokenizer.from_file(os.fspath(path))
        except Exception as e:
            raise TokenFileError(
                f"BPETokenizer.from_file({str(path)!r}): not a valid tokenizer.json ({e})"
            ) from None
        return cls(tok, **kwargs)

    @classmethod
    def from_gpt2_files(
        cls,
        vocab: str | os.PathLike[str],
        merges: str | os.PathLike[str],
        special_tokens: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> BPETokenizer:
        """Load GPT-2's ``vocab.json`` + ``merges.txt``.

        Args:
          vocab: the ``vocab.json`` path.
          merges: the ``merges.txt`` path.
          special_tokens: ``None`` treats vocabulary entries spelled ``<|...|>`` (GPT-2's
            ``<|endoftext|>``) as special; otherwise the listed entries (they must be in the vocabulary).
          **kwargs: ``pad_token``, ``errors`` as in the constructor.

        Returns:
          The tokenizer.

        Raises:
          TokenFileError: a missing or unreadable file.
          UnknownTokenError: a listed special token is not in the vocabulary.
          TokenizerError: malformed special tokens or options.

        Example:
          >>> import os, tempfile
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> vocab, merges = tok.save_gpt2_files(tempfile.mkdtemp())
          >>> same = BPETokenizer.from_gpt2_files(vocab, merges)
          >>> same.encode("the cat<|endoftext|>") == tok.encode("the cat<|endoftext|>")
          True
        """
        t = _hf()
        for p in (vocab, merges):
            if not os.path.isfile(p):
                raise TokenFileError(f"BPETokenizer.from_gpt2_files: no such file {str(p)!r}")
        try:
            with open(vocab, encoding="utf-8") as f:
                table = json.load(f)
            model = t.models.BPE.from_file(os.fspath(vocab), os.fspath(merges))
        except Exception as e:
            raise TokenFileError(
                f"BPETokenizer.from_gpt2_files({str(vocab)!r}, {str(merges)!r}): cannot read ({e})"
            ) from None
        tok = _byte_level(t.Tokenizer(model))
        if special_tokens is None:
            specials = [k for k in table if _SPECIAL_LIKE.match(k)]
        else:
            specials = _check_specials("BPETokenizer.from_gpt2_files", special_tokens)
            unknown = [s for s in specials if s not in table]
            if unknown:
                raise UnknownTokenError(
                    f"BPETokenizer.from_gpt2_files: special tokens {unknown} are not in {vocab}"
                )
        tok.add_special_tokens(sorted(specials, key=lambda s: table[s]))
        return cls(tok, **kwargs)

    # -- files -----------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an HF ``tokenizer.json`` (readable by ``tokenizers``/``transformers``).

        Args:
          path: the file to write.

        Example:
          >>> import os, tempfile, tokenizers
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> path = os.path.join(tempfile.mkdtemp(), "tokenizer.json")
          >>> tok.save(path)
          >>> tokenizers.Tokenizer.from_file(path).encode("the cat").ids == tok.encode("the cat")
          True
        """
        self._tok.save(os.fspath(path))

    def save_gpt2_files(
        self, directory: str | os.PathLike[str], prefix: str | None = None
    ) -> tuple[str, str]:
        """Write ``vocab.json`` and ``merges.txt`` into ``directory``; returns both paths.

        Args:
          directory: created if needed.
          prefix: a file name prefix (``prefix-vocab.json``).

        Returns:
          ``(vocab_path, merges_path)``.

        Example:
          >>> import os, tempfile
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> [os.path.basename(p) for p in tok.save_gpt2_files(tempfile.mkdtemp())]
          ['vocab.json', 'merges.txt']
        """
        pathlib.Path(directory).mkdir(parents=True, exist_ok=True)
        files = self._tok.model.save(os.fspath(directory), prefix)
        vocab = next(f for f in files if f.endswith("vocab.json"))
        merges = next(f for f in files if f.endswith("merges.txt"))
        return vocab, merges

    def to_str(self) -> str:
        return self._tok.to_str()

    @property
    def hf_tokenizer(self) -> Any:
        """The underlying ``tokenizers.Tokenizer``."""
        return self._tok

    # -- vocabulary ------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def token_to_id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise UnknownTokenError(
                f"BPETokenizer: unknown token {token!r} (tokens are byte-level symbols such as 'Ġthe'); "
                f"special tokens are {list(self._specials)}"
            )
        return int(i)

    def id_to_token(self, index: int) -> str:
        """The token string (byte-level symbols) of an id.

        Args:
          index: a token id.

        Returns:
          The token (GPT-2's byte-level alphabet: ``Ġ`` is a space).

        Raises:
          TokenIdError: ``index`` is outside the vocabulary.

        Example:
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> tok.id_to_token(0), tok.id_to_token(tok.encode(" cat")[0])
          ('<|endoftext|>', 'Ġcat')
        """
        (i,) = self._check_ids([index], "id_to_token")
        return self._tok.id_to_token(i)

    # -- encoding --------------------------------------------------------------------------------
    def _encode_one(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(texts, add_special_tokens=False)]

    def _decode_ids(self, ids: list[int], skip_special_tokens: bool) -> str:
        return self._tok.decode(ids, skip_special_tokens=skip_special_tokens)

    # -- tiktoken --------------------------------------------------------------------------------
    def mergeable_ranks(self) -> dict[bytes, int]:
        """Token bytes -> id for every non-special token (tiktoken's ``mergeable_ranks``).

        A BPE applies merges in rank order; here ranks are the ids, which a trained byte-level BPE
        assigns in merge order, so tiktoken's "lowest rank first" reproduces HF's merges.

        Returns:
          ``{token bytes: id}``.

        Raises:
          TokenizerError: a token that is not byte-level (not a GPT-2 style BPE).

        Example:
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> ranks = tok.mergeable_ranks()
          >>> ranks[b" cat"] == tok.encode(" cat")[0], len(ranks) == tok.vocab_size - 1
          (True, True)
        """
        decoder = {c: b for b, c in _bytes_to_unicode().items()}
        ranks = {}
        for token, i in self._tok.get_vocab(with_added_tokens=False).items():
            if token in self._specials:
                continue
            try:
                ranks[bytes(decoder[c] for c in token)] = int(i)
            except KeyError:
                raise TokenizerError(
                    f"BPETokenizer.mergeable_ranks: token {token!r} is not byte-level (not a GPT-2 style BPE)"
                ) from None
        return ranks

    def to_tiktoken(self, name: str = "torsh-bpe") -> Any:
        """A ``tiktoken.Encoding`` with the same ids (GPT-2 pattern; special tokens included).

        Args:
          name: the encoding's name.

        Returns:
          The ``tiktoken.Encoding``.

        Raises:
          TokenizerError: tiktoken is not installed, or the vocabulary is not byte-level.

        Example:
          >>> from torsh.text.tokenizers import BPETokenizer
          >>> tok = BPETokenizer.train(["the cat sat", "the dog sat"] * 5, vocab_size=270,
          ...                          special_tokens=["<|endoftext|>"])
          >>> tok.to_tiktoken().encode("the dog sat") == tok.encode("the dog sat")
          True
        """
        try:
            import tiktoken
        except ImportError:  # pragma: no cover
            raise TokenizerError("to_tiktoken needs tiktoken: pip install tiktoken") from None
        return tiktoken.Encoding(
            name=name,
            pat_str=GPT2_PATTERN,
            mergeable_ranks=self.mergeable_ranks(),
            special_tokens=self.special_tokens,
        )

    def __repr__(self) -> str:
        return f"BPETokenizer(vocab_size={self.vocab_size}, special_tokens={list(self._specials)})"
