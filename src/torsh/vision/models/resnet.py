"""ResNet, ResNeXt and Wide ResNet (``torchvision.models.resnet``): same classes, arguments and keys.

``resnet18(num_classes=10)`` builds the torchvision architecture with torchvision's state-dict keys
(``conv1.weight``, ``layer1.0.bn1.running_mean``, ``fc.bias``...) and initialisation
(``kaiming_normal_(mode="fan_out", nonlinearity="relu")`` convolutions, BatchNorm 1/0, PyTorch's
default Linear), so torchvision checkpoints load unchanged (:func:`torsh.vision.models.load_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError
from ...nn import (
    AdaptiveAvgPool2d,
    BatchNorm2d,
    Conv2d,
    Linear,
    MaxPool2d,
    Module,
    ReLU,
    Sequential,
    split_key,
)
from ...tree import static
from ._init import HostInit, assign, build, conv_bn_rule
from ._weights import WeightsArg, finish

__all__ = [
    "ResNet",
    "BasicBlock",
    "Bottleneck",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1, *, key: Any = None
) -> Conv2d:
    """3x3 convolution with padding (no bias: a norm layer follows)."""
    return Conv2d(
        in_planes, out_planes, 3, stride, dilation, groups=groups, bias=False, dilation=dilation, key=key
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, *, key: Any = None) -> Conv2d:
    """1x1 convolution (no bias)."""
    return Conv2d(in_planes, out_planes, 1, stride, bias=False, key=key)


class BasicBlock(Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34).

    Args:
        inplanes: Input channels.
        planes: Output channels (``expansion`` is 1).
        stride: Stride of the first convolution.
        downsample: Module applied to the identity when the shape changes (None: identity).
        groups: Must be 1 (torchvision's restriction).
        base_width: Must be 64.
        dilation: Must be 1.
        norm_layer: Norm layer factory (default ``nn.BatchNorm2d``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).

    Raises:
        ConfigError: If ``groups != 1``, ``base_width != 64`` or ``dilation > 1``.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import BasicBlock
        >>> block = jax.eval_shape(lambda key: BasicBlock(8, 8, key=key).eval(), torsh.random.key(0))
        >>> jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 8, 4, 4))).shape  # shapes only
        (1, 8, 4, 4)
        >>> torsh.tree.paths(block)[:3]  # torchvision's state-dict keys
        ['conv1.weight', 'bn1.weight', 'bn1.bias']
    """

    conv1: Conv2d
    bn1: Module
    relu: ReLU
    conv2: Conv2d
    bn2: Module
    downsample: Module | None
    stride: int = static()

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
    ) -> None:
        norm_layer = norm_layer or BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ConfigError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise ConfigError("Dilation > 1 not supported in BasicBlock")
        k1, k2 = split_key(key, 2)
        self.conv1 = conv3x3(inplanes, planes, stride, key=k1)
        self.bn1 = norm_layer(planes)
        self.relu = ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, key=k2)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: jax.Array) -> jax.Array:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(Module):
    """1x1 reduce, 3x3 (grouped, strided), 1x1 expand (x4), with a residual connection (ResNet-50+).

    The stride sits on the 3x3 convolution (ResNet V1.5), as in torchvision.

    Args:
        inplanes: Input channels.
        planes: Bottleneck channels; the output has ``planes * 4``.
        stride: Stride of the 3x3 convolution.
        downsample: Module applied to the identity when the shape changes (None: identity).
        groups: Groups of the 3x3 convolution (ResNeXt cardinality).
        base_width: Width per group (64: ResNet; 128: Wide ResNet).
        dilation: Dilation of the 3x3 convolution.
        norm_layer: Norm layer factory (default ``nn.BatchNorm2d``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh import nn
        >>> from torsh.vision.models import Bottleneck
        >>> def make(key):
        ...     down = nn.Sequential(nn.Conv2d(16, 32, 1, stride=2, bias=False, key=key), nn.BatchNorm2d(32))
        ...     return Bottleneck(16, 8, stride=2, downsample=down, key=key).eval()
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 16, 8, 8))).shape  # 8 * 4 channels
        (1, 32, 4, 4)
    """

    conv1: Conv2d
    bn1: Module
    conv2: Conv2d
    bn2: Module
    conv3: Conv2d
    bn3: Module
    relu: ReLU
    downsample: Module | None
    stride: int = static()

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
    ) -> None:
        norm_layer = norm_layer or BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        k1, k2, k3 = split_key(key, 3)
        self.conv1 = conv1x1(inplanes, width, key=k1)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation, key=k2)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion, key=k3)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: jax.Array) -> jax.Array:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(Module):
    """ResNet (He et al., 2015) as ``torchvision.models.ResNet``.

    Logical axes: convolutions ``("out", "in", "kh", "kw")``, BatchNorm ``("channels",)``, ``fc``
    ``("classes", "embed")``.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: Blocks per stage, e.g. ``[2, 2, 2, 2]`` (ResNet-18).
        num_classes: Outputs of the final ``fc`` layer.
        zero_init_residual: Start each residual branch at zero (its last BatchNorm weight is 0).
        groups: ResNeXt cardinality (``Bottleneck`` only).
        width_per_group: ResNeXt width per group (``Bottleneck`` only).
        replace_stride_with_dilation: Three bools: dilate instead of striding in stages 2-4.
        norm_layer: Normalisation layer factory (default ``nn.BatchNorm2d``).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ConfigError: If ``layers`` does not list 4 stage depths or ``replace_stride_with_dilation``
            does not have 3 entries.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> model = models.resnet18(num_classes=10, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(model, jnp.zeros((1, 3, 32, 32))).shape  # shapes only: no compile
        (1, 10)
        >>> list(model.state_dict())[:3]
        ['conv1.weight', 'bn1.weight', 'bn1.bias']
    """

    conv1: Conv2d
    bn1: Module
    relu: ReLU
    maxpool: MaxPool2d
    layer1: Sequential
    layer2: Sequential
    layer3: Sequential
    layer4: Sequential
    avgpool: AdaptiveAvgPool2d
    fc: Linear

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        replace_stride_with_dilation: Sequence[bool] | None = None,
        norm_layer: Callable[..., Module] | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        norm = norm_layer or BatchNorm2d
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ConfigError(
                "replace_stride_with_dilation should be None or a 3-element tuple, "
                f"got {replace_stride_with_dilation}"
            )
        if len(layers) != 4:
            raise ConfigError(f"ResNet: layers must list 4 stage depths, got {list(layers)}")

        def make(k: jax.Array) -> dict[str, Any]:
            ks = list(jax.random.split(k, 6))
            state = {"inplanes": 64, "dilation": 1}

            def make_layer(planes: int, blocks: int, stride: int, dilate: bool, kl: jax.Array) -> Sequential:
                previous_dilation = state["dilation"]
                if dilate:
                    state["dilation"] *= stride
                    stride = 1
                kb = list(jax.random.split(kl, blocks + 1))
                downsample = None
                if stride != 1 or state["inplanes"] != planes * block.expansion:
                    downsample = Sequential(
                        conv1x1(state["inplanes"], planes * block.expansion, stride, key=kb[-1]),
                        norm(planes * block.expansion),
                    )
                out = [
                    block(
                        state["inplanes"],
                        planes,
                        stride,
                        downsample,
                        groups,
                        width_per_group,
                        previous_dilation,
                        norm,
                        key=kb[0],
                    )
                ]
                state["inplanes"] = planes * block.expansion
                for i in range(1, blocks):
                    out.append(
                        block(
                            state["inplanes"],
                            planes,
                            groups=groups,
                            base_width=width_per_group,
                            dilation=state["dilation"],
                            norm_layer=norm,
                            key=kb[i],
                        )
                    )
                return Sequential(*out)

            return {
                "conv1": Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False, key=ks[0]),
                "bn1": norm(64),
                "relu": ReLU(inplace=True),
                "maxpool": MaxPool2d(kernel_size=3, stride=2, padding=1),
                "layer1": make_layer(64, layers[0], 1, False, ks[1]),
                "layer2": make_layer(128, layers[1], 2, replace_stride_with_dilation[0], ks[2]),
                "layer3": make_layer(256, layers[2], 2, replace_stride_with_dilation[1], ks[3]),
                "layer4": make_layer(512, layers[3], 2, replace_stride_with_dilation[2], ks[4]),
                "avgpool": AdaptiveAvgPool2d((1, 1)),
                "fc": Linear(512 * block.expansion, num_classes, key=ks[5], axes=("classes", "embed")),
            }

        last_bn = "bn3" if block is Bottleneck else "bn2"
        base = conv_bn_rule("default")

        def rule(path: str, owner: Any, field: str, shape: tuple[int, ...], init: HostInit) -> Any:
            if zero_init_residual and path.startswith("layer") and path.endswith(f".{last_bn}.weight"):
                return np.zeros(shape)
            return base(path, owner, field, shape, init)

        assign(self, build(make, key, rule, dtype))

    def forward(self, x: jax.Array) -> jax.Array:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.avgpool(x)
        return self.fc(jnp.reshape(x, (x.shape[0], -1)))


