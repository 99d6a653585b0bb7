"""Activation functions with PyTorch's formulas, including their gradients at the kinks.

Where PyTorch's derivative at a kink (``relu`` at 0, ``leaky_relu`` at 0, ``hardswish`` at ±3) differs
from what the obvious JAX expression would give, the expression is written with ``where`` so that
autodiff produces PyTorch's value.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError

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
    "celu",
    "glu",
    "hardshrink",
    "softshrink",
    "logsigmoid",
    "softsign",
    "tanhshrink",
    "threshold",
    "prelu",
    "rrelu",
    "gumbel_softmax",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def relu(input: jax.Array) -> jax.Array:
    """``max(x, 0)``; gradient 0 at 0 (as PyTorch).

    Args:
      input: The input array (any shape).

    Returns:
      An array of ``input``'s shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.relu(jnp.array([-1.0, 2.0])).tolist()
      [0.0, 2.0]
    """
    return jnp.where(input > 0, input, jnp.zeros_like(input))


def hardtanh(input: jax.Array, min_val: float = -1.0, max_val: float = 1.0) -> jax.Array:
    """``clip(x, min_val, max_val)``; gradient 0 at and beyond the bounds (as PyTorch).

    Args:
        input: The input array (any shape).
        min_val: The lower bound.
        max_val: The upper bound.

    Returns:
        An array of ``input``'s shape and dtype.

    Raises:
        ConfigError: If ``min_val > max_val``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> F.hardtanh(jnp.array([-2.0, 0.5, 2.0])).tolist()
        [-1.0, 0.5, 1.0]
    """
    if min_val > max_val:
        raise ConfigError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    lo = jnp.asarray(min_val, input.dtype)
    hi = jnp.asarray(max_val, input.dtype)
    return jnp.where(input <= lo, lo, jnp.where(input >= hi, hi, input))


def relu6(input: jax.Array) -> jax.Array:
    """``min(max(x, 0), 6)``.

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> F.relu6(jnp.array([-1.0, 3.0, 8.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    return hardtanh(input, 0.0, 6.0)


def leaky_relu(input: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    """``x`` for ``x > 0``, else ``negative_slope * x``.

    Args:
        input: The input array (any shape).
        negative_slope: The slope for ``x < 0``.

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.leaky_relu(x, 0.2).tolist()]
        [-0.2, 0.0, 2.0]
    """
    return jnp.where(input > 0, input, input * negative_slope)


def elu(input: jax.Array, alpha: float = 1.0) -> jax.Array:
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``.

    Args:
        input: The input array (any shape).
        alpha: The value the output approaches for large negative inputs (``-alpha``).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.elu(x).tolist()]
        [-0.6321, 0.0, 2.0]
    """
    return jnp.where(input > 0, input, alpha * jnp.expm1(jnp.where(input > 0, jnp.zeros_like(input), input)))


def selu(input: jax.Array) -> jax.Array:
    """``scale * elu(x, alpha)`` with the self-normalising constants of Klambauer et al. (2017).

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.selu(x).tolist()]
        [-1.1113, 0.0, 2.1014]
    """
    return _SELU_SCALE * jnp.where(
        input > 0, input, _SELU_ALPHA * jnp.expm1(jnp.where(input > 0, jnp.zeros_like(input), input))
    )


def gelu(input: jax.Array, approximate: str = "none") -> jax.Array:
    """Gaussian error linear unit: ``x * Φ(x)`` (``approximate='none'``) or its tanh approximation.

    Args:
        input: The input array (any shape).
        approximate: ``"none"`` (the exact erf form) or ``"tanh"`` (the tanh approximation).

    Returns:
        An array of ``input``'s shape and dtype.

    Raises:
        ConfigError: If ``approximate`` is not ``"none"`` or ``"tanh"``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.gelu(x).tolist()]
        [-0.1587, 0.0, 1.9545]
    """
    if approximate == "none":
        return 0.5 * input * (1 + jax.lax.erf(input * (1 / math.sqrt(2))))
    if approximate == "tanh":
        inner = math.sqrt(2 / math.pi) * (input + 0.044715 * input**3)
        return 0.5 * input * (1 + jnp.tanh(inner))
    raise ConfigError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input: jax.Array) -> jax.Array:
    """``1 / (1 + exp(-x))``.

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.sigmoid(x).tolist()]
        [0.2689, 0.5, 0.8808]
    """
    return jax.nn.sigmoid(input)


def tanh(input: jax.Array) -> jax.Array:
    """Hyperbolic tangent.

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.tanh(x).tolist()]
        [-0.7616, 0.0, 0.964]
    """
    return jnp.tanh(input)


def silu(input: jax.Array) -> jax.Array:
    """``x * sigmoid(x)`` (also called swish).

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.silu(x).tolist()]
        [-0.2689, 0.0, 1.7616]
    """
    return input * jax.nn.sigmoid(input)


def softplus(input: jax.Array, beta: float = 1.0, threshold: float = 20.0) -> jax.Array:
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold`` (as PyTorch).

    Args:
        input: The input array (any shape).
        beta: The sharpness: ``log(1 + exp(beta * x)) / beta``.
        threshold: Above ``beta * x > threshold`` the output is ``x`` (numerical stability).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.softplus(x).tolist()]
        [0.3133, 0.6931, 2.1269]
    """
    scaled = input * beta
    # Clamp the unused branch so its gradient stays finite (0 * inf would give NaN).
    soft = jnp.log1p(jnp.exp(jnp.where(scaled > threshold, jnp.zeros_like(scaled), scaled))) / beta
    return jnp.where(scaled > threshold, input, soft)


def mish(input: jax.Array) -> jax.Array:
    """``x * tanh(softplus(x))`` (Misra, 2019).

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.mish(x).tolist()]
        [-0.3034, 0.0, 1.944]
    """
    return input * jnp.tanh(jax.nn.softplus(input))


def hardswish(input: jax.Array) -> jax.Array:
    """``x * relu6(x + 3) / 6``, with PyTorch's gradient (``x/3 + 1/2`` strictly inside ``(-3, 3)``).

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.hardswish(x).tolist()]
        [-0.3333, 0.0, 1.6667]
    """
    zero = jnp.zeros_like(input)
    return jnp.where(input <= -3, zero, jnp.where(input < 3, input * (input + 3) / 6, input))


def hardsigmoid(input: jax.Array) -> jax.Array:
    """``relu6(x + 3) / 6``; gradient ``1/6`` strictly inside ``(-3, 3)``.

    Args:
        input: The input array (any shape).

    Returns:
        An array of ``input``'s shape and dtype.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> x = jnp.array([-1.0, 0.0, 2.0])
        >>> [round(v, 4) for v in F.hardsigmoid(x).tolist()]
        [0.3333, 0.5, 0.8333]
    """
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

    Args:
      input: The input array.
      dim: The dimension to normalise over; None: PyTorch's legacy default (0 for 0-, 1- and 3-D
        inputs, else 1).
      dtype: Cast ``input`` to this dtype first (to avoid overflow in low precision).

    Returns:
      An array of ``input``'s shape whose slices along ``dim`` sum to 1.

    Raises:
      ShapeError: If ``dim`` is out of range for ``input``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softmax(jnp.zeros((2, 4)), dim=-1)[0].tolist()
      [0.25, 0.25, 0.25, 0.25]
    """
    return _normalize_exp(jax.nn.softmax, "softmax", input, dim, dtype)


def log_softmax(input: jax.Array, dim: int | None = None, dtype: object = None) -> jax.Array:
    """``x - logsumexp(x)`` along ``dim``.

    Args:
        input: The input array.
        dim: The dimension to normalise over; None: PyTorch's legacy default (0 for 0-, 1- and 3-D
            inputs, else 1).
        dtype: Cast ``input`` to this dtype first (to avoid overflow in low precision).

    Returns:
        ``log(softmax(input, dim))``, computed stably.

    Raises:
        ShapeError: If ``dim`` is out of range for ``input``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> [round(v, 4) for v in F.log_softmax(jnp.array([[1.0, 2.0, 3.0]]), dim=-1)[0].tolist()]
        [-2.4076, -1.4076, -0.4076]
    """
    return _normalize_exp(jax.nn.log_softmax, "log_softmax", input, dim, dtype)


def softmin(input: jax.Array, dim: int | None = None, dtype: object = None) -> jax.Array:
    """``softmax(-x)`` along ``dim`` (``torch.nn.functional.softmin``).

    Args:
      input: The input array.
      dim: The dimension to normalise over; None: PyTorch's legacy default (0 for 0-, 1- and 3-D
        inputs, else 1).
      dtype: Cast ``input`` to this dtype first (to avoid overflow in low precision).

    Returns:
      ``softmax(-input, dim)``.

    Raises:
      ShapeError: If ``dim`` is out of range for ``input``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softmin(jnp.array([0.0, 0.0]), dim=0).tolist()
      [0.5, 0.5]
    """
    return _normalize_exp(lambda x, axis: jax.nn.softmax(-x, axis=axis), "softmin", input, dim, dtype)


def _normalize_exp(fn, name: str, input: jax.Array, dim: int | None, dtype: Any) -> jax.Array:
    input = jnp.asarray(input)
    if dtype is not None:
        input = input.astype(dtype)
    axis = _axis(name, input, dim)
    if input.ndim == 0:  # PyTorch treats a 0-d input as one element along dim 0 or -1
        return fn(input[None], axis=0)[0]
    return fn(input, axis=axis)


def celu(input: jax.Array, alpha: float = 1.0) -> jax.Array:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (continuously differentiable ELU).

    Args:
      input: any float array.
      alpha: the saturation value of the negative part, != 0.

    Returns:
      An array of the input's shape.

    Raises:
      ConfigError: ``alpha == 0``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> [round(v, 4) for v in F.celu(jnp.array([-1.0, 2.0]), alpha=2.0).tolist()]
      [-0.7869, 2.0]
    """
    check_celu_alpha("celu", alpha)
    neg = jnp.where(input > 0, jnp.zeros_like(input), input)
    return jnp.where(input > 0, input, alpha * jnp.expm1(neg / alpha))


