"""Stateless forms of the layers and the losses (``torch.nn.functional``).

Example:
    >>> import jax.numpy as jnp
    >>> from torsh.nn import functional as F
    >>> F.linear(jnp.ones((2, 3)), jnp.ones((4, 3))).shape
    (2, 4)
"""

from ._activation import (
    celu,
    elu,
    gelu,
    glu,
    hardshrink,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    softshrink,
    softsign,
    tanh,
    tanhshrink,
    threshold,
)
from ._attention import multi_head_attention_forward, scaled_dot_product_attention
from ._conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from ._distance import cosine_similarity, pairwise_distance
from ._dropout import dropout, dropout2d
from ._embedding import embedding, one_hot
from ._fold import fold, unfold
from ._grid_sample import affine_grid, grid_sample
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
from ._loss_likelihood import ctc_loss, gaussian_nll_loss, poisson_nll_loss
from ._loss_ranking import (
    cosine_embedding_loss,
    hinge_embedding_loss,
    margin_ranking_loss,
    multi_margin_loss,
    multilabel_margin_loss,
    multilabel_soft_margin_loss,
    soft_margin_loss,
    triplet_margin_loss,
    triplet_margin_with_distance_loss,
)
from ._normalization import batch_norm, group_norm, instance_norm, layer_norm, normalize, rms_norm
from ._padding import pad
from ._pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    lp_pool1d,
    lp_pool2d,
    lp_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
)
from ._rnn import gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from ._upsampling import interpolate, pixel_shuffle, pixel_unshuffle

__all__ = [
    "linear",
    "embedding",
    "one_hot",
    "dropout",
    "dropout2d",
    # convolution, padding, pooling, resampling
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "pad",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "interpolate",
    "pixel_shuffle",
    "pixel_unshuffle",
    # attention and recurrent cells
    "scaled_dot_product_attention",
    "multi_head_attention_forward",
    "rnn_tanh_cell",
    "rnn_relu_cell",
    "lstm_cell",
    "gru_cell",
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
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "cosine_embedding_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "gaussian_nll_loss",
    "poisson_nll_loss",
    "ctc_loss",
    # blocks
    "fold",
    "unfold",
    # spatial transformers
    "affine_grid",
    "grid_sample",
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
    "celu",
    "glu",
    "hardshrink",
    "softshrink",
    "logsigmoid",
    "softsign",
    "tanhshrink",
    "threshold",
    "prelu",
    "rrelu",
]
