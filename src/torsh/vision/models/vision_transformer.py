"""Vision Transformer (``torchvision.models.vit_*``): same arguments, keys and initialisation.

``VisionTransformer`` takes any ``image_size``/``patch_size``/depth/width, so small configurations
(``VisionTransformer(32, 8, 2, 2, 32, 64)``) are the same code as ``vit_b_16()``.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from ...nn import (
    GELU,
    Conv2d,
    Dropout,
    LayerNorm,
    Linear,
    Module,
    MultiheadAttention,
    Sequential,
    Tanh,
    split_key,
)
from ...tree import static
from ._init import HostInit, assign, build
from ._weights import WeightsArg, finish

__all__ = [
    "VisionTransformer",
    "Encoder",
    "EncoderBlock",
    "MLPBlock",
    "vit_b_16",
    "vit_b_32",
    "vit_l_16",
    "vit_l_32",
    "vit_h_14",
]

_LN = partial(LayerNorm, eps=1e-6, axes=("embed",))


class MLPBlock(Sequential):
    """Linear(in, mlp) - GELU - Dropout - Linear(mlp, in) - Dropout; keys ``0.*`` and ``3.*``.

    Logical axes ``("mlp", "embed")`` then ``("embed", "mlp")``: Megatron's column/row split.
    """

    def __init__(
        self, in_dim: int, mlp_dim: int, dropout: float, *, key: Any = None, dtype: Any = None
    ) -> None:
        k1, k2 = split_key(key, 2)
        super().__init__(
            Linear(in_dim, mlp_dim, key=k1, dtype=dtype, axes=("mlp", "embed")),
            GELU(),
            Dropout(dropout),
            Linear(mlp_dim, in_dim, key=k2, dtype=dtype, axes=("embed", "mlp")),
            Dropout(dropout),
        )


class EncoderBlock(Module):
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``+ mlp(ln_2(.))``."""

    ln_1: Module
    self_attention: MultiheadAttention
    dropout: Dropout
    ln_2: Module
    mlp: MLPBlock
    num_heads: int = static()

    def __init__(
        self,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., Module] = _LN,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        k1, k2 = split_key(key, 2)
        self.num_heads = num_heads
        self.ln_1 = norm_layer(hidden_dim)
        self.self_attention = MultiheadAttention(
            hidden_dim, num_heads, dropout=attention_dropout, batch_first=True, key=k1, dtype=dtype
        )
        self.dropout = Dropout(dropout)
        self.ln_2 = norm_layer(hidden_dim)
        self.mlp = MLPBlock(hidden_dim, mlp_dim, dropout, key=k2, dtype=dtype)

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        if input.ndim != 3:
            raise ShapeError(f"expected (batch_size, seq_length, hidden_dim), got shape {list(input.shape)}")
        ka, kd, km = (None, None, None) if key is None else tuple(jax.random.split(key, 3))
        x = self.ln_1(input)
        x, _ = self.self_attention(x, x, x, need_weights=False, dropout_key=ka)
        x = self.dropout(x, key=kd) + input
        return x + self.mlp(self.ln_2(x), key=km)


