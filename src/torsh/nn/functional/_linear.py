"""``linear`` and ``identity``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ShapeError
from .._utils import check_float_input, shape_str

__all__ = ["linear", "bilinear"]


def linear(input: jax.Array, weight: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """``input @ weight.T + bias`` with PyTorch's weight layout ``[out_features, in_features]``.

    Args:
      input: ``(*, in_features)``.
      weight: ``(out_features, in_features)`` (PyTorch's layout).
      bias: ``(out_features,)``, or None.

    Returns:
      ``(*, out_features)``.

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


def bilinear(
    input1: jax.Array, input2: jax.Array, weight: jax.Array, bias: jax.Array | None = None
) -> jax.Array:
    """``y_o = x1 @ weight[o] @ x2 + bias_o`` (``torch.nn.functional.bilinear``).

    Args:
      input1: ``(*, in1)``.
      input2: ``(*, in2)`` with the same leading dimensions.
      weight: ``(out, in1, in2)``.
      bias: ``(out,)`` or None.

    Returns:
      ``(*, out)``.

    Raises:
      ShapeError: feature sizes that do not match the weight, or different leading dimensions.
      DTypeError: non-floating inputs.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> w = jnp.stack([jnp.eye(2), 2 * jnp.eye(2)])  # two outputs: x1·x2 and 2 x1·x2
      >>> F.bilinear(jnp.array([[1.0, 2.0]]), jnp.array([[3.0, 4.0]]), w).tolist()
      [[11.0, 22.0]]
    """
    check_float_input(input1, what="input1")
    check_float_input(input2, what="input2")
    if weight.ndim != 3 or input1.shape[-1:] != weight.shape[1:2] or input2.shape[-1:] != weight.shape[2:3]:
        raise ShapeError(
            f"bilinear: expected input1 (*, {weight.shape[1] if weight.ndim == 3 else '?'}) and input2 "
            f"(*, {weight.shape[2] if weight.ndim == 3 else '?'}) for weight {shape_str(weight.shape)} "
            f"(out, in1, in2), got {shape_str(input1.shape)} and {shape_str(input2.shape)}"
        )
    if input1.shape[:-1] != input2.shape[:-1]:
        raise ShapeError(
            "bilinear: input1 and input2 must have the same leading dimensions, got "
            f"{shape_str(input1.shape)} and {shape_str(input2.shape)}"
        )
    y = jnp.einsum("...i,oij,...j->...o", input1, weight, input2)
    return y if bias is None else y + bias
