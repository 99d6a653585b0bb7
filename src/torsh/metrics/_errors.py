"""Errors of torsh.metrics."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["CapacityError"]


class CapacityError(ConfigError):
    """A buffered metric (AUROC, AveragePrecision) received more samples than its ``capacity``."""
