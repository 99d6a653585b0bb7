"""Activation functions with PyTorch's formulas, including their gradients at the kinks.

Where PyTorch's derivative at a kink (``relu`` at 0, ``leaky_relu`` at 0, ``hardswish`` at ±3) differs
from what the obvious JAX expression would give, the expression is written with ``where`` so that
autodiff produces PyTorch's value.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ...errors import ConfigError

__all__ = [
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "softplus",
    "hardswish",
    "hardsigmoid",
    "hardtanh",
    "softmax",
    "log_softmax",
    "softmin",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(input: jax.Array) -> jax.Array:
    """``max(x, 0)``; gradient 0 at 0 (as PyTorch).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.relu(jnp.array([-1.0, 2.0])).tolist()
      [0.0, 2.0]
    """
    return jnp.where(input > 0, input, jnp.zeros_like(input))


def hardtanh(input: jax.Array, min_val: float = -1.0, max_val: float = 1.0) -> jax.Array:
    """``clip(x, min_val, max_val)``; gradient 0 at and beyond the bounds (as PyTorch)."""
    if min_val > max_val:
        raise ConfigError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    lo = jnp.asarray(min_val, input.dtype)
    hi = jnp.asarray(max_val, input.dtype)
    return jnp.where(input <= lo, lo, jnp.where(input >= hi, hi, input))


def relu6(input: jax.Array) -> jax.Array:
    """``min(max(x, 0), 6)``."""
    return hardtanh(input, 0.0, 6.0)


def leaky_relu(input: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return jnp.where(input > 0, input, input * negative_slope)


def elu(input: jax.Array, alpha: float = 1.0) -> jax.Array:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    return jnp.where(input > 0, input, alpha * jnp.expm1(jnp.where(input > 0, jnp.zeros_like(input), input)))


def selu(input: jax.Array) -> jax.Array:
    """``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al. (2017)."""
    return _SELU_SCALE * jnp.where(
        input > 0, input, _SELU_ALPHA * jnp.expm1(jnp.where(input > 0, jnp.zeros_like(input), input))
    )


def gelu(input: jax.Array, approximate: str = "none") -> jax.Array:
    """Gaussian error linear unit: ``x * Φ(x)`` (``approximate='none'``) or its tanh approximation."""
    if approximate == "none":
        return 0.5 * input * (1 + jax.lax.erf(input * (1 / math.sqrt(2))))
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (input + 0.044715 * input**3)
        return 0.5 * input * (1 + jnp.tanh(inner))
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input: jax.Array) -> jax.Array:
    """``1 / (1 + exp(-x))``."""
    return jax.nn.sigmoid(input)


def tanh(input: jax.Array) -> jax.Array:
    """Hyperbolic tangent."""
    return jnp.tanh(input)


def silu(input: jax.Array) -> jax.Array:
    """``x * sigmoid(x)`` (also called swish)."""
    return input * jax.nn.sigmoid(input)


def softplus(input: jax.Array, beta: float = 1.0, threshold: float = 20.0) -> jax.Array:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold`` (as PyTorch)."""
    scaled = input * beta
    # Clamp the unused branch so its gradient stays finite (0 * inf would give NaN).
    soft = jnp.log1p(jnp.exp(jnp.where(scaled > threshold, jnp.zeros_like(scaled), scaled))) / beta
    return jnp.where(scaled > threshold, input, soft)


def mish(input: jax.Array) -> jax.Array:
    """``x * tanh(softplus(x))`` (Misra, 2019)."""
    return input * jnp.tanh(jax.nn.softplus(input))


def hardswish(input: jax.Array) -> jax.Array:
    """``x * relu6(x + 3) / 6``, with PyTorch's gradient (``x/3 + 1/2`` strictly inside ``(-3, 3)``)."""
    zero = jnp.zeros_like(input)
    return jnp.where(input <= -3, zero, jnp.where(input < 3, input * (input + 3) / 6, input))


def hardsigmoid(input: jax.Array) -> jax.Array:
    """``relu6(x + 3) / 6``; gradient ``1/6`` strictly inside ``(-3, 3)``."""
    zero = jnp.zeros_like(input)
    one = jnp.ones_like(input)
    return jnp.where(input <= -3, zero, jnp.where(input >= 3, one, input / 6 + 0.5))


def _softmax_dim(ndim: int) -> int:
    """PyTorch's implicit softmax axis when ``dim=None``: 0 for 0-, 1- and 3-D inputs, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


def _axis(name: str, input: jax.Array, dim: int | None) -> int:
    if dim is None:
        return _softmax_dim(input.ndim)
    nd = max(input.ndim, 1)
    if not -nd <= dim < nd:
        from ...errors import ShapeError

        raise ShapeError(f"{name}: dim {dim} is out of range for an input of rank {input.ndim}")
    return dim


def softmax(input: jax.Array, dim: int | None = None, dtype: object = None) -> jax.Array:
    """``exp(x) / sum(exp(x))`` along ``dim`` (computed in ``dtype`` when given).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softmax(jnp.zeros((2, 4)), dim=-1)[0].tolist()
      [0.25, 0.25, 0.25, 0.25]
    """
    return _normalize_exp(jax.nn.softmax, "softmax", input, dim, dtype)


def log_softmax(input: jax.Array, dim: int | None = None, dtype: object = None) -> jax.Array:
    """``x - logsumexp(x)`` along ``dim``."""
    return _normalize_exp(jax.nn.log_softmax, "log_softmax", input, dim, dtype)


def softmin(input: jax.Array, dim: int | None = None, dtype: object = None) -> jax.Array:
    """``softmax(-x)`` along ``dim`` (``torch.nn.functional.softmin``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softmin(jnp.array([0.0, 0.0]), dim=0).tolist()
      [0.5, 0.5]
    """
    return _normalize_exp(lambda x, axis: jax.nn.softmax(-x, axis=axis), "softmin", input, dim, dtype)


def _normalize_exp(fn, name: str, input: jax.Array, dim: int | None, dtype: object) -> jax.Array:
    input = jnp.asarray(input)
    if dtype is not None:
        input = input.astype(dtype)
    axis = _axis(name, input, dim)
    if input.ndim == 0:  # PyTorch treats a 0-d input as one element along dim 0 or -1
        return fn(input[None], axis=0)[0]
    return fn(input, axis=axis)
