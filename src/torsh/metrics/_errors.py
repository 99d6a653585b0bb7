"""Errors of torsh.metrics."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["CapacityError"]


class CapacityError(ConfigError):
    """A buffered metric (AUROC, AveragePrecision) received more samples than its ``capacity``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.AUROC(capacity=2)
      >>> try:
      ...     m.update(m.init(), jnp.array([0.1, 0.9, 0.5]), jnp.array([0, 1, 1]))
      ... except metrics.CapacityError as e:
      ...     print(type(e).__name__)
      CapacityError
    """
