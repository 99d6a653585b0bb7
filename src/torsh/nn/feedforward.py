"""Gated feed-forward blocks (``SwiGLU``, ``GeGLU``) with Llama's ``gate_proj``/``up_proj``/``down_proj``."""

from __future__ import annotations

from typing import Any

import jax

from ..errors import ConfigError
from ..tree import static
from . import functional as F
from ._utils import check_float_input, float_dtype, positive_int, resolve_key
from .linear import Linear
from .module import Module

__all__ = ["SwiGLU", "GeGLU"]


class _GatedFeedForward(Module):
    """``down_proj(act(gate_proj(x)) * up_proj(x))``; subclasses pick ``act``."""

    gate_proj: Linear
    up_proj: Linear
    down_proj: Linear

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int | None = None,
        bias: bool = False,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        owner = type(self).__name__
        positive_int("in_features", in_features, owner)
        positive_int("hidden_features", hidden_features, owner)
        out = in_features if out_features is None else positive_int("out_features", out_features, owner)
        d = float_dtype(dtype)
        kg, ku, kd = jax.random.split(resolve_key(key), 3)
        self.gate_proj = Linear(in_features, hidden_features, bias, key=kg, dtype=d, axes=("mlp", "embed"))
        self.up_proj = Linear(in_features, hidden_features, bias, key=ku, dtype=d, axes=("mlp", "embed"))
        self.down_proj = Linear(hidden_features, out, bias, key=kd, dtype=d, axes=("embed", "mlp"))

    def _act(self, x: jax.Array) -> jax.Array:
        raise NotImplementedError

    def forward(self, input: jax.Array) -> jax.Array:
        check_float_input(input, self.gate_proj.weight)
        return self.down_proj(self._act(self.gate_proj(input)) * self.up_proj(input))

    def extra_repr(self) -> str:
        w = self.gate_proj.weight
        return (
            f"in_features={w.shape[1]}, hidden_features={w.shape[0]}, "
            f"out_features={self.down_proj.weight.shape[0]}, bias={self.gate_proj.bias is not None}"
        )


class SwiGLU(_GatedFeedForward, init=False):
    """SwiGLU feed-forward (Shazeer 2020): ``down_proj(silu(gate_proj(x)) * up_proj(x))``.

    The layout and state-dict keys of HF's ``LlamaMLP`` (``gate_proj``, ``up_proj``, ``down_proj``;
    ``torch.nn.Linear`` weights ``[out, in]``, no biases by default), so Llama/Mistral/Qwen MLP
    weights load as they are. Linear layers are initialised as ``nn.Linear``. Logical axes: gate/up
    ``("mlp", "embed")``, down ``("embed", "mlp")``.

    Args:
      in_features: the model width.
      hidden_features: the inner width (HF ``intermediate_size``).
      out_features: the output width (default ``in_features``).
      bias: biases in the three projections (HF ``mlp_bias``).
      key: the construction key (default: the ``torsh.manual_seed`` stream).
      dtype: the parameter dtype.

    Raises:
      ConfigError: a size that is not a positive int.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> ffn = nn.SwiGLU(8, 32, key=torsh.random.key(0))
      >>> ffn(jnp.ones((2, 8))).shape, sorted(ffn.state_dict())
      ((2, 8), ['down_proj.weight', 'gate_proj.weight', 'up_proj.weight'])
    """

    def _act(self, x: jax.Array) -> jax.Array:
        return F.silu(x)


class GeGLU(_GatedFeedForward):
    """GeGLU feed-forward (Shazeer 2020): ``down_proj(gelu(gate_proj(x)) * up_proj(x))``.

    :class:`SwiGLU`'s layout and keys with GELU as the gate (Gemma's MLP uses
    ``approximate="tanh"``, HF ``gelu_pytorch_tanh``).

    Args:
      in_features: the model width.
      hidden_features: the inner width.
      out_features: the output width (default ``in_features``).
      bias: biases in the three projections.
      approximate: ``"none"`` (exact erf GELU) or ``"tanh"``, as ``nn.GELU``.
      key: the construction key (default: the ``torsh.manual_seed`` stream).
      dtype: the parameter dtype.

    Raises:
      ConfigError: a size that is not a positive int, or an unknown ``approximate``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.GeGLU(8, 16, approximate="tanh", key=torsh.random.key(0))(jnp.ones((3, 8))).shape
      (3, 8)
    """

    approximate: str = static()

    def __init__(
        self,
        in_features: int,
        hidden_features: int,
        out_features: int | None = None,
        bias: bool = False,
        approximate: str = "none",
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        if approximate not in ("none", "tanh"):
            raise ConfigError(f"GeGLU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        super().__init__(in_features, hidden_features, out_features, bias, key=key, dtype=dtype)

    def _act(self, x: jax.Array) -> jax.Array:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, approximate={self.approximate!r}"