def glu(input: jax.Array, dim: int = -1) -> jax.Array:
    """Gated linear unit: split ``input`` in halves ``a, b`` along ``dim`` and return ``a * sigmoid(b)``.

    Args:
      input: an array whose ``dim`` has even size.
      dim: the dimension to halve.

    Returns:
      An array with ``dim`` halved.

    Raises:
      ShapeError: a 0-d input, ``dim`` out of range or of odd size.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.glu(jnp.array([[1.0, 2.0, 0.0, 100.0]])).tolist()
      [[0.5, 2.0]]
    """
    if input.ndim == 0:
        raise ShapeError("glu: does not support scalars because halving size must be even")
    if not -input.ndim <= dim < input.ndim:
        raise ShapeError(f"glu: dim {dim} is out of range for an input of {input.ndim} dimensions")
    size = input.shape[dim]
    if size % 2:
        raise ShapeError(
            f"glu: halving dimension must be even, but dimension {dim % input.ndim} is size {size}"
        )
    a, b = jnp.split(input, 2, axis=dim)
    return a * jax.nn.sigmoid(b)


def hardshrink(input: jax.Array, lambd: float = 0.5) -> jax.Array:
    """``x`` where ``|x| > lambd``, else 0.

    Args:
      input: any float array.
      lambd: the threshold, >= 0.

    Returns:
      An array of the input's shape.

    Raises:
      ConfigError: a negative ``lambd``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.hardshrink(jnp.array([-1.0, 0.2, 0.7])).tolist()
      [-1.0, 0.0, 0.699999988079071]
    """
    check_lambd("hardshrink", lambd)
    keep = (input < -lambd) | (input > lambd)
    return jnp.where(keep, input, jnp.zeros_like(input))


