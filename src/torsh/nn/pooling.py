"""Pooling layers with PyTorch's arguments and defaults (no parameters).

``MaxPool1d/2d/3d``, ``AvgPool1d/2d/3d``, ``AdaptiveAvgPool1d/2d/3d``, ``AdaptiveMaxPool1d/2d/3d``,
``LPPool*``, ``MaxUnpool*`` and ``FractionalMaxPool2d/3d``.

Each wraps the function of the same name in :mod:`torsh.nn.functional`; the configuration is static
and checked at construction, the input (rank, dtype, size) when called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..tree import static
from ._utils import ntuple
from .functional._pooling import (
    adaptive_avg_pool_nd,
    adaptive_max_pool_nd,
    adaptive_output_size,
    avg_pool_nd,
    check_norm_type,
    fractional_max_pool_nd,
    lp_pool_nd,
    max_pool_nd,
    max_unpool_nd,
    window_args,
)
from .module import Module, buffer

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
]

IntOrTuple = int | Sequence[int]


def _hashable(value: Any) -> Any:
    """Lists (PyTorch accepts them) become tuples: module configuration must be hashable."""
    if isinstance(value, list):
        return tuple(value)
    return value


def _flag(name: str, value: Any, owner: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}: {name} must be a bool, got {value!r}")
    return value


class _MaxPoolNd(Module):
    kernel_size: Any = static()
    stride: Any = static()
    padding: Any = static()
    dilation: Any = static()
    return_indices: bool = static()
    ceil_mode: bool = static()

    _N = 0

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        name = type(self).__name__
        stride = stride if stride is not None else kernel_size
        window_args(self._N, kernel_size, stride, padding, dilation, name)  # validates
        self.kernel_size = _hashable(kernel_size)
        self.stride = _hashable(stride)
        self.padding = _hashable(padding)
        self.dilation = _hashable(dilation)
        self.return_indices = _flag("return_indices", return_indices, name)
        self.ceil_mode = _flag("ceil_mode", ceil_mode, name)

    def forward(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return max_pool_nd(
            self._N,
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
            where="",
        )

    def _describe(self) -> str:
        return f"{type(self).__name__} k{self.kernel_size}"

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd, init=False):
    """1D max pooling over ``[N, C, L]`` or ``[C, L]`` (``torch.nn.MaxPool1d``).

    Args:
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit ``-inf`` padding on both sides (at most ``kernel_size // 2``).
      dilation: spacing between window elements.
      return_indices: also return the flat index of every maximum (``(values, indices)``).
      ceil_mode: round the output size up (a last, partial window).

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.MaxPool1d(2, ceil_mode=True)(jnp.array([[1.0, 3.0, 2.0, 5.0, 4.0]])).tolist()
      [[3.0, 5.0, 4.0]]
    """

    _N = 1


class MaxPool2d(_MaxPoolNd, init=False):
    """2D max pooling over ``[N, C, H, W]`` or ``[C, H, W]`` (``torch.nn.MaxPool2d``).

    Arguments as :class:`MaxPool1d` (ints or 2-tuples); indices are flat ``h * W + w``.

    Args:
      kernel_size: Window size (int or 2-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit ``-inf`` padding, at most half the window.
      dilation: Spacing between window elements.
      return_indices: Also return the flat indices of the maxima.
      ceil_mode: Round the output size up.

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.MaxPool2d(3, stride=2, padding=1)(jnp.ones((1, 8, 32, 32))).shape
      (1, 8, 16, 16)
      >>> nn.MaxPool2d(2)
      MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    _N = 2


class MaxPool3d(_MaxPoolNd, init=False):
    """3D max pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (``torch.nn.MaxPool3d``).

    Arguments as :class:`MaxPool1d` (ints or 3-tuples).

    Args:
      kernel_size: Window size (int or 3-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit ``-inf`` padding, at most half the window.
      dilation: Spacing between window elements.
      return_indices: Also return the flat indices of the maxima.
      ceil_mode: Round the output size up.

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.MaxPool3d((1, 2, 2))(jnp.ones((2, 4, 6, 6))).shape
      (2, 4, 3, 3)
    """

    _N = 3


class _AvgPoolNd(Module):
    kernel_size: Any = static()
    stride: Any = static()
    padding: Any = static()
    ceil_mode: bool = static()
    count_include_pad: bool = static()
    divisor_override: int | None = static()

    _N = 0

    def _setup(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None,
        padding: IntOrTuple,
        ceil_mode: bool,
        count_include_pad: bool,
        divisor_override: int | None,
    ) -> None:
        name = type(self).__name__
        stride = stride if stride is not None else kernel_size
        window_args(self._N, kernel_size, stride, padding, 1, name)  # validates
        if divisor_override is not None and (
            isinstance(divisor_override, bool)
            or not isinstance(divisor_override, int)
            or divisor_override == 0
        ):
            raise ConfigError(
                f"{name}: divisor_override must be a non-zero int or None, got {divisor_override!r}"
            )
        self.kernel_size = _hashable(kernel_size)
        self.stride = _hashable(stride)
        self.padding = _hashable(padding)
        self.ceil_mode = _flag("ceil_mode", ceil_mode, name)
        self.count_include_pad = _flag("count_include_pad", count_include_pad, name)
        self.divisor_override = divisor_override

    def forward(self, input: jax.Array) -> jax.Array:
        return avg_pool_nd(
            self._N,
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
            where="",
        )

    def _describe(self) -> str:
        return f"{type(self).__name__} k{self.kernel_size}"

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1D average pooling over ``[N, C, L]`` or ``[C, L]`` (``torch.nn.AvgPool1d``).

    Args:
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit zero padding on both sides (at most ``kernel_size // 2``).
      ceil_mode: round the output size up (a last, partial window).
      count_include_pad: count the padding in each window's divisor (PyTorch's default).

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AvgPool1d(2)(jnp.array([[1.0, 2.0, 3.0, 4.0]])).tolist()
      [[1.5, 3.5]]
    """

    _N = 1

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        self._setup(kernel_size, stride, padding, ceil_mode, count_include_pad, None)
        # PyTorch's AvgPool1d keeps 1-tuples (its repr shows kernel_size=(2,)).
        self.kernel_size, self.stride, self.padding = (
            v if isinstance(v, tuple) else (v,) for v in (self.kernel_size, self.stride, self.padding)
        )


class AvgPool2d(_AvgPoolNd):
    """2D average pooling over ``[N, C, H, W]`` or ``[C, H, W]`` (``torch.nn.AvgPool2d``).

    Arguments as :class:`AvgPool1d` (ints or 2-tuples), plus ``divisor_override``: a fixed divisor
    for every window.

    Args:
      kernel_size: Window size (int or 2-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit zero padding, at most half the window.
      ceil_mode: Round the output size up.
      count_include_pad: Divide by the window size including padding.
      divisor_override: Replaces every window's divisor (non-zero).

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(jnp.ones((1, 2, 7, 7))).shape
      (1, 2, 4, 4)
    """

    _N = 2

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        self._setup(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


class AvgPool3d(_AvgPoolNd):
    """3D average pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (``torch.nn.AvgPool3d``).

    Arguments as :class:`AvgPool2d` (ints or 3-tuples).

    Args:
      kernel_size: Window size (int or 3-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit zero padding, at most half the window.
      ceil_mode: Round the output size up.
      count_include_pad: Divide by the window size including padding.
      divisor_override: Replaces every window's divisor (non-zero).

    Raises:
      ConfigError: For a bad ``kernel_size``, ``stride``, ``padding`` (more than half the window) or flag.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AvgPool3d(2)(jnp.ones((1, 1, 4, 4, 4))).shape
      (1, 1, 2, 2, 2)
    """

    _N = 3

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        self._setup(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


class _AdaptivePoolNd(Module):
    output_size: Any = static()

    _N = 0

    def _check_output_size(self, output_size: Any) -> Any:
        output_size = _hashable(output_size)
        # Validate against a placeholder input size (None entries keep the input's size).
        adaptive_output_size(output_size, self._N, (1,) * self._N, type(self).__name__)
        return output_size

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.output_size}"

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size: int | Sequence[int | None] | None) -> None:
        self.output_size = self._check_output_size(output_size)

    def forward(self, input: jax.Array) -> jax.Array:
        return adaptive_avg_pool_nd(self._N, input, self.output_size, where="")


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd, init=False):
    """Average over adaptive windows to a fixed output length (``torch.nn.AdaptiveAvgPool1d``).

    Output element ``i`` averages input ``[floor(i * L / out), ceil((i + 1) * L / out))``.

    Args:
      output_size: An int or a 1-tuple (None entries keep that input size).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveAvgPool1d(2)(jnp.array([[1.0, 2.0, 3.0, 4.0, 5.0]])).tolist()
      [[2.0, 4.0]]
    """

    _N = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd, init=False):
    """2D adaptive average pooling (``torch.nn.AdaptiveAvgPool2d``).

    ``output_size`` is an int or ``(H_out, W_out)``; ``None`` keeps that input size.

    Args:
      output_size: An int or a 2-tuple (None entries keep that input size).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveAvgPool2d((1, 1))(jnp.ones((4, 512, 7, 7))).shape
      (4, 512, 1, 1)
    """

    _N = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd, init=False):
    """3D adaptive average pooling (``torch.nn.AdaptiveAvgPool3d``).

    Args:
      output_size: An int or a 3-tuple (None entries keep that input size).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveAvgPool3d((None, 2, 2))(jnp.ones((1, 3, 5, 7, 7))).shape
      (1, 3, 5, 2, 2)
    """

    _N = 3


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    return_indices: bool = static()

    def __init__(self, output_size: int | Sequence[int | None] | None, return_indices: bool = False) -> None:
        self.output_size = self._check_output_size(output_size)
        self.return_indices = _flag("return_indices", return_indices, type(self).__name__)

    def forward(self, input: jax.Array) -> jax.Array | tuple[jax.Array, jax.Array]:
        return adaptive_max_pool_nd(self._N, input, self.output_size, self.return_indices, where="")


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd, init=False):
    """1D adaptive max pooling (``torch.nn.AdaptiveMaxPool1d``).

    Args:
      output_size: An int or a 1-tuple (None entries keep that input size).
      return_indices: Also return the flat indices of the maxima.

    Raises:
      ConfigError: If ``return_indices`` is not a bool.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveMaxPool1d(2)(jnp.array([[1.0, 5.0, 3.0, 2.0, 4.0]])).tolist()
      [[5.0, 4.0]]
    """

    _N = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd, init=False):
    """2D adaptive max pooling (``torch.nn.AdaptiveMaxPool2d``).

    With ``return_indices`` also the flat index ``h * W + w`` of each maximum.

    Args:
      output_size: An int or a 2-tuple (None entries keep that input size).
      return_indices: Also return the flat indices of the maxima.

    Raises:
      ConfigError: If ``return_indices`` is not a bool.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveMaxPool2d(2)(jnp.arange(25.0).reshape(1, 1, 5, 5)).tolist()
      [[[[12.0, 14.0], [22.0, 24.0]]]]
    """

    _N = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd, init=False):
    """3D adaptive max pooling (``torch.nn.AdaptiveMaxPool3d``).

    Args:
      output_size: An int or a 3-tuple (None entries keep that input size).
      return_indices: Also return the flat indices of the maxima.

    Raises:
      ConfigError: If ``return_indices`` is not a bool.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.AdaptiveMaxPool3d(1)(jnp.ones((1, 2, 3, 3, 3))).shape
      (1, 2, 1, 1, 1)
    """

    _N = 3


class _LPPoolNd(Module, init=False):
    norm_type: float = static()
    kernel_size: Any = static()
    stride: Any = static()
    ceil_mode: bool = static()

    _N = 0

    def __init__(
        self,
        norm_type: float,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        ceil_mode: bool = False,
    ) -> None:
        name = type(self).__name__
        check_norm_type(name, norm_type)
        window_args(self._N, kernel_size, stride if stride is not None else kernel_size, 0, 1, name)
        self.norm_type = float(norm_type)
        self.kernel_size = _hashable(kernel_size)
        self.stride = _hashable(stride) if stride is not None else None
        self.ceil_mode = _flag("ceil_mode", ceil_mode, name)

    def forward(self, input: jax.Array) -> jax.Array:
        return lp_pool_nd(self._N, input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode, "")

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd, init=False):
    """1D power-average pooling (``torch.nn.LPPool1d``): ``(sum_window x**p) ** (1/p)``.

    Args:
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep a last partial window.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.LPPool1d(2, 3, stride=2)(jnp.ones((1, 4, 9))).shape
      (1, 4, 4)
    """

    _N = 1


class LPPool2d(_LPPoolNd, init=False):
    """2D power-average pooling (``torch.nn.LPPool2d``).

    Args:
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size (int or 2-tuple).
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep last partial windows.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.LPPool2d(2, (3, 2), stride=(2, 1))(jnp.ones((1, 4, 9, 5))).shape
      (1, 4, 4, 4)
    """

    _N = 2


class LPPool3d(_LPPoolNd, init=False):
    """3D power-average pooling (``torch.nn.LPPool3d``).

    Args:
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size (int or 3-tuple).
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep last partial windows.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.LPPool3d(1, 2)(jnp.ones((1, 2, 4, 4, 4))).shape
      (1, 2, 2, 2, 2)
    """

    _N = 3


class _MaxUnpoolNd(Module, init=False):
    kernel_size: Any = static()
    stride: Any = static()
    padding: Any = static()

    _N = 0

    def __init__(
        self, kernel_size: IntOrTuple, stride: IntOrTuple | None = None, padding: IntOrTuple = 0
    ) -> None:
        stride = stride if stride is not None else kernel_size
        window_args(self._N, kernel_size, stride, padding, 1, type(self).__name__)  # validates
        self.kernel_size = _hashable(kernel_size)
        self.stride = _hashable(stride)
        self.padding = _hashable(padding)

    def forward(
        self, input: jax.Array, indices: jax.Array, output_size: Sequence[int] | None = None
    ) -> jax.Array:
        return max_unpool_nd(
            self._N, input, indices, self.kernel_size, self.stride, self.padding, output_size, where=""
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd, init=False):
    """Partial inverse of MaxPool1d: ``forward(input, indices, output_size=None)`` (``torch.nn.MaxUnpool1d``).

    Args:
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.

    Raises:
      ConfigError: invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> values, idx = nn.MaxPool1d(2, return_indices=True)(jnp.array([[[1.0, 3.0, 2.0, 0.0]]]))
      >>> nn.MaxUnpool1d(2)(values, idx).tolist()
      [[[0.0, 3.0, 2.0, 0.0]]]
    """

    _N = 1


class MaxUnpool2d(_MaxUnpoolNd, init=False):
    """Partial inverse of MaxPool2d: ``forward(input, indices, output_size=None)`` (``torch.nn.MaxUnpool2d``).

    Args:
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.

    Raises:
      ConfigError: invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> values, idx = nn.MaxPool2d(2, return_indices=True)(jnp.ones((1, 1, 4, 4)))
      >>> nn.MaxUnpool2d(2)(values, idx).shape
      (1, 1, 4, 4)
    """

    _N = 2


class MaxUnpool3d(_MaxUnpoolNd, init=False):
    """Partial inverse of MaxPool3d: ``forward(input, indices, output_size=None)`` (``torch.nn.MaxUnpool3d``).

    Args:
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.

    Raises:
      ConfigError: invalid window arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> values, idx = nn.MaxPool3d(2, return_indices=True)(jnp.ones((1, 1, 2, 4, 4)))
      >>> nn.MaxUnpool3d(2)(values, idx).shape
      (1, 1, 2, 4, 4)
    """

    _N = 3


class _FractionalMaxPoolNd(Module):
    kernel_size: tuple[int, ...] = static()
    output_size: tuple[int, ...] | None = static()
    output_ratio: tuple[float, ...] | None = static()
    return_indices: bool = static()
    _random_samples: jax.Array | None = buffer()

    _N = 0

    def __init__(
        self,
        kernel_size: IntOrTuple,
        output_size: IntOrTuple | None = None,
        output_ratio: float | Sequence[float] | None = None,
        return_indices: bool = False,
        _random_samples: jax.Array | None = None,
    ) -> None:
        name, n = type(self).__name__, self._N
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", name)
        if output_size is None and output_ratio is None:
            raise ConfigError(f"{name} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ConfigError(f"{name}: only one of output_size and output_ratio may be specified")
        self.output_size = None if output_size is None else ntuple(output_size, n, "output_size", name, 0)
        ratio = None if output_ratio is None else _hashable(output_ratio)
        if ratio is not None:
            ratios = tuple(ratio) if isinstance(ratio, tuple) else (ratio,) * n
            if len(ratios) != n or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1 for r in ratios
            ):
                raise ConfigError(
                    f"{name}: output_ratio must be between 0 and 1 (a number or {n} numbers), "
                    f"got {output_ratio!r}"
                )
            ratio = tuple(float(r) for r in ratios)
        self.output_ratio = ratio
        self.return_indices = _flag("return_indices", return_indices, name)
        self._random_samples = None if _random_samples is None else jnp.asarray(_random_samples)

    def forward(
        self, input: jax.Array, *, key: jax.Array | None = None
    ) -> jax.Array | tuple[jax.Array, jax.Array]:
        return fractional_max_pool_nd(
            self._N,
            input,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            self._random_samples,
            key,
            where="",
        )

    def _describe(self) -> str:
        return f"{type(self).__name__} k{self.kernel_size}"

    def extra_repr(self) -> str:
        size = f"output_size={self.output_size}" if self.output_size else f"output_ratio={self.output_ratio}"
        return f"kernel_size={self.kernel_size}, {size}, return_indices={self.return_indices}"


class FractionalMaxPool2d(_FractionalMaxPoolNd, init=False):
    """2D fractional max pooling (``torch.nn.FractionalMaxPool2d``); windows at pseudo-random steps.

    The steps are drawn per call from ``key`` (``pool(x, key=key)``, required: the layer is random in
    training and evaluation alike, as in PyTorch), or fixed by ``_random_samples`` ``[N, C, 2]`` (a
    buffer, saved in ``state_dict`` as in PyTorch). See :func:`torsh.nn.functional.fractional_max_pool2d`.

    Args:
      kernel_size: window size (int or pair).
      output_size: output ``(H_out, W_out)`` (int or pair).
      output_ratio: output size as a fraction of the input size, in (0, 1) (float or pair).
      return_indices: also return the flat index ``h * W + w`` of every maximum.
      _random_samples: fixed samples ``[N, C, 2]`` in [0, 1) of the input's dtype.

    Raises:
      ConfigError: both or neither of ``output_size``/``output_ratio``, a ratio outside (0, 1), a
        non-positive kernel; when called, no key and no samples.
      ShapeError: when called, a wrong input rank or a kernel too large for input and output size.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> pool = nn.FractionalMaxPool2d(3, output_ratio=0.5)
      >>> pool(jnp.ones((2, 4, 10, 10)), key=torsh.random.key(0)).shape
      (2, 4, 5, 5)
    """

    _N = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd, init=False):
    """3D fractional max pooling (``torch.nn.FractionalMaxPool3d``); windows at pseudo-random steps.

    As :class:`FractionalMaxPool2d` over ``[N, C, T, H, W]``, with samples ``[N, C, 3]`` in (T, H, W) order.

    Args:
      kernel_size: window size (int or triple).
      output_size: output ``(T_out, H_out, W_out)`` (int or triple).
      output_ratio: output size as a fraction of the input size, in (0, 1) (float or triple).
      return_indices: also return the flat index ``(t * H + h) * W + w`` of every maximum.
      _random_samples: fixed samples ``[N, C, 3]`` in [0, 1) of the input's dtype.

    Raises:
      ConfigError: both or neither of ``output_size``/``output_ratio``, a ratio outside (0, 1), a
        non-positive kernel; when called, no key and no samples.
      ShapeError: when called, a wrong input rank or a kernel too large for input and output size.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> pool = nn.FractionalMaxPool3d(2, output_size=2)
      >>> pool(jnp.ones((1, 6, 6, 6)), key=torsh.random.key(0)).shape
      (1, 2, 2, 2)
    """

    _N = 3
