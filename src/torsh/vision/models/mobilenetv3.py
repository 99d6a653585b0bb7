"""MobileNetV3 Large/Small (``torchvision.models.mobilenet_v3_*``): same arguments, keys, initialisation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import jax

from ...errors import ConfigError
from ...nn import BatchNorm2d, Dropout, Hardsigmoid, Hardswish, Linear, Module, ReLU, Sequential, split_key
from ...tree import static
from ._init import assign, build, conv_bn_rule
from ._ops import (
    SqueezeExcitation,
    _check_setting,
    _inverted_residual_layers,
    _stem_blocks_head,
    classify,
    make_divisible,
)
from ._weights import WeightsArg, finish

__all__ = [
    "MobileNetV3",
    "InvertedResidualConfig",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
]


class InvertedResidualConfig:
    """One MobileNetV3 block: channels (scaled by ``width_mult``), kernel, SE, activation "RE"/"HS".

    Args:
        input_channels: Input channels before scaling.
        kernel: Depthwise kernel size.
        expanded_channels: Hidden channels before scaling.
        out_channels: Output channels before scaling.
        use_se: Add squeeze-and-excitation.
        activation: ``"RE"`` (ReLU) or ``"HS"`` (hard swish).
        stride: Depthwise stride.
        dilation: Depthwise dilation.
        width_mult: Channel multiplier (channels are rounded to multiples of 8).

    Example:
        >>> from torsh.vision.models import InvertedResidualConfig
        >>> cnf = InvertedResidualConfig(16, 3, 64, 24, False, "RE", 2, 1, width_mult=0.5)
        >>> cnf.input_channels, cnf.expanded_channels, cnf.out_channels, cnf.use_hs
        (8, 32, 16, False)
    """

    def __init__(
        self,
        input_channels: int,
        kernel: int,
        expanded_channels: int,
        out_channels: int,
        use_se: bool,
        activation: str,
        stride: int,
        dilation: int,
        width_mult: float,
    ) -> None:
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride
        self.dilation = dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        """``channels * width_mult`` rounded to a multiple of 8 (:func:`make_divisible`).

        Args:
            channels: The unscaled channel count.
            width_mult: The multiplier.

        Returns:
            The scaled channel count.

        Example:
            >>> from torsh.vision.models import InvertedResidualConfig
            >>> [InvertedResidualConfig.adjust_channels(c, 0.5) for c in (24, 40, 96)]
            [16, 24, 48]
        """
        return make_divisible(channels * width_mult, 8)


_SE_LAYER = partial(SqueezeExcitation, scale_activation=Hardsigmoid)


class InvertedResidual(Module):
    """MobileNetV3 block: expand, depthwise, optional squeeze-excitation (hard sigmoid), project."""

    block: Sequential
    use_res_connect: bool = static()
    out_channels: int = static()

    def __init__(
        self,
        cnf: InvertedResidualConfig,
        norm_layer: Callable[..., Module],
        se_layer: Callable[..., Module] = _SE_LAYER,
        *,
        key: Any = None,
    ) -> None:
        if not 1 <= cnf.stride <= 2:
            raise ConfigError(f"illegal stride value {cnf.stride}")
        expanded = cnf.expanded_channels
        layers = _inverted_residual_layers(
            cnf.input_channels,
            expanded,
            cnf.out_channels,
            kernel_size=cnf.kernel,
            stride=1 if cnf.dilation > 1 else cnf.stride,
            dilation=cnf.dilation,
            norm_layer=norm_layer,
            activation=Hardswish if cnf.use_hs else ReLU,
            keys=split_key(key, 4),
            expand=expanded != cnf.input_channels,
            squeeze=(lambda k: se_layer(expanded, make_divisible(expanded // 4, 8), key=k))
            if cnf.use_se
            else None,
        )
        self.block = Sequential(*layers)
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        self.out_channels = cnf.out_channels

    def forward(self, input: jax.Array) -> jax.Array:
        result = self.block(input)
        return result + input if self.use_res_connect else result


class MobileNetV3(Module):
    r"""MobileNetV3 (Howard et al., 2019) as ``torchvision.models.MobileNetV3``.

    Called as ``model(x)``, or ``model(x, key=key)`` in training mode (the classifier's dropout).

    Args:
        inverted_residual_setting: The blocks, as :class:`InvertedResidualConfig`\ s.
        last_channel: Hidden width of the classifier.
        num_classes: Outputs of the classifier.
        block: Block factory (default: MobileNetV3's inverted residual).
        norm_layer: Norm layer factory (default ``BatchNorm2d(eps=0.001, momentum=0.01)``).
        dropout: Dropout probability in the classifier.
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``inverted_residual_setting`` is empty or holds other objects.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> m = models.mobilenet_v3_small(num_classes=10, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(m, jnp.zeros((1, 3, 32, 32))).shape
        (1, 10)
    """

    features: Sequential
    classifier: Sequential

    def __init__(
        self,
        inverted_residual_setting: Sequence[InvertedResidualConfig],
        last_channel: int,
        num_classes: int = 1000,
        block: Callable[..., Module] | None = None,
        norm_layer: Callable[..., Module] | None = None,
        dropout: float = 0.2,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_setting(inverted_residual_setting, InvertedResidualConfig, "inverted_residual_setting")
        block = block or InvertedResidual
        norm_layer = norm_layer or partial(BatchNorm2d, eps=0.001, momentum=0.01)

        def make(k: jax.Array) -> dict[str, Any]:
            ks = iter(jax.random.split(k, len(inverted_residual_setting) + 4))
            k_stem = next(ks)
            blocks = [block(cnf, norm_layer, key=next(ks)) for cnf in inverted_residual_setting]
            first = inverted_residual_setting[0].input_channels
            last_in = inverted_residual_setting[-1].out_channels
            last_out = 6 * last_in
            layers = _stem_blocks_head(
                first, blocks, (last_in, last_out), norm_layer, Hardswish, (k_stem, next(ks))
            )
            return {
                "features": Sequential(*layers),
                "classifier": Sequential(
                    Linear(last_out, last_channel, key=next(ks), axes=("mlp", "embed")),
                    Hardswish(inplace=True),
                    Dropout(p=dropout, inplace=True),
                    Linear(last_channel, num_classes, key=next(ks), axes=("classes", "mlp")),
                ),
            }

        assign(self, build(make, key, conv_bn_rule("normal001"), dtype))

    def forward(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return classify(self.features, self.classifier, x, key)


def _mobilenet_v3_conf(
    arch: str, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False
) -> tuple[list[InvertedResidualConfig], int]:
    r = 2 if reduced_tail else 1
    d = 2 if dilated else 1
    c = partial(InvertedResidualConfig, width_mult=width_mult)
    if arch == "mobilenet_v3_large":
        setting = [
            c(16, 3, 16, 16, False, "RE", 1, 1), c(16, 3, 64, 24, False, "RE", 2, 1),
            c(24, 3, 72, 24, False, "RE", 1, 1), c(24, 5, 72, 40, True, "RE", 2, 1),
            c(40, 5, 120, 40, True, "RE", 1, 1), c(40, 5, 120, 40, True, "RE", 1, 1),
            c(40, 3, 240, 80, False, "HS", 2, 1), c(80, 3, 200, 80, False, "HS", 1, 1),
            c(80, 3, 184, 80, False, "HS", 1, 1), c(80, 3, 184, 80, False, "HS", 1, 1),
            c(80, 3, 480, 112, True, "HS", 1, 1), c(112, 3, 672, 112, True, "HS", 1, 1),
            c(112, 5, 672, 160 // r, True, "HS", 2, d),
            c(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
            c(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
        ]  # fmt: skip
        last = InvertedResidualConfig.adjust_channels(1280 // r, width_mult)
    else:
        setting = [
            c(16, 3, 16, 16, True, "RE", 2, 1), c(16, 3, 72, 24, False, "RE", 2, 1),
            c(24, 3, 88, 24, False, "RE", 1, 1), c(24, 5, 96, 40, True, "HS", 2, 1),
            c(40, 5, 240, 40, True, "HS", 1, 1), c(40, 5, 240, 40, True, "HS", 1, 1),
            c(40, 5, 120, 48, True, "HS", 1, 1), c(48, 5, 144, 48, True, "HS", 1, 1),
            c(48, 5, 288, 96 // r, True, "HS", 2, d),
            c(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
            c(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
        ]  # fmt: skip
        last = InvertedResidualConfig.adjust_channels(1024 // r, width_mult)
    return setting, last


def _mobilenet_v3(arch: str, weights: WeightsArg, kwargs: dict) -> MobileNetV3:
    conf = {k: kwargs.pop(k) for k in ("width_mult", "reduced_tail", "dilated") if k in kwargs}
    setting, last = _mobilenet_v3_conf(arch, **conf)
    return finish(MobileNetV3(setting, last, **kwargs), weights)


def mobilenet_v3_small(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> MobileNetV3:
    """MobileNetV3-Small (``torchvision.models.mobilenet_v3_small``).

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``width_mult``, ``reduced_tail`` and ``dilated`` (the block configuration, as
            torchvision), and arguments of :class:`MobileNetV3` (``num_classes=``, ``dropout=``, ``key=``...).

    Returns:
        A :class:`MobileNetV3`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.mobilenet_v3_small(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        2542856
        >>> half = models.mobilenet_v3_small(num_classes=10, width_mult=0.5)  # doctest: +SKIP
        >>> half.classifier[3].out_features  # doctest: +SKIP
        10
    """
    return _mobilenet_v3("mobilenet_v3_small", weights, kwargs)


def mobilenet_v3_large(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> MobileNetV3:
    """MobileNetV3-Large (``torchvision.models.mobilenet_v3_large``).

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: ``width_mult``, ``reduced_tail`` and ``dilated`` (the block configuration, as
            torchvision), and arguments of :class:`MobileNetV3` (``num_classes=``, ``dropout=``, ``key=``...).

    Returns:
        A :class:`MobileNetV3`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.mobilenet_v3_large(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # torchvision's  # doctest: +SKIP
        5483032
    """
    return _mobilenet_v3("mobilenet_v3_large", weights, kwargs)
