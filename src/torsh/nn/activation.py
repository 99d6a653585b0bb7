"""Activation modules (``nn.ReLU()``, ``nn.GELU(approximate="tanh")``, ...).

Each wraps the function of the same name in :mod:`torsh.nn.functional`; hyperparameters are static.
PyTorch's ``inplace=`` argument is accepted for source compatibility and has no effect (JAX arrays are
immutable; XLA reuses buffers itself).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError, ShapeError
from ..tree import static
from . import functional as F
from ._utils import check_float_input, float_dtype, positive_int
from .functional._activation import check_celu_alpha, check_lambd, check_rrelu_bounds
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
    "CELU",
    "GLU",
    "Hardshrink",
    "Softshrink",
    "LogSigmoid",
    "Softsign",
    "Tanhshrink",
    "Threshold",
    "PReLU",
    "RReLU",
    "Softmax2d",
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


class CELU(_Activation):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (``torch.nn.CELU``).

    Args:
      alpha: the negative saturation value, != 0.
      inplace: accepted for PyTorch compatibility; no effect.

    Raises:
      ConfigError: ``alpha == 0``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> [round(v, 4) for v in nn.CELU(2.0)(jnp.array([-1.0, 1.0])).tolist()]
      [-0.7869, 1.0]
    """

    alpha: float = static()

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        check_celu_alpha("CELU", alpha)
        self.alpha = float(alpha)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.celu(x, self.alpha)


class GLU(_Activation):
    """Gated linear unit ``a * sigmoid(b)`` over the halves of ``dim`` (``torch.nn.GLU``).

    Args:
      dim: the dimension to halve.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.GLU()(jnp.zeros((3, 8))).shape
      (3, 4)
    """

    dim: int = static()

    def __init__(self, dim: int = -1) -> None:
        self.dim = int(dim)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.glu(x, self.dim)


class _Shrink(_Activation):
    lambd: float = static()

    def __init__(self, lambd: float = 0.5) -> None:
        check_lambd(type(self).__name__, lambd)
        self.lambd = float(lambd)


class Hardshrink(_Shrink, init=False):
    """``x`` where ``|x| > lambd``, else 0 (``torch.nn.Hardshrink``).

    Args:
      lambd: the threshold, >= 0.

    Raises:
      ConfigError: a negative ``lambd``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Hardshrink(1.0)(jnp.array([-2.0, 0.5])).tolist()
      [-2.0, 0.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.hardshrink(x, self.lambd)


class Softshrink(_Shrink, init=False):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0 (``torch.nn.Softshrink``).

    Args:
      lambd: the threshold, >= 0.

    Raises:
      ConfigError: a negative ``lambd``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softshrink(1.0)(jnp.array([-2.0, 0.5])).tolist()
      [-1.0, 0.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.softshrink(x, self.lambd)


class LogSigmoid(_Activation):
    """``log(sigmoid(x))``, computed stably (``torch.nn.LogSigmoid``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> [round(v, 4) for v in nn.LogSigmoid()(jnp.array([0.0])).tolist()]
      [-0.6931]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.logsigmoid(x)


class Softsign(_Activation):
    """``x / (1 + |x|)`` (``torch.nn.Softsign``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softsign()(jnp.array([1.0])).tolist()
      [0.5]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.softsign(x)


class Tanhshrink(_Activation):
    """``x - tanh(x)`` (``torch.nn.Tanhshrink``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Tanhshrink()(jnp.array([0.0])).tolist()
      [0.0]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.tanhshrink(x)


class Threshold(_Activation):
    """``x`` where ``x > threshold``, else ``value`` (``torch.nn.Threshold``).

    Args:
      threshold: the threshold.
      value: the replacement.
      inplace: accepted for PyTorch compatibility; no effect.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Threshold(0.1, 20.0)(jnp.array([0.0, 1.0])).tolist()
      [20.0, 1.0]
    """

    threshold: float = static()
    value: float = static()

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        self.threshold = float(threshold)
        self.value = float(value)

    def _activate(self, x: jax.Array) -> jax.Array:
        return F.threshold(x, self.threshold, self.value)


class PReLU(Module):
    """``x`` for ``x > 0``, else ``a * x`` with learned slopes ``a`` (``torch.nn.PReLU``).

    ``weight`` holds ``num_parameters`` slopes (1 shared, or one per channel of dimension 1),
    initialised to ``init``, and is trained.

    Args:
      num_parameters: 1 or the number of input channels.
      init: the initial slope.
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).

    Raises:
      ConfigError: ``num_parameters < 1``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> act = nn.PReLU(3)
      >>> act.weight.tolist(), act(jnp.full((1, 3, 2), -2.0))[0, :, 0].tolist()
      ([0.25, 0.25, 0.25], [-0.5, -0.5, -0.5])
    """

    weight: jax.Array  # its length is PyTorch's num_parameters (Module.num_parameters() counts elements)

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, dtype: Any = None) -> None:
        n = positive_int("num_parameters", num_parameters, "PReLU")
        self.weight = jnp.full((n,), init, float_dtype(dtype))

    def forward(self, input: jax.Array) -> jax.Array:
        check_float_input(input, self.weight)
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.weight.shape[0]}"


class RReLU(Module):
    """Randomized leaky ReLU (``torch.nn.RReLU``).

    Negative slopes are drawn from ``U(lower, upper)`` in training mode (``forward(x, key=...)``);
    eval mode uses their mean and needs no key.

    Args:
      lower: lowest slope.
      upper: highest slope.
      inplace: accepted for PyTorch compatibility; no effect.

    Raises:
      ConfigError: ``lower > upper``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> act = nn.RReLU(0.1, 0.3)
      >>> act(-jnp.ones(3), key=torsh.random.key(0)).shape
      (3,)
      >>> [round(v, 4) for v in act.eval()(jnp.array([-1.0])).tolist()]
      [-0.2]
    """

    lower: float = static()
    upper: float = static()

    def __init__(self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False) -> None:
        check_rrelu_bounds("RReLU", lower, upper)
        self.lower = float(lower)
        self.upper = float(upper)

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        check_float_input(input)
        return F.rrelu(input, self.lower, self.upper, self.training, key=key)


class Softmax2d(_Activation):
    """Softmax over the channels of ``(N, C, H, W)`` or ``(C, H, W)`` at every location (``nn.Softmax2d``).

    Raises:
      ShapeError: an input that is not 3-D or 4-D.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Softmax2d()(jnp.zeros((1, 4, 2, 2)))[0, :, 0, 0].tolist()
      [0.25, 0.25, 0.25, 0.25]
    """

    def _activate(self, x: jax.Array) -> jax.Array:
        if x.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-D or 4-D input, got shape {tuple(x.shape)}")
        return F.softmax(x, -3)