def softshrink(input: jax.Array, lambd: float = 0.5) -> jax.Array:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0.

    Args:
      input: any float array.
      lambd: the threshold, >= 0.

    Returns:
      An array of the input's shape.

    Raises:
      ConfigError: a negative ``lambd``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softshrink(jnp.array([-1.0, 0.25, 1.5])).tolist()
      [-0.5, 0.0, 1.0]
    """
    check_lambd("softshrink", lambd)
    zeros = jnp.zeros_like(input)
    return jnp.where(input > lambd, input - lambd, jnp.where(input < -lambd, input + lambd, zeros))


# argument checks shared with the modules of nn/activation.py (one message per rule)
def check_lambd(name: str, lambd: float) -> None:
    """ConfigError unless the shrink threshold ``lambd`` is >= 0."""
    if not lambd >= 0:
        raise ConfigError(f"{name}: lambd must be greater or equal to 0, but found to be {lambd}")


def check_celu_alpha(name: str, alpha: float) -> None:
    """ConfigError for ``alpha == 0`` (CELU divides by it)."""
    if alpha == 0:
        raise ConfigError(f"{name}: alpha must be non-zero (it divides the input), got 0")


def check_rrelu_bounds(name: str, lower: float, upper: float) -> None:
    """ConfigError unless ``lower <= upper``."""
    if lower > upper:
        raise ConfigError(
            f"{name}: lower bound should be less than or equal to the upper bound, got {lower} > {upper}"
        )


def logsigmoid(input: jax.Array) -> jax.Array:
    """``log(sigmoid(x)) = -softplus(-x)``, computed stably.

    Args:
      input: any float array.

    Returns:
      An array of the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> [round(v, 4) for v in F.logsigmoid(jnp.array([0.0, -100.0])).tolist()]
      [-0.6931, -100.0]
    """
    return jax.nn.log_sigmoid(input)


def softsign(input: jax.Array) -> jax.Array:
    """``x / (1 + |x|)``.

    Args:
      input: any float array.

    Returns:
      An array of the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.softsign(jnp.array([-3.0, 1.0])).tolist()
      [-0.75, 0.5]
    """
    return input / (1 + jnp.abs(input))


def tanhshrink(input: jax.Array) -> jax.Array:
    """``x - tanh(x)``.

    Args:
      input: any float array.

    Returns:
      An array of the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> [round(v, 4) for v in F.tanhshrink(jnp.array([1.0])).tolist()]
      [0.2384]
    """
    return input - jnp.tanh(input)


def threshold(input: jax.Array, threshold: float, value: float) -> jax.Array:
    """``x`` where ``x > threshold``, else ``value``; gradient 0 where replaced (as PyTorch).

    Args:
      input: any array.
      threshold: the threshold.
      value: the replacement.

    Returns:
      An array of the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.threshold(jnp.array([0.1, 0.5, 2.0]), 0.5, -1.0).tolist()
      [-1.0, -1.0, 2.0]
    """
    return jnp.where(input > threshold, input, jnp.asarray(value, input.dtype))


def prelu(input: jax.Array, weight: jax.Array) -> jax.Array:
    """``x`` for ``x > 0``, else ``weight * x`` with a learned slope per channel (dimension 1).

    Args:
      input: ``(N, C, ...)``, or any shape with a single slope.
      weight: ``(1,)`` (one slope) or ``(C,)`` (one per channel of dimension 1).

    Returns:
      An array of the input's shape.

    Raises:
      ShapeError: a weight that is neither one slope nor one per channel.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.prelu(jnp.array([[-1.0, -1.0], [2.0, -2.0]]), jnp.array([0.1, 0.5])).tolist()
      [[-0.10000000149011612, -0.5], [2.0, -1.0]]
    """
    w = jnp.asarray(weight)
    if w.ndim > 1 or (w.size != 1 and (input.ndim < 2 or w.size != input.shape[1])):
        channels = input.shape[1] if input.ndim >= 2 else 1
        raise ShapeError(
            f"prelu: expected weight of 1 element or {channels} (the channels of dimension 1 of an input of "
            f"shape {tuple(input.shape)}), got shape {tuple(w.shape)}"
        )
    if w.size != 1:
        w = w.reshape((1, -1) + (1,) * (input.ndim - 2))
    else:
        w = w.reshape(())
    return jnp.where(input > 0, input, w.astype(input.dtype) * input)


def rrelu(
    input: jax.Array,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Randomized leaky ReLU (Xu et al., 2015).

    Negative slopes are drawn from ``U(lower, upper)`` per element in training, and are their mean
    ``(lower + upper) / 2`` in evaluation.

    Args:
      input: any float array.
      lower: lowest slope.
      upper: highest slope, >= lower.
      training: draw random slopes (needs ``key``).
      key: PRNG key for the slopes (torsh is pure: no global random state in a forward).

    Returns:
      An array of the input's shape.

    Raises:
      ConfigError: ``lower > upper``, or ``training=True`` without a ``key``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.rrelu(jnp.array([-1.0, 2.0]), 0.1, 0.3).tolist()
      [-0.20000000298023224, 2.0]
    """
    check_rrelu_bounds("rrelu", lower, upper)
    if not training:
        return jnp.where(input > 0, input, input * ((lower + upper) / 2))
    if key is None:
        raise ConfigError(
            "rrelu: training=True draws random slopes and needs a PRNG key: call "
            "F.rrelu(x, training=True, key=key) (or training=False for the mean slope)"
        )
    slopes = jax.random.uniform(key, input.shape, input.dtype, lower, upper)
    return jnp.where(input > 0, input, input * slopes)


