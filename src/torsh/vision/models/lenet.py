"""LeNet-5 (LeCun et al., 1998) in its common PyTorch form (ReLU, max pooling), for 32x32 inputs.

torchvision has no LeNet; the layer names are those of PyTorch's tutorial network (``conv1``,
``conv2``, ``fc1``, ``fc2``, ``fc3``) so a PyTorch LeNet's state dict loads by key.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ShapeError
from ...nn import Conv2d, Linear, Module
from ...nn import functional as F
from ...tree import static
from ._init import assign, build
from ._weights import WeightsArg, finish

__all__ = ["LeNet5", "lenet5"]


class LeNet5(Module):
    """LeNet-5: conv 5x5 (6) - relu - pool - conv 5x5 (16) - relu - pool - fc 120 - fc 84 - fc classes.

    Input ``(N, in_channels, 32, 32)`` (pad 28x28 MNIST digits by 2). PyTorch's default initialisation.

    Args:
        num_classes: Outputs of ``fc3``.
        in_channels: Input channels (1 for grey digits).
        key: Construction key (default: the ``torsh.manual_seed`` stream).
        dtype: Parameter dtype.

    Raises:
        ShapeError: When called on an input that is not ``(N, C, 32, 32)``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh.vision import models
        >>> net = models.LeNet5(num_classes=10, key=torsh.random.key(0))
        >>> net(jnp.zeros((2, 1, 32, 32))).shape
        (2, 10)
        >>> try:
        ...     net(jnp.zeros((2, 1, 28, 28)))
        ... except torsh.errors.ShapeError as e:
        ...     print(str(e).split("(pad")[1])
         28x28 images by 2 pixels on each side)
    """

    conv1: Conv2d
    conv2: Conv2d
    fc1: Linear
    fc2: Linear
    fc3: Linear
    in_channels: int = static()

    def __init__(
        self, num_classes: int = 10, in_channels: int = 1, *, key: Any = None, dtype: Any = None
    ) -> None:
        def make(k: jax.Array) -> dict[str, Any]:
            ks = jax.random.split(k, 5)
            return {
                "conv1": Conv2d(in_channels, 6, 5, key=ks[0]),
                "conv2": Conv2d(6, 16, 5, key=ks[1]),
                "fc1": Linear(16 * 5 * 5, 120, key=ks[2], axes=("mlp", "embed")),
                "fc2": Linear(120, 84, key=ks[3], axes=("embed", "mlp")),
                "fc3": Linear(84, num_classes, key=ks[4], axes=("classes", "embed")),
            }

        assign(self, build(make, key, None, dtype))
        self.in_channels = in_channels

    def forward(self, x: jax.Array) -> jax.Array:
        if x.ndim != 4 or x.shape[-2:] != (32, 32):
            raise ShapeError(
                f"expected input (N, {self.in_channels}, 32, 32), got shape {list(x.shape)} "
                "(pad 28x28 images by 2 pixels on each side)"
            )
        x = F.max_pool2d(jax.nn.relu(self.conv1(x)), 2)
        x = F.max_pool2d(jax.nn.relu(self.conv2(x)), 2)
        x = jnp.reshape(x, (x.shape[0], -1))
        x = jax.nn.relu(self.fc1(x))
        x = jax.nn.relu(self.fc2(x))
        return self.fc3(x)


def lenet5(*, weights: WeightsArg = None, progress: bool = True, **kwargs: Any) -> LeNet5:
    """LeNet-5 (:class:`LeNet5`), optionally loading a safetensors state dict.

    Args:
        weights: A safetensors file of its state dict to load (torsh never downloads); None: random.
        progress: Accepted for torchvision compatibility (nothing is downloaded).
        **kwargs: Arguments of :class:`LeNet5` (``num_classes=``, ``in_channels=``, ``key=``, ``dtype=``).

    Returns:
        A :class:`LeNet5`.

    Raises:
        CheckpointError: If ``weights`` is not a path, does not exist, is a pickled ``.pth``, or does
            not match the model's keys and shapes.

    Example:
        >>> import torsh
        >>> from torsh.vision import models
        >>> net = models.lenet5(num_classes=10, key=torsh.random.key(0))
        >>> net.num_parameters(), list(net.state_dict())[:2]
        (61706, ['conv1.weight', 'conv1.bias'])
    """
    return finish(LeNet5(**kwargs), weights)
