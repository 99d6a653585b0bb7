"""Errors of :mod:`torsh.train`."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError

__all__ = ["RecipeError", "ResumeError"]


class RecipeError(ConfigError):
    """A recipe that cannot be found or loaded, or a ``--set key=value`` override that does not fit its
    config (the message lists the recipes or the valid keys and their types)."""


class ResumeError(CheckpointError):
    """A checkpoint directory that cannot be resumed by this ``fit`` call (written by a different
    program: other data loader, other state structure)."""
