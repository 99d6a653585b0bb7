"""Errors of :mod:`torsh.serialize`; all derive from :class:`torsh.errors.CheckpointError`."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import CheckpointError

__all__ = [
    "CorruptFileError",
    "UnsupportedDTypeError",
    "FormatVersionError",
    "StateDictMismatchError",
    "CheckpointNotFoundError",
    "UnsafePathError",
    "BackgroundSaveError",
]


class CorruptFileError(CheckpointError):
    """A file that is not a valid safetensors file or torsh checkpoint (truncated, overwritten, forged).

    The message names the file and what is wrong (header length, offsets of a key, checksum).

    Example:
      >>> import os, tempfile, torsh
      >>> path = os.path.join(tempfile.mkdtemp(), "empty.safetensors")
      >>> _ = open(path, "wb").close()
      >>> try:
      ...     torsh.load(path)
      ... except torsh.serialize.CorruptFileError as e:
      ...     print("0 bytes" in str(e))
      True
    """


class UnsupportedDTypeError(CheckpointError, TypeError):
    """A dtype that cannot be stored in (or read from) a safetensors file by torsh.

    Example:
      >>> import numpy as np, torsh
      >>> try:
      ...     torsh.serialize.to_bytes({"x": np.array([object()])})
      ... except torsh.serialize.UnsupportedDTypeError as e:
      ...     print(type(e).__name__)
      UnsupportedDTypeError
    """


class FormatVersionError(CheckpointError):
    """A file or checkpoint written by a newer torsh format version than this torsh can read.

    Example:
      >>> import torsh
      >>> issubclass(torsh.serialize.FormatVersionError, torsh.errors.CheckpointError)
      True
    """


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A requested file, checkpoint step or item does not exist.

    Example:
      >>> import tempfile, torsh
      >>> try:
      ...     torsh.serialize.CheckpointManager(tempfile.mkdtemp()).restore(3)
      ... except FileNotFoundError as e:                      # also a FileNotFoundError
      ...     print(type(e).__name__)
      CheckpointNotFoundError
    """


class UnsafePathError(CheckpointError, ValueError):
    """A key or item name that could escape the checkpoint directory (``..``, ``/``, ...).

    Example:
      >>> import tempfile, torsh, jax.numpy as jnp
      >>> try:
      ...     torsh.serialize.CheckpointManager(tempfile.mkdtemp()).save(1, {"../x": jnp.ones(1)})
      ... except torsh.serialize.UnsafePathError as e:
      ...     print(type(e).__name__)
      UnsafePathError
    """


class BackgroundSaveError(CheckpointError):
    """An asynchronous save failed; raised by the next call on the manager (``__cause__`` is the error).

    Example:
      >>> import torsh
      >>> issubclass(torsh.serialize.BackgroundSaveError, torsh.errors.CheckpointError)
      True
    """


class StateDictMismatchError(CheckpointError, KeyError):
    """The entries of a file do not match the tree given as ``like=``.

    All problems are listed together: ``missing`` (in ``like``, not in the file), ``unexpected`` (in the
    file, not in ``like``) and ``mismatched`` (``(key, what, got, expected)`` tuples for wrong shapes,
    dtypes or kinds).

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> data = torsh.serialize.to_bytes({"w": jnp.ones(2), "b": jnp.ones(1)})
      >>> try:
      ...     torsh.serialize.from_bytes(data, like={"w": jnp.ones(3), "c": jnp.ones(1)})
      ... except torsh.serialize.StateDictMismatchError as e:
      ...     print(e.missing, e.unexpected, e.mismatched)
      ['c'] ['b'] [('w', 'shape', '[2]', '[3]')]
    """

    def __init__(
        self,
        source: str,
        missing: Sequence[str] = (),
        unexpected: Sequence[str] = (),
        mismatched: Sequence[tuple[str, str, str, str]] = (),
        hint: str = "",
    ) -> None:
        self.source = source
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        self.hint = hint
        super().__init__(self._message())

    def _message(self) -> str:
        lines = [f"{self.source} does not match the tree given as like=:"]
        if self.missing:
            lines.append(f"  missing from the file ({len(self.missing)}): {_clip(self.missing)}")
        if self.unexpected:
            lines.append(f"  unexpected in the file ({len(self.unexpected)}): {_clip(self.unexpected)}")
        if self.mismatched:
            lines.append(f"  mismatched ({len(self.mismatched)}):")
            for key, what, got, expected in self.mismatched[:_MAX_LISTED]:
                lines.append(f"    {key}: {what} in the file is {got}, expected {expected}")
            if len(self.mismatched) > _MAX_LISTED:
                lines.append(f"    ... and {len(self.mismatched) - _MAX_LISTED} more")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0] if self.args else ""


_MAX_LISTED = 20


def _clip(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    return shown + (f", ... and {len(keys) - _MAX_LISTED} more" if len(keys) > _MAX_LISTED else "")
