"""``Flatten`` and ``Unflatten``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax

from ..errors import ConfigError, ShapeError
from ..tree import static
from ._utils import shape_str
from .module import Module

__all__ = ["Flatten", "Unflatten"]


def _norm_dim(dim: int, ndim: int, what: str, shape: Sequence[int]) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise ShapeError(
            f"{what}={dim} is out of range for an input of rank {ndim} (shape {shape_str(shape)})"
        )
    return dim % n


class Flatten(Module):
    """Flatten axes ``start_dim..end_dim`` into one (``torch.nn.Flatten``, default ``start_dim=1``).

    Args:
      start_dim: The first dimension to flatten.
      end_dim: The last dimension to flatten.

    Raises:
      ShapeError: When called on an input without those dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Flatten()(jnp.zeros((2, 3, 4, 5))).shape
      (2, 60)
    """

    start_dim: int = static()
    end_dim: int = static()

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        if x.ndim == 0:
            return x.reshape(1)
        start = _norm_dim(self.start_dim, x.ndim, "start_dim", x.shape)
        end = _norm_dim(self.end_dim, x.ndim, "end_dim", x.shape)
        if start > end:
            raise ShapeError(
                f"start_dim ({self.start_dim}) comes after end_dim ({self.end_dim}) "
                f"for shape {shape_str(x.shape)}"
            )
        return x.reshape(x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand axis ``dim`` into ``unflattened_size`` (one entry may be ``-1``) (``torch.nn.Unflatten``).

    Args:
      dim: The dimension to unflatten.
      unflattened_size: Its new shape (the product must equal its size).

    Raises:
      ConfigError: If ``unflattened_size`` is not a sequence of ints.
      ShapeError: When called on an input whose ``dim`` does not have that many elements.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Unflatten(1, (3, -1))(jnp.zeros((2, 12))).shape
      (2, 3, 4)
    """

    dim: int = static()
    unflattened_size: tuple[int, ...] = static()

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        size = tuple(int(s) for s in unflattened_size)
        if sum(s == -1 for s in size) > 1 or any(s < -1 for s in size):
            raise ConfigError(
                f"Unflatten: unflattened_size may hold one -1 and otherwise sizes >= 0, got {size}"
            )
        self.dim = int(dim)
        self.unflattened_size = size

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        dim = _norm_dim(self.dim, x.ndim, "dim", x.shape)
        n = x.shape[dim]
        size = self.unflattened_size
        known = math.prod(s for s in size if s != -1)
        if -1 in size:
            if known == 0 or n % known:
                raise ShapeError(
                    f"cannot unflatten axis {dim} of size {n} into {list(size)} (input {shape_str(x.shape)})"
                )
            size = tuple(n // known if s == -1 else s for s in size)
        elif known != n:
            raise ShapeError(
                f"expected axis {dim} of size {known} = prod({list(size)}), got {shape_str(x.shape)}"
            )
        return x.reshape(x.shape[:dim] + size + x.shape[dim + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
