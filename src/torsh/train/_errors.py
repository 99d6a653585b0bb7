"""Errors of :mod:`torsh.train`."""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError

__all__ = ["RecipeError", "ResumeError"]


class RecipeError(ConfigError):
    """A recipe that cannot be found or loaded, or a ``--set`` override that does not fit its config.

    The message lists the recipes, or the valid keys and their types.

    Example:
      >>> from torsh.train import RecipeError, load_recipe
      >>> try:
      ...     load_recipe("no-such-recipe")
      ... except RecipeError as e:
      ...     print("digits-cnn" in str(e))
      True
    """


class ResumeError(CheckpointError):
    """A checkpoint directory that cannot be resumed by this ``fit`` call.

    It was written by a different program: another data loader, another state structure.

    Example:
      >>> import torsh
      >>> issubclass(torsh.train.ResumeError, torsh.errors.CheckpointError)
      True
    """
