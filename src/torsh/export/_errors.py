"""Errors of :mod:`torsh.export` (all part of the :class:`torsh.errors.TorshError` hierarchy)."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError

__all__ = ["ExportError", "UnsupportedOperationError", "ArtifactIntegrityError"]


class ExportError(ConfigError):
    """A model or function that cannot be exported as asked (bad ``dynamic=``, training mode, outputs).

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> try:
      ...     torsh.export.export(nn.Dropout(0.5), jnp.ones(3))   # still in training mode
      ... except torsh.export.ExportError as e:
      ...     print(type(e).__name__, "eval()" in str(e))
      ExportError True
    """


class UnsupportedOperationError(ExportError):
    """A converter (ONNX, IREE) cannot handle some operations; the message lists them.

    Example:
      >>> import torsh
      >>> issubclass(torsh.export.UnsupportedOperationError, torsh.export.ExportError)
      True
    """


class ArtifactIntegrityError(CheckpointError):
    """An exported artifact whose content hash does not match its metadata (modified after export).

    Example:
      >>> import os, tempfile, jax.numpy as jnp, torsh
      >>> path = os.path.join(tempfile.mkdtemp(), "f.torshx")
      >>> torsh.export.export(lambda x: x + 1.0, jnp.ones(4)).save(path)
      >>> data = bytearray(open(path, "rb").read()); data[-1] ^= 0xFF       # flip bits of the program
      >>> _ = open(path, "wb").write(bytes(data))
      >>> try:
      ...     torsh.export.load(path)
      ... except torsh.export.ArtifactIntegrityError as e:
      ...     print("modified after export" in str(e))
      True
    """
