"""Errors of :mod:`torsh.export` (all part of the :class:`torsh.errors.TorshError` hierarchy)."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError

__all__ = ["ExportError", "UnsupportedOperationError", "ArtifactIntegrityError"]


class ExportError(ConfigError):
    """A model or function that cannot be exported as asked (bad ``dynamic=``, training mode, outputs)."""


class UnsupportedOperationError(ExportError):
    """A converter (ONNX, IREE) cannot handle some operations; the message lists them."""


class ArtifactIntegrityError(CheckpointError):
    """An exported artifact whose content hash does not match its metadata (modified after export)."""
