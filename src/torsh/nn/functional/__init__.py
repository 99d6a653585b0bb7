"""Stateless forms of the layers and the losses (``torch.nn.functional``).

Example:
    >>> import jax.numpy as jnp
    >>> from torsh.nn import functional as F
    >>> F.linear(jnp.ones((2, 3)), jnp.ones((4, 3))).shape
    (2, 4)
"""

from ._activation import (
    elu,
    gelu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    mish,
    relu,
    relu6,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    tanh,
)
from ._distance import cosine_similarity, pairwise_distance
from ._dropout import dropout, dropout2d
from ._embedding import embedding, one_hot
from ._linear import linear
from ._loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from ._normalization import batch_norm, group_norm, instance_norm, layer_norm, normalize, rms_norm

__all__ = [
    "linear",
    "embedding",
    "one_hot",
    "dropout",
    "dropout2d",
    # normalisation
    "batch_norm",
    "instance_norm",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "normalize",
    # losses and distances
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "cosine_similarity",
    "pairwise_distance",
    # activations
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "silu",
    "mish",
    "sigmoid",
    "tanh",
    "softplus",
    "hardswish",
    "hardsigmoid",
    "hardtanh",
    "softmax",
    "log_softmax",
    "softmin",
    # Convolution/pooling (_conv, _pooling) and attention (_attention) exports are added here.
]

# Convolution, pooling and attention functional forms, and the recurrent cells.
from . import _attention, _conv, _padding, _pooling, _upsampling
from ._attention import multi_head_attention_forward, scaled_dot_product_attention
from ._conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from ._padding import pad
from ._pooling import *  # noqa: F403 - the pooling module's __all__ is the list of pooling functions
from ._rnn import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from ._upsampling import interpolate, pixel_shuffle, pixel_unshuffle

__all__ += [*_attention.__all__, *_conv.__all__, *_pooling.__all__, *_padding.__all__, *_upsampling.__all__]
__all__ += ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"]
