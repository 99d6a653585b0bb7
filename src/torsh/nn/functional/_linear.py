"""``linear`` and ``identity``."""

from __future__ import annotations

from typing import Any

import jax

from ...errors import ShapeError
from .._utils import check_float_input, shape_str

__all__ = ["linear"]


def linear(input: jax.Array, weight: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """``input @ weight.T + bias`` with PyTorch's weight layout ``[out_features, in_features]``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.linear(jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.zeros(4)).shape
      (2, 4)
    """
    check_linear_input(input, weight)
    out = input @ weight.T
    if bias is not None:
        out = out + bias
    return out


def check_linear_input(x: Any, weight: jax.Array) -> None:
    check_float_input(x, weight)
    in_features = weight.shape[-1]
    if x.ndim < 1 or x.shape[-1] != in_features:
        raise ShapeError(f"expected input [..., {in_features}], got {shape_str(x.shape)}")
