"""``cosine_similarity`` and ``pairwise_distance``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, shape_str

__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]


def _broadcast(name: str, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    check_float_input(x1, what="x1")
    check_float_input(x2, x1, what="x2")
    try:
        shape = jnp.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ShapeError(
            f"{name}: shapes {shape_str(x1.shape)} and {shape_str(x2.shape)} do not broadcast"
        ) from None
    return jnp.broadcast_to(x1, shape), jnp.broadcast_to(x2, shape)


def cosine_similarity(x1: jax.Array, x2: jax.Array, dim: int = 1, eps: float = 1e-8) -> jax.Array:
    """Cosine similarity along ``dim`` (``torch.nn.functional.cosine_similarity``).

    ``sum(x1/‖x1‖ * x2/‖x2‖)``, norms clamped below at ``eps`` (PyTorch's formula; as there, the clamp
    does not enter the gradient).

    Args:
      x1: The first input.
      x2: The second input (broadcast against ``x1``).
      dim: The dimension to compare along.
      eps: Lower bound of each norm.

    Returns:
      The similarities, ``dim`` removed.

    Raises:
      ShapeError: If ``x1`` and ``x2`` do not broadcast or ``dim`` is out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> sim = F.cosine_similarity(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 1.0]]))
      >>> [round(v, 4) for v in sim.tolist()]
      [0.7071]
    """
    x1, x2 = _broadcast("cosine_similarity", x1, x2)
    nd = max(x1.ndim, 1)
    if not -nd <= dim < nd:
        raise ShapeError(
            f"cosine_similarity: dim {dim} is out of range for inputs of shape {shape_str(x1.shape)}"
        )

    def clamped_norm(x: jax.Array) -> jax.Array:
        n = jnp.sqrt(jnp.sum(jnp.square(x), axis=dim, keepdims=True))
        return n + jax.lax.stop_gradient(jnp.maximum(n, eps) - n)

    return jnp.sum((x1 / clamped_norm(x1)) * (x2 / clamped_norm(x2)), axis=dim)


def pairwise_distance(
    x1: jax.Array, x2: jax.Array, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False
) -> jax.Array:
    """``‖x1 - x2 + eps‖_p`` along the last axis (``torch.nn.functional.pairwise_distance``).

    Args:
      x1: The first input, ``(N, D)`` or ``(D,)``.
      x2: The second input, broadcast against ``x1``.
      p: The norm degree.
      eps: Added to the difference.
      keepdim: Keep the reduced last dimension.

    Returns:
      The distances.

    Raises:
      ConfigError: If ``p`` is negative.
      ShapeError: If the inputs do not broadcast or have more than 2 dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.pairwise_distance(jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]]), eps=0.0).tolist()
      [5.0]
    """
    if p < 0:
        raise ConfigError(f"pairwise_distance: p must be non-negative, got {p}")
    x1, x2 = _broadcast("pairwise_distance", x1, x2)
    d = x1 - x2 + eps
    if d.ndim == 0:
        d = d.reshape(1)
    if p == 0:
        return jnp.sum(d != 0, axis=-1, keepdims=keepdim).astype(d.dtype)
    if math.isinf(p):
        return jnp.max(jnp.abs(d), axis=-1, keepdims=keepdim)
    if p == 2:
        return jnp.sqrt(jnp.sum(jnp.square(d), axis=-1, keepdims=keepdim))
    if p == 1:
        return jnp.sum(jnp.abs(d), axis=-1, keepdims=keepdim)
    return jnp.sum(jnp.abs(d) ** p, axis=-1, keepdims=keepdim) ** (1.0 / p)


def pdist(input: jax.Array, p: float = 2.0) -> jax.Array:
    """p-norm distances between all pairs of rows of ``(N, M)`` (``torch.nn.functional.pdist``).

    The ``N*(N-1)/2`` upper-triangle entries of the distance matrix, row by row (SciPy's condensed form).

    Args:
      input: ``(N, M)``.
      p: the norm degree, >= 0 (``inf`` for the max norm).

    Returns:
      ``(N * (N - 1) / 2,)`` distances; gradient 0 where a distance is 0 (as PyTorch).

    Raises:
      ConfigError: ``p < 0``.
      ShapeError: an input that is not 2-D.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.pdist(jnp.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])).tolist()
      [5.0, 1.0, 4.242640495300293]
    """
    if not p >= 0:
        raise ConfigError(f"pdist: p must be non-negative, got {p}")
    check_float_input(input)
    if input.ndim != 2:
        raise ShapeError(f"pdist: expected a 2-D input (N, M), got {shape_str(input.shape)}")
    n = input.shape[0]
    i, j = jnp.triu_indices(n, k=1)
    diff = jnp.abs(input[i] - input[j])
    if p == 0:
        return jnp.sum((diff != 0).astype(input.dtype), axis=-1)
    if math.isinf(p):
        dist = jnp.max(diff, axis=-1, initial=0.0)
        return jnp.where(dist > 0, dist, jnp.zeros_like(dist))  # no gradient through zero distances
    powered = jnp.sum(diff**p, axis=-1)
    safe = jnp.where(powered > 0, powered, jnp.ones_like(powered))  # no NaN gradient at zero distance
    return jnp.where(powered > 0, safe ** (1.0 / p), jnp.zeros_like(powered))
