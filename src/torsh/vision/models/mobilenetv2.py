"""MobileNetV2 (``torchvision.models.mobilenet_v2``): same arguments, keys and initialisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax

from ...errors import ConfigError
from ...nn import BatchNorm2d, Dropout, Linear, Module, ReLU6, Sequential, split_key
from ...tree import static
from ._init import assign, build, conv_bn_rule
from ._ops import _inverted_residual_layers, _stem_blocks_head, classify, make_divisible
from ._weights import WeightsArg, finish

__all__ = ["MobileNetV2", "InvertedResidual", "mobilenet_v2"]


class InvertedResidual(Module):
    """1x1 expansion, 3x3 depthwise, 1x1 linear projection; residual when shapes allow (MobileNetV2).

    Args:
        inp: Input channels.
        oup: Output channels.
        stride: 1 or 2 (the depthwise convolution's).
        expand_ratio: Hidden channels = ``inp * expand_ratio`` (1: no expansion layer).
        norm_layer: Norm layer factory (default ``nn.BatchNorm2d``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).

    Raises:
        ConfigError: If ``stride`` is not 1 or 2.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models.mobilenetv2 import InvertedResidual
        >>> make = lambda key: InvertedResidual(8, 8, stride=1, expand_ratio=6, key=key).eval()
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> block.use_res_connect, jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 8, 4, 4))).shape
        (True, (1, 8, 4, 4))
    """

    conv: Sequential
    stride: int = static()
    use_res_connect: bool = static()
    out_channels: int = static()

    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand_ratio: int,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
    ) -> None:
        if stride not in (1, 2):
            raise ConfigError(f"stride should be 1 or 2 instead of {stride}")
        norm_layer = norm_layer or BatchNorm2d
        hidden_dim = int(round(inp * expand_ratio))
        layers = _inverted_residual_layers(
            inp,
            hidden_dim,
            oup,
            kernel_size=3,
            stride=stride,
            norm_layer=norm_layer,
            activation=ReLU6,
            keys=split_key(key, 3),
            expand=expand_ratio != 1,
            flat_projection=True,
        )
        self.conv = Sequential(*layers)
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        self.out_channels = oup

    def forward(self, x: jax.Array) -> jax.Array:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(Module):
    """MobileNetV2 (Sandler et al., 2018) as ``torchvision.models.MobileNetV2``.

    Called as ``model(x)``, or ``model(x, key=key)`` in training mode (the classifier's dropout).

    Args:
        num_classes: Outputs of the classifier.
        width_mult: Channel multiplier.
        inverted_residual_setting: Rows ``[t, c, n, s]`` (expansion, channels, repeats, stride).
        round_nearest: Round channel counts to a multiple of this.
        block: Block factory (default :class:`InvertedResidual`).
        norm_layer: Norm layer factory (default ``nn.BatchNorm2d``).
        dropout: Dropout probability before the classifier.
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``inverted_residual_setting`` is empty or its rows do not have 4 entries.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> m = models.mobilenet_v2(num_classes=10, width_mult=0.25, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(m, jnp.zeros((1, 3, 32, 32))).shape
        (1, 10)
    """

    features: Sequential
    classifier: Sequential
    last_channel: int = static()

    def __init__(
        self,
        num_classes: int = 1000,
        width_mult: float = 1.0,
        inverted_residual_setting: Sequence[Sequence[int]] | None = None,
        round_nearest: int = 8,
        block: Callable[..., Module] | None = None,
        norm_layer: Callable[..., Module] | None = None,
        dropout: float = 0.2,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        block = block or InvertedResidual
        norm_layer = norm_layer or BatchNorm2d
        if inverted_residual_setting is None:
            inverted_residual_setting = [
                [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
            ]  # fmt: skip
        if len(inverted_residual_setting) == 0 or len(inverted_residual_setting[0]) != 4:
            raise ConfigError(
                "inverted_residual_setting should be non-empty or a 4-element list, "
                f"got {inverted_residual_setting}"
            )
        input_channel = make_divisible(32 * width_mult, round_nearest)
        last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)

        def make(k: jax.Array) -> dict[str, Any]:
            n_blocks = sum(row[2] for row in inverted_residual_setting)
            ks = iter(jax.random.split(k, n_blocks + 3))
            cin = input_channel
            k_stem = next(ks)
            blocks: list[Module] = []
            for t, c, n, s in inverted_residual_setting:
                cout = make_divisible(c * width_mult, round_nearest)
                for i in range(n):
                    blocks.append(
                        block(
                            cin, cout, s if i == 0 else 1, expand_ratio=t, norm_layer=norm_layer, key=next(ks)
                        )
                    )
                    cin = cout
            features = _stem_blocks_head(
                input_channel, blocks, (cin, last_channel), norm_layer, ReLU6, (k_stem, next(ks))
            )
            return {
                "features": Sequential(*features),
                "classifier": Sequential(
                    Dropout(p=dropout),
                    Linear(last_channel, num_classes, key=next(ks), axes=("classes", "embed")),
                ),
            }

        assign(self, build(make, key, conv_bn_rule("normal001"), dtype))
        self.last_channel = last_channel

    def forward(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return classify(self.features, self.classifier, x, key)


def mobilenet_v2(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> MobileNetV2:
    """MobileNetV2 (``torchvision.models.mobilenet_v2``).

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`MobileNetV2` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`MobileNetV2`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> models.mobilenet_v2(key=torsh.random.key(0)).num_parameters()  # torchvision's  # doctest: +SKIP
        3504872
        >>> small = models.mobilenet_v2(num_classes=10, width_mult=0.5)  # doctest: +SKIP
        >>> small.classifier[1].out_features  # doctest: +SKIP
        10
    """
    return finish(MobileNetV2(**kwargs), weights)
