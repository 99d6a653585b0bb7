"""Activation modules (``nn.ReLU()``, ``nn.GELU(approximate="tanh")``, ...).

Each wraps the function of the same name in :mod:`torsh.nn.functional`; hyperparameters are static.
PyTorch's ``inplace=`` argument is accepted for source compatibility and has no effect (JAX arrays are
immutable; XLA reuses buffers itself).
"""

from __future__ import annotations

import jax

from ..errors import ConfigError
from ..tree import static
from . import functional as F
from ._utils import check_float_input
from .module import Module

__all__ = [
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Hardswish",
    "Hardsigmoid",
    "Hardtanh",
    "Softmax",
    "LogSoftmax",
    "Softmin",
]


class _Activation(Module):
    """``forward`` checks for a floating input, then applies ``_activate`` (each subclass's function)."""

    def forward(self, input: jax.Array) -> jax.Array:  # PyTorch's argument name
        check_float_input(input)
        return self._activate(input)

    def _activate(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError


class _InplaceActivation(_Activation):
    def __init__(self, inplace: bool = False) -> None:  # PyTorch's flag: accepted, no effect
        pass


class _DimActivation(_Activation):
    """Softmax-like activations along one axis (``None``: PyTorch's implicit choice)."""

    dim: int | None = static()

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim


class ReLU(_InplaceActivation, init=False):
    """``max(x, 0)`` (``torch.nn.ReLU``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReLU()(jnp.array([-1.0, 2.0])).tolist()
      [0.0, 2.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.relu(x)


class ReLU6(_InplaceActivation, init=False):
    """``min(max(x, 0), 6)`` (``torch.nn.ReLU6``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReLU6()(jnp.array([-1.0, 7.0])).tolist()
      [0.0, 6.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.relu6(x)


class Hardtanh(_Activation):
    """``clip(x, min_val, max_val)`` (``torch.nn.Hardtanh``).

    Args:
      min_val: lower bound.
      max_val: upper bound (``>= min_val``).
      inplace: accepted for PyTorch compatibility; no effect.

    Raises:
      ConfigError: ``min_val > max_val``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Hardtanh(-2.0, 2.0)(jnp.array([-3.0, 1.0, 3.0])).tolist()
      [-2.0, 1.0, 2.0]
    """

    min_val: float = static()
    max_val: float = static()

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        if min_val > max_val:
            raise ConfigError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val = float(min_val)
        self.max_val = float(max_val)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.hardtanh(x, self.min_val, self.max_val)


class LeakyReLU(_Activation):
    """``x`` for ``x > 0``, else ``negative_slope * x`` (``torch.nn.LeakyReLU``).

    Args:
      negative_slope: slope for negative inputs.
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.LeakyReLU(0.5)(jnp.array([-2.0, 2.0])).tolist()
      [-1.0, 2.0]
    """

    negative_slope: float = static()

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        self.negative_slope = float(negative_slope)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.leaky_relu(x, self.negative_slope)


class ELU(_Activation):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)`` (``torch.nn.ELU``).

    Args:
      alpha: scale of the negative part.
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ELU()(jnp.array([0.0, 2.0])).tolist()
      [0.0, 2.0]
    """

    alpha: float = static()

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        self.alpha = float(alpha)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.elu(x, self.alpha)


class SELU(_InplaceActivation, init=False):
    """Scaled ELU with the self-normalising constants (``torch.nn.SELU``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.SELU()(jnp.array(1.0))), 4)
      1.0507
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.selu(x)


class GELU(_Activation):
    """Gaussian error linear unit (``torch.nn.GELU``).

    Args:
      approximate: ``"none"`` (exact, with erf) or ``"tanh"`` (the tanh approximation).

    Raises:
      ConfigError: another ``approximate``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.GELU("tanh")(jnp.array(1.0))), 4)
      0.8412
    """

    approximate: str = static()

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.gelu(x, self.approximate)


class SiLU(_InplaceActivation, init=False):
    """``x * sigmoid(x)`` (``torch.nn.SiLU``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.SiLU()(jnp.array([0.0])).tolist()
      [0.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.silu(x)


class Mish(_InplaceActivation, init=False):
    """``x * tanh(softplus(x))`` (``torch.nn.Mish``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.Mish()(jnp.array(1.0))), 4)
      0.8651
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.mish(x)


class Sigmoid(_Activation):
    """``1 / (1 + exp(-x))`` (``torch.nn.Sigmoid``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Sigmoid()(jnp.array([0.0])).tolist()
      [0.5]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.sigmoid(x)


class Tanh(_Activation):
    """Hyperbolic tangent (``torch.nn.Tanh``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Tanh()(jnp.array([0.0])).tolist()
      [0.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.tanh(x)


class Softplus(_Activation):
    """``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold`` (``torch.nn.Softplus``).

    Args:
      beta: sharpness.
      threshold: above ``beta * x > threshold`` the output is ``x``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.Softplus()(jnp.array(0.0))), 4)
      0.6931
    """

    beta: float = static()
    threshold: float = static()

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = float(beta)
        self.threshold = float(threshold)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.softplus(x, self.beta, self.threshold)


class Hardswish(_InplaceActivation, init=False):
    """``x * relu6(x + 3) / 6`` (``torch.nn.Hardswish``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Hardswish()(jnp.array([-4.0, 4.0])).tolist()
      [0.0, 4.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.hardswish(x)


class Hardsigmoid(_InplaceActivation, init=False):
    """``relu6(x + 3) / 6`` (``torch.nn.Hardsigmoid``).

    Args:
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Hardsigmoid()(jnp.array([0.0])).tolist()
      [0.5]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.hardsigmoid(x)


class Softmax(_DimActivation, init=False):
    """Softmax along ``dim`` (``torch.nn.Softmax``).

    Args:
      dim: the axis; ``None`` is PyTorch's implicit choice (0 for 0-, 1- and 3-D inputs, else 1).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softmax(dim=-1)(jnp.array([0.0, 0.0])).tolist()
      [0.5, 0.5]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.softmax(x, self.dim)


class LogSoftmax(_DimActivation, init=False):
    """Log-softmax along ``dim`` (``torch.nn.LogSoftmax``).

    Args:
      dim: the axis; ``None`` is PyTorch's implicit choice (0 for 0-, 1- and 3-D inputs, else 1).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.LogSoftmax(dim=0)(jnp.array([0.0, 0.0]))[0]), 4)
      -0.6931
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.log_softmax(x, self.dim)


class Softmin(_DimActivation, init=False):
    """Softmin along ``dim``: ``softmax(-x)`` (``torch.nn.Softmin``).

    Args:
      dim: the axis; ``None`` is PyTorch's implicit choice (0 for 0-, 1- and 3-D inputs, else 1).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softmin(dim=-1)(jnp.array([0.0, 0.0])).tolist()
      [0.5, 0.5]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.softmin(x, self.dim)
