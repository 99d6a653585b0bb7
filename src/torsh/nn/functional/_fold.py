"""Sliding-block extraction and its adjoint: ``unfold`` (im2col) and ``fold`` (col2im), as PyTorch's.

``unfold`` is ``lax.conv_general_dilated_patches`` (XLA's patch extraction); ``fold`` is its exact
linear transpose (``jax.linear_transpose``), so overlapping blocks are summed as in PyTorch and the
two are adjoint by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax

from ...errors import ShapeError
from .._utils import check_float_input, ntuple, shape_str

__all__ = ["unfold", "fold"]


def _geometry(
    where: str, kernel_size: Any, dilation: Any, padding: Any, stride: Any
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    return (
        ntuple(kernel_size, 2, "kernel_size", where),
        ntuple(dilation, 2, "dilation", where),
        ntuple(padding, 2, "padding", where, minimum=0),
        ntuple(stride, 2, "stride", where),
    )


def _blocks(
    size: tuple[int, ...], k: tuple[int, ...], d: tuple[int, ...], p: tuple[int, ...], s: tuple[int, ...]
):
    return tuple((size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))


def _unfold4(x: jax.Array, k: tuple[int, ...], d: tuple[int, ...], p: tuple[int, ...], s: tuple[int, ...]):
    patches = jax.lax.conv_general_dilated_patches(
        x,
        filter_shape=k,
        window_strides=s,
        padding=[(p[0], p[0]), (p[1], p[1])],
        rhs_dilation=d,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        precision=jax.lax.Precision.HIGHEST,  # an exact copy, not a reduced-precision matmul
    )  # (N, C*kh*kw, oh, ow), features ordered (C, kh, kw) as PyTorch's
    return patches.reshape(patches.shape[0], patches.shape[1], -1)


def unfold(
    input: jax.Array,
    kernel_size: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
) -> jax.Array:
    """Extract sliding local blocks: ``(N, C, H, W) -> (N, C * kh * kw, L)`` (``torch.nn.functional.unfold``).

    ``L`` is the number of block positions; each column holds one block, channels first then the
    kernel's rows and columns (PyTorch's order), so a convolution is ``weight.reshape(out, -1) @ cols``.

    Args:
      input: ``(N, C, H, W)`` or unbatched ``(C, H, W)``.
      kernel_size: block size.
      dilation: spacing between block elements.
      padding: zero padding on both sides of each spatial dimension.
      stride: step between blocks.

    Returns:
      ``(N, C * kh * kw, L)`` (``(C * kh * kw, L)`` for an unbatched input).

    Raises:
      ConfigError: a non-positive size, dilation or stride, or negative padding.
      ShapeError: an input that is not 3-D or 4-D, or blocks that do not fit.
      DTypeError: a non-floating input.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
      >>> cols = F.unfold(x, kernel_size=2, stride=2)
      >>> cols.shape, cols[0, :, 0].tolist()
      ((1, 4, 4), [0.0, 1.0, 4.0, 5.0])
    """
    where = "unfold"
    check_float_input(input)
    if input.ndim not in (3, 4):
        raise ShapeError(
            f"unfold: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got {shape_str(input.shape)}"
        )
    k, d, p, s = _geometry(where, kernel_size, dilation, padding, stride)
    x = input[None] if input.ndim == 3 else input
    oh, ow = _blocks(x.shape[2:], k, d, p, s)
    if oh <= 0 or ow <= 0:
        raise ShapeError(
            f"unfold: the {k[0]}x{k[1]} blocks (dilation {d}, padding {p}) do not fit the input spatial size "
            f"{x.shape[2]}x{x.shape[3]}: {oh}x{ow} block positions"
        )
    cols = _unfold4(x, k, d, p, s)
    return cols[0] if input.ndim == 3 else cols


def fold(
    input: jax.Array,
    output_size: int | Sequence[int],
    kernel_size: int | Sequence[int],
    dilation: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    stride: int | Sequence[int] = 1,
) -> jax.Array:
    """Combine sliding blocks into an image, summing overlaps (``torch.nn.functional.fold``).

    The adjoint of :func:`unfold`.

    Args:
      input: ``(N, C * kh * kw, L)`` or unbatched ``(C * kh * kw, L)``.
      output_size: the spatial size ``(H, W)`` of the result.
      kernel_size: block size.
      dilation: spacing between block elements.
      padding: the padding that :func:`unfold` would have added (cropped away here).
      stride: step between blocks.

    Returns:
      ``(N, C, H, W)`` (``(C, H, W)`` for an unbatched input).

    Raises:
      ConfigError: a non-positive size, dilation or stride, or negative padding.
      ShapeError: ``input.shape[-2]`` not divisible by ``kh * kw`` or ``L`` not the number of blocks.
      DTypeError: a non-floating input.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> ones = jnp.ones((1, 4, 9))  # 3x3 positions of 2x2 blocks, stride 1, over a 4x4 image
      >>> F.fold(ones, output_size=4, kernel_size=2)[0, 0].tolist()[0]  # how many blocks cover each pixel
      [1.0, 2.0, 2.0, 1.0]
    """
    where = "fold"
    check_float_input(input)
    if input.ndim not in (2, 3):
        raise ShapeError(
            f"fold: expected a 2-D (C*kh*kw, L) or 3-D (N, C*kh*kw, L) input, got {shape_str(input.shape)}"
        )
    size = ntuple(output_size, 2, "output_size", where)
    k, d, p, s = _geometry(where, kernel_size, dilation, padding, stride)
    cols = input[None] if input.ndim == 2 else input
    n, ckk, length = cols.shape
    if ckk % (k[0] * k[1]):
        raise ShapeError(
            f"fold: expected size of input's dimension 1 to be divisible by the product of kernel_size "
            f"({k[0] * k[1]}), got {ckk}"
        )
    oh, ow = _blocks(size, k, d, p, s)
    if oh * ow != length:
        raise ShapeError(
            f"fold: output_size {size}, kernel_size {k}, dilation {d}, padding {p} and stride {s} give "
            f"{max(oh, 0)}x{max(ow, 0)} = {max(oh, 0) * max(ow, 0)} blocks, but the input has L = {length}"
        )
    image = jax.ShapeDtypeStruct((n, ckk // (k[0] * k[1]), *size), cols.dtype)
    (out,) = jax.linear_transpose(lambda x: _unfold4(x, k, d, p, s), image)(cols)
    return out[0] if input.ndim == 2 else out
