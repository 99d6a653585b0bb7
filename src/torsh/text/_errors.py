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
    """A tokenizer cannot be built, trained, loaded or applied as asked."""


class UnknownTokenError(TokenizerError, KeyError):
    """A (special) token or character that is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TokenIdError(TokenizerError):
    """A token id outside ``[0, vocab_size)``."""


class TokenFileError(CheckpointError):
    """A token file (or its JSON header) that is missing, truncated, corrupt or from another tokenizer."""


class EmptyCorpusError(DataError, ValueError):
    """A corpus or document list with no text (or fewer tokens than one window needs)."""


class ContextLengthError(ShapeError):
    """A sequence (prompt + new tokens) longer than the model's context window."""
