"""Pooling in PyTorch's layout (``[N, C, *spatial]`` or unbatched ``[C, *spatial]``).

* ``max_pool1d/2d/3d`` and ``avg_pool1d/2d/3d`` (kernel_size, stride = kernel by default, padding,
  dilation for max, ceil_mode, count_include_pad and divisor_override for avg) lower to
  ``jax.lax.reduce_window``. Output sizes, the windows that ``ceil_mode`` adds and the divisors of
  average pooling follow PyTorch's kernels exactly.
* Dilated max pooling and ``return_indices`` gather the windows as a stacked axis instead
  (``jax.lax.reduce_window``'s max has no gradient with window dilation). Ties go to the first
  element in row-major window order, as in PyTorch, both for the value's gradient and the index
  (and a window holding NaN yields NaN with the index of its last NaN, as PyTorch's scan does).
* ``adaptive_avg_pool*`` / ``adaptive_max_pool*`` use PyTorch's windows
  ``[floor(i * in / out), ceil((i + 1) * in / out))``, one spatial axis at a time (both reductions
  are separable over the rectangular windows).

Half-precision sums (average pooling) accumulate in float32 and are cast back, as PyTorch does.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any, Literal, cast, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...errors import ConfigError, DTypeError, ShapeError
from .._utils import _check_key, at, check_float_input, ntuple, opmath, shape_str

__all__ = [
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
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "fractional_max_pool2d",
    "fractional_max_pool3d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d_with_indices",
]

IntOrTuple = int | Sequence[int]
_SPATIAL = {1: "L", 2: "HW", 3: "DHW"}


# -- shared checks -----------------------------------------------------------------------------------
def check_pool_input(x: Any, n: int, where: str) -> bool:
    """Check a pooling input's dtype and rank; return whether it has a batch axis."""
    check_float_input(x)
    if x.ndim not in (n + 1, n + 2):
        s = ", ".join(_SPATIAL[n])
        raise ShapeError(
            f"{at(where)}expected {n + 1}D (unbatched) or {n + 2}D (batched) input [N, C, {s}] or [C, {s}], "
            f"got {x.ndim}D input of shape {shape_str(x.shape)}"
        )
    if any(s == 0 for s in x.shape[x.ndim - n :]):
        raise ShapeError(
            f"{at(where)}expected non-empty spatial dimensions, got input of shape {shape_str(x.shape)}"
        )
    return x.ndim == n + 2


def window_args(
    n: int,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    where: str,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    k = ntuple(kernel_size, n, "kernel_size", where)
    no_stride = stride is None or (
        isinstance(stride, Sequence) and not isinstance(stride, str) and len(stride) == 0
    )
    s = k if no_stride else ntuple(stride, n, "stride", where)
    p = ntuple(padding, n, "padding", where, minimum=0)
    d = ntuple(dilation, n, "dilation", where)
    if any(pi > ki // 2 for pi, ki in zip(p, k, strict=True)):
        raise ConfigError(
            f"{at(where)}padding should be at most half of the kernel size, got padding={p}, kernel_size={k}"
        )
    return k, s, p, d


def pool_output_size(size: int, k: int, p: int, s: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's ``pooling_output_shape``: with ``ceil_mode`` the last window must start inside the
    input or its left padding."""
    extent = d * (k - 1) + 1
    out = (size + 2 * p - extent + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _output_sizes(
    x: jax.Array,
    k: tuple[int, ...],
    s: tuple[int, ...],
    p: tuple[int, ...],
    d: tuple[int, ...],
    ceil_mode: bool,
    where: str,
) -> tuple[int, ...]:
    n = len(k)
    spatial = x.shape[x.ndim - n :]
    out = tuple(pool_output_size(*a, ceil_mode) for a in zip(spatial, k, p, s, d, strict=True))
    if any(o < 1 for o in out):
        raise ShapeError(
            f"{at(where)}input of shape {shape_str(x.shape)} is too small for kernel_size={k}, stride={s}, "
            f"padding={p}, dilation={d}: the output would be {shape_str(out)}"
        )
    return out


def _padding_pairs(
    spatial: Sequence[int],
    out: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    p: Sequence[int],
    d: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """(low, high) padding so that the padded input holds exactly the ``out`` windows (ceil_mode's
    last window may need more than ``p`` on the high side)."""
    pairs = []
    for size, o, ki, si, pi, di in zip(spatial, out, k, s, p, d, strict=True):
        need = (o - 1) * si + di * (ki - 1) + 1
        pairs.append((pi, max(pi, need - size - pi)))
    return tuple(pairs)


def _lowest(dtype: Any) -> jax.Array:
    return jnp.array(-jnp.inf, dtype)


def _batched(x: jax.Array, batched: bool) -> jax.Array:
    return x if batched else x[None]


def _unbatched(y: Any, batched: bool) -> Any:
    if batched:
        return y
    if isinstance(y, tuple):
        return tuple(v[0] for v in y)
    return y[0]


# -- max pooling -------------------------------------------------------------------------------------
def _argmax_like_torch(x: jax.Array, valid: jax.Array | None, axis: int) -> jax.Array:
    """Position (kept as a size-1 ``axis``) that PyTorch's CPU max pooling picks along ``axis``:
    the first maximum among ``valid`` elements, or the last NaN if there is one (its scan replaces
    the running max when ``val > max || isnan(val)``)."""
    lowest = _lowest(x.dtype)
    masked = x if valid is None else jnp.where(valid, x, lowest)
    best = jnp.max(masked, axis=axis, keepdims=True)
    hit = masked == best
    if valid is not None:
        hit = hit & valid
    first = jnp.argmax(hit, axis=axis, keepdims=True)
    nan = jnp.isnan(masked)
    size = x.shape[axis]
    last_nan = size - 1 - jnp.argmax(jnp.flip(nan, axis=axis), axis=axis, keepdims=True)
    return jnp.where(jnp.any(nan, axis=axis, keepdims=True), last_nan, first)


def _window_views(
    x: Any, out: Sequence[int], k: Sequence[int], s: Sequence[int], d: Sequence[int]
) -> list[Any]:
    """Every kernel offset's strided view ``[N, C, *out]`` of a (padded) input, offsets in row-major
    order; numpy in, numpy out (static masks), else ``lax.slice``."""
    views: list[Any] = []
    for offset in itertools.product(*(range(ki) for ki in k)):
        start = [j * di for j, di in zip(offset, d, strict=True)]
        limit = [st + (o - 1) * si + 1 for st, o, si in zip(start, out, s, strict=True)]
        if isinstance(x, np.ndarray):
            index = tuple(slice(a, b, c) for a, b, c in zip(start, limit, s, strict=True))
            views.append(x[(slice(None), slice(None), *index)])
        else:
            views.append(lax.slice(x, (0, 0, *start), (*x.shape[:2], *limit), (1, 1, *s)))
    return views


def _windows(
    x: jax.Array,
    out: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    d: Sequence[int],
) -> jax.Array:
    """Stack every kernel offset's strided view: ``[N, C, prod(k), *out]`` (offsets in row-major order)."""
    views = _window_views(x, out, k, s, d)
    return jnp.stack(views, axis=2) if len(views) > 1 else views[0][:, :, None]


def _window_index_tables(
    spatial: Sequence[int],
    out: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    p: Sequence[int],
    d: Sequence[int],
) -> tuple[np.ndarray, np.ndarray]:
    """Static ``[prod(k), *out]`` tables: flat input index of each window element, and its validity."""
    n = len(k)
    flat = np.zeros((math.prod(k), *out), np.int64)
    valid = np.ones((math.prod(k), *out), bool)
    strides = [math.prod(spatial[i + 1 :]) for i in range(n)]
    for w, offset in enumerate(itertools.product(*(range(ki) for ki in k))):
        for axis in range(n):
            pos = np.arange(out[axis]) * s[axis] + offset[axis] * d[axis] - p[axis]
            shape = [1] * n
            shape[axis] = out[axis]
            pos = pos.reshape(shape)
            flat[w] += pos * strides[axis]
            valid[w] &= (pos >= 0) & (pos < spatial[axis])
    return flat, valid


def _max_over_windows(
    x: jax.Array,
    out: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    p: Sequence[int],
    d: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> tuple[jax.Array, jax.Array]:
    """Max over each window and the flat input index of the (first) maximum."""
    spatial = x.shape[2:]
    xp = jnp.pad(x, ((0, 0), (0, 0), *pads), constant_values=_lowest(x.dtype))
    patches = _windows(xp, out, k, s, d)
    flat, valid = _window_index_tables(spatial, out, k, s, p, d)
    choice = _argmax_like_torch(patches, jnp.asarray(valid), axis=2)
    values = jnp.take_along_axis(patches, choice, axis=2)[:, :, 0]
    index_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)  # int32 unless 64-bit mode is on
    table = jnp.broadcast_to(jnp.asarray(flat, index_dtype), (*x.shape[:2], *flat.shape))
    indices = jnp.take_along_axis(table, choice, axis=2)[:, :, 0]
    return values, indices


def max_pool_nd(
    n: int,
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    dilation: IntOrTuple,
    ceil_mode: bool,
    return_indices: bool,
    where: str | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    where = f"max_pool{n}d" if where is None else where
    batched = check_pool_input(input, n, where)
    k, s, p, d = window_args(n, kernel_size, stride, padding, dilation, where)
    x = _batched(input, batched)
    out = _output_sizes(x, k, s, p, d, ceil_mode, where)
    pads = _padding_pairs(x.shape[2:], out, k, s, p, d)
    if return_indices or any(di != 1 for di in d):
        values, indices = _max_over_windows(x, out, k, s, p, d, pads)
        return _unbatched((values, indices) if return_indices else values, batched)
    return _unbatched(_max_pool(x, k, s, pads, out), batched)


def _reduce_window_max(
    x: jax.Array, k: Sequence[int], s: Sequence[int], pads: Sequence[tuple[int, int]]
) -> jax.Array:
    # Python-scalar init value: JAX recognises the max monoid and emits reduce_window_max.
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, *k), (1, 1, *s), ((0, 0), (0, 0), *pads))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2, 3, 4))
def _max_pool(
    x: jax.Array,
    k: tuple[int, ...],
    s: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    out: tuple[int, ...],
) -> jax.Array:
    """``reduce_window`` max whose derivative routes each window's tangent from the element PyTorch
    picks (first maximum among real elements, or the last NaN).

    Why not reduce_window's own derivative: its transpose is ``select_and_scatter``, which XLA:CPU
    expands into index iotas, a five-operand reduce_window and a scatter — measured at over half of
    a small CNN's training step (docs/nn_conv.md). Here the derivative is a select per kernel offset
    over strided views (the transpose: interior pads), all element-wise fusions.
    """
    return _reduce_window_max(x, k, s, pads)


@_max_pool.defjvp
def _max_pool_jvp(
    k: tuple[int, ...],
    s: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
    out: tuple[int, ...],
    primals: tuple[jax.Array],
    tangents: tuple[jax.Array],
) -> tuple[jax.Array, jax.Array]:
    (x,), (t,) = primals, tangents
    y = _reduce_window_max(x, k, s, pads)
    ones = (1,) * len(k)
    views = _window_views(
        jnp.pad(x, ((0, 0), (0, 0), *pads), constant_values=_lowest(x.dtype)), out, k, s, ones
    )
    real = np.pad(np.ones(x.shape[2:], bool), pads)  # padding is never picked (PyTorch skips it)
    real_views = _window_views(real[None, None], out, k, s, ones)
    size = len(views)
    # Per output position, the score of the picked offset: the last NaN as -1 - w (so it wins the
    # min), else the first w holding the maximum. One reduction over the stacked scores: XLA keeps a
    # reduction's result in memory, whereas an element-wise chain of minimums was fused into every
    # consumer below and recomputed per gradient element (9 offsets x 9 pads for a 3x3 window:
    # 66 ms of a ResNet-18 step).
    scores = []
    for w, (view, ok) in enumerate(zip(views, real_views, strict=True)):
        ok_j = jnp.asarray(ok)
        scores.append(jnp.where(ok_j & jnp.isnan(view), -1 - w, jnp.where(ok_j & (view == y), w, size)))
    stacked = jnp.stack(scores)
    choice = jnp.argmin(stacked, axis=0)  # the score's offset; a NaN's score -1 - w also names offset w
    t_pad = jnp.pad(t, ((0, 0), (0, 0), *pads))
    if s == k:  # non-overlapping windows: a reshape exposes them, no strided index arithmetic
        t_pad = t_pad[(slice(None), slice(None), *(slice(0, o * ki) for o, ki in zip(out, k, strict=True)))]
        split = [d for o, ki in zip(out, k, strict=True) for d in (o, ki)]
        windows = t_pad.reshape(*t_pad.shape[:2], *split)  # [N, C, o0, k0, o1, k1, ...]
        offset = np.arange(len(views)).reshape(k)  # row-major offset of each window element
        offset = np.expand_dims(offset, tuple(range(0, 2 * len(k), 2)))  # [1, k0, 1, k1, ...]
        picked = jnp.expand_dims(choice, tuple(range(3, 3 + 2 * len(k), 2)))  # [N, C, o0, 1, o1, 1, ...]
        y_dot = jnp.where(picked == offset, windows, 0).sum(tuple(range(3, 3 + 2 * len(k), 2)))
    else:
        t_views = _window_views(t_pad, out, k, s, ones)
        y_dot = functools.reduce(jnp.add, (jnp.where(choice == w, tv, 0) for w, tv in enumerate(t_views)))
    return y, y_dot.astype(t.dtype)


@overload
def max_pool1d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> jax.Array: ...


@overload
def max_pool1d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[jax.Array, jax.Array]: ...


@overload
def max_pool1d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> jax.Array | tuple[jax.Array, jax.Array]: ...


def max_pool1d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """1D max pooling over ``[N, C, L]`` or ``[C, L]`` (``torch.nn.functional.max_pool1d``).

    Args:
      input: ``[N, C, L]`` or unbatched ``[C, L]``.
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit ``-inf`` padding on both sides, at most ``kernel_size // 2``.
      dilation: spacing between window elements.
      ceil_mode: round the output size up (a last, partial window that starts inside the input or
        its left padding).
      return_indices: also return the flat index (within each plane) of every maximum.

    Returns:
      ``[N, C, L_out]`` (or ``[C, L_out]``), and the indices with ``return_indices``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.max_pool1d(jnp.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2).tolist()
      [[[3.0, 5.0]]]
      >>> x = jnp.array([[[1.0, 3.0, 2.0, 5.0, 4.0]]])
      >>> F.max_pool1d(x, 2, ceil_mode=True, return_indices=True)[1].tolist()
      [[[1, 3, 4]]]
    """
    return max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def max_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> jax.Array: ...


@overload
def max_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[jax.Array, jax.Array]: ...


@overload
def max_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> jax.Array | tuple[jax.Array, jax.Array]: ...


def max_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """2D max pooling over ``[N, C, H, W]`` or ``[C, H, W]`` (``torch.nn.functional.max_pool2d``).

    Arguments as :func:`max_pool1d` (ints or 2-tuples); indices are flat ``h * W + w``.

    Args:
      input: ``[N, C, H, W]`` or ``[C, H, W]``.
      kernel_size: Window size (int or 2-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit ``-inf`` padding, at most half the window.
      dilation: Spacing between window elements.
      ceil_mode: Round the output size up.
      return_indices: Also return the flat index ``h * W + w`` of every maximum.

    Returns:
      The pooled array (and, with ``return_indices``, the flat indices of the maxima).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.max_pool2d(jnp.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
      [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


@overload
def max_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: Literal[False] = ...,
) -> jax.Array: ...


@overload
def max_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    *,
    return_indices: Literal[True],
) -> tuple[jax.Array, jax.Array]: ...


@overload
def max_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = ...,
    padding: IntOrTuple = ...,
    dilation: IntOrTuple = ...,
    ceil_mode: bool = ...,
    return_indices: bool = ...,
) -> jax.Array | tuple[jax.Array, jax.Array]: ...


def max_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """3D max pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (``torch.nn.functional.max_pool3d``).

    Arguments as :func:`max_pool1d` (ints or 3-tuples).

    Args:
      input: ``[N, C, D, H, W]`` or ``[C, D, H, W]``.
      kernel_size: Window size (int or 3-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit ``-inf`` padding, at most half the window.
      dilation: Spacing between window elements.
      ceil_mode: Round the output size up.
      return_indices: Also return the flat index of every maximum.

    Returns:
      The pooled array (and, with ``return_indices``, the flat indices of the maxima).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.max_pool3d(jnp.ones((1, 2, 4, 4, 4)), 2, stride=1).shape
      (1, 2, 3, 3, 3)
    """
    return max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


# -- average pooling -----------------------------------------------------------------------------------
def _avg_divisor(
    spatial: Sequence[int],
    out: Sequence[int],
    k: Sequence[int],
    s: Sequence[int],
    p: Sequence[int],
    count_include_pad: bool,
) -> np.ndarray:
    """PyTorch's per-window divisor: the window clipped to the padded input (count_include_pad) or
    to the input itself; a product over axes since windows are boxes."""
    divisor = np.ones((), np.int64)
    for size, o, ki, si, pi in zip(spatial, out, k, s, p, strict=True):
        start = np.arange(o) * si - pi
        end = np.minimum(start + ki, size + pi)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)
        divisor = np.multiply.outer(divisor, end - start)
    return divisor


def avg_pool_nd(
    n: int,
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
    where: str | None = None,
) -> jax.Array:
    where = f"avg_pool{n}d" if where is None else where
    batched = check_pool_input(input, n, where)
    k, s, p, d = window_args(n, kernel_size, stride, padding, 1, where)
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or not isinstance(divisor_override, int) or divisor_override == 0
    ):
        raise ConfigError(
            f"{at(where)}divisor_override must be a non-zero int or None, got {divisor_override!r}"
        )
    x = _batched(input, batched)
    out = _output_sizes(x, k, s, p, d, ceil_mode, where)
    pads = _padding_pairs(x.shape[2:], out, k, s, p, d)
    xs = opmath(x)
    total = lax.reduce_window(
        xs, 0.0, lax.add, (1, 1, *k), (1, 1, *s), ((0, 0), (0, 0), *pads)
    )  # scalar init: see max_pool_nd
    if divisor_override is not None:
        y = total / divisor_override
    else:
        y = total / jnp.asarray(_avg_divisor(x.shape[2:], out, k, s, p, count_include_pad), xs.dtype)
    return _unbatched(y.astype(x.dtype), batched)


def avg_pool1d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> jax.Array:
    """1D average pooling over ``[N, C, L]`` or ``[C, L]`` (``torch.nn.functional.avg_pool1d``).

    Args:
      input: ``[N, C, L]`` or unbatched ``[C, L]``.
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit zero padding on both sides, at most ``kernel_size // 2``.
      ceil_mode: round the output size up (see :func:`max_pool1d`).
      count_include_pad: divide by the window size including padding (PyTorch's default) rather
        than by the number of input elements in the window. A ``ceil_mode`` window's part beyond
        the padding is never counted.

    Returns:
      ``[N, C, L_out]`` (or ``[C, L_out]``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.avg_pool1d(jnp.array([[[1.0, 2.0, 3.0, 4.0]]]), 2).tolist()
      [[[1.5, 3.5]]]
      >>> F.avg_pool1d(jnp.array([[[1.0, 2.0, 3.0]]]), 2, padding=1, count_include_pad=False).tolist()
      [[[1.0, 2.5]]]
    """
    return avg_pool_nd(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> jax.Array:
    """2D average pooling over ``[N, C, H, W]`` or ``[C, H, W]`` (``torch.nn.functional.avg_pool2d``).

    Arguments as :func:`avg_pool1d` (ints or 2-tuples); ``divisor_override`` replaces every
    window's divisor.

    Args:
      input: ``[N, C, H, W]`` or ``[C, H, W]``.
      kernel_size: Window size (int or 2-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit zero padding, at most half the window.
      ceil_mode: Round the output size up.
      count_include_pad: Divide by the window size including padding.
      divisor_override: Replaces every window's divisor.

    Returns:
      The pooled array.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.avg_pool2d(jnp.ones((1, 1, 4, 4)), 2, divisor_override=1).tolist()
      [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return avg_pool_nd(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def avg_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> jax.Array:
    """3D average pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (``torch.nn.functional.avg_pool3d``).

    Arguments as :func:`avg_pool2d` (ints or 3-tuples).

    Args:
      input: ``[N, C, D, H, W]`` or ``[C, D, H, W]``.
      kernel_size: Window size (int or 3-tuple).
      stride: Window step (default: ``kernel_size``).
      padding: Implicit zero padding, at most half the window.
      ceil_mode: Round the output size up.
      count_include_pad: Divide by the window size including padding.
      divisor_override: Replaces every window's divisor.

    Returns:
      The pooled array.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.avg_pool3d(jnp.ones((2, 4, 4, 4)), 2).shape
      (2, 2, 2, 2)
    """
    return avg_pool_nd(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


# -- adaptive pooling ------------------------------------------------------------------------------------
def adaptive_output_size(output_size: Any, n: int, spatial: Sequence[int], where: str) -> tuple[int, ...]:
    """``output_size`` as an ``n``-tuple, ``None`` entries taking the input's size."""
    if output_size is None or isinstance(output_size, int) and not isinstance(output_size, bool):
        sizes: tuple[Any, ...] = (output_size,) * n
    elif isinstance(output_size, Sequence) and not isinstance(output_size, str):
        sizes = tuple(output_size)
    else:
        raise ConfigError(
            f"{at(where)}output_size must be an int, None or a tuple of {n}, got {output_size!r}"
        )
    if len(sizes) != n or not all(
        v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in sizes
    ):
        raise ConfigError(
            f"{at(where)}output_size must be an int, None or a tuple of {n}, got {output_size!r}"
        )
    resolved = tuple(size if v is None else v for v, size in zip(sizes, spatial, strict=True))
    if any(v < 1 for v in resolved):
        raise ConfigError(f"{at(where)}output_size must be positive, got {output_size!r}")
    return resolved


def _adaptive_bounds(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _check_adaptive(input: Any, n: int, output_size: Any, where: str) -> tuple[bool, tuple[int, ...]]:
    batched = check_pool_input(input, n, where)
    return batched, adaptive_output_size(output_size, n, input.shape[input.ndim - n :], where)


def _adaptive_avg_axis(x: jax.Array, axis: int, out: int) -> jax.Array:
    size = x.shape[axis]
    if size % out == 0:  # equal, non-overlapping windows
        k = size // out
        return jnp.mean(x.reshape(x.shape[:axis] + (out, k) + x.shape[axis + 1 :]), axis=axis + 1)
    start, end = _adaptive_bounds(size, out)
    cols = np.arange(size)
    weights = ((cols >= start[:, None]) & (cols < end[:, None])) / (end - start)[:, None]
    y = jnp.tensordot(
        x, jnp.asarray(weights.T, x.dtype), axes=((axis,), (0,)), precision=lax.Precision.HIGHEST
    )
    return jnp.moveaxis(y, -1, axis)


def adaptive_avg_pool_nd(n: int, input: jax.Array, output_size: Any, where: str | None = None) -> jax.Array:
    where = f"adaptive_avg_pool{n}d" if where is None else where
    batched, out = _check_adaptive(input, n, output_size, where)
    x = _batched(input, batched)
    y = opmath(x)
    for i in range(n):
        y = _adaptive_avg_axis(y, 2 + i, out[i])
    return _unbatched(y.astype(x.dtype), batched)


def _adaptive_max_axis(x: jax.Array, idx: jax.Array, axis: int, out: int) -> tuple[jax.Array, jax.Array]:
    """Max over PyTorch's adaptive windows along ``axis``, carrying the flat input indices along."""
    size = x.shape[axis]
    start, end = _adaptive_bounds(size, out)
    length = int((end - start).max())
    # Window j of output i reads start[i] + j, repeating its last element where the window is short
    # (a repeated element never changes which element is the first maximum).
    gather = np.minimum(start[:, None] + np.arange(length), end[:, None] - 1).reshape(-1)
    xw = jnp.take(x, gather, axis=axis)
    iw = jnp.take(idx, gather, axis=axis)
    new_shape = x.shape[:axis] + (out, length) + x.shape[axis + 1 :]
    xw, iw = xw.reshape(new_shape), iw.reshape(new_shape)
    choice = _argmax_like_torch(xw, None, axis=axis + 1)
    values = jnp.take_along_axis(xw, choice, axis=axis + 1)
    indices = jnp.take_along_axis(iw, choice, axis=axis + 1)
    return jnp.squeeze(values, axis + 1), jnp.squeeze(indices, axis + 1)


def adaptive_max_pool_nd(
    n: int,
    input: jax.Array,
    output_size: Any,
    return_indices: bool,
    where: str | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    where = f"adaptive_max_pool{n}d" if where is None else where
    batched, out = _check_adaptive(input, n, output_size, where)
    x = _batched(input, batched)
    spatial = x.shape[2:]
    if not return_indices and all(size % o == 0 for size, o in zip(spatial, out, strict=True)):
        k = tuple(size // o for size, o in zip(spatial, out, strict=True))
        y = lax.reduce_window(
            x, -jnp.inf, lax.max, (1, 1, *k), (1, 1, *k), "VALID"
        )  # scalar init: see max_pool_nd
        return _unbatched(y, batched)
    index_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)  # int32 unless 64-bit mode is on
    idx = jnp.broadcast_to(jnp.arange(math.prod(spatial), dtype=index_dtype).reshape(spatial), x.shape)
    y = x
    # Last axis first: the surviving element is the first maximum in row-major order, as PyTorch's.
    for i in reversed(range(n)):
        y, idx = _adaptive_max_axis(y, idx, 2 + i, out[i])
    return _unbatched((y, idx) if return_indices else y, batched)


def adaptive_avg_pool1d(input: jax.Array, output_size: int | Sequence[int | None] | None) -> jax.Array:
    """Average over PyTorch's adaptive windows so that the output has ``output_size`` elements.

    Output element ``i`` averages input ``[floor(i * L / out), ceil((i + 1) * L / out))``.

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (1 spatial axes).
      output_size: An int or a 1-tuple of output sizes (None entries keep that input size).

    Returns:
      The pooled array with spatial shape ``output_size``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_avg_pool1d(jnp.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]]), 2).tolist()
      [[[2.0, 4.0]]]
    """
    return adaptive_avg_pool_nd(1, input, output_size)


def adaptive_avg_pool2d(input: jax.Array, output_size: int | Sequence[int | None] | None) -> jax.Array:
    """2D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``).

    ``output_size`` is an int or ``(H_out, W_out)``; ``None`` keeps that input size.

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (2 spatial axes).
      output_size: An int or a 2-tuple of output sizes (None entries keep that input size).

    Returns:
      The pooled array with spatial shape ``output_size``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_avg_pool2d(jnp.ones((2, 8, 7, 5)), (3, None)).shape
      (2, 8, 3, 5)
    """
    return adaptive_avg_pool_nd(2, input, output_size)


def adaptive_avg_pool3d(input: jax.Array, output_size: int | Sequence[int | None] | None) -> jax.Array:
    """3D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool3d``).

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (3 spatial axes).
      output_size: An int or a 3-tuple of output sizes (None entries keep that input size).

    Returns:
      The pooled array with spatial shape ``output_size``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_avg_pool3d(jnp.ones((1, 2, 5, 5, 5)), 1).shape
      (1, 2, 1, 1, 1)
    """
    return adaptive_avg_pool_nd(3, input, output_size)


def adaptive_max_pool1d(
    input: jax.Array,
    output_size: int | Sequence[int | None] | None,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """1D adaptive max pooling (``torch.nn.functional.adaptive_max_pool1d``).

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (1 spatial axes).
      output_size: An int or a 1-tuple of output sizes (None entries keep that input size).
      return_indices: Also return the flat index of every maximum.

    Returns:
      The pooled array with spatial shape ``output_size``. With ``return_indices``: ``(output, indices)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_max_pool1d(jnp.array([[[1.0, 5.0, 3.0, 2.0, 4.0]]]), 2, return_indices=True)[1].tolist()
      [[[1, 4]]]
    """
    return adaptive_max_pool_nd(1, input, output_size, return_indices)


def adaptive_max_pool2d(
    input: jax.Array,
    output_size: int | Sequence[int | None] | None,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """2D adaptive max pooling (``torch.nn.functional.adaptive_max_pool2d``); indices are flat ``h * W + w``.

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (2 spatial axes).
      output_size: An int or a 2-tuple of output sizes (None entries keep that input size).
      return_indices: Also return the flat index of every maximum.

    Returns:
      The pooled array with spatial shape ``output_size``. With ``return_indices``: ``(output, indices)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_max_pool2d(jnp.arange(25.0).reshape(1, 5, 5), 2).tolist()
      [[[12.0, 14.0], [22.0, 24.0]]]
    """
    return adaptive_max_pool_nd(2, input, output_size, return_indices)


def adaptive_max_pool3d(
    input: jax.Array,
    output_size: int | Sequence[int | None] | None,
    return_indices: bool = False,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """3D adaptive max pooling (``torch.nn.functional.adaptive_max_pool3d``).

    Args:
      input: ``[N, C, *spatial]`` or unbatched ``[C, *spatial]`` (3 spatial axes).
      output_size: An int or a 3-tuple of output sizes (None entries keep that input size).
      return_indices: Also return the flat index of every maximum.

    Returns:
      The pooled array with spatial shape ``output_size``. With ``return_indices``: ``(output, indices)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.adaptive_max_pool3d(jnp.ones((1, 1, 4, 4, 4)), (2, 1, 2)).shape
      (1, 1, 2, 1, 2)
    """
    return adaptive_max_pool_nd(3, input, output_size, return_indices)


# -- power-average (LP) pooling ------------------------------------------------------------------------
def check_norm_type(where: str, norm_type: Any) -> None:
    """ConfigError unless the LP power ``norm_type`` is a non-zero number (also for nn.LPPool*d)."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, (int, float)) or norm_type == 0:
        raise ConfigError(f"{at(where)}norm_type must be a non-zero number, got {norm_type!r}")


def lp_pool_nd(
    n: int,
    input: jax.Array,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
    where: str | None = None,
) -> jax.Array:
    """``(sum over each window of x**p) ** (1/p)`` (PyTorch's formula: an average pool of ``x**p``
    times the window size, with ``sign(s) * relu(|s|)`` before the root); no padding."""
    where = f"lp_pool{n}d" if where is None else where
    check_norm_type(where, norm_type)
    k, _, _, _ = window_args(n, kernel_size, stride, 0, 1, where)
    out = avg_pool_nd(n, input**norm_type, kernel_size, stride, 0, ceil_mode, True, None, where)
    return (jnp.sign(out) * jax.nn.relu(jnp.abs(out)) * math.prod(k)) ** (1.0 / norm_type)


def lp_pool1d(
    input: jax.Array,
    norm_type: float,
    kernel_size: int,
    stride: int | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    """1D power-average pooling over ``[N, C, L]`` or ``[C, L]`` (``torch.nn.functional.lp_pool1d``).

    ``norm_type=1`` is sum pooling, large ``norm_type`` approaches max pooling (of non-negative inputs).

    Args:
      input: the input.
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep a last partial window.

    Returns:
      The pooled array.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.lp_pool1d(jnp.array([[[3.0, 4.0, 1.0, 1.0]]]), 2, 2).tolist()
      [[[5.0, 1.4142135381698608]]]
    """
    return lp_pool_nd(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(
    input: jax.Array,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    """2D power-average pooling over ``[N, C, H, W]`` or ``[C, H, W]`` (``torch.nn.functional.lp_pool2d``).

    Args:
      input: the input.
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size (int or 2-tuple).
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep last partial windows.

    Returns:
      The pooled array.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.lp_pool2d(jnp.ones((1, 1, 4, 4)), 1, 2).tolist()
      [[[[4.0, 4.0], [4.0, 4.0]]]]
    """
    return lp_pool_nd(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(
    input: jax.Array,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> jax.Array:
    """3D power-average pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (``F.lp_pool3d`` of PyTorch).

    Args:
      input: the input.
      norm_type: the power ``p`` (non-zero).
      kernel_size: window size (int or 3-tuple).
      stride: window step (default: ``kernel_size``).
      ceil_mode: keep last partial windows.

    Returns:
      The pooled array.

    Raises:
      ConfigError: a zero ``norm_type`` or invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.lp_pool3d(jnp.ones((1, 2, 2, 2)), 2, 2).tolist()
      [[[[2.8284270763397217]]]]
    """
    return lp_pool_nd(3, input, norm_type, kernel_size, stride, ceil_mode)


# -- indices: the *_with_indices forms and max unpooling ----------------------------------------------
def max_pool1d_with_indices(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """1D max pooling of ``[N, C, L]`` returning ``(values, indices)`` (PyTorch's function of this name).

    ``max_pool1d(..., return_indices=True)``; indices are flat positions in each ``(N, C)`` plane,
    as :func:`max_unpool1d` expects. ``return_indices`` is ignored (always returned), as in PyTorch.

    Args:
      input: the input, batched or not.
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit ``-inf`` padding.
      dilation: spacing between window elements.
      ceil_mode: keep last partial windows.
      return_indices: ignored.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.max_pool1d_with_indices(jnp.ones((1, 1) + (4,) * 1), 2)
      >>> values.shape == indices.shape
      True
    """
    out = max_pool_nd(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    return cast(tuple[jax.Array, jax.Array], out)


def adaptive_max_pool1d_with_indices(
    input: jax.Array, output_size: Any, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    """1D adaptive max pooling returning ``(values, indices)`` (PyTorch's function of this name).

    Args:
      input: the input, batched or not.
      output_size: the output's spatial size.
      return_indices: ignored (always returned), as in PyTorch.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: an invalid ``output_size``.
      ShapeError: an input of the wrong rank.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.adaptive_max_pool1d_with_indices(jnp.ones((1, 2) + (4,) * 1), 2)
      >>> values.shape == indices.shape
      True
    """
    return cast(tuple[jax.Array, jax.Array], adaptive_max_pool_nd(1, input, output_size, True))


def max_pool2d_with_indices(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """2D max pooling of ``[N, C, H, W]`` returning ``(values, indices)`` (PyTorch's function of this name).

    ``max_pool2d(..., return_indices=True)``; indices are flat positions in each ``(N, C)`` plane,
    as :func:`max_unpool2d` expects. ``return_indices`` is ignored (always returned), as in PyTorch.

    Args:
      input: the input, batched or not.
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit ``-inf`` padding.
      dilation: spacing between window elements.
      ceil_mode: keep last partial windows.
      return_indices: ignored.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.max_pool2d_with_indices(jnp.ones((1, 1) + (4,) * 2), 2)
      >>> values.shape == indices.shape
      True
    """
    out = max_pool_nd(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    return cast(tuple[jax.Array, jax.Array], out)


def adaptive_max_pool2d_with_indices(
    input: jax.Array, output_size: Any, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    """2D adaptive max pooling returning ``(values, indices)`` (PyTorch's function of this name).

    Args:
      input: the input, batched or not.
      output_size: the output's spatial size.
      return_indices: ignored (always returned), as in PyTorch.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: an invalid ``output_size``.
      ShapeError: an input of the wrong rank.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.adaptive_max_pool2d_with_indices(jnp.ones((1, 2) + (4,) * 2), 2)
      >>> values.shape == indices.shape
      True
    """
    return cast(tuple[jax.Array, jax.Array], adaptive_max_pool_nd(2, input, output_size, True))


def max_pool3d_with_indices(
    input: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """3D max pooling of ``[N, C, D, H, W]`` returning ``(values, indices)`` (PyTorch's function).

    ``max_pool3d(..., return_indices=True)``; indices are flat positions in each ``(N, C)`` plane,
    as :func:`max_unpool3d` expects. ``return_indices`` is ignored (always returned), as in PyTorch.

    Args:
      input: the input, batched or not.
      kernel_size: window size.
      stride: window step (default: ``kernel_size``).
      padding: implicit ``-inf`` padding.
      dilation: spacing between window elements.
      ceil_mode: keep last partial windows.
      return_indices: ignored.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: an input of the wrong rank or smaller than the window.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.max_pool3d_with_indices(jnp.ones((1, 1) + (4,) * 3), 2)
      >>> values.shape == indices.shape
      True
    """
    out = max_pool_nd(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)
    return cast(tuple[jax.Array, jax.Array], out)


def adaptive_max_pool3d_with_indices(
    input: jax.Array, output_size: Any, return_indices: bool = False
) -> tuple[jax.Array, jax.Array]:
    """3D adaptive max pooling returning ``(values, indices)`` (PyTorch's function of this name).

    Args:
      input: the input, batched or not.
      output_size: the output's spatial size.
      return_indices: ignored (always returned), as in PyTorch.

    Returns:
      ``(values, indices)``.

    Raises:
      ConfigError: an invalid ``output_size``.
      ShapeError: an input of the wrong rank.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, indices = F.adaptive_max_pool3d_with_indices(jnp.ones((1, 2) + (4,) * 3), 2)
      >>> values.shape == indices.shape
      True
    """
    return cast(tuple[jax.Array, jax.Array], adaptive_max_pool_nd(3, input, output_size, True))


def _unpool_output_size(
    where: str, in_size: Sequence[int], k: Sequence[int], s: Sequence[int], p: Sequence[int], output_size: Any
) -> tuple[int, ...]:
    n = len(k)
    default = tuple((in_size[i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(n))
    if output_size is None:
        return default
    size = tuple(int(v) for v in output_size)
    if len(size) == n + 2:
        size = size[2:]
    if len(size) != n:
        raise ShapeError(f"{at(where)}output_size must have {n} or {n + 2} elements, got {len(size)}")
    for i in range(n):
        lo, hi = default[i] - s[i], default[i] + s[i]
        if not lo < size[i] < hi:
            raise ShapeError(
                f"{at(where)}invalid output_size {size} (dim {i} must be between {lo + 1} and {hi - 1})"
            )
    return size


def max_unpool_nd(
    n: int,
    input: jax.Array,
    indices: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    padding: IntOrTuple,
    output_size: Any,
    where: str | None = None,
) -> jax.Array:
    """Scatter ``input`` to the flat positions ``indices`` of zero planes (PyTorch's max_unpool)."""
    where = f"max_unpool{n}d" if where is None else where
    batched = check_pool_input(input, n, where)
    if tuple(indices.shape) != tuple(input.shape):
        raise ShapeError(
            f"{at(where)}expected indices of the input's shape {shape_str(input.shape)} (max_pool's "
            f"return_indices=True output), got {shape_str(indices.shape)}"
        )
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise ShapeError(f"{at(where)}expected integer indices, got {indices.dtype}")
    k, s, p, _ = window_args(n, kernel_size, stride, padding, 1, where)
    x = _batched(input, batched)
    idx = _batched(indices, batched)
    out = _unpool_output_size(where, x.shape[2:], k, s, p, output_size)
    plane = math.prod(out)
    _require_index_range(where, idx, plane, out)
    nb, c = x.shape[:2]
    flat = _scatter_planes(x.reshape(nb, c, -1), idx.reshape(nb, c, -1).astype(jnp.int32), plane)
    return _unbatched(flat.reshape(nb, c, *out), batched)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _scatter_planes(values: jax.Array, idx: jax.Array, plane: int) -> jax.Array:
    """``zeros(N, C, plane)`` with ``values`` written at ``idx``. Its gradient is PyTorch's: every value
    reads the cotangent at its index, also where overlapping windows wrote one index twice (JAX's own
    scatter-set gradient would credit only the write that won)."""
    nb, c, _ = values.shape
    rows = jnp.arange(nb)[:, None, None]
    cols = jnp.arange(c)[None, :, None]
    return jnp.zeros((nb, c, plane), values.dtype).at[rows, cols, idx].set(values)


def _scatter_planes_fwd(values: jax.Array, idx: jax.Array, plane: int) -> tuple[jax.Array, jax.Array]:
    return _scatter_planes(values, idx, plane), idx


def _scatter_planes_bwd(plane: int, idx: jax.Array, cot: jax.Array) -> tuple[jax.Array, None]:
    return jnp.take_along_axis(cot, idx, axis=2), None


_scatter_planes.defvjp(_scatter_planes_fwd, _scatter_planes_bwd)


def _require_index_range(where: str, idx: jax.Array, plane: int, out: Sequence[int]) -> None:
    from .._checks import check_indices  # the nn check helpers import functional: late import

    check_indices(where or "max_unpool", "index", idx, plane, f"the output plane {tuple(out)}")


def max_unpool1d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Sequence[int] | None = None,
) -> jax.Array:
    """Partial inverse of :func:`max_pool1d`: maxima back at their positions, zeros elsewhere.

    Args:
      input: pooled values ``[N, C, L]`` or ``[C, L]``.
      indices: the flat indices from ``max_pool1d(..., return_indices=True)``.
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.
      output_size: the size to restore (ambiguous when the pooling dropped a remainder).

    Returns:
      ``[N, C, L_out]`` with ``L_out = (L - 1) * stride - 2 * padding + kernel_size`` by default.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: indices not of the input's shape or an impossible ``output_size``.
      IndexOutOfRangeError: an index outside the output (eagerly; under ``jit`` in ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, idx = F.max_pool1d(jnp.array([[[1.0, 3.0, 2.0, 0.0]]]), 2, return_indices=True)
      >>> F.max_unpool1d(values, idx, 2).tolist()
      [[[0.0, 3.0, 2.0, 0.0]]]
    """
    return max_unpool_nd(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Sequence[int] | None = None,
) -> jax.Array:
    """Partial inverse of :func:`max_pool2d`: maxima back at their positions, zeros elsewhere.

    Args:
      input: pooled values ``[N, C, H, W]`` or ``[C, H, W]``.
      indices: the flat indices from ``max_pool2d(..., return_indices=True)``.
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.
      output_size: the size to restore.

    Returns:
      The unpooled array.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: indices not of the input's shape or an impossible ``output_size``.
      IndexOutOfRangeError: an index outside the output (eagerly; under ``jit`` in ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x = jnp.arange(16.0).reshape(1, 1, 4, 4)
      >>> values, idx = F.max_pool2d(x, 2, return_indices=True)
      >>> F.max_unpool2d(values, idx, 2)[0, 0].tolist()[1]
      [0.0, 5.0, 0.0, 7.0]
    """
    return max_unpool_nd(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(
    input: jax.Array,
    indices: jax.Array,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    output_size: Sequence[int] | None = None,
) -> jax.Array:
    """Partial inverse of :func:`max_pool3d`: maxima back at their positions, zeros elsewhere.

    Args:
      input: pooled values ``[N, C, D, H, W]`` or ``[C, D, H, W]``.
      indices: the flat indices from ``max_pool3d(..., return_indices=True)``.
      kernel_size: the pooling's window size.
      stride: the pooling's step (default: ``kernel_size``).
      padding: the pooling's padding.
      output_size: the size to restore.

    Returns:
      The unpooled array.

    Raises:
      ConfigError: invalid window arguments.
      ShapeError: indices not of the input's shape or an impossible ``output_size``.
      IndexOutOfRangeError: an index outside the output (eagerly; under ``jit`` in ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, idx = F.max_pool3d(jnp.ones((1, 1, 2, 2, 2)), 2, return_indices=True)
      >>> F.max_unpool3d(values, idx, 2).sum().item()
      1.0
    """
    return max_unpool_nd(3, input, indices, kernel_size, stride, padding, output_size)


# -- fractional max pooling ----------------------------------------------------------------------------
# Graham's fractional max pooling as PyTorch computes it: one uniform sample u per (sample, plane,
# spatial axis) places the windows by ATen's ``generate_intervals`` (FractionalMaxPool2d.cpp):
#   start[i] = int((i + u) * alpha) - int(u * alpha) for i < out - 1, start[out - 1] = in - k,
#   alpha = (in - k) / (out - 1), all in the input's dtype (so f32 and f64 place windows as torch does).
# Torch's samples are ``[N, C, 2]`` with column 0 for W and 1 for H in 2D, ``[N, C, 3]`` as (T, H, W) in 3D.
_FRACTIONAL_AXES = {2: ("height", "width"), 3: ("time", "height", "width")}
_SAMPLE_COLUMN = {2: (1, 0), 3: (0, 1, 2)}


def _round_to(x: jax.Array, dtype: Any) -> jax.Array:
    """Round to ``dtype`` after each op for 16-bit floats (XLA may otherwise keep f32 in between),
    as c10::Half/BFloat16 arithmetic does."""
    info = jnp.finfo(dtype)
    if info.bits != 16:
        return x
    return lax.reduce_precision(x, exponent_bits=info.nexp, mantissa_bits=info.nmant)


def fractional_intervals(u: jax.Array, in_size: int, out_size: int, k: int) -> jax.Array:
    """Window starts ``[..., out_size]`` (int32) for samples ``u`` ``[...]`` (ATen's generate_intervals)."""
    last = jnp.full((*u.shape, 1), in_size - k, jnp.int32)
    if out_size <= 1:
        return last[..., :out_size]
    dtype = u.dtype
    alpha = np.asarray(np.asarray(in_size - k, dtype) / np.asarray(out_size - 1, dtype), dtype)
    i = jnp.arange(out_size - 1, dtype=dtype)
    scaled = _round_to(_round_to(i + u[..., None], dtype) * alpha, dtype)
    base = _round_to(u * alpha, dtype)
    starts = scaled.astype(jnp.int32) - base.astype(jnp.int32)[..., None]  # C's int(): towards zero
    return jnp.concatenate([starts, last], axis=-1)


def _fractional_output_size(
    n: int, spatial: Sequence[int], output_size: Any, output_ratio: Any, where: str
) -> tuple[int, ...]:
    if output_size is None and output_ratio is None:
        raise ConfigError(f"{where} requires specifying either an output_size or an output_ratio")
    if output_size is not None:
        return ntuple(output_size, n, "output_size", where, minimum=0)
    ratios = output_ratio if isinstance(output_ratio, Sequence) else (output_ratio,)
    ratios = tuple(ratios) * n if len(ratios) == 1 else tuple(ratios)
    ok = all(isinstance(r, (int, float)) and not isinstance(r, bool) and r > 0 for r in ratios)
    if len(ratios) != n or not ok:
        raise ConfigError(
            f"{where}: output_ratio must be a positive number or a tuple of {n} positive numbers, "
            f"got {output_ratio!r}"
        )
    return tuple(int(s * r) for s, r in zip(spatial, ratios, strict=True))


def _fractional_samples(
    samples: Any, key: Any, n: int, x: jax.Array, where: str, module_call: bool
) -> jax.Array:
    """``[N, C, n]`` samples of the input's dtype: the given ones (checked as torch does) or from ``key``."""
    batch, planes = x.shape[0], x.shape[1]
    if samples is None:
        if key is None:
            call = "pool(x, key=key)" if module_call else f"F.{where}(x, kernel_size, output_size, key=key)"
            raise ConfigError(
                f"{where or 'fractional max pooling'} draws random pooling regions and needs a PRNG key: "
                f"call `{call}` with a key from torsh.random.split, or pass fixed samples "
                f"`_random_samples=u` of shape [N, C, {n}] with values in [0, 1)"
            )
        key = _check_key(key, where or "fractional max pooling")
        return jax.random.uniform(key, (batch, planes, n), x.dtype)
    if not hasattr(samples, "shape") or not hasattr(samples, "dtype"):
        raise ConfigError(f"{at(where)}_random_samples must be an array, got {type(samples).__name__}")
    samples = jnp.asarray(samples)
    if samples.ndim != 3:
        raise ShapeError(
            f"{at(where)}expected _random_samples with 3 dimensions [N, C, {n}], got {samples.ndim} "
            f"(shape {shape_str(samples.shape)})"
        )
    if samples.shape[2] != n or samples.shape[1] != planes or samples.shape[0] < batch:
        raise ShapeError(
            f"{at(where)}expected _random_samples of shape [N >= {batch}, {planes}, {n}] for input "
            f"{shape_str(x.shape)} (one sample per batch element, channel and pooled axis), got "
            f"{shape_str(samples.shape)}"
        )
    if samples.dtype != x.dtype:
        raise DTypeError(
            f"{at(where)}expected _random_samples of the input's dtype {x.dtype}, got {samples.dtype}; "
            f"cast them with `.astype(jnp.{x.dtype})`"
        )
    return samples[:batch]


def fractional_max_pool_nd(
    n: int,
    input: jax.Array,
    kernel_size: IntOrTuple,
    output_size: Any,
    output_ratio: Any,
    return_indices: bool,
    _random_samples: Any,
    key: Any,
    where: str | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """Fractional max pooling over the last ``n`` axes (shared by the functions and the modules)."""
    module_call = where == ""
    where = f"fractional_max_pool{n}d" if where is None else where
    k = ntuple(kernel_size, n, "kernel_size", where)
    batched = check_pool_input(input, n, where)
    x = _batched(input, batched)
    spatial = x.shape[2:]
    out = _fractional_output_size(n, spatial, output_size, output_ratio, where)
    for name, size, o, ki in zip(_FRACTIONAL_AXES[n], spatial, out, k, strict=True):
        # torch's 3D kernel checks ``out + k - 1 < in`` (2D: ``<=``): the same inputs are refused here
        if o + ki - 1 > size or (n == 3 and o + ki - 1 == size):
            limit = size - ki + (0 if n == 3 else 1)
            raise ShapeError(
                f"{at(where)}pool {name} {ki} too large relative to input {name} {size}: an output "
                f"{name} of {o} needs an input {name} of at least {o + ki - (0 if n == 3 else 1)} "
                f"(at most {max(limit, 0)} outputs fit)"
            )
    u = _fractional_samples(_random_samples, key, n, x, where, module_call)
    starts = [
        fractional_intervals(u[:, :, col], size, o, ki)
        for col, size, o, ki in zip(_SAMPLE_COLUMN[n], spatial, out, k, strict=True)
    ]
    # flat input index of every (output position, window offset): [N, C, *out, prod(k)]
    strides = [math.prod(spatial[a + 1 :]) for a in range(n)]
    flat = jnp.zeros((*x.shape[:2], *out, math.prod(k)), jnp.int32)
    offsets = np.array(list(itertools.product(*(range(ki) for ki in k))), np.int32).reshape(-1, n)
    for a in range(n):
        shape = [x.shape[0], x.shape[1]] + [1] * n + [1]
        shape[2 + a] = out[a]
        pos = starts[a].reshape(shape) + jnp.asarray(offsets[:, a])
        flat = flat + pos * strides[a]
    planes = x.reshape(*x.shape[:2], -1)
    patches = jnp.take_along_axis(planes, flat.reshape(*x.shape[:2], -1), axis=2).reshape(flat.shape)
    choice = _argmax_like_torch(patches, None, axis=-1)  # torch's scan: first max, or the last NaN
    values = jnp.take_along_axis(patches, choice, axis=-1)[..., 0]
    if not return_indices:
        return _unbatched(values, batched)
    index_dtype = jax.dtypes.canonicalize_dtype(jnp.int64)  # int32 unless 64-bit mode is on
    indices = jnp.take_along_axis(flat, choice, axis=-1)[..., 0].astype(index_dtype)
    return _unbatched((values, indices), batched)


def fractional_max_pool2d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """2D fractional max pooling of ``[N, C, H, W]`` or ``[C, H, W]`` (PyTorch's ``fractional_max_pool2d``).

    ``kernel_size`` windows at pseudo-random steps (Graham, 2014) chosen so that the output has
    ``output_size`` (or ``int(input_size * output_ratio)``) positions. The steps come from one uniform
    sample per (batch element, channel, axis): ``_random_samples`` ``[N, C, 2]`` (column 0 for W, 1 for
    H, as PyTorch) gives them explicitly, otherwise they are drawn from ``key``; PyTorch's interval formula
    is used, so the same samples give PyTorch's windows, values and indices.

    Args:
      input: ``[N, C, H, W]`` or ``[C, H, W]`` floating array.
      kernel_size: window size (int or pair).
      output_size: output ``(H_out, W_out)`` (int or pair); takes precedence over ``output_ratio``.
      output_ratio: output size as a fraction of the input size (float or pair).
      return_indices: also return the flat index ``h * W + w`` of every maximum.
      _random_samples: ``[N, C, 2]`` samples in [0, 1) of the input's dtype (PyTorch's argument).
      key: PRNG key drawing the samples when ``_random_samples`` is None (required then).

    Returns:
      The pooled array (and, with ``return_indices``, the indices of the maxima).

    Raises:
      ConfigError: neither ``output_size`` nor ``output_ratio``, a bad kernel/size/ratio, or no key
        and no samples.
      ShapeError: a wrong input rank, a kernel too large for the input and output size, or samples of
        the wrong shape.
      DTypeError: a non-floating input, or samples of another dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x = jnp.arange(25.0).reshape(1, 1, 5, 5)
      >>> u = jnp.full((1, 1, 2), 0.5)
      >>> F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=u)[0, 0].tolist()
      [[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]
    """
    return fractional_max_pool_nd(
        2, input, kernel_size, output_size, output_ratio, return_indices, _random_samples, key
    )


def fractional_max_pool3d(
    input: jax.Array,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> jax.Array | tuple[jax.Array, jax.Array]:
    """3D fractional max pooling of ``[N, C, T, H, W]`` or ``[C, T, H, W]`` (torch's fractional_max_pool3d).

    As :func:`fractional_max_pool2d`, with samples ``[N, C, 3]`` in (T, H, W) order. As PyTorch's 3D
    kernel, an output size needs ``output + kernel - 1 < input`` on every axis (2D allows equality).

    Args:
      input: ``[N, C, T, H, W]`` or ``[C, T, H, W]`` floating array.
      kernel_size: window size (int or triple).
      output_size: output ``(T_out, H_out, W_out)`` (int or triple); takes precedence over ``output_ratio``.
      output_ratio: output size as a fraction of the input size (float or triple).
      return_indices: also return the flat index ``(t * H + h) * W + w`` of every maximum.
      _random_samples: ``[N, C, 3]`` samples in [0, 1) of the input's dtype (PyTorch's argument).
      key: PRNG key drawing the samples when ``_random_samples`` is None (required then).

    Returns:
      The pooled array (and, with ``return_indices``, the indices of the maxima).

    Raises:
      ConfigError: neither ``output_size`` nor ``output_ratio``, a bad kernel/size/ratio, or no key
        and no samples.
      ShapeError: a wrong input rank, a kernel too large for the input and output size, or samples of
        the wrong shape.
      DTypeError: a non-floating input, or samples of another dtype.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x = jnp.ones((2, 3, 6, 6, 6))
      >>> F.fractional_max_pool3d(x, 2, output_ratio=0.5, key=torsh.random.key(0)).shape
      (2, 3, 3, 3, 3)
    """
    return fractional_max_pool_nd(
        3, input, kernel_size, output_size, output_ratio, return_indices, _random_samples, key
    )


def fractional_max_pool2d_with_indices(
    input: jax.Array,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """:func:`fractional_max_pool2d` returning ``(values, indices)`` (PyTorch's function of this name).

    Args:
      input: ``[N, C, H, W]`` or ``[C, H, W]`` floating array.
      kernel_size: window size (int or pair).
      output_size: output ``(H_out, W_out)``; takes precedence over ``output_ratio``.
      output_ratio: output size as a fraction of the input size.
      return_indices: ignored (indices are always returned).
      _random_samples: ``[N, C, 2]`` samples in [0, 1) of the input's dtype.
      key: PRNG key drawing the samples when ``_random_samples`` is None.

    Returns:
      ``(values, indices)``; indices are flat ``h * W + w`` positions, as :func:`max_unpool2d` expects.

    Raises:
      ConfigError: see :func:`fractional_max_pool2d`.
      ShapeError: see :func:`fractional_max_pool2d`.
      DTypeError: see :func:`fractional_max_pool2d`.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, idx = F.fractional_max_pool2d_with_indices(
      ...     jnp.ones((1, 4, 4)), 2, output_size=2, key=torsh.random.key(0))
      >>> values.shape == idx.shape
      True
    """
    out = fractional_max_pool_nd(2, input, kernel_size, output_size, output_ratio, True, _random_samples, key)
    return cast(tuple[jax.Array, jax.Array], out)


def fractional_max_pool3d_with_indices(
    input: jax.Array,
    kernel_size: IntOrTuple,
    output_size: IntOrTuple | None = None,
    output_ratio: float | Sequence[float] | None = None,
    return_indices: bool = False,
    _random_samples: jax.Array | None = None,
    *,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """:func:`fractional_max_pool3d` returning ``(values, indices)`` (PyTorch's function of this name).

    Args:
      input: ``[N, C, T, H, W]`` or ``[C, T, H, W]`` floating array.
      kernel_size: window size (int or triple).
      output_size: output ``(T_out, H_out, W_out)``; takes precedence over ``output_ratio``.
      output_ratio: output size as a fraction of the input size.
      return_indices: ignored (indices are always returned).
      _random_samples: ``[N, C, 3]`` samples in [0, 1) of the input's dtype.
      key: PRNG key drawing the samples when ``_random_samples`` is None.

    Returns:
      ``(values, indices)``; indices are flat ``(t * H + h) * W + w`` positions.

    Raises:
      ConfigError: see :func:`fractional_max_pool3d`.
      ShapeError: see :func:`fractional_max_pool3d`.
      DTypeError: see :func:`fractional_max_pool3d`.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> values, idx = F.fractional_max_pool3d_with_indices(
      ...     jnp.ones((1, 5, 5, 5)), 2, output_size=3, key=torsh.random.key(0))
      >>> idx.shape
      (1, 3, 3, 3)
    """
    out = fractional_max_pool_nd(3, input, kernel_size, output_size, output_ratio, True, _random_samples, key)
    return cast(tuple[jax.Array, jax.Array], out)