def gumbel_softmax(
    logits: jax.Array,
    tau: float = 1.0,
    hard: bool = False,
    eps: float = 1e-10,
    dim: int = -1,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """A differentiable sample from the categorical distribution of ``logits`` (Jang et al., 2017).

    The soft sample is ``softmax((logits + g) / tau)`` with Gumbel noise ``g``; ``hard=True`` returns
    the one-hot of the sample, whose gradient is the soft sample's (straight-through).

    Args:
      logits: unnormalised log-probabilities.
      tau: temperature, > 0 (small: close to one-hot).
      hard: return one-hot vectors (straight-through gradients).
      eps: unused; kept for PyTorch signature compatibility (deprecated there).
      dim: the category dimension.
      key: PRNG key for the Gumbel noise (required: torsh has no global random state in a forward).

    Returns:
      An array of the logits' shape that sums to 1 along ``dim``.

    Raises:
      ConfigError: no ``key`` or ``tau <= 0``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.gumbel_softmax(jnp.log(jnp.array([0.1, 0.9])), hard=True, key=torsh.random.key(0))
      >>> sorted(y.tolist())
      [0.0, 1.0]
    """
    if key is None:
        raise ConfigError(
            "gumbel_softmax: draws Gumbel noise and needs a PRNG key: F.gumbel_softmax(logits, key=key)"
        )
    if not tau > 0:
        raise ConfigError(f"gumbel_softmax: tau must be > 0, got {tau}")
    gumbels = jax.random.gumbel(key, logits.shape, logits.dtype)
    y_soft = jax.nn.softmax((logits + gumbels) / tau, axis=dim)
    if not hard:
        return y_soft
    index = jnp.argmax(y_soft, axis=dim, keepdims=True)
    y_hard = jnp.put_along_axis(jnp.zeros_like(y_soft), index, 1.0, axis=dim, inplace=False)
    return y_hard - jax.lax.stop_gradient(y_soft) + y_soft
