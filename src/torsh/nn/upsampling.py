"""Resampling layers with PyTorch's arguments and defaults (no parameters).

``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``, ``PixelShuffle`` and
``PixelUnshuffle``.

They wrap :func:`torsh.nn.functional.interpolate`, ``pixel_shuffle`` and ``pixel_unshuffle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jaxtyping import Array, Shaped

from ..errors import ConfigError
from ..tree import static
from ._shapes import shaped
from ._utils import positive_int
from .functional._upsampling import _MODES, channel_shuffle, interpolate, pixel_shuffle, pixel_unshuffle
from .module import Module

__all__ = [
    "Upsample",
    "UpsamplingNearest2d",
    "UpsamplingBilinear2d",
    "PixelShuffle",
    "PixelUnshuffle",
    "ChannelShuffle",
]

# forward's jaxtyping annotations, checked by nn.shaped ("r" and "*size" bound from the layer's fields).
# (Aliases: linters read a shape string written inside a signature as a Python expression, F722.)
_Batch = Shaped[Array, "batch channels *spatial"]
_Resized = Shaped[Array, "batch channels *size"]
_Image = Shaped[Array, "*batch channels height width"]
_Shuffled = Shaped[Array, "*batch channels//(r*r) height*r width*r"]
_Unshuffled = Shaped[Array, "*batch channels*r*r height//r width//r"]


def _size(m: Upsample) -> tuple[int, ...] | None:
    """size"""
    return m.size if isinstance(m.size, tuple) else None  # an int size applies to every spatial axis


def _hashable(value: Any) -> Any:
    """Lists (PyTorch accepts them) become tuples: module configuration must be hashable."""
    return tuple(value) if isinstance(value, list) else value


class Upsample(Module):
    """Resize ``[N, C, *spatial]`` by ``size`` or ``scale_factor`` (``torch.nn.Upsample``).

    Arguments as :func:`torsh.nn.functional.interpolate` (``mode="nearest"`` by default).

    Args:
      size: The output spatial size (int or tuple).
      scale_factor: Multiplier per spatial axis.
      mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"``, ``"bilinear"``, ``"bicubic"`` or
        ``"trilinear"``.
      align_corners: For the linear modes: align the corner pixels' centres.
      recompute_scale_factor: Use ``in / out`` as the coordinate scale instead of ``1 / scale_factor``.

    Raises:
      ConfigError: If ``mode`` is unknown, or not exactly one of ``size`` and ``scale_factor`` is given.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
      >>> up
      Upsample(scale_factor=2.0, mode='bilinear')
      >>> up(jnp.ones((1, 3, 4, 4))).shape
      (1, 3, 8, 8)
    """

    size: Any = static()
    scale_factor: Any = static()
    mode: str = static()
    align_corners: bool | None = static()
    recompute_scale_factor: bool | None = static()

    def __init__(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        name = type(self).__name__
        if mode not in _MODES:
            raise ConfigError(
                f"{name}: unknown mode {mode!r}; expected one of {', '.join(map(repr, _MODES))}"
            )
        if (size is None) == (scale_factor is None):
            raise ConfigError(
                f"{name}: pass exactly one of size and scale_factor (got size={size!r}, "
                f"scale_factor={scale_factor!r})"
            )
        self.size = _hashable(size)
        if isinstance(scale_factor, Sequence):
            self.scale_factor = tuple(float(s) for s in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    @shaped(dims={"size": _size})
    def forward(self, input: _Batch) -> _Resized:
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        what = (
            f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        )
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour 2D upsampling (``torch.nn.UpsamplingNearest2d``; ``Upsample(mode="nearest")``).

    Args:
      size: The output spatial size (int or tuple).
      scale_factor: Multiplier per spatial axis.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.UpsamplingNearest2d(scale_factor=2)(jnp.array([[[[1.0, 2.0]]]])).tolist()
      [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear 2D upsampling with ``align_corners=True`` (``torch.nn.UpsamplingBilinear2d``).

    Args:
      size: The output spatial size (int or tuple).
      scale_factor: Multiplier per spatial axis.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.UpsamplingBilinear2d(size=(1, 3))(jnp.array([[[[0.0, 1.0]]]])).tolist()
      [[[[0.0, 0.5, 1.0]]]]
    """

    def __init__(
        self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None
    ) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


def _positive_int(value: Any, name: str, owner: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value


class PixelShuffle(Module):
    """``[*, C * r**2, H, W] -> [*, C, H * r, W * r]`` (``torch.nn.PixelShuffle``).

    Args:
      upscale_factor: The factor ``r`` (a positive int).

    Raises:
      ConfigError: If ``upscale_factor`` is not a positive int.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.PixelShuffle(3)(jnp.zeros((1, 9, 4, 4))).shape
      (1, 1, 12, 12)
    """

    upscale_factor: int = static()

    def __init__(self, upscale_factor: int) -> None:
        self.upscale_factor = _positive_int(upscale_factor, "upscale_factor", "PixelShuffle")

    @shaped(dims={"r": "upscale_factor"})
    def forward(self, input: _Image) -> _Shuffled:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``[*, C, H * r, W * r] -> [*, C * r**2, H, W]`` (``torch.nn.PixelUnshuffle``).

    Args:
      downscale_factor: The factor ``r`` (a positive int).

    Raises:
      ConfigError: If ``downscale_factor`` is not a positive int.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.PixelUnshuffle(2)(jnp.zeros((1, 1, 4, 4))).shape
      (1, 4, 2, 2)
    """

    downscale_factor: int = static()

    def __init__(self, downscale_factor: int) -> None:
        self.downscale_factor = _positive_int(downscale_factor, "downscale_factor", "PixelUnshuffle")

    @shaped(dims={"r": "downscale_factor"})
    def forward(self, input: _Image) -> _Unshuffled:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of ``groups`` groups (ShuffleNet; ``torch.nn.ChannelShuffle``).

    Args:
      groups: number of groups; the channels must be divisible by it.

    Raises:
      ConfigError: ``groups < 1``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ChannelShuffle(3)(jnp.arange(6.0).reshape(1, 6, 1))[0, :, 0].tolist()
      [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]
    """

    groups: int = static()

    def __init__(self, groups: int) -> None:
        self.groups = positive_int("groups", groups, "ChannelShuffle")

    @shaped
    def forward(self, input: _Batch) -> _Batch:
        return channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
