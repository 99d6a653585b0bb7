"""Embedding lookup with PyTorch's ``padding_idx`` gradient rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ...errors import ConfigError, DTypeError
from .._checks import check_indices

__all__ = ["embedding", "one_hot"]


def embedding(input: jax.Array, weight: jax.Array, padding_idx: int | None = None) -> jax.Array:
    """Rows of ``weight`` at the integer indices ``input``: shape ``input.shape + (embedding_dim,)``.

    Positions equal to ``padding_idx`` contribute no gradient to ``weight`` (as PyTorch); their
    output is the row itself. Indices outside ``[0, num_embeddings)`` raise
    :class:`~torsh.nn.IndexOutOfRangeError`; under ``jit`` they are checked only inside
    :func:`torsh.debug.checks` (otherwise they give NaN rows, or wrap when negative; see docs/debug.md).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.embedding(jnp.array([2, 0]), jnp.arange(6.0).reshape(3, 2)).tolist()
      [[4.0, 5.0], [0.0, 1.0]]
    """
    if not jnp.issubdtype(getattr(input, "dtype", jnp.float32), jnp.integer):
        raise DTypeError(f"expected integer indices, got {getattr(input, 'dtype', type(input).__name__)}")
    num = weight.shape[0]
    check_indices("embedding", "index", input, num, "num_embeddings")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ConfigError(f"padding_idx must be within [-{num}, {num}), got {padding_idx}")
        padding_idx = padding_idx % num
    out = jnp.take(weight, input, axis=0)
    if padding_idx is not None:
        out = jnp.where((input == padding_idx)[..., None], jax.lax.stop_gradient(out), out)
    return out


def one_hot(tensor: jax.Array, num_classes: int = -1) -> jax.Array:
    """Integer indices to one-hot integer arrays (``torch.nn.functional.one_hot``; ``num_classes``
    must be given under ``jit``). A class value outside ``[0, num_classes)`` raises
    :class:`~torsh.nn.IndexOutOfRangeError` (under ``jit``: inside :func:`torsh.debug.checks`)."""
    if not jnp.issubdtype(tensor.dtype, jnp.integer):
        raise DTypeError(f"one_hot: expected integer indices, got {tensor.dtype}")
    if num_classes < 0:
        num_classes = int(jnp.max(tensor)) + 1
    check_indices("one_hot", "class value", tensor, num_classes, "num_classes")
    return jax.nn.one_hot(tensor, num_classes, dtype=jnp.int32)