def _resnet(block: Any, layers: list[int], weights: WeightsArg, progress: bool, kwargs: dict) -> ResNet:
    return finish(ResNet(block, layers, **kwargs), weights)


def resnet18(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-18 (``torchvision.models.resnet18``): :class:`BasicBlock` stages ``[2, 2, 2, 2]``.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> models.resnet18(key=torsh.random.key(0)).num_parameters()  # the same as torchvision's
        11689512
        >>> model = models.resnet18(num_classes=10, key=torsh.random.key(0)).eval()
        >>> jax.eval_shape(model, jnp.zeros((2, 3, 64, 64))).shape
        (2, 10)
    """
    return _resnet(BasicBlock, [2, 2, 2, 2], weights, progress, kwargs)


def resnet34(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-34 (``torchvision.models.resnet34``): :class:`BasicBlock` stages ``[3, 4, 6, 3]``.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnet34(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        21797672
        >>> models.resnet34(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    return _resnet(BasicBlock, [3, 4, 6, 3], weights, progress, kwargs)


def resnet50(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-50 (``torchvision.models.resnet50``): :class:`Bottleneck` stages ``[3, 4, 6, 3]``.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnet50(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        25557032
        >>> models.resnet50(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, kwargs)


def resnet101(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-101 (``torchvision.models.resnet101``): :class:`Bottleneck` stages ``[3, 4, 23, 3]``.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnet101(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        44549160
        >>> models.resnet101(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, kwargs)


def resnet152(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNet-152 (``torchvision.models.resnet152``): :class:`Bottleneck` stages ``[3, 8, 36, 3]``.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnet152(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        60192808
        >>> models.resnet152(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    return _resnet(Bottleneck, [3, 8, 36, 3], weights, progress, kwargs)


def resnext50_32x4d(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (``torchvision.models.resnext50_32x4d``): 32 groups of width 4.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnext50_32x4d(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        25028904
        >>> models.resnext50_32x4d(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 4)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, kwargs)


def resnext101_32x8d(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (``torchvision.models.resnext101_32x8d``): 32 groups of width 8.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.resnext101_32x8d(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        88791336
        >>> models.resnext101_32x8d(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 8)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, kwargs)


def wide_resnet50_2(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (``torchvision.models.wide_resnet50_2``): bottlenecks twice as wide.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.wide_resnet50_2(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        68883240
        >>> models.wide_resnet50_2(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    kwargs.setdefault("width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 6, 3], weights, progress, kwargs)


def wide_resnet101_2(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (``torchvision.models.wide_resnet101_2``): bottlenecks twice as wide.

    Args:
        weights: A safetensors file of the torchvision state dict to load (torsh never downloads);
            None: torchvision's random initialisation.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`ResNet` (``num_classes=``, ``key=``, ``dtype=``, ...).

    Returns:
        A :class:`ResNet`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> model = models.wide_resnet101_2(key=torsh.random.key(0))  # doctest: +SKIP
        >>> model.num_parameters()  # the same as torchvision's  # doctest: +SKIP
        126886696
        >>> models.wide_resnet101_2(num_classes=10).fc.out_features  # doctest: +SKIP
        10
    """
    kwargs.setdefault("width_per_group", 64 * 2)
    return _resnet(Bottleneck, [3, 4, 23, 3], weights, progress, kwargs)
