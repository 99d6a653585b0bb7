"""Dropout layers (elements, channels of 1d/2d/3d inputs, alpha): randomness is an explicit ``key``."""

from __future__ import annotations

from typing import Any

import jax

from ..tree import static
from . import functional as F
from ._utils import check_p
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"]


class Dropout(Module):
    """Zero elements with probability ``p`` in training mode, scaling the rest by ``1 / (1 - p)``.

    ``forward(x, key=...)``: a key is required in training mode (a clear error says so otherwise);
    in eval mode the layer is the identity and takes no key. Masks: see :func:`torsh.nn.functional.dropout`.

    Args:
      p: probability of an element to be zeroed (default 0.5).
      inplace: accepted for PyTorch compatibility; arrays are immutable, so nothing is done in place.

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> drop = nn.Dropout(0.5)
      >>> drop(jnp.ones(4), key=torsh.random.key(0)).shape
      (4,)
      >>> drop.eval()(jnp.ones(2)).tolist()
      [1.0, 1.0]
    """

    p: float = static()

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        check_p(p)
        self.p = float(p)

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        x = input
        return F.dropout(x, self.p, self.training, key=key)

    def _describe(self) -> str:
        return f"{type(self).__name__} p={self.p}"

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace=False"


class Dropout2d(Dropout, init=False):
    """Zero whole channels of ``(N, C, H, W)`` (or, as PyTorch, ``(N, C, L)``) with probability ``p``.

    Args:
      p: probability of a channel to be zeroed (default 0.5).
      inplace: accepted for PyTorch compatibility (nothing is done in place).

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.
      ShapeError: in ``forward``, an input that is not 3-D or 4-D.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Dropout2d(0.5)(jnp.ones((2, 3, 4, 4)), key=torsh.random.key(0)).shape
      (2, 3, 4, 4)
    """

    def forward(self, input: jax.Array, *, key: Any = None) -> jax.Array:
        x = input
        return F.dropout2d(x, self.p, self.training, key=key)


class Dropout1d(Dropout, init=False):
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` with probability ``p`` (``torch.nn.Dropout1d``).

    Args:
      p: probability of a channel to be zeroed (default 0.5).
      inplace: accepted for PyTorch compatibility (nothing is done in place).

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.
      ShapeError: in ``forward``, an input that is not 2-D or 3-D.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Dropout1d(0.5)(jnp.ones((2, 3, 4)), key=torsh.random.key(0)).shape
      (2, 3, 4)
    """

    def forward(self, input: jax.Array, *, key: Any = None) -> jax.Array:
        return F.dropout1d(input, self.p, self.training, key=key)


class Dropout3d(Dropout, init=False):
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` with probability ``p``.

    Args:
      p: probability of a channel to be zeroed (default 0.5).
      inplace: accepted for PyTorch compatibility (nothing is done in place).

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.
      ShapeError: in ``forward``, an input that is not 4-D or 5-D.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Dropout3d(0.5)(jnp.ones((1, 3, 2, 2, 2)), key=torsh.random.key(0)).shape
      (1, 3, 2, 2, 2)
    """

    def forward(self, input: jax.Array, *, key: Any = None) -> jax.Array:
        return F.dropout3d(input, self.p, self.training, key=key)


class AlphaDropout(Dropout, init=False):
    """Alpha dropout for SELU networks (``torch.nn.AlphaDropout``): keeps zero mean and unit variance.

    Dropped elements take SELU's negative saturation value, then an affine correction restores the
    mean and variance of a standardised input; see :func:`torsh.nn.functional.alpha_dropout`.

    Args:
      p: probability of an element to be dropped (default 0.5).
      inplace: accepted for PyTorch compatibility (nothing is done in place).

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> y = nn.AlphaDropout(0.2)(jnp.zeros(1000), key=torsh.random.key(0))
      >>> sorted({round(v, 4) for v in y.tolist()})
      [-1.2362, 0.309]
      >>> nn.AlphaDropout(0.2).eval()(jnp.ones(2)).tolist()
      [1.0, 1.0]
    """

    def forward(self, input: jax.Array, *, key: Any = None) -> jax.Array:
        return F.alpha_dropout(input, self.p, self.training, key=key)


class FeatureAlphaDropout(Dropout, init=False):
    """Alpha dropout of whole channels of ``(N, C, *)`` (``torch.nn.FeatureAlphaDropout``).

    Args:
      p: probability of a channel to be dropped (default 0.5).
      inplace: accepted for PyTorch compatibility (nothing is done in place).

    Raises:
      ConfigError: ``p`` outside [0, 1]; in training mode, a call without ``key``.
      ShapeError: in ``forward``, a 0-D or 1-D input in training mode.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.FeatureAlphaDropout(0.2)(jnp.ones((2, 3, 4, 4)), key=torsh.random.key(0)).shape
      (2, 3, 4, 4)
    """

    def forward(self, input: jax.Array, *, key: Any = None) -> jax.Array:
        return F.feature_alpha_dropout(input, self.p, self.training, key=key)
