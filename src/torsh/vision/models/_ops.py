"""Building blocks shared by the models (torchvision.ops equivalents with the same parameter names)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ConfigError
from ...nn import BatchNorm2d, Conv2d, LayerNorm, Module, ReLU, Sequential, Sigmoid, split_key
from ...nn import functional as F
from ...tree import static

__all__ = [
    "make_divisible",
    "Conv2dNormActivation",
    "SqueezeExcitation",
    "StochasticDepth",
    "stochastic_depth",
    "Permute",
    "LayerNorm2d",
]


def make_divisible(v: float, divisor: int, min_value: int | None = None) -> int:
    """Round ``v`` to a multiple of ``divisor``, never below 90% of ``v`` (torchvision's ``_make_divisible``).

    Args:
        v: The value to round (a channel count times a width multiplier).
        divisor: The multiple to round to.
        min_value: The smallest result (default: ``divisor``).

    Returns:
        The rounded channel count.

    Example:
        >>> from torsh.vision.models import make_divisible
        >>> make_divisible(32 * 0.75, 8), make_divisible(10, 8)
        (24, 16)
    """
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _layer(factory: Callable[..., Module], *args: Any, key: Any) -> Module:
    """Call a layer factory (a torsh class or ``functools.partial``), passing ``key`` if it takes one."""
    try:
        return factory(*args, key=key)
    except TypeError as e:
        if "key" not in str(e):
            raise
        return factory(*args)


class Conv2dNormActivation(Sequential):
    """Conv2d, then a norm layer, then an activation (``torchvision.ops.Conv2dNormActivation``).

    A Sequential, so parameter names are ``0.weight`` (conv), ``1.weight``/``1.running_mean`` (norm).
    ``padding=None`` keeps the spatial size at stride 1 (``(kernel_size - 1) // 2 * dilation``); the
    convolution has a bias only when there is no norm layer (unless ``bias`` says otherwise).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: The convolution's kernel size.
        stride: The convolution's stride.
        padding: The convolution's padding; None: "same" at stride 1.
        groups: Convolution groups (``in_channels`` for depthwise).
        norm_layer: Norm layer factory called with ``out_channels`` (None: no norm).
        activation_layer: Activation factory called with no argument (None: no activation).
        dilation: The convolution's dilation.
        inplace: Accepted for torchvision compatibility (torsh layers are pure).
        bias: Whether the convolution has a bias; None: only without a norm layer.
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import Conv2dNormActivation
        >>> make = lambda key: Conv2dNormActivation(3, 8, kernel_size=3, stride=2, key=key).eval()
        >>> block = jax.eval_shape(make, torsh.random.key(0))  # shapes only: nothing is computed
        >>> torsh.tree.paths(block)  # the state-dict keys: conv, then BatchNorm parameters and buffers
        ['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']
        >>> jax.eval_shape(lambda m, x: m(x), block, jnp.zeros((1, 3, 8, 8))).shape
        (1, 8, 4, 4)
    """

    out_channels: int = static(default=0)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        norm_layer: Callable[..., Module] | None = BatchNorm2d,
        activation_layer: Callable[..., Module] | None = ReLU,
        dilation: int = 1,
        inplace: bool | None = True,
        bias: bool | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        if padding is None:
            padding = (kernel_size - 1) // 2 * dilation
        if bias is None:
            bias = norm_layer is None
        k_conv, k_norm = split_key(key, 2)
        layers: list[Module] = [
            Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding,
                dilation=dilation,
                groups=groups,
                bias=bias,
                key=k_conv,
                dtype=dtype,
            )
        ]
        if norm_layer is not None:
            layers.append(_layer(norm_layer, out_channels, key=k_norm))
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels

    def extra_repr(self) -> str:
        return ""  # as torchvision: the layers say it all


def _check_setting(setting: Sequence[Any], config_type: type, name: str) -> None:
    """torchvision's checks of a model's stage list: not empty, all of ``config_type``."""
    if not setting:
        raise ConfigError(f"The {name} should not be empty")
    if not all(isinstance(s, config_type) for s in setting):
        raise ConfigError(f"The {name} should be List[{config_type.__name__}]")


def _inverted_residual_layers(
    in_channels: int,
    expanded: int,
    out_channels: int,
    *,
    kernel_size: int,
    stride: int,
    norm_layer: Callable[..., Module],
    activation: Callable[..., Module],
    keys: Sequence[Any],
    expand: bool,
    dilation: int = 1,
    squeeze: Callable[[Any], Module] | None = None,
    flat_projection: bool = False,
) -> list[Module]:
    """The MobileNet inverted residual body (MobileNetV2/V3 ``InvertedResidual``, EfficientNet ``MBConv``).

    ``[1x1 expand] -> kxk depthwise -> [squeeze(key)] -> 1x1 linear projection``. ``keys`` are the
    expansion's, the depthwise's, (the squeeze's,) then the projection's (the last one). MobileNetV2
    keeps the projection's conv and norm as two layers (``flat_projection``), the others one
    :class:`Conv2dNormActivation`; the state-dict keys follow from that.
    """
    layers: list[Module] = []
    if expand:
        layers.append(
            Conv2dNormActivation(
                in_channels, expanded, 1, norm_layer=norm_layer, activation_layer=activation, key=keys[0]
            )
        )
    layers.append(
        Conv2dNormActivation(
            expanded,
            expanded,
            kernel_size,
            stride,
            dilation=dilation,
            groups=expanded,
            norm_layer=norm_layer,
            activation_layer=activation,
            key=keys[1],
        )
    )
    if squeeze is not None:
        layers.append(squeeze(keys[2]))
    if flat_projection:
        layers += [
            Conv2d(expanded, out_channels, 1, 1, 0, bias=False, key=keys[-1]),
            norm_layer(out_channels),
        ]
    else:
        layers.append(
            Conv2dNormActivation(
                expanded, out_channels, 1, norm_layer=norm_layer, activation_layer=None, key=keys[-1]
            )
        )
    return layers


def _stem_blocks_head(
    stem_channels: int,
    blocks: Sequence[Module],
    head_channels: tuple[int, int],
    norm_layer: Callable[..., Module],
    activation: Callable[..., Module],
    keys: tuple[Any, Any],
) -> list[Module]:
    """The MobileNet/EfficientNet ``features``: a 3x3 stride-2 stem, the blocks, a 1x1 head convolution."""
    stem = Conv2dNormActivation(
        3, stem_channels, 3, 2, norm_layer=norm_layer, activation_layer=activation, key=keys[0]
    )
    head = Conv2dNormActivation(
        *head_channels, kernel_size=1, norm_layer=norm_layer, activation_layer=activation, key=keys[1]
    )
    return [stem, *blocks, head]


def classify(features: Module, classifier: Module, x: jax.Array, key: jax.Array | None) -> jax.Array:
    """features -> global average pool -> flatten -> classifier; ``key`` feeds dropout in training."""
    k1, k2 = (None, None) if key is None else jax.random.split(key)
    x = jnp.mean(features(x, key=k1), axis=(2, 3))  # AdaptiveAvgPool2d(1) + flatten
    return classifier(x, key=k2)


class SqueezeExcitation(Module):
    """Squeeze-and-excitation: ``x * scale_activation(fc2(activation(fc1(avgpool(x)))))``.

    ``fc1``/``fc2`` are 1x1 convolutions, as in ``torchvision.ops.SqueezeExcitation``.

    Args:
        input_channels: Channels of the input (and output).
        squeeze_channels: Channels of the bottleneck.
        activation: Activation factory after ``fc1``.
        scale_activation: Activation factory giving the per-channel scale.
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> from torsh.vision.models import SqueezeExcitation
        >>> se = jax.eval_shape(lambda key: SqueezeExcitation(8, 2, key=key), torsh.random.key(0))
        >>> jax.eval_shape(lambda m, x: m(x), se, jnp.zeros((1, 8, 4, 4))).shape
        (1, 8, 4, 4)
        >>> se.fc1.weight.shape  # (squeeze, input, 1, 1)
        (2, 8, 1, 1)
    """

    avgpool: Module
    fc1: Conv2d
    fc2: Conv2d
    activation: Module
    scale_activation: Module

    def __init__(
        self,
        input_channels: int,
        squeeze_channels: int,
        activation: Callable[..., Module] = ReLU,
        scale_activation: Callable[..., Module] = Sigmoid,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        from ...nn import AdaptiveAvgPool2d

        k1, k2 = split_key(key, 2)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.fc1 = Conv2d(input_channels, squeeze_channels, 1, key=k1, dtype=dtype)
        self.fc2 = Conv2d(squeeze_channels, input_channels, 1, key=k2, dtype=dtype)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, input: jax.Array) -> jax.Array:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(input)))))
        return scale * input


def stochastic_depth(
    input: jax.Array,
    p: float,
    mode: str,
    training: bool = True,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Randomly drop residual branches (``torchvision.ops.stochastic_depth``), with an explicit ``key``.

    ``mode="row"`` zeroes whole samples, ``"batch"`` the whole input, with probability ``p``; survivors
    are scaled by ``1 / (1 - p)``. Identity when not training or ``p == 0`` (no key needed then).

    Args:
        input: The residual branch's output, batch first.
        p: The drop probability, in ``[0, 1]``.
        mode: ``"row"`` or ``"batch"``.
        training: Drop only when True.
        key: A PRNG key (required when training with ``p > 0``).

    Returns:
        ``input`` with dropped rows zeroed and the others scaled.

    Raises:
        ConfigError: If ``p`` is outside ``[0, 1]``, ``mode`` is unknown, or no key is given in training.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh.vision.models import stochastic_depth
        >>> y = stochastic_depth(jnp.ones((4, 2)), 0.5, "row", key=torsh.random.key(0))
        >>> sorted(set(y.ravel().tolist())) in ([0.0, 2.0], [2.0], [0.0])
        True
        >>> stochastic_depth(jnp.ones(2), 0.5, "row", training=False).tolist()
        [1.0, 1.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"stochastic_depth: drop probability has to be between 0 and 1, but got {p}")
    if mode not in ("batch", "row"):
        raise ConfigError(f"stochastic_depth: mode has to be either 'batch' or 'row', but got {mode!r}")
    if not training or p == 0.0:
        return input
    if key is None:
        raise ConfigError(
            "stochastic_depth in training mode needs a PRNG key: call the model as model(x, key=key), "
            "or switch to eval mode with model.eval()"
        )
    survival = 1.0 - p
    size = (input.shape[0],) + (1,) * (input.ndim - 1) if mode == "row" else (1,) * input.ndim
    noise = jax.random.bernoulli(key, survival, size).astype(input.dtype)
    if survival > 0.0:
        noise = noise / survival
    return input * noise


class StochasticDepth(Module):
    """Module form of :func:`stochastic_depth` (``torchvision.ops.StochasticDepth``); takes ``key=``.

    Args:
        p: The drop probability, in ``[0, 1]``.
        mode: ``"row"`` or ``"batch"``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh.vision.models import StochasticDepth
        >>> drop = StochasticDepth(0.2, "row")
        >>> drop.eval()(jnp.ones(3)).tolist()
        [1.0, 1.0, 1.0]
        >>> drop(jnp.ones((2, 3)), key=torsh.random.key(0)).shape  # training: needs a key
        (2, 3)
    """

    p: float = static()
    mode: str = static()

    def __init__(self, p: float, mode: str) -> None:
        stochastic_depth(jnp.zeros(()), p, mode, training=False)  # validates p and mode
        self.p = float(p)
        self.mode = mode

    def forward(self, input: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        return stochastic_depth(input, self.p, self.mode, self.training, key=key)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class Permute(Module):
    """Permute axes (``torchvision.ops.Permute``), e.g. NCHW to NHWC.

    Args:
        dims: The new order of the axes.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.vision.models import Permute
        >>> Permute([0, 2, 3, 1])(jnp.zeros((1, 2, 3, 4))).shape
        (1, 3, 4, 2)
    """

    dims: tuple[int, ...] = static()

    def __init__(self, dims: Sequence[int]) -> None:
        self.dims = tuple(int(d) for d in dims)

    def forward(self, x: jax.Array) -> jax.Array:
        return jnp.transpose(x, self.dims)


class LayerNorm2d(LayerNorm, init=False):
    """LayerNorm over the channels of ``(N, C, H, W)`` inputs (torchvision's ConvNeXt ``LayerNorm2d``).

    Args:
        normalized_shape: The number of channels.
        eps: Added to the variance.
        elementwise_affine: Learn a per-channel weight (and bias).
        bias: Learn the bias too.
        key: Construction key.
        dtype: Parameter dtype.
        axes: Logical axis names of the parameters.

    Raises:
        ConfigError: If ``eps`` is negative or ``normalized_shape`` is not made of positive ints.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.vision.models import LayerNorm2d
        >>> y = LayerNorm2d(4)(jnp.arange(32.0).reshape(1, 4, 2, 4))
        >>> y.shape, [round(v, 4) for v in y[0, :, 0, 0].tolist()]  # normalised across the 4 channels
        ((1, 4, 2, 4), [-1.3416, -0.4472, 0.4472, 1.3416])
    """

    def forward(self, x: jax.Array) -> jax.Array:
        x = jnp.transpose(x, (0, 2, 3, 1))
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return jnp.transpose(x, (0, 3, 1, 2))
