"""torsh.nn: immutable pytree modules with PyTorch's vocabulary, layers, losses and initialisers.

Example:
    >>> import torsh, jax, jax.numpy as jnp
    >>> from torsh import nn
    >>> torsh.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    >>> list(model.state_dict())
    ['0.weight', '0.bias', '1.weight', '1.bias']
    >>> jax.jit(lambda m, x: m(x))(model, jnp.ones((3, 4))).shape
    (3, 2)
"""

from ..tree import field, static
from . import functional, init
from ._errors import IndexOutOfRangeError, MissingKeyError, ValueRangeError
from ._utils import split_key
from .activation import (
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Tanh,
)
from .containers import Lambda, ModuleDict, ModuleList, Sequential
from .dropout import Dropout, Dropout2d
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CosineSimilarity,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    PairwiseDistance,
    SmoothL1Loss,
)
from .module import Module, Parameter, StateDictError, buffer, logical_axes
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    LayerNorm,
    RMSNorm,
)
from .sparse import Embedding
from .stateful import stateful

__all__ = [
    # module system
    "Module",
    "Parameter",
    "StateDictError",
    "IndexOutOfRangeError",
    "MissingKeyError",
    "ValueRangeError",
    "field",
    "static",
    "buffer",
    "logical_axes",
    "stateful",
    "split_key",
    "functional",
    "init",
    # containers
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "Lambda",
    # layers
    "Identity",
    "Linear",
    "Flatten",
    "Unflatten",
    "Embedding",
    "Dropout",
    "Dropout2d",
    # normalisation
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    # activations
    "ReLU",
    "ReLU6",
    "LeakyReLU",
    "ELU",
    "SELU",
    "GELU",
    "SiLU",
    "Mish",
    "Sigmoid",
    "Tanh",
    "Softplus",
    "Hardswish",
    "Hardsigmoid",
    "Hardtanh",
    "Softmax",
    "LogSoftmax",
    "Softmin",
    # losses and distances
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "CosineSimilarity",
    "PairwiseDistance",
    # Conv/pooling (conv.py, pooling.py) and attention/transformer/RNN (attention.py, transformer.py,
    # rnn.py) exports are added here.
]

# Convolution, pooling, attention, transformer and recurrent layers (each module lists its own names).
from . import attention as _attention_mod
from . import conv as _conv_mod
from . import padding as _padding_mod
from . import pooling as _pooling_mod
from . import rnn as _rnn_mod
from . import transformer as _transformer_mod
from . import upsampling as _upsampling_mod
from .attention import MultiheadAttention
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .padding import *  # noqa: F403 - the padding module's __all__ lists its layers
from .pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
)
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)
from .upsampling import *  # noqa: F403 - Upsample*, PixelShuffle, PixelUnshuffle

__all__ += [
    name
    for module in (
        _attention_mod,
        _conv_mod,
        _padding_mod,
        _pooling_mod,
        _rnn_mod,
        _transformer_mod,
        _upsampling_mod,
    )
    for name in module.__all__
    if name[0].isupper() or name == "generate_square_subsequent_mask"
]
