"""torsh.vision.models: torchvision's classification models with the same names, arguments and keys.

Every model is a ``torsh.nn.Module`` whose ``state_dict()`` keys equal torchvision's, initialised with
torchvision's rules, so ``load_weights(model, "resnet18.safetensors")`` loads a torchvision checkpoint
converted to safetensors, and outputs match torchvision's.

Example:
    >>> import torsh, jax, jax.numpy as jnp
    >>> from torsh.vision import models
    >>> model = models.resnet18(num_classes=10, key=torsh.random.key(0)).eval()
    >>> jax.eval_shape(model, jnp.zeros((2, 3, 32, 32))).shape  # shapes only: no compile
    (2, 10)
"""

from ._ops import (
    Conv2dNormActivation,
    LayerNorm2d,
    Permute,
    SqueezeExcitation,
    StochasticDepth,
    make_divisible,
    stochastic_depth,
)
from ._weights import load_weights
from .convnext import (
    CNBlock,
    CNBlockConfig,
    ConvNeXt,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
)
from .efficientnet import (
    EfficientNet,
    MBConv,
    MBConvConfig,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
)
from .lenet import LeNet5, lenet5
from .mobilenetv2 import MobileNetV2, mobilenet_v2
from .mobilenetv3 import InvertedResidualConfig, MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    resnext101_32x8d,
    wide_resnet50_2,
    wide_resnet101_2,
)
from .vision_transformer import (
    Encoder,
    EncoderBlock,
    MLPBlock,
    VisionTransformer,
    vit_b_16,
    vit_b_32,
    vit_h_14,
    vit_l_16,
    vit_l_32,
)

__all__ = [
    "load_weights",
    # building blocks (torchvision.ops)
    "Conv2dNormActivation",
    "SqueezeExcitation",
    "StochasticDepth",
    "stochastic_depth",
    "Permute",
    "LayerNorm2d",
    "make_divisible",
    # LeNet
    "LeNet5",
    "lenet5",
    # ResNet family
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
    # MobileNets
    "MobileNetV2",
    "mobilenet_v2",
    "MobileNetV3",
    "InvertedResidualConfig",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    # EfficientNet
    "EfficientNet",
    "MBConv",
    "MBConvConfig",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    # ConvNeXt
    "ConvNeXt",
    "CNBlock",
    "CNBlockConfig",
    "convnext_tiny",
    "convnext_small",
    "convnext_base",
    "convnext_large",
    # Vision Transformer
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