class Encoder(Module):
    """Learned position embedding, dropout, ``layers`` (``encoder_layer_0``, ...) and a final LayerNorm."""

    pos_embedding: jax.Array
    dropout: Dropout
    layers: Sequential
    ln: Module

    __torsh_axes__ = {"pos_embedding": (None, "seq", "embed")}

    def __init__(
        self,
        seq_length: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float,
        attention_dropout: float,
        norm_layer: Callable[..., Module] = _LN,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        keys = split_key(key, num_layers + 1)
        self.pos_embedding = 0.02 * jax.random.normal(
            keys[-1], (1, seq_length, hidden_dim), dtype or jnp.float32
        )
        self.dropout = Dropout(dropout)
        self.layers = Sequential(
            OrderedDict(
                (
                    f"encoder_layer_{i}",
                    EncoderBlock(
                        num_heads,
                        hidden_dim,
                        mlp_dim,
                        dropout,
                        attention_dropout,
                        norm_layer,
                        key=keys[i],
                        dtype=dtype,
                    ),
                )
                for i in range(num_layers)
            )
        )
        self.ln = norm_layer(hidden_dim)

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        if input.ndim != 3:
            raise ShapeError(f"expected (batch_size, seq_length, hidden_dim), got shape {list(input.shape)}")
        k1, k2 = (None, None) if key is None else tuple(jax.random.split(key))
        x = self.dropout(input + self.pos_embedding, key=k1)
        return self.ln(self.layers(x, key=k2))


class VisionTransformer(Module):
    """Vision Transformer (Dosovitskiy et al., 2020) as ``torchvision.models.VisionTransformer``.

    Args:
      image_size, patch_size: square input side and patch side (``image_size % patch_size == 0``).
      num_layers, num_heads, hidden_dim, mlp_dim: encoder depth and widths.
      dropout, attention_dropout: dropout rates (training mode needs ``model(x, key=key)``).
      num_classes: outputs of ``heads.head``; representation_size: adds ``heads.pre_logits`` + tanh.
      norm_layer: LayerNorm factory (default eps 1e-6). ``conv_stem_configs`` is not supported.

    Initialisation is torchvision's: patch projection ``trunc_normal_(std=sqrt(1/fan_in))``, position
    embedding N(0, 0.02²), zero class token and head, MLP ``xavier_uniform_`` weights and N(0, 1e-6²)
    biases, PyTorch's MultiheadAttention defaults. Logical axes: attention ``heads``, MLP ``mlp``,
    hidden ``embed``.

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> from torsh.vision import models
      >>> vit = models.VisionTransformer(32, 8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
      ...                                num_classes=10, key=torsh.random.key(0))
      >>> jax.eval_shape(vit, jnp.zeros((2, 3, 32, 32))).shape
      (2, 10)
    """

    conv_proj: Conv2d
    class_token: jax.Array
    encoder: Encoder
    heads: Sequential
    image_size: int = static()
    patch_size: int = static()
    hidden_dim: int = static()
    mlp_dim: int = static()
    attention_dropout: float = static()
    dropout: float = static()
    num_classes: int = static()
    representation_size: int | None = static()
    seq_length: int = static()

    __torsh_axes__ = {"class_token": (None, None, "embed")}

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        num_layers: int,
        num_heads: int,
        hidden_dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        num_classes: int = 1000,
        representation_size: int | None = None,
        norm_layer: Callable[..., Module] = _LN,
        conv_stem_configs: Any = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        if image_size % patch_size != 0:
            raise ConfigError(
                f"VisionTransformer: image_size ({image_size}) must be divisible by patch_size ({patch_size})"
            )
        if conv_stem_configs is not None:
            raise ConfigError("VisionTransformer: conv_stem_configs is not supported by torsh; pass None")
        seq_length = (image_size // patch_size) ** 2 + 1

        def make(k: jax.Array) -> dict[str, Any]:
            k1, k2, k3, k4 = jax.random.split(k, 4)
            heads: OrderedDict[str, Module]
            if representation_size is None:
                heads = OrderedDict(head=Linear(hidden_dim, num_classes, key=k3, axes=("classes", "embed")))
            else:
                heads = OrderedDict(
                    pre_logits=Linear(hidden_dim, representation_size, key=k3),
                    act=Tanh(),
                    head=Linear(representation_size, num_classes, key=k4, axes=("classes", None)),
                )
            return {
                "conv_proj": Conv2d(
                    3,
                    hidden_dim,
                    kernel_size=patch_size,
                    stride=patch_size,
                    key=k1,
                    axes=("embed", None, "kh", "kw"),
                ),
                "class_token": jnp.zeros((1, 1, hidden_dim)),
                "encoder": Encoder(
                    seq_length,
                    num_layers,
                    num_heads,
                    hidden_dim,
                    mlp_dim,
                    dropout,
                    attention_dropout,
                    norm_layer,
                    key=k2,
                ),
                "heads": Sequential(heads),
            }

        def rule(path: str, owner: Any, field: str, shape: tuple[int, ...], init: HostInit) -> Any:
            if path == "class_token" or path.startswith("heads.head.") or path.endswith("out_proj.bias"):
                return np.zeros(shape)
            if path.startswith(("conv_proj.", "heads.pre_logits.")):
                if field == "bias":
                    return np.zeros(shape)
                return init.trunc_normal(shape, std=math.sqrt(1.0 / HostInit.fans(shape)[0]))
            if path == "encoder.pos_embedding":
                return init.normal(shape, 0.0, 0.02)
            if ".mlp." in path:
                return init.xavier_uniform(shape) if field == "weight" else init.normal(shape, 0.0, 1e-6)
            return None

        assign(self, build(make, key, rule, dtype))
        self.image_size, self.patch_size = image_size, patch_size
        self.hidden_dim, self.mlp_dim = hidden_dim, mlp_dim
        self.attention_dropout, self.dropout = float(attention_dropout), float(dropout)
        self.num_classes, self.representation_size = num_classes, representation_size
        self.seq_length = seq_length

    def _process_input(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4 or x.shape[2] != self.image_size or x.shape[3] != self.image_size:
            raise ShapeError(
                f"expected input (N, 3, {self.image_size}, {self.image_size}) "
                f"(image_size={self.image_size}), "
                f"got shape {list(x.shape)}"
            )
        n = x.shape[0]
        x = self.conv_proj(x)  # (n, hidden, h/p, w/p)
        return jnp.transpose(jnp.reshape(x, (n, self.hidden_dim, -1)), (0, 2, 1))

    def forward(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        x = self._process_input(x)
        n = x.shape[0]
        cls = jnp.broadcast_to(self.class_token, (n, 1, self.hidden_dim)).astype(x.dtype)
        x = self.encoder(jnp.concatenate([cls, x], axis=1), key=key)
        return self.heads(x[:, 0])


def _vit(
    patch_size: int,
    num_layers: int,
    num_heads: int,
    hidden_dim: int,
    mlp_dim: int,
    weights: WeightsArg,
    kwargs: dict,
) -> VisionTransformer:
    image_size = kwargs.pop("image_size", 224)
    model = VisionTransformer(
        image_size=image_size,
        patch_size=patch_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        mlp_dim=mlp_dim,
        **kwargs,
    )
    return finish(model, weights)


def vit_b_16(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-B/16 (``torchvision.models.vit_b_16``): 12 layers, 12 heads, width 768; ``image_size=`` (224)."""
    return _vit(16, 12, 12, 768, 3072, weights, kwargs)


def vit_b_32(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-B/32 (``torchvision.models.vit_b_32``)."""
    return _vit(32, 12, 12, 768, 3072, weights, kwargs)


def vit_l_16(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/16 (``torchvision.models.vit_l_16``)."""
    return _vit(16, 24, 16, 1024, 4096, weights, kwargs)


def vit_l_32(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/32 (``torchvision.models.vit_l_32``)."""
    return _vit(32, 24, 16, 1024, 4096, weights, kwargs)


def vit_h_14(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-H/14 (``torchvision.models.vit_h_14``)."""
    return _vit(14, 32, 16, 1280, 5120, weights, kwargs)
