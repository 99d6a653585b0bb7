"""Light layers for the language models, built from host (numpy) arrays.

The models initialise on the host with a numpy generator seeded from the JAX key: compiling JAX's
random ops for every parameter shape took ~13 s for a one-layer Llama on the loaded 2-core CI
machine (each shape is its own XLA program), against milliseconds in numpy. Parameter names match
``torch.nn.Linear``/``Embedding``/``LayerNorm`` (``weight``, ``bias``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...nn import Module
from ...nn import functional as F
from ...tree import static

__all__ = ["host_rng", "Dense", "Embedding", "LayerNorm", "RMSNorm", "normal"]


def host_rng(key: Any) -> np.random.Generator:
    """A numpy generator seeded from a JAX key (typed or raw)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return np.random.default_rng(np.asarray(key, np.uint32).ravel().tolist())


def normal(rng: np.random.Generator, shape: tuple[int, ...], std: float, dtype: Any) -> jax.Array:
    return jnp.asarray((std * rng.standard_normal(shape, dtype=np.float32)).astype(np.float32), dtype)


class Dense(Module):
    """``x @ weight.T + bias`` with ``torch.nn.Linear``'s layout ``[out, in]``."""

    weight: jax.Array
    bias: jax.Array | None

    def __init__(self, weight: jax.Array, bias: jax.Array | None, axes: tuple[str, str]) -> None:
        self.weight, self.bias = weight, bias
        if bias is not None:
            self.with_axes(weight=axes, bias=axes[:1])
        else:
            self.with_axes(weight=axes)

    def forward(self, x: jax.Array) -> jax.Array:
        y = x @ self.weight.T
        return y if self.bias is None else y + self.bias


class Embedding(Module):
    """A ``[num, dim]`` lookup table (``torch.nn.Embedding``'s ``weight``)."""

    weight: jax.Array

    def __init__(self, weight: jax.Array, axes: tuple[str, str]) -> None:
        self.weight = weight
        self.with_axes(weight=axes)

    def forward(self, ids: jax.Array) -> jax.Array:
        return jnp.take(self.weight, ids, axis=0)


class LayerNorm(Module, axes={"weight": ("embed",), "bias": ("embed",)}):
    """``torch.nn.LayerNorm`` over the last axis (weight ones, bias zeros)."""

    weight: jax.Array
    bias: jax.Array
    eps: float = static()

    def __init__(self, size: int, eps: float, dtype: Any) -> None:
        self.weight = jnp.asarray(np.ones(size, np.float32), dtype)
        self.bias = jnp.asarray(np.zeros(size, np.float32), dtype)
        self.eps = float(eps)

    def forward(self, x: jax.Array) -> jax.Array:
        return F.layer_norm(x, (x.shape[-1],), self.weight, self.bias, self.eps)


class RMSNorm(Module, axes={"weight": ("embed",)}):
    """HF's ``LlamaRMSNorm``: normalise in float32, cast back to the input dtype, then scale."""

    weight: jax.Array
    eps: float = static()

    def __init__(self, size: int, eps: float, dtype: Any) -> None:
        self.weight = jnp.asarray(np.ones(size, np.float32), dtype)
        self.eps = float(eps)

    def forward(self, x: jax.Array) -> jax.Array:
        h = x.astype(jnp.float32)
        h = h * jax.lax.rsqrt(jnp.mean(h * h, axis=-1, keepdims=True) + self.eps)
        return self.weight * h.astype(x.dtype)
