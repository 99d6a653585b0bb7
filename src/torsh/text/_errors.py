"""Errors raised by :mod:`torsh.text` (each subclasses the matching :mod:`torsh.errors` class)."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError, DataError, ShapeError

__all__ = [
    "TokenizerError",
    "UnknownTokenError",
    "TokenIdError",
    "TokenFileError",
    "EmptyCorpusError",
    "ContextLengthError",
]


class TokenizerError(ConfigError):
    """A tokenizer cannot be built, trained, loaded or applied as asked.

    Example:
      >>> from torsh.text import TokenizerError
      >>> from torsh.text.tokenizers import ByteTokenizer
      >>> try:
      ...     ByteTokenizer().encode_batch(["ab", "a"])              # no pad token to pad with
      ... except TokenizerError as e:
      ...     print("pad" in str(e))
      True
    """


class UnknownTokenError(TokenizerError, KeyError):
    """A (special) token or character that is not in the vocabulary.

    Example:
      >>> from torsh.text import UnknownTokenError
      >>> from torsh.text.tokenizers import CharTokenizer
      >>> try:
      ...     CharTokenizer("ab").encode("abc")
      ... except UnknownTokenError as e:
      ...     print("character 'c' (U+0063) at index 2" in str(e))
      True
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TokenIdError(TokenizerError):
    """A token id outside ``[0, vocab_size)``.

    Example:
      >>> from torsh.text import TokenIdError
      >>> from torsh.text.tokenizers import ByteTokenizer
      >>> try:
      ...     ByteTokenizer().decode([104, 300])
      ... except TokenIdError as e:
      ...     print(type(e).__name__)
      TokenIdError
    """


class TokenFileError(CheckpointError):
    """A token file (or its JSON header) that is missing, truncated, corrupt or from another tokenizer.

    Example:
      >>> from torsh.text import TokenFileError
      >>> from torsh.text.datasets import TokenFile
      >>> try:
      ...     TokenFile("no/such/file.tokens")
      ... except TokenFileError as e:
      ...     print(type(e).__name__)
      TokenFileError
    """


class EmptyCorpusError(DataError, ValueError):
    """A corpus or document list with no text (or fewer tokens than one window needs).

    Example:
      >>> import numpy as np
      >>> from torsh.text import EmptyCorpusError
      >>> from torsh.text.datasets import LMWindows
      >>> try:
      ...     LMWindows(np.arange(5), block_size=8)
      ... except EmptyCorpusError as e:
      ...     print(type(e).__name__)
      EmptyCorpusError
    """


class ContextLengthError(ShapeError):
    """A sequence (prompt + new tokens) longer than the model's context window.

    Example:
      >>> import torsh
      >>> issubclass(torsh.text.ContextLengthError, torsh.errors.ShapeError)
      True
    """
