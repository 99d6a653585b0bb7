"""EfficientNet-B0..B7 (``torchvision.models.efficientnet_b*``): same arguments, keys, initialisation."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax

from ...errors import ConfigError
from ...nn import BatchNorm2d, Dropout, Linear, Module, Sequential, SiLU, split_key
from ...tree import static
from ._init import assign, build, conv_bn_rule
from ._ops import (
    SqueezeExcitation,
    StochasticDepth,
    _check_setting,
    _inverted_residual_layers,
    _stem_blocks_head,
    classify,
    make_divisible,
)
from ._weights import WeightsArg, finish

__all__ = ["EfficientNet", "MBConvConfig", "MBConv", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2"]


class MBConvConfig:
    """One EfficientNet stage: expansion, kernel, stride, channels and depth, scaled by width/depth.

    Args:
        expand_ratio: Hidden channels = input channels x this.
        kernel: Depthwise kernel size.
        stride: Stride of the stage's first block.
        input_channels: Input channels before scaling.
        out_channels: Output channels before scaling.
        num_layers: Blocks in the stage before scaling (rounded up after ``depth_mult``).
        width_mult: Channel multiplier (channels are rounded to multiples of 8).
        depth_mult: Depth multiplier.
        block: Block factory (default :class:`MBConv`).

    Example:
        >>> from torsh.vision.models import MBConvConfig
        >>> cnf = MBConvConfig(6, 3, 1, 16, 16, 2, width_mult=1.0, depth_mult=1.5)
        >>> cnf.input_channels, cnf.out_channels, cnf.num_layers
        (16, 16, 3)
    """

    def __init__(
        self,
        expand_ratio: float,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        num_layers: int,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        block: Callable[..., Module] | None = None,
    ) -> None:
        self.expand_ratio = expand_ratio
        self.kernel = kernel
        self.stride = stride
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.num_layers = int(math.ceil(num_layers * depth_mult))
        self.block = block or MBConv

    @staticmethod
    def adjust_channels(channels: int, width_mult: float, min_value: int | None = None) -> int:
        """``channels * width_mult`` rounded to a multiple of 8 (:func:`make_divisible`).

        Args:
            channels: The unscaled channel count.
            width_mult: The multiplier.
            min_value: The smallest result (default 8).

        Returns:
            The scaled channel count.

        Example:
            >>> from torsh.vision.models import MBConvConfig
            >>> MBConvConfig.adjust_channels(40, 1.1), MBConvConfig.adjust_channels(16, 6)
            (48, 96)
        """
        return make_divisible(channels * width_mult, 8, min_value)


class MBConv(Module):
    """Mobile inverted bottleneck with squeeze-excitation (SiLU) and stochastic depth on the residual.

    Called as ``block(x)``, or ``block(x, key=key)`` in training mode (stochastic depth).

    Args:
        cnf: The block's :class:`MBConvConfig`.
        stochastic_depth_prob: Probability of dropping the residual branch in training.
        norm_layer: Norm layer factory.
        se_layer: Squeeze-excitation factory.
        key: Construction key (default: the ``torsh.manual_seed`` stream).

    Raises:
        ConfigError: If the config's stride is not 1 or 2.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh import nn
        >>> from torsh.vision.models import MBConv, MBConvConfig
        >>> make = lambda key: MBConv(MBConvConfig(6, 3, 1, 16, 16, 1), 0.1, nn.BatchNorm2d, key=key).eval()
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> block.use_res_connect, jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 16, 4, 4))).shape
        (True, (1, 16, 4, 4))
    """

    block: Sequential
    stochastic_depth: StochasticDepth
    use_res_connect: bool = static()
    out_channels: int = static()

    def __init__(
        self,
        cnf: MBConvConfig,
        stochastic_depth_prob: float,
        norm_layer: Callable[..., Module],
        se_layer: Callable[..., Module] = SqueezeExcitation,
        *,
        key: Any = None,
    ) -> None:
        if not 1 <= cnf.stride <= 2:
            raise ConfigError(f"illegal stride value {cnf.stride}")
        expanded = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        squeeze = max(1, cnf.input_channels // 4)
        layers = _inverted_residual_layers(
            cnf.input_channels,
            expanded,
            cnf.out_channels,
            kernel_size=cnf.kernel,
            stride=cnf.stride,
            norm_layer=norm_layer,
            activation=SiLU,
            keys=split_key(key, 4),
            expand=expanded != cnf.input_channels,
            squeeze=lambda k: se_layer(expanded, squeeze, activation=SiLU, key=k),
        )
        self.block = Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        self.out_channels = cnf.out_channels

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result, key=key) + input
        return result


class EfficientNet(Module):
    r"""EfficientNet (Tan & Le, 2019) as ``torchvision.models.EfficientNet`` (MBConv stages).

    Training mode needs ``model(x, key=key)`` (stochastic depth and dropout).

    Args:
        inverted_residual_setting: The stages, as :class:`MBConvConfig`\ s.
        dropout: Dropout probability before the classifier.
        stochastic_depth_prob: Largest drop probability of a residual branch (it grows linearly with
            depth up to this).
        num_classes: Outputs of the classifier.
        norm_layer: Norm layer factory (default ``nn.BatchNorm2d``).
        last_channel: Channels of the last 1x1 convolution (default: 4 x the last stage's).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``inverted_residual_setting`` is empty or holds other objects.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> m = models.efficientnet_b0(num_classes=10, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(m, jnp.zeros((1, 3, 32, 32))).shape
        (1, 10)
    """

    features: Sequential
    classifier: Sequential

    def __init__(
        self,
        inverted_residual_setting: Sequence[MBConvConfig],
        dropout: float,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
        norm_layer: Callable[..., Module] | None = None,
        last_channel: int | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_setting(inverted_residual_setting, MBConvConfig, "inverted_residual_setting")
        norm_layer = norm_layer or BatchNorm2d

        def make(k: jax.Array) -> dict[str, Any]:
            total = sum(cnf.num_layers for cnf in inverted_residual_setting)
            ks = iter(jax.random.split(k, total + 3))
            k_stem = next(ks)
            blocks: list[Module] = []
            block_id = 0
            for cnf in inverted_residual_setting:
                stage: list[Module] = []
                for _ in range(cnf.num_layers):
                    block_cnf = copy.copy(cnf)
                    if stage:
                        block_cnf.input_channels = block_cnf.out_channels
                        block_cnf.stride = 1
                    sd_prob = stochastic_depth_prob * float(block_id) / total
                    stage.append(block_cnf.block(block_cnf, sd_prob, norm_layer, key=next(ks)))
                    block_id += 1
                blocks.append(Sequential(*stage))
            first = inverted_residual_setting[0].input_channels
            last_in = inverted_residual_setting[-1].out_channels
            last_out = last_channel if last_channel is not None else 4 * last_in
            layers = _stem_blocks_head(
                first, blocks, (last_in, last_out), norm_layer, SiLU, (k_stem, next(ks))
            )
            return {
                "features": Sequential(*layers),
                "classifier": Sequential(
                    Dropout(p=dropout, inplace=True),
                    Linear(last_out, num_classes, key=next(ks), axes=("classes", "embed")),
                ),
            }

        assign(self, build(make, key, conv_bn_rule("uniform_out"), dtype))

    def forward(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return classify(self.features, self.classifier, x, key)


def _b_conf(width_mult: float, depth_mult: float) -> list[MBConvConfig]:
    c = partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
    return [
        c(1, 3, 1, 32, 16, 1), c(6, 3, 2, 16, 24, 2), c(6, 5, 2, 24, 40, 2), c(6, 3, 2, 40, 80, 3),
        c(6, 5, 1, 80, 112, 3), c(6, 5, 2, 112, 192, 4), c(6, 3, 1, 192, 320, 1),
    ]  # fmt: skip


def _efficientnet(
    width: float, depth: float, dropout: float, weights: WeightsArg, kwargs: dict
) -> EfficientNet:
    model = EfficientNet(_b_conf(width, depth), kwargs.pop("dropout", dropout), **kwargs)
    return finish(model, weights)


def efficientnet_b0(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B0 (``torchvision.models.efficientnet_b0``): width x1.0, depth x1.0, dropout 0.2.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`EfficientNet` (``num_classes=``, ``dropout=``,
            ``stochastic_depth_prob=``, ``key=``, ``dtype=``).

    Returns:
        An :class:`EfficientNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.efficientnet_b0(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        5288548
        >>> models.efficientnet_b0(num_classes=10).classifier[1].out_features  # doctest: +SKIP
        10
    """
    return _efficientnet(1.0, 1.0, 0.2, weights, kwargs)


def efficientnet_b1(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B1 (``torchvision.models.efficientnet_b1``): width x1.0, depth x1.1, dropout 0.2.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`EfficientNet` (``num_classes=``, ``dropout=``,
            ``stochastic_depth_prob=``, ``key=``, ``dtype=``).

    Returns:
        An :class:`EfficientNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.efficientnet_b1(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        7794184
        >>> models.efficientnet_b1(num_classes=10).classifier[1].out_features  # doctest: +SKIP
        10
    """
    return _efficientnet(1.0, 1.1, 0.2, weights, kwargs)


def efficientnet_b2(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> EfficientNet:
    """EfficientNet-B2 (``torchvision.models.efficientnet_b2``): width x1.1, depth x1.2, dropout 0.3.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`EfficientNet` (``num_classes=``, ``dropout=``,
            ``stochastic_depth_prob=``, ``key=``, ``dtype=``).

    Returns:
        An :class:`EfficientNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.efficientnet_b2(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        9109994
        >>> models.efficientnet_b2(num_classes=10).classifier[1].out_features  # doctest: +SKIP
        10
    """
    return _efficientnet(1.1, 1.2, 0.3, weights, kwargs)
