"""Activation modules (``nn.ReLU()``, ``nn.GELU(approximate="tanh")``, ...).

Each wraps the function of the same name in :mod:`torsh.nn.functional`; hyperparameters are static.
PyTorch's ``inplace=`` argument is accepted for source compatibility and has no effect (JAX arrays are
immutable; XLA reuses buffers itself).
"""

from __future__ import annotations

from typing import Any

import jax

from ..errors import ConfigError
from ..tree import static
from . import functional as F
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


def _check_float(x: Any) -> None:
    from ._utils import check_float_input

    check_float_input(x)


class ReLU(Module):
    """``max(x, 0)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReLU()(jnp.array([-1.0, 2.0])).tolist()
      [0.0, 2.0]
    """

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.relu(x)


class ReLU6(Module):
    """``min(max(x, 0), 6)``."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.relu6(x)


class Hardtanh(Module):
    """``clip(x, min_val, max_val)``."""

    min_val: float = static()
    max_val: float = static()

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        if min_val > max_val:
            raise ConfigError(f"Hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
        self.min_val = float(min_val)
        self.max_val = float(max_val)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.hardtanh(x, self.min_val, self.max_val)


class LeakyReLU(Module):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""

    negative_slope: float = static()

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.leaky_relu(x, self.negative_slope)


class ELU(Module):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)``."""

    alpha: float = static()

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        self.alpha = float(alpha)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.elu(x, self.alpha)


class SELU(Module):
    """Scaled ELU with the self-normalising constants."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.selu(x)


class GELU(Module):
    """Gaussian error linear unit; ``approximate="tanh"`` for the tanh approximation."""

    approximate: str = static()

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.gelu(x, self.approximate)


class SiLU(Module):
    """``x * sigmoid(x)``."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.silu(x)


class Mish(Module):
    """``x * tanh(softplus(x))``."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.mish(x)


class Sigmoid(Module):
    """``1 / (1 + exp(-x))``."""

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.sigmoid(x)


class Tanh(Module):
    """Hyperbolic tangent."""

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.tanh(x)


class Softplus(Module):
    """``log(1 + exp(beta * x)) / beta`` (linear above ``threshold``)."""

    beta: float = static()
    threshold: float = static()

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.softplus(x, self.beta, self.threshold)


class Hardswish(Module):
    """``x * relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.hardswish(x)


class Hardsigmoid(Module):
    """``relu6(x + 3) / 6``."""

    def __init__(self, inplace: bool = False) -> None:
        pass

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.hardsigmoid(x)


class Softmax(Module):
    """Softmax along ``dim`` (``None``: PyTorch's implicit choice, 0 for 0/1/3-D inputs, else 1)."""

    dim: int | None = static()

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.softmax(x, self.dim)


class LogSoftmax(Module):
    """Log-softmax along ``dim``."""

    dim: int | None = static()

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        _check_float(x)
        return F.log_softmax(x, self.dim)


class Softmin(Module):
    """Softmin along ``dim``: ``softmax(-x)`` (``torch.nn.Softmin``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softmin(dim=-1)(jnp.array([0.0, 0.0])).tolist()
      [0.5, 0.5]
    """

    dim: int | None = static()

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def forward(self, input: jax.Array) -> jax.Array:
        _check_float(input)
        return F.softmin(input, self.dim)
