"""ConvNeXt (``torchvision.models.convnext_*``): same arguments, keys and initialisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...nn import GELU, Conv2d, Flatten, LayerNorm, Linear, Module, Sequential, split_key
from ._init import HostInit, assign, build
from ._ops import Conv2dNormActivation, LayerNorm2d, Permute, StochasticDepth, _check_setting
from ._weights import WeightsArg, finish

__all__ = [
    "ConvNeXt",
    "CNBlock",
    "CNBlockConfig",
    "convnext_tiny",
    "convnext_small",
    "convnext_base",
    "convnext_large",
]


class CNBlock(Module, axes={"layer_scale": ("embed", None, None)}):
    """7x7 depthwise conv, LayerNorm, 4x MLP (GELU), layer scale, stochastic depth, residual.

    Called as ``block(x)``, or ``block(x, key=key)`` in training mode (stochastic depth).

    Args:
        dim: Channels.
        layer_scale: Initial value of the per-channel scale of the branch.
        stochastic_depth_prob: Probability of dropping the branch in training.
        norm_layer: Norm layer factory (default ``LayerNorm(eps=1e-6)`` over channels-last).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import CNBlock
        >>> make = lambda key: CNBlock(8, layer_scale=1e-6, stochastic_depth_prob=0.0, key=key).eval()
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> block.layer_scale.shape
        (8, 1, 1)
        >>> jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 8, 4, 4))).shape
        (1, 8, 4, 4)
    """

    block: Sequential
    layer_scale: jax.Array
    stochastic_depth: StochasticDepth

    def __init__(
        self,
        dim: int,
        layer_scale: float,
        stochastic_depth_prob: float,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        norm_layer = norm_layer or partial(LayerNorm, eps=1e-6, axes=("embed",))
        k1, k2, k3 = split_key(key, 3)
        self.block = Sequential(
            Conv2d(
                dim,
                dim,
                kernel_size=7,
                padding=3,
                groups=dim,
                bias=True,
                key=k1,
                dtype=dtype,
                axes=("embed", None, "kh", "kw"),
            ),
            Permute([0, 2, 3, 1]),
            norm_layer(dim),
            Linear(dim, 4 * dim, key=k2, dtype=dtype, axes=("mlp", "embed")),
            GELU(),
            Linear(4 * dim, dim, key=k3, dtype=dtype, axes=("embed", "mlp")),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = jnp.full((dim, 1, 1), layer_scale, dtype or jnp.float32)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        result = self.layer_scale * self.block(input)
        return self.stochastic_depth(result, key=key) + input


class CNBlockConfig:
    """One ConvNeXt stage: channels in, channels out (``None``: last stage), number of blocks.

    Args:
        input_channels: Channels of the stage's blocks.
        out_channels: Channels after the downsampling that follows (None: the last stage).
        num_layers: Blocks in the stage.

    Example:
        >>> from torsh.vision.models import CNBlockConfig
        >>> CNBlockConfig(96, 192, 3)
        CNBlockConfig(input_channels=96, out_channels=192, num_layers=3)
    """

    def __init__(self, input_channels: int, out_channels: int | None, num_layers: int) -> None:
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers

    def __repr__(self) -> str:
        return (
            f"CNBlockConfig(input_channels={self.input_channels}, out_channels={self.out_channels}, "
            f"num_layers={self.num_layers})"
        )


class ConvNeXt(Module):
    r"""ConvNeXt (Liu et al., 2022) as ``torchvision.models.ConvNeXt``.

    Initialisation as torchvision: ``trunc_normal_(std=0.02)`` convolutions and Linear layers with zero
    biases, layer scale ``layer_scale`` (1e-6). Training mode needs ``model(x, key=key)`` (stochastic
    depth). Logical axes: the block MLPs are ``("mlp", "embed")``/``("embed", "mlp")``, so Megatron
    rules (``{"mlp": "model"}``) split them.

    Args:
        block_setting: The stages, as :class:`CNBlockConfig`\ s.
        stochastic_depth_prob: Drop probability of the last block (it grows linearly with depth).
        layer_scale: Initial layer scale of every block.
        num_classes: Outputs of the classifier.
        block: Block factory (default :class:`CNBlock`).
        norm_layer: Norm layer factory (default ``LayerNorm2d(eps=1e-6)``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``block_setting`` is empty or holds other objects.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> cfg = [models.CNBlockConfig(8, 16, 1), models.CNBlockConfig(16, None, 1)]
        >>> m = models.ConvNeXt(cfg, num_classes=10, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(m, jnp.zeros((1, 3, 32, 32))).shape
        (1, 10)
    """

    features: Sequential
    avgpool: Module
    classifier: Sequential

    def __init__(
        self,
        block_setting: Sequence[CNBlockConfig],
        stochastic_depth_prob: float = 0.0,
        layer_scale: float = 1e-6,
        num_classes: int = 1000,
        block: Callable[..., Module] | None = None,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        from ...nn import AdaptiveAvgPool2d

        _check_setting(block_setting, CNBlockConfig, "block_setting")
        block = block or CNBlock
        norm_layer = norm_layer or partial(LayerNorm2d, eps=1e-6, axes=("embed",))

        def make(k: jax.Array) -> dict[str, Any]:
            total = sum(cnf.num_layers for cnf in block_setting)
            ks = iter(jax.random.split(k, total + len(block_setting) + 2))
            layers: list[Module] = [
                Conv2dNormActivation(
                    3,
                    block_setting[0].input_channels,
                    kernel_size=4,
                    stride=4,
                    padding=0,
                    norm_layer=norm_layer,
                    activation_layer=None,
                    bias=True,
                    key=next(ks),
                )
            ]
            block_id = 0
            for cnf in block_setting:
                stage = []
                for _ in range(cnf.num_layers):
                    sd_prob = stochastic_depth_prob * block_id / (total - 1.0) if total > 1 else 0.0
                    stage.append(block(cnf.input_channels, layer_scale, sd_prob, key=next(ks)))
                    block_id += 1
                layers.append(Sequential(*stage))
                if cnf.out_channels is not None:
                    layers.append(
                        Sequential(
                            norm_layer(cnf.input_channels),
                            Conv2d(
                                cnf.input_channels, cnf.out_channels, kernel_size=2, stride=2, key=next(ks)
                            ),
                        )
                    )
            last = block_setting[-1]
            last_channels = last.out_channels if last.out_channels is not None else last.input_channels
            return {
                "features": Sequential(*layers),
                "avgpool": AdaptiveAvgPool2d(1),
                "classifier": Sequential(
                    norm_layer(last_channels),
                    Flatten(1),
                    Linear(last_channels, num_classes, key=next(ks), axes=("classes", "embed")),
                ),
            }

        def rule(path: str, owner: Any, field: str, shape: tuple[int, ...], init: HostInit) -> Any:
            if isinstance(owner, (Conv2d, Linear)):
                return init.trunc_normal(shape, std=0.02) if field == "weight" else np.zeros(shape)
            if isinstance(owner, CNBlock):
                return np.full(shape, layer_scale)
            return None

        assign(self, build(make, key, rule, dtype))

    def forward(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        x = self.avgpool(self.features(x, key=key))
        return self.classifier(x)


def _convnext(setting: list[CNBlockConfig], sd: float, weights: WeightsArg, kwargs: dict) -> ConvNeXt:
    sd = kwargs.pop("stochastic_depth_prob", sd)
    return finish(ConvNeXt(setting, stochastic_depth_prob=sd, **kwargs), weights)


def convnext_tiny(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-Tiny (``torchvision.models.convnext_tiny``).

    Blocks per stage ``[3, 3, 9, 3]``, channels 96 to 768; stochastic depth 0.1 by default.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ConvNeXt` (``num_classes=``, ``stochastic_depth_prob=``,
            ``layer_scale=``, ``key=``, ``dtype=``).

    Returns:
        A :class:`ConvNeXt`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.convnext_tiny(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        28589128
        >>> models.convnext_tiny(num_classes=10).classifier[2].out_features  # doctest: +SKIP
        10
    """
    c = CNBlockConfig
    return _convnext([c(96, 192, 3), c(192, 384, 3), c(384, 768, 9), c(768, None, 3)], 0.1, weights, kwargs)


def convnext_small(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-Small (``torchvision.models.convnext_small``).

    Blocks per stage ``[3, 3, 27, 3]``, channels 96 to 768; stochastic depth 0.4 by default.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ConvNeXt` (``num_classes=``, ``stochastic_depth_prob=``,
            ``layer_scale=``, ``key=``, ``dtype=``).

    Returns:
        A :class:`ConvNeXt`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.convnext_small(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        50223688
        >>> models.convnext_small(num_classes=10).classifier[2].out_features  # doctest: +SKIP
        10
    """
    c = CNBlockConfig
    return _convnext([c(96, 192, 3), c(192, 384, 3), c(384, 768, 27), c(768, None, 3)], 0.4, weights, kwargs)


def convnext_base(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-Base (``torchvision.models.convnext_base``).

    Blocks per stage ``[3, 3, 27, 3]``, channels 128 to 1024; stochastic depth 0.5 by default.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ConvNeXt` (``num_classes=``, ``stochastic_depth_prob=``,
            ``layer_scale=``, ``key=``, ``dtype=``).

    Returns:
        A :class:`ConvNeXt`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.convnext_base(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        88591464
        >>> models.convnext_base(num_classes=10).classifier[2].out_features  # doctest: +SKIP
        10
    """
    c = CNBlockConfig
    return _convnext(
        [c(128, 256, 3), c(256, 512, 3), c(512, 1024, 27), c(1024, None, 3)], 0.5, weights, kwargs
    )


def convnext_large(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ConvNeXt:
    """ConvNeXt-Large (``torchvision.models.convnext_large``).

    Blocks per stage ``[3, 3, 27, 3]``, channels 192 to 1536; stochastic depth 0.5 by default.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ConvNeXt` (``num_classes=``, ``stochastic_depth_prob=``,
            ``layer_scale=``, ``key=``, ``dtype=``).

    Returns:
        A :class:`ConvNeXt`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.convnext_large(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        197767336
        >>> models.convnext_large(num_classes=10).classifier[2].out_features  # doctest: +SKIP
        10
    """
    c = CNBlockConfig
    return _convnext(
        [c(192, 384, 3), c(384, 768, 3), c(768, 1536, 27), c(1536, None, 3)], 0.5, weights, kwargs
    )
