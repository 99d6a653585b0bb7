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
    softplus,
    tanh,
)
from ._linear import linear

__all__ = [
    "linear",
    # activations
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "sigmoid", "tanh",
    "softplus", "hardswish", "hardsigmoid", "hardtanh", "softmax", "log_softmax",
]
