"""``Linear`` and ``Identity``."""

from __future__ import annotations

import math
from typing import Any

import jax
from jaxtyping import Array, Float

from ..tree import static
from . import init
from ._shapes import shaped
from ._utils import Axes, check_axes, check_float_input, float_dtype, positive_int, resolve_key
from .functional._linear import bilinear as _F_bilinear
from .functional._linear import check_linear_input
from .module import Module

__all__ = ["Linear", "Identity", "Bilinear"]

# forward's jaxtyping annotations (checked by nn.shaped). Aliases, because linters read a shape string
# written inside a signature as a Python expression (ruff/flake8 F722).
_In = Float[Array, "*batch in"]
_Out = Float[Array, "*batch out"]
_In1 = Float[Array, "*batch in1"]
_In2 = Float[Array, "*batch in2"]


class Identity(Module):
    """Returns its input unchanged (accepts and ignores extra arguments, as PyTorch's).

    Args:
      *args: Ignored (PyTorch accepts and ignores them too).
      **kwargs: Ignored.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Identity()(jnp.ones(2)).tolist()
      [1.0, 1.0]
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def forward(self, input: Any, *args: Any, **kwargs: Any) -> Any:
        x = input
        return x


class Linear(Module, axes={"weight": ("out", "in"), "bias": ("out",)}):
    """``y = x @ weight.T + bias`` (``torch.nn.Linear``): weight ``[out_features, in_features]``.

    Initialised as PyTorch: weight ``kaiming_uniform(a=sqrt(5))``, i.e. U(-1/sqrt(in), 1/sqrt(in)),
    and bias U(-1/sqrt(in), 1/sqrt(in)). Logical axes default to weight ``("out", "in")`` and bias
    ``("out",)``; ``axes=("mlp", "embed")`` names the weight's axes (the bias gets the first).

    Args:
      in_features, out_features: sizes of the last input and output axis.
      bias: whether to add a learnable bias.
      key: PRNG key for initialisation (default: the ``torsh.manual_seed`` stream).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      axes: logical axis names of the weight.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.Linear(3, 2, key=torsh.random.key(0))
      >>> layer(jnp.ones((5, 3))).shape
      (5, 2)
      >>> layer
      Linear(in_features=3, out_features=2, bias=True)
    """

    weight: jax.Array
    bias: jax.Array | None
    in_features: int = static()
    out_features: int = static()

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        positive_int("in_features", in_features, "Linear", allow_zero=True)
        positive_int("out_features", out_features, "Linear", allow_zero=True)
        d = float_dtype(dtype)
        kw, kb = jax.random.split(resolve_key(key))
        self.in_features = in_features
        self.out_features = out_features
        self.weight = init.kaiming_uniform(kw, (out_features, in_features), a=math.sqrt(5), dtype=d)
        bound = 1 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.bias = init.uniform(kb, (out_features,), -bound, bound, d) if bias else None
        if axes is not None:
            ax = check_axes(axes, self.weight.shape, name="Linear.weight")
            self.with_axes(weight=ax, bias=ax[:1])

    @shaped(dims={"in": "in_features", "out": "out_features"})
    def forward(self, input: _In) -> _Out:
        x = input
        check_linear_input(x, self.weight)
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias

    def _describe(self) -> str:
        return f"Linear {self.in_features}->{self.out_features}"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        )


class Bilinear(Module, axes={"weight": ("out", "in1", "in2"), "bias": ("out",)}):
    """``y_o = x1 @ weight[o] @ x2 + bias_o`` (``torch.nn.Bilinear``): weight ``[out, in1, in2]``.

    Initialised as PyTorch: weight and bias ``U(-1/sqrt(in1), 1/sqrt(in1))``.

    Args:
      in1_features: size of the last axis of the first input.
      in2_features: size of the last axis of the second input.
      out_features: size of the output.
      bias: whether to add a learnable bias.
      key: PRNG key for initialisation (default: the ``torsh.manual_seed`` stream).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).

    Raises:
      ConfigError: negative or non-integer sizes.
      ShapeError: (in ``forward``) inputs whose last axes do not match ``in1_features``/``in2_features``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.Bilinear(3, 4, 2, key=torsh.random.key(0))
      >>> layer(jnp.ones((5, 3)), jnp.ones((5, 4))).shape
      (5, 2)
    """

    weight: jax.Array
    bias: jax.Array | None
    in1_features: int = static()
    in2_features: int = static()
    out_features: int = static()

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        self.in1_features = positive_int("in1_features", in1_features, "Bilinear")
        self.in2_features = positive_int("in2_features", in2_features, "Bilinear")
        self.out_features = positive_int("out_features", out_features, "Bilinear", allow_zero=True)
        d = float_dtype(dtype)
        kw, kb = jax.random.split(resolve_key(key))
        bound = 1 / math.sqrt(in1_features)
        self.weight = init.uniform(kw, (out_features, in1_features, in2_features), -bound, bound, d)
        self.bias = init.uniform(kb, (out_features,), -bound, bound, d) if bias else None

    @shaped(dims={"in1": "in1_features", "in2": "in2_features", "out": "out_features"})
    def forward(self, input1: _In1, input2: _In2) -> _Out:
        check_float_input(input1, self.weight, "input1")
        return _F_bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )
