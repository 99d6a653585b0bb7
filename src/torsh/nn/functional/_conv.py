"""Convolutions in PyTorch's layout: ``conv1d/2d/3d`` and ``conv_transpose1d/2d/3d``.

Inputs are channels-first (``[N, C, *spatial]``, or unbatched ``[C, *spatial]``) and weights have
PyTorch's shapes: convolution ``[out, in/groups, *kernel]``, transposed convolution
``[in, out/groups, *kernel]``. Everything lowers to ``jax.lax.conv_general_dilated``, except grouped
convolutions on CPU, where XLA's grouped convolution is very slow (see ``_grouped_cpu``).

Internal layout: the arrays are handed to XLA in their NCHW layout (``dimension_numbers`` say so);
transposing to NHWC around the convolution was measured no faster on CPU (benchmarks/layers_conv.py,
docs/nn_conv.md), so the public NCHW interface costs nothing extra.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..._platform import cpu_or_default
from ...errors import ConfigError, ShapeError
from .._utils import at, check_float_input, ntuple, opmath, shape_str

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]

IntOrTuple = int | Sequence[int]
Padding = int | Sequence[int] | str

# "NCHW": dimension_numbers describe PyTorch's layout and XLA picks its own. "NHWC": transpose the
# input/weight to channels-last around the convolution. Chosen by measurement (docs/nn_conv.md).
_INTERNAL_LAYOUT = "NCHW"

_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def conv_padding(
    padding: Padding,
    n: int,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    where: str,
) -> tuple[tuple[int, int], ...]:
    """``(low, high)`` padding per spatial axis for an int/tuple/"same"/"valid" ``padding``.

    "same" puts ``total // 2`` before and the rest after, as PyTorch does (asymmetric for even
    effective kernels); it requires stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ConfigError(
                f"{at(where)}invalid padding string {padding!r}, should be one of 'same', 'valid'"
            )
        if any(s != 1 for s in stride):
            raise ConfigError(
                f"{at(where)}padding='same' is not supported for strided convolutions (stride={stride})"
            )
        pads = []
        for k, d in zip(kernel_size, dilation, strict=True):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return tuple(pads)
    return tuple((p, p) for p in ntuple(padding, n, "padding", where, minimum=0))


# -- input checks ---------------------------------------------------------------------------------
def _layout(n: int, channels: Any) -> str:
    return "[" + ", ".join(["N", str(channels), *_SPATIAL[n]]) + "]"


def check_conv_input(x: Any, weight: jax.Array, n: int, in_channels: int, where: str) -> bool:
    """Check rank, channels and dtype of a convolution input; return whether it has a batch axis."""
    check_float_input(x, weight)
    if x.ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"{at(where)}expected {n + 1}D (unbatched) or {n + 2}D (batched) input "
            f"{_layout(n, in_channels)}, "
            f"got {x.ndim}D input of shape {shape_str(x.shape)}"
        )
    batched = x.ndim == n + 2
    if x.shape[1 if batched else 0] != in_channels:
        unbatched = "[" + ", ".join([str(in_channels), *_SPATIAL[n]]) + "]"
        raise ShapeError(
            f"{at(where)}expected input {_layout(n, in_channels)} or {unbatched} "
            f"({in_channels} channels), got {shape_str(x.shape)}"
        )
    return batched


def _check_weight(weight: Any, n: int, where: str) -> None:
    if getattr(weight, "ndim", None) != n + 2:
        raise ShapeError(
            f"{at(where)}expected a {n + 2}D weight, got shape {shape_str(getattr(weight, 'shape', ()))}"
        )


def _check_bias(bias: Any, channels: int, where: str) -> None:
    if bias is not None and tuple(bias.shape) != (channels,):
        raise ShapeError(f"{at(where)}expected bias of shape [{channels}], got {shape_str(bias.shape)}")


def _check_groups(groups: Any, where: str) -> int:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ConfigError(f"{at(where)}groups must be a positive int, got {groups!r}")
    return groups


# -- padding with a mode (reflect/replicate/circular), as torch.nn.functional.pad ------------------
def pad_spatial(x: jax.Array, pads: Sequence[tuple[int, int]], mode: str, where: str) -> jax.Array:
    """Pad the trailing ``len(pads)`` axes of ``x`` with ``mode`` (PyTorch's ``padding_mode`` names)."""
    if mode not in _PAD_MODES:
        raise ConfigError(f"{at(where)}padding_mode must be one of {sorted(_PAD_MODES)}, got {mode!r}")
    n = len(pads)
    spatial = x.shape[x.ndim - n :]
    for size, (lo, hi) in zip(spatial, pads, strict=True):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ShapeError(
                f"{at(where)}reflect padding {lo, hi} must be smaller than the input size {size} "
                f"(input shape {shape_str(x.shape)})"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ShapeError(
                f"{at(where)}circular padding {lo, hi} would wrap around more than once "
                f"(input size {size}, input shape {shape_str(x.shape)})"
            )
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    widths = [(0, 0)] * (x.ndim - n) + list(pads)
    return jnp.pad(x, widths, mode=_PAD_MODES[mode])


# -- the core ---------------------------------------------------------------------------------------
def _dimension_numbers(n: int, layout: str) -> tuple[str, str, str]:
    s = _SPATIAL[n]
    if layout == "NHWC":
        return ("N" + s + "C", s + "IO", "N" + s + "C")
    return ("NC" + s, "OI" + s, "NC" + s)


def conv_core(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    lhs_dilation: tuple[int, ...] | None = None,
    layout: str | None = None,
) -> jax.Array:
    """Batched NC* cross-correlation with an ``[out, in/groups, *k]`` weight (checks done by callers).

    Grouped and small-map convolutions take a CPU-specific path (see :func:`_grouped_cpu`,
    :func:`_shifted_products`) through ``_platform.cpu_or_default``.
    """
    n = x.ndim - 2
    lhs = tuple(lhs_dilation) if lhs_dilation is not None else (1,) * n
    native = functools.partial(
        _native_conv,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        lhs_dilation=lhs,
        layout=layout or _INTERNAL_LAYOUT,
    )
    if groups == 1:
        if lhs_dilation is None and _prefers_shifted_products(
            x.shape[2:], weight.shape[2:], stride, padding, dilation
        ):
            shifted = functools.partial(_shifted_products, stride=stride, padding=padding, dilation=dilation)
            y = cpu_or_default(x, weight, cpu=shifted, default=native)
        else:
            y = native(x, weight)
    else:
        grouped = functools.partial(
            _grouped_cpu, stride=stride, padding=padding, dilation=dilation, groups=groups, lhs_dilation=lhs
        )
        y = cpu_or_default(x, weight, cpu=grouped, default=native)
    if bias is not None:
        y = y + bias.reshape((-1,) + (1,) * n)
    return y


def _native_conv(
    x: jax.Array,
    weight: jax.Array,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    lhs_dilation: tuple[int, ...],
    layout: str,
) -> jax.Array:
    """One ``lax.conv_general_dilated``, in NCHW or transposed to NHWC around it."""
    n = x.ndim - 2
    if layout == "NHWC":
        y = lax.conv_general_dilated(
            x.transpose((0, *range(2, n + 2), 1)),
            weight.transpose((*range(2, n + 2), 1, 0)),
            stride,
            padding,
            lhs_dilation=lhs_dilation,
            rhs_dilation=dilation,
            feature_group_count=groups,
            dimension_numbers=_dimension_numbers(n, "NHWC"),
        )
        return y.transpose((0, n + 1, *range(1, n + 1)))
    return lax.conv_general_dilated(
        x,
        weight,
        stride,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=dilation,
        feature_group_count=groups,
        dimension_numbers=_dimension_numbers(n, "NCHW"),
    )


# -- small and strided dense convolutions on CPU -------------------------------------------------------
# XLA:CPU hands a convolution to its fast library (YNNPACK) only in some shapes. Outside them it runs
# a generic loop at ~1 GFLOP/s: a 3x3 convolution whose input is smaller than the kernel (ResNet-18's
# last stage at 64x64 inputs: 2x2 maps, 512 channels: 387 ms vs 10 ms as products), and the input
# gradient of strided convolutions (an input-dilated convolution: 96 ms vs 8 ms from 4x4 maps). For
# those shapes torsh writes the convolution as a sum over kernel offsets of one strided view times
# that offset's [out, in] matrix: matrix products whose derivatives are matrix products and pads.
# On large maps the products lose (a 16x16 map: 2x slower), so the rule below keeps them to small
# outputs, inputs smaller than the kernel, and strided 1x1 convolutions (docs/nn_conv.md).
_SHIFTED_MAX_OUTPUT = 16  # output positions per image


def _prefers_shifted_products(
    spatial: Sequence[int],
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[tuple[int, int]],
    dilation: Sequence[int],
) -> bool:
    extent = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if any(size < e for size, e in zip(spatial, extent, strict=True)):
        return True
    if all(k == 1 for k in kernel):
        return any(st > 1 for st in stride)
    padded = [size + lo + hi for size, (lo, hi) in zip(spatial, padding, strict=True)]
    out = _valid_out(padded, kernel, stride, dilation)
    return math.prod(out) <= _SHIFTED_MAX_OUTPUT


def _shifted_products(
    x: jax.Array,
    weight: jax.Array,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
) -> jax.Array:
    """Dense convolution as one im2col matrix product (:func:`_grouped_im2col` with one group). The
    maps here are small, so the stacked views are too; one product (rather than one per offset)
    keeps the weight gradient in the weight's own layout instead of padding each offset's slice
    back into it."""
    x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (0, 0, 0)] + [(lo, hi, 0) for lo, hi in padding])
    return _grouped_im2col(x, weight, stride, dilation, 1)


# -- grouped convolutions on CPU ----------------------------------------------------------------------
# XLA's CPU convolution with feature_group_count > 1 was measured 8-60x slower than PyTorch's
# (forward + backward, e.g. 32x64x16x16 3x3 groups=8: 634 ms vs 4.7 ms; groups=32: 4.9 s vs 18 ms;
# docs/nn_conv.md). On CPU torsh therefore computes grouped convolutions as
#   * depthwise (one input channel per group): a sum of shifted, strided slices times per-channel
#     weights, which XLA fuses into one loop;
#   * a few groups: one dense convolution per group, concatenated;
#   * many groups of several channels: windows stacked as an axis (im2col) and one batched matmul
#     over the groups.
_SPLIT_MAX_GROUPS = 8


def _grouped_cpu(
    x: jax.Array,
    weight: jax.Array,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    lhs_dilation: tuple[int, ...],
) -> jax.Array:
    n = x.ndim - 2
    # Explicit padding (negative values crop) and stride dilation of the input (transposed
    # convolutions), exactly as conv_general_dilated applies them; the strategies below see a
    # ready input and only convolve "valid".
    pads = [(0, 0, 0), (0, 0, 0)] + [
        (lo, hi, ld - 1) for (lo, hi), ld in zip(padding, lhs_dilation, strict=True)
    ]
    x = lax.pad(x, jnp.zeros((), x.dtype), pads)
    if weight.shape[1] == 1:
        return _depthwise_shifted(x, weight, stride, dilation)
    if groups <= _SPLIT_MAX_GROUPS:
        ys = [
            lax.conv_general_dilated(
                xg,
                wg,
                stride,
                ((0, 0),) * n,
                rhs_dilation=dilation,
                dimension_numbers=_dimension_numbers(n, "NCHW"),
            )
            for xg, wg in zip(jnp.split(x, groups, axis=1), jnp.split(weight, groups, axis=0), strict=True)
        ]
        return jnp.concatenate(ys, axis=1)
    return _grouped_im2col(x, weight, stride, dilation, groups)


def _valid_out(
    spatial: Sequence[int], kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]
) -> list[int]:
    return [
        (s - d * (k - 1) - 1) // st + 1 for s, k, st, d in zip(spatial, kernel, stride, dilation, strict=True)
    ]


def _kernel_views(x: jax.Array, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]):
    """``(offset, view)`` for every kernel offset: the strided slice of ``x`` it multiplies."""
    out = _valid_out(x.shape[2:], kernel, stride, dilation)
    for offset in itertools.product(*(range(k) for k in kernel)):
        start = [j * d for j, d in zip(offset, dilation, strict=True)]
        limit = [st + (o - 1) * s + 1 for st, o, s in zip(start, out, stride, strict=True)]
        yield offset, lax.slice(x, (0, 0, *start), (*x.shape[:2], *limit), (1, 1, *stride))


def _depthwise_shifted(
    x: jax.Array, weight: jax.Array, stride: tuple[int, ...], dilation: tuple[int, ...]
) -> jax.Array:
    """Depthwise convolution (output channel ``o`` reads input channel ``o // multiplier``)."""
    n = x.ndim - 2
    multiplier = weight.shape[0] // x.shape[1]
    xs = opmath(x)
    if multiplier > 1:
        xs = jnp.repeat(xs, multiplier, axis=1)
    w = opmath(weight)
    y: jax.Array | None = None
    for offset, view in _kernel_views(xs, weight.shape[2:], stride, dilation):
        term = view * w[(slice(None), 0, *offset)].reshape((-1,) + (1,) * n)
        y = term if y is None else y + term
    assert y is not None  # a kernel has at least one position
    return y.astype(x.dtype)


def _grouped_im2col(
    x: jax.Array, weight: jax.Array, stride: tuple[int, ...], dilation: tuple[int, ...], groups: int
) -> jax.Array:
    """Windows as an axis, then one matmul per group (batched over groups)."""
    kernel = weight.shape[2:]
    views = [view for _, view in _kernel_views(x, kernel, stride, dilation)]
    batch, c_in, out_spatial = x.shape[0], x.shape[1], views[0].shape[2:]
    patches = jnp.stack(views, axis=2).reshape((batch, groups, c_in // groups, len(views), *out_spatial))
    w = weight.reshape((groups, weight.shape[0] // groups, weight.shape[1], len(views)))
    acc = jnp.promote_types(x.dtype, jnp.float32)  # accumulate half precision in float32
    y = jnp.einsum("ngik...,goik->ngo...", patches, w, preferred_element_type=acc)
    return y.reshape((batch, weight.shape[0], *out_spatial)).astype(x.dtype)


def conv_forward(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int,
    where: str,
    input_shape: Sequence[int],
) -> jax.Array:
    """Convolution of a batched, checked input; ShapeError if the padded input is smaller than the kernel."""
    padded = [s + lo + hi for s, (lo, hi) in zip(x.shape[2:], padding, strict=True)]
    extent = [d * (k - 1) + 1 for k, d in zip(weight.shape[2:], dilation, strict=True)]
    if any(p < e for p, e in zip(padded, extent, strict=True)):
        raise ShapeError(
            f"{at(where)}input of shape {shape_str(input_shape)} (spatial size {shape_str(padded)} after "
            f"padding) is smaller than the dilated kernel {shape_str(extent)}"
        )
    return conv_core(x, weight, bias, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _conv_nd(
    n: int,
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    stride: IntOrTuple,
    padding: Padding,
    dilation: IntOrTuple,
    groups: int,
) -> jax.Array:
    where = f"conv{n}d"
    _check_weight(weight, n, where)
    groups = _check_groups(groups, where)
    out_channels = weight.shape[0]
    if out_channels % groups:
        raise ShapeError(
            f"{at(where)}weight of shape {shape_str(weight.shape)} has {out_channels} output channels, "
            f"not divisible by groups={groups}"
        )
    batched = check_conv_input(input, weight, n, weight.shape[1] * groups, where)
    _check_bias(bias, out_channels, where)
    kernel = tuple(weight.shape[2:])
    stride_t = ntuple(stride, n, "stride", where)
    dilation_t = ntuple(dilation, n, "dilation", where)
    pads = conv_padding(padding, n, kernel, stride_t, dilation_t, where)
    x = input if batched else input[None]
    y = conv_forward(
        x,
        weight,
        bias,
        stride=stride_t,
        padding=pads,
        dilation=dilation_t,
        groups=groups,
        where=where,
        input_shape=input.shape,
    )
    return y if batched else y[0]


def conv1d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> jax.Array:
    """1D convolution (cross-correlation) over ``[N, C_in, L]`` or ``[C_in, L]`` (``F.conv1d``).

    Args:
      input: ``[N, C_in, L]`` or unbatched ``[C_in, L]``.
      weight: ``[C_out, C_in / groups, kL]``.
      bias: optional ``[C_out]``.
      stride, dilation: int or 1-tuple.
      padding: int, 1-tuple, ``"valid"`` (no padding) or ``"same"`` (output length = input length;
        stride 1 only).
      groups: split the channels into this many independent groups.

    Returns:
      ``[N, C_out, L_out]`` with ``L_out = (L + 2p - d(kL - 1) - 1) // stride + 1``.

    Raises:
      ConfigError: For a bad ``padding`` string (``"same"`` needs stride 1), ``groups`` or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes (channels not
        divisible by ``groups``, a kernel larger than the padded input...).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv1d(jnp.ones((2, 4, 10)), jnp.ones((8, 4, 3)), padding="same").shape
      (2, 8, 10)
    """
    return _conv_nd(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> jax.Array:
    """2D convolution over ``[N, C_in, H, W]`` or ``[C_in, H, W]`` (``torch.nn.functional.conv2d``).

    Args:
      input: ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]``.
      weight: ``[C_out, C_in / groups, kH, kW]``.
      bias: optional ``[C_out]``.
      stride, dilation: int or ``(sH, sW)``.
      padding: int, ``(pH, pW)``, ``"valid"`` or ``"same"`` (stride 1 only; an odd total padding puts
        the extra element after, as PyTorch does).
      groups: split the channels into this many independent groups (``groups == C_in`` is depthwise).

    Returns:
      ``[N, C_out, H_out, W_out]``.

    Raises:
      ConfigError: For a bad ``padding`` string (``"same"`` needs stride 1), ``groups`` or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes (channels not
        divisible by ``groups``, a kernel larger than the padded input...).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv2d(jnp.ones((1, 3, 8, 8)), jnp.ones((6, 3, 3, 3)), stride=2, padding=1).shape
      (1, 6, 4, 4)
    """
    return _conv_nd(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> jax.Array:
    """3D convolution over ``[N, C_in, D, H, W]`` or ``[C_in, D, H, W]`` (``torch.nn.functional.conv3d``).

    Arguments as :func:`conv2d`, with 3-tuples; weight ``[C_out, C_in / groups, kD, kH, kW]``.

    Args:
      input: ``[N, C_in, D, H, W]`` or unbatched ``[C_in, D, H, W]``.
      weight: ``[C_out, C_in / groups, *kernel]``.
      bias: ``[C_out]``, or None.
      stride: An int or 3-tuple.
      padding: An int, a 3-tuple, ``"valid"`` or ``"same"`` (stride 1 only).
      dilation: An int or 3-tuple.
      groups: Split the channels into this many independent groups.

    Returns:
      ``[N, C_out, D_out, H_out, W_out]``.

    Raises:
      ConfigError: For a bad ``padding`` string (``"same"`` needs stride 1), ``groups`` or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes (channels not
        divisible by ``groups``, a kernel larger than the padded input...).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv3d(jnp.ones((1, 2, 4, 4, 4)), jnp.ones((3, 2, 3, 3, 3)), padding="valid").shape
      (1, 3, 2, 2, 2)
    """
    return _conv_nd(3, input, weight, bias, stride, padding, dilation, groups)


# -- transposed convolutions ------------------------------------------------------------------------
def transpose_weight(weight: jax.Array, groups: int) -> jax.Array:
    """``[in, out/g, *k]`` (transposed-conv layout) -> flipped ``[out, in/g, *k]`` (conv layout)."""
    c_in, c_out_g, *kernel = weight.shape
    n = len(kernel)
    w = weight.reshape((groups, c_in // groups, c_out_g, *kernel))
    w = jnp.swapaxes(w, 1, 2).reshape((groups * c_out_g, c_in // groups, *kernel))
    return jnp.flip(w, axis=tuple(range(2, n + 2)))


def conv_transpose_output_padding(
    input_spatial: Sequence[int],
    output_size: Sequence[int] | None,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    kernel: tuple[int, ...],
    dilation: tuple[int, ...],
    output_padding: tuple[int, ...],
    batched: bool,
    where: str,
) -> tuple[int, ...]:
    """``output_padding`` that yields ``output_size`` (``ConvTranspose*.forward(x, output_size)``)."""
    if output_size is None:
        return output_padding
    n = len(kernel)
    size = tuple(output_size)
    non_spatial = 2 if batched else 1
    if len(size) == n + non_spatial:
        size = size[non_spatial:]
    if len(size) != n:
        raise ShapeError(
            f"{at(where)}for a {n + non_spatial}D input, output_size must have {n} or {n + non_spatial} "
            f"elements, got {list(output_size)}"
        )
    smallest = [
        (i - 1) * s - 2 * p + d * (k - 1) + 1
        for i, s, p, k, d in zip(input_spatial, stride, padding, kernel, dilation, strict=True)
    ]
    largest = [m + s - 1 for m, s in zip(smallest, stride, strict=True)]
    if any(not lo <= want <= hi for want, lo, hi in zip(size, smallest, largest, strict=True)):
        raise ShapeError(
            f"{at(where)}requested an output size of {list(size)}, but valid sizes range from {smallest} to "
            f"{largest} (for an input of {list(input_spatial)})"
        )
    return tuple(want - lo for want, lo in zip(size, smallest, strict=True))


def conv_transpose_forward(
    x: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    *,
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
    where: str,
    input_shape: Sequence[int],
) -> jax.Array:
    """Transposed convolution of a batched, checked input with a ``[in, out/groups, *k]`` weight."""
    kernel = tuple(weight.shape[2:])
    for op, s, d in zip(output_padding, stride, dilation, strict=True):
        if op >= s and op >= d:
            raise ConfigError(
                f"{at(where)}output_padding must be smaller than either stride or dilation, got "
                f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
            )
    out_spatial = [
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, k, d, op in zip(
            x.shape[2:], stride, padding, kernel, dilation, output_padding, strict=True
        )
    ]
    if any(o < 1 for o in out_spatial):
        raise ShapeError(
            f"{at(where)}input of shape {shape_str(input_shape)} with padding {padding} gives an empty "
            f"output {shape_str(out_spatial)}"
        )
    # The transposed convolution is a convolution of the stride-dilated input with the flipped,
    # transposed kernel, padded by d(k-1) - p (negative values crop) and output_padding at the end.
    pads = tuple(
        (d * (k - 1) - p, d * (k - 1) - p + op)
        for k, p, d, op in zip(kernel, padding, dilation, output_padding, strict=True)
    )
    return conv_core(
        x,
        transpose_weight(weight, groups),
        bias,
        stride=(1,) * len(kernel),
        padding=pads,
        dilation=dilation,
        groups=groups,
        lhs_dilation=stride,
    )


def _conv_transpose_nd(
    n: int,
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None,
    stride: IntOrTuple,
    padding: IntOrTuple,
    output_padding: IntOrTuple,
    groups: int,
    dilation: IntOrTuple,
    output_size: Sequence[int] | None = None,
) -> jax.Array:
    where = f"conv_transpose{n}d"
    _check_weight(weight, n, where)
    groups = _check_groups(groups, where)
    in_channels = weight.shape[0]
    if in_channels % groups:
        raise ShapeError(
            f"{at(where)}weight of shape {shape_str(weight.shape)} has {in_channels} input channels, "
            f"not divisible by groups={groups}"
        )
    batched = check_conv_input(input, weight, n, in_channels, where)
    out_channels = weight.shape[1] * groups
    _check_bias(bias, out_channels, where)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        raise ConfigError(
            f"{at(where)}padding must be an int or a tuple of ints (no 'same'/'valid'), got {padding!r}"
        )
    stride_t = ntuple(stride, n, "stride", where)
    dilation_t = ntuple(dilation, n, "dilation", where)
    padding_t = ntuple(padding, n, "padding", where, minimum=0)
    x = input if batched else input[None]
    out_pad = ntuple(output_padding, n, "output_padding", where, minimum=0)
    out_pad = conv_transpose_output_padding(
        x.shape[2:], output_size, stride_t, padding_t, kernel, dilation_t, out_pad, batched, where
    )
    y = conv_transpose_forward(
        x,
        weight,
        bias,
        stride=stride_t,
        padding=padding_t,
        output_padding=out_pad,
        dilation=dilation_t,
        groups=groups,
        where=where,
        input_shape=input.shape,
    )
    return y if batched else y[0]


def conv_transpose1d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> jax.Array:
    """1D transposed convolution ("deconvolution", ``torch.nn.functional.conv_transpose1d``).

    The gradient of :func:`conv1d` with respect to its input. Note PyTorch's argument order:
    ``groups`` comes before ``dilation``.

    Args:
      input: ``[N, C_in, L]`` or unbatched ``[C_in, L]``.
      weight: ``[C_in, C_out / groups, kL]``.
      bias: optional ``[C_out]``.
      stride, dilation: int or 1-tuple.
      padding: int or 1-tuple: ``dilation * (kL - 1) - padding`` zeros are added to both sides of the
        input, i.e. ``padding`` elements are cropped from both ends of the full output.
      output_padding: extra elements added at the end of the output (smaller than stride or dilation).
      groups: independent channel groups.

    Returns:
      ``[N, C_out, L_out]`` with
      ``L_out = (L - 1) * stride - 2 * padding + dilation * (kL - 1) + output_padding + 1``.

    Raises:
      ConfigError: For a bad ``groups``, ``output_padding`` (smaller than stride or dilation) or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv_transpose1d(jnp.ones((2, 4, 5)), jnp.ones((4, 3, 3)), stride=2).shape
      (2, 3, 11)
    """
    return _conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> jax.Array:
    """2D transposed convolution (``F.conv_transpose2d``); weight ``[C_in, C_out / groups, kH, kW]``.

    Arguments as :func:`conv_transpose1d`, with 2-tuples.

    Args:
      input: ``[N, C_in, H, W]`` or unbatched ``[C_in, H, W]``.
      weight: ``[C_in, C_out / groups, *kernel]``.
      bias: ``[C_out]``, or None.
      stride: An int or 2-tuple.
      padding: An int or 2-tuple: elements cropped from both ends of the full output.
      output_padding: Extra elements at the end of the output (smaller than stride or dilation).
      groups: Split the channels into this many independent groups.
      dilation: An int or 2-tuple.

    Returns:
      ``[N, C_out, H_out, W_out]``.

    Raises:
      ConfigError: For a bad ``groups``, ``output_padding`` (smaller than stride or dilation) or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv_transpose2d(jnp.ones((1, 4, 8, 8)), jnp.ones((4, 2, 4, 4)), stride=2, padding=1).shape
      (1, 2, 16, 16)
    """
    return _conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(
    input: jax.Array,
    weight: jax.Array,
    bias: jax.Array | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
) -> jax.Array:
    """3D transposed convolution (``F.conv_transpose3d``); weight ``[C_in, C_out / groups, kD, kH, kW]``.

    Arguments as :func:`conv_transpose1d`, with 3-tuples.

    Args:
      input: ``[N, C_in, D, H, W]`` or unbatched ``[C_in, D, H, W]``.
      weight: ``[C_in, C_out / groups, *kernel]``.
      bias: ``[C_out]``, or None.
      stride: An int or 3-tuple.
      padding: An int or 3-tuple: elements cropped from both ends of the full output.
      output_padding: Extra elements at the end of the output (smaller than stride or dilation).
      groups: Split the channels into this many independent groups.
      dilation: An int or 3-tuple.

    Returns:
      ``[N, C_out, D_out, H_out, W_out]``.

    Raises:
      ConfigError: For a bad ``groups``, ``output_padding`` (smaller than stride or dilation) or other
        argument.
      ShapeError: If ``input``, ``weight`` or ``bias`` have the wrong rank or sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.conv_transpose3d(jnp.ones((1, 2, 3, 3, 3)), jnp.ones((2, 1, 2, 2, 2)), stride=2).shape
      (1, 1, 6, 6, 6)
    """
    return _conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups, dilation)
