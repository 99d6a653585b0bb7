"""Padding layers with PyTorch's arguments (no parameters).

``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``
and ``CircularPad1d/2d/3d``.

Each wraps :func:`torsh.nn.functional.pad`; ``padding`` is an int (every side) or PyTorch's
last-axis-first tuple ``(left, right[, top, bottom[, front, back]])``, checked at construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

from ..errors import ConfigError
from ..tree import static
from .functional._padding import pad
from .module import Module

__all__ = [
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
]


def _padding(value: int | Sequence[int], n: int, owner: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * (2 * n)
    if isinstance(value, Sequence) and not isinstance(value, str):
        out = tuple(value)
        if len(out) == 2 * n and all(isinstance(v, int) and not isinstance(v, bool) for v in out):
            return out
    raise ConfigError(
        f"{owner}: padding must be an int or a tuple of {2 * n} ints (last axis first), got {value!r}"
    )


class _PadNd(Module):
    padding: tuple[int, ...] = static()

    _N = 0
    _MODE = "constant"

    def __init__(self, padding: int | Sequence[int]) -> None:
        self.padding = _padding(padding, self._N, type(self).__name__)

    def forward(self, input: jax.Array) -> jax.Array:
        return pad(input, self.padding, mode=self._MODE)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    value: float = static()

    def __init__(self, padding: int | Sequence[int], value: float) -> None:
        super().__init__(padding)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{type(self).__name__}: value must be a number, got {value!r}")
        self.value = float(value)

    def forward(self, input: jax.Array) -> jax.Array:
        return pad(input, self.padding, mode="constant", value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd, init=False):
    """Pad the last axis with ``value`` (``torch.nn.ConstantPad1d``); ``padding`` int or ``(left, right)``.

    Args:
      padding: An int (every side) or 2 ints, last axis first: ``(left, right)``.
      value: The fill value.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 2 ints.
      ConfigError: If ``value`` is not a number.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ConstantPad1d((1, 2), 3.5)(jnp.zeros((1, 2))).tolist()
      [[3.5, 0.0, 0.0, 3.5, 3.5]]
    """

    _N = 1


class ConstantPad2d(_ConstantPadNd, init=False):
    """Pad the last 2 axes with ``value`` (``torch.nn.ConstantPad2d``); ``(left, right, top, bottom)``.

    Args:
      padding: An int (every side) or 4 ints, last axis first: ``(left, right, top, bottom)``.
      value: The fill value.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 4 ints.
      ConfigError: If ``value`` is not a number.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ConstantPad2d((1, 0, 0, 1), -1.0)(jnp.zeros((1, 2, 2))).shape
      (1, 3, 3)
    """

    _N = 2


class ConstantPad3d(_ConstantPadNd, init=False):
    """Pad the last 3 axes with ``value`` (``torch.nn.ConstantPad3d``); 6-tuple, last axis first.

    Args:
      padding: An int (every side) or 6 ints, last axis first: ``(left, right, top, bottom, front, back)``.
      value: The fill value.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 6 ints.
      ConfigError: If ``value`` is not a number.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ConstantPad3d(1, 0.5)(jnp.zeros((1, 1, 1, 1))).shape
      (1, 3, 3, 3)
    """

    _N = 3


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: int | Sequence[int]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad1d(_ZeroPadNd, init=False):
    """Pad the last axis with zeros (``torch.nn.ZeroPad1d``).

    Args:
      padding: An int (every side) or 2 ints, last axis first: ``(left, right)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ZeroPad1d((0, 1))(jnp.ones((1, 2))).tolist()
      [[1.0, 1.0, 0.0]]
    """

    _N = 1


class ZeroPad2d(_ZeroPadNd, init=False):
    """Pad the last 2 axes with zeros (``torch.nn.ZeroPad2d``).

    Args:
      padding: An int (every side) or 4 ints, last axis first: ``(left, right, top, bottom)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ZeroPad2d(1)
      ZeroPad2d((1, 1, 1, 1))
      >>> nn.ZeroPad2d(1)(jnp.ones((1, 2, 2))).shape
      (1, 4, 4)
    """

    _N = 2


class ZeroPad3d(_ZeroPadNd, init=False):
    """Pad the last 3 axes with zeros (``torch.nn.ZeroPad3d``).

    Args:
      padding: An int (every side) or 6 ints, last axis first: ``(left, right, top, bottom, front, back)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ZeroPad3d((1, 0, 0, 0, 0, 2))(jnp.ones((1, 1, 1, 1))).shape
      (1, 3, 1, 2)
    """

    _N = 3


class ReflectionPad1d(_PadNd, init=False):
    """Mirror padding of the last axis, edge not repeated (``torch.nn.ReflectionPad1d``).

    Input ``[N, C, L]`` or ``[C, L]``, each amount below the axis size.

    Args:
      padding: An int (every side) or 2 ints, last axis first: ``(left, right)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 2 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReflectionPad1d(2)(jnp.array([[0.0, 1.0, 2.0]])).tolist()
      [[2.0, 1.0, 0.0, 1.0, 2.0, 1.0, 0.0]]
    """

    _N = 1
    _MODE = "reflect"


class ReflectionPad2d(_PadNd, init=False):
    """Mirror padding of the last 2 axes (``torch.nn.ReflectionPad2d``); ``[N, C, H, W]`` or ``[C, H, W]``.

    Args:
      padding: An int (every side) or 4 ints, last axis first: ``(left, right, top, bottom)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 4 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReflectionPad2d((1, 1, 2, 0))(jnp.zeros((1, 3, 3))).shape
      (1, 5, 5)
    """

    _N = 2
    _MODE = "reflect"


class ReflectionPad3d(_PadNd, init=False):
    """Mirror padding of the last 3 axes, edge not repeated (``torch.nn.ReflectionPad3d``).

    Mirror padding of the last 3 axes (``torch.nn.ReflectionPad3d``); ``[N, C, D, H, W]`` or ``[C,
    D, H, W]``.

    Args:
      padding: An int (every side) or 6 ints, last axis first: ``(left, right, top, bottom, front, back)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 6 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReflectionPad3d(1)(jnp.zeros((1, 2, 2, 2))).shape
      (1, 4, 4, 4)
    """

    _N = 3
    _MODE = "reflect"


class ReplicationPad1d(_PadNd, init=False):
    """Edge-value padding of the last axis (``torch.nn.ReplicationPad1d``); ``[N, C, L]`` or ``[C, L]``.

    Args:
      padding: An int (every side) or 2 ints, last axis first: ``(left, right)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 2 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReplicationPad1d((2, 1))(jnp.array([[1.0, 2.0]])).tolist()
      [[1.0, 1.0, 1.0, 2.0, 2.0]]
    """

    _N = 1
    _MODE = "replicate"


class ReplicationPad2d(_PadNd, init=False):
    """Edge-value padding of the last 2 axes (``torch.nn.ReplicationPad2d``).

    Args:
      padding: An int (every side) or 4 ints, last axis first: ``(left, right, top, bottom)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 4 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReplicationPad2d(3)(jnp.zeros((1, 1, 1, 1))).shape
      (1, 1, 7, 7)
    """

    _N = 2
    _MODE = "replicate"


class ReplicationPad3d(_PadNd, init=False):
    """Edge-value padding of the last 3 axes (``torch.nn.ReplicationPad3d``).

    Args:
      padding: An int (every side) or 6 ints, last axis first: ``(left, right, top, bottom, front, back)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 6 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ReplicationPad3d(1)(jnp.zeros((1, 1, 1, 1))).shape
      (1, 3, 3, 3)
    """

    _N = 3
    _MODE = "replicate"


class CircularPad1d(_PadNd, init=False):
    """Wrap-around padding of the last axis (``torch.nn.CircularPad1d``); each amount at most the size.

    Args:
      padding: An int (every side) or 2 ints, last axis first: ``(left, right)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 2 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.CircularPad1d((1, 2))(jnp.array([[0.0, 1.0, 2.0]])).tolist()
      [[2.0, 0.0, 1.0, 2.0, 0.0, 1.0]]
    """

    _N = 1
    _MODE = "circular"


class CircularPad2d(_PadNd, init=False):
    """Wrap-around padding of the last 2 axes (``torch.nn.CircularPad2d``).

    Args:
      padding: An int (every side) or 4 ints, last axis first: ``(left, right, top, bottom)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 4 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.CircularPad2d(1)(jnp.zeros((1, 2, 2))).shape
      (1, 4, 4)
    """

    _N = 2
    _MODE = "circular"


class CircularPad3d(_PadNd, init=False):
    """Wrap-around padding of the last 3 axes (``torch.nn.CircularPad3d``).

    Args:
      padding: An int (every side) or 6 ints, last axis first: ``(left, right, top, bottom, front, back)``.

    Raises:
      ConfigError: If ``padding`` is not an int or a tuple of 6 ints.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.CircularPad3d(1)(jnp.zeros((1, 2, 2, 2))).shape
      (1, 4, 4, 4)
    """

    _N = 3
    _MODE = "circular"
