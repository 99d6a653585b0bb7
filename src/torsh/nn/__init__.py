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
    Softplus,
    Tanh,
)
from .containers import Lambda, ModuleDict, ModuleList, Sequential
from .linear import Identity, Linear
from .module import Module, StateDictError, buffer, logical_axes
from .stateful import stateful

__all__ = [
    # module system
    "Module", "StateDictError", "field", "static", "buffer", "logical_axes", "stateful", "split_key",
    "functional", "init",
    # containers
    "Sequential", "ModuleList", "ModuleDict", "Lambda",
    # layers
    "Identity", "Linear",
    # activations
    "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Mish", "Sigmoid", "Tanh", "Softplus",
    "Hardswish", "Hardsigmoid", "Hardtanh", "Softmax", "LogSoftmax",
]
