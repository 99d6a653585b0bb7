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

    Args:
        in_dim: Input and output width.
        mlp_dim: Hidden width.
        dropout: Dropout probability (training mode needs ``block(x, key=key)``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import MLPBlock
        >>> mlp = jax.eval_shape(lambda key: MLPBlock(8, 16, dropout=0.0, key=key), torsh.random.key(0))
        >>> torsh.tree.paths(mlp)  # torchvision's state-dict keys
        ['0.weight', '0.bias', '3.weight', '3.bias']
        >>> jax.eval_shape(lambda m, x: m(x), mlp, jnp.zeros((2, 8))).shape
        (2, 8)
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
    """Pre-norm transformer block: ``x + attn(ln_1(x))``, then ``+ mlp(ln_2(.))``.

    Called as ``block(x)`` on ``(batch, seq, hidden)``, or ``block(x, key=key)`` in training mode.

    Args:
        num_heads: Attention heads.
        hidden_dim: Width (divisible by ``num_heads``).
        mlp_dim: Hidden width of the MLP.
        dropout: Dropout after attention and in the MLP.
        attention_dropout: Dropout of the attention weights.
        norm_layer: LayerNorm factory (default eps 1e-6).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ShapeError: When called on an input that is not ``(batch, seq, hidden)``.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import EncoderBlock
        >>> make = lambda key: EncoderBlock(2, 8, 16, dropout=0.0, attention_dropout=0.0, key=key)
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 5, 8))).shape
        (1, 5, 8)
    """

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


class Encoder(Module, axes={"pos_embedding": (None, "seq", "embed")}):
    r"""Learned position embedding, dropout, ``layers`` (``encoder_layer_0``, ...) and a final LayerNorm.

    Called as ``encoder(x)`` on ``(batch, seq_length, hidden)``, or ``encoder(x, key=key)`` in training.

    Args:
        seq_length: Sequence length (patches + class token).
        num_layers: Number of :class:`EncoderBlock`\ s.
        num_heads: Attention heads.
        hidden_dim: Width.
        mlp_dim: Hidden width of the MLPs.
        dropout: Dropout rate.
        attention_dropout: Dropout of the attention weights.
        norm_layer: LayerNorm factory (default eps 1e-6).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ShapeError: When called on an input that is not ``(batch, seq, hidden)``.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import Encoder
        >>> make = lambda key: Encoder(5, 2, 2, 8, 16, dropout=0.0, attention_dropout=0.0, key=key)
        >>> enc = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> jax.eval_shape(lambda m, x: m(x), enc, jnp.zeros((1, 5, 8))).shape
        (1, 5, 8)
        >>> torsh.tree.paths(enc)[:2]  # torchvision's state-dict keys
        ['pos_embedding', 'layers.encoder_layer_0.ln_1.weight']
    """

    pos_embedding: jax.Array
    dropout: Dropout
    layers: Sequential
    ln: Module

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


class VisionTransformer(Module, axes={"class_token": (None, None, "embed")}):
    """Vision Transformer (Dosovitskiy et al., 2020) as ``torchvision.models.VisionTransformer``.

    Initialisation is torchvision's: patch projection ``trunc_normal_(std=sqrt(1/fan_in))``, position
    embedding N(0, 0.02²), zero class token and head, MLP ``xavier_uniform_`` weights and N(0, 1e-6²)
    biases, PyTorch's MultiheadAttention defaults. Logical axes: attention ``heads``, MLP ``mlp``,
    hidden ``embed``.

    Args:
        image_size: Square input side (``image_size % patch_size == 0``).
        patch_size: Patch side.
        num_layers: Encoder depth.
        num_heads: Attention heads.
        hidden_dim: Width.
        mlp_dim: Hidden width of the MLPs.
        dropout: Dropout rate (training mode needs ``model(x, key=key)``).
        attention_dropout: Dropout of the attention weights.
        num_classes: Outputs of ``heads.head``.
        representation_size: Adds ``heads.pre_logits`` + tanh of this width (None: no pre-logits).
        norm_layer: LayerNorm factory (default eps 1e-6).
        conv_stem_configs: Not supported (must be None).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``image_size`` is not divisible by ``patch_size``, or ``conv_stem_configs`` is given.
        ShapeError: When called on an input that is not ``(N, 3, image_size, image_size)``.

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
    """ViT-B/16 (``torchvision.models.vit_b_16``): 16x16 patches, 12 layers, 12 heads, width 768, MLP 3072.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``image_size`` (default 224) and arguments of :class:`VisionTransformer`
            (``num_classes=``, ``dropout=``, ``attention_dropout=``, ``representation_size=``, ``key=``...).

    Returns:
        A :class:`VisionTransformer`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.
        ConfigError: If ``image_size`` is not divisible by the patch size.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.vit_b_16(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        86567656
        >>> models.vit_b_16(num_classes=10).heads["head"].out_features  # doctest: +SKIP
        10
    """
    return _vit(16, 12, 12, 768, 3072, weights, kwargs)


def vit_b_32(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-B/32 (``torchvision.models.vit_b_32``): 32x32 patches, 12 layers, 12 heads, width 768, MLP 3072.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``image_size`` (default 224) and arguments of :class:`VisionTransformer`
            (``num_classes=``, ``dropout=``, ``attention_dropout=``, ``representation_size=``, ``key=``...).

    Returns:
        A :class:`VisionTransformer`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.
        ConfigError: If ``image_size`` is not divisible by the patch size.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.vit_b_32(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        88224232
        >>> models.vit_b_32(num_classes=10).heads["head"].out_features  # doctest: +SKIP
        10
    """
    return _vit(32, 12, 12, 768, 3072, weights, kwargs)


def vit_l_16(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/16 (``torchvision.models.vit_l_16``): 16x16 patches, 24 layers, 16 heads, width 1024, MLP 4096.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``image_size`` (default 224) and arguments of :class:`VisionTransformer`
            (``num_classes=``, ``dropout=``, ``attention_dropout=``, ``representation_size=``, ``key=``...).

    Returns:
        A :class:`VisionTransformer`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.
        ConfigError: If ``image_size`` is not divisible by the patch size.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.vit_l_16(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        304326632
        >>> models.vit_l_16(num_classes=10).heads["head"].out_features  # doctest: +SKIP
        10
    """
    return _vit(16, 24, 16, 1024, 4096, weights, kwargs)


def vit_l_32(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-L/32 (``torchvision.models.vit_l_32``): 32x32 patches, 24 layers, 16 heads, width 1024, MLP 4096.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``image_size`` (default 224) and arguments of :class:`VisionTransformer`
            (``num_classes=``, ``dropout=``, ``attention_dropout=``, ``representation_size=``, ``key=``...).

    Returns:
        A :class:`VisionTransformer`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.
        ConfigError: If ``image_size`` is not divisible by the patch size.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.vit_l_32(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        306535400
        >>> models.vit_l_32(num_classes=10).heads["head"].out_features  # doctest: +SKIP
        10
    """
    return _vit(32, 24, 16, 1024, 4096, weights, kwargs)


def vit_h_14(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> VisionTransformer:
    """ViT-H/14 (``torchvision.models.vit_h_14``): 14x14 patches, 32 layers, 16 heads, width 1280, MLP 5120.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``image_size`` (default 224) and arguments of :class:`VisionTransformer`
            (``num_classes=``, ``dropout=``, ``attention_dropout=``, ``representation_size=``, ``key=``...).

    Returns:
        A :class:`VisionTransformer`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.
        ConfigError: If ``image_size`` is not divisible by the patch size.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.vit_h_14(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        632045800
        >>> models.vit_h_14(num_classes=10).heads["head"].out_features  # doctest: +SKIP
        10
    """
    return _vit(14, 32, 16, 1280, 5120, weights, kwargs)
