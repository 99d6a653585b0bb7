"""``Unfold`` (im2col) and ``Fold`` (col2im), wrapping :func:`torsh.nn.functional.unfold`/``fold``."""

from __future__ import annotations

import math

from jaxtyping import Array, Float

from ..tree import static
from ._shapes import shaped
from ._utils import ntuple
from .functional import _fold
from .module import Module

__all__ = ["Fold", "Unfold"]

_Size = int | tuple[int, int]

# forward's jaxtyping annotations, checked by nn.shaped: "kk" is the kernel's number of elements and
# "blocks" Fold's number of sliding blocks, both bound from the layer's fields.
# (Aliases: linters read a shape string written inside a signature as a Python expression, F722.)
_Image = Float[Array, "*batch c height width"]
_Columns = Float[Array, "*batch c*kk blocks"]
_FoldIn = Float[Array, "*batch ckk blocks"]
_FoldOut = Float[Array, "*batch ckk//kk out_height out_width"]


def _blocks(m: Fold) -> int:
    """the number of sliding blocks in output_size"""
    return math.prod(
        (o + 2 * p - d * (k - 1) - 1) // s + 1
        for o, k, d, p, s in zip(m.output_size, m.kernel_size, m.dilation, m.padding, m.stride, strict=True)
    )


def _kk(m: Unfold | Fold) -> int:
    """the number of elements of kernel_size"""
    return math.prod(m.kernel_size)


def _out_h(m: Fold) -> int:
    """output_size[0]"""
    return m.output_size[0]


def _out_w(m: Fold) -> int:
    """output_size[1]"""
    return m.output_size[1]


class Unfold(Module):
    """Extract sliding local blocks ``(N, C, H, W) -> (N, C * kh * kw, L)`` (``torch.nn.Unfold``).

    Args:
      kernel_size: block size.
      dilation: spacing between block elements.
      padding: zero padding on both sides.
      stride: step between blocks.

    Raises:
      ConfigError: a non-positive size, dilation or stride, or negative padding.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Unfold(kernel_size=(2, 3))(jnp.zeros((2, 5, 3, 4))).shape
      (2, 30, 4)
    """

    kernel_size: tuple[int, ...] = static()
    dilation: tuple[int, ...] = static()
    padding: tuple[int, ...] = static()
    stride: tuple[int, ...] = static()

    def __init__(
        self, kernel_size: _Size, dilation: _Size = 1, padding: _Size = 0, stride: _Size = 1
    ) -> None:
        k, d, p, s = _fold._geometry("Unfold", kernel_size, dilation, padding, stride)
        self.kernel_size, self.dilation, self.padding, self.stride = k, d, p, s

    @shaped(dims={"kk": _kk})
    def forward(self, input: _Image) -> _Columns:
        return _fold.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
            f"stride={self.stride}"
        )


class Fold(Module):
    """Combine sliding blocks into an image, summing overlaps (``torch.nn.Fold``); the adjoint of Unfold.

    Args:
      output_size: spatial size ``(H, W)`` of the result.
      kernel_size: block size.
      dilation: spacing between block elements.
      padding: the padding that Unfold would have added (cropped away).
      stride: step between blocks.

    Raises:
      ConfigError: a non-positive size, dilation or stride, or negative padding.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Fold(output_size=(4, 5), kernel_size=(2, 2))(jnp.zeros((1, 12, 12))).shape
      (1, 3, 4, 5)
    """

    output_size: tuple[int, ...] = static()
    kernel_size: tuple[int, ...] = static()
    dilation: tuple[int, ...] = static()
    padding: tuple[int, ...] = static()
    stride: tuple[int, ...] = static()

    def __init__(
        self,
        output_size: _Size,
        kernel_size: _Size,
        dilation: _Size = 1,
        padding: _Size = 0,
        stride: _Size = 1,
    ) -> None:
        self.output_size = ntuple(output_size, 2, "output_size", "Fold")
        k, d, p, s = _fold._geometry("Fold", kernel_size, dilation, padding, stride)
        self.kernel_size, self.dilation, self.padding, self.stride = k, d, p, s

    @shaped(dims={"kk": _kk, "blocks": _blocks, "out_height": _out_h, "out_width": _out_w})
    def forward(self, input: _FoldIn) -> _FoldOut:
        return _fold.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )
