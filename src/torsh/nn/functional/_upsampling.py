"""``interpolate``, ``pixel_shuffle`` and ``pixel_unshuffle`` (``torch.nn.functional``).

``interpolate`` follows PyTorch's CPU kernels (``aten/src/ATen/native/UpSample.h``) one spatial axis
at a time; all indices and weights depend only on static shapes, so they are computed once at trace
time in NumPy, in the input's precision (float32 as PyTorch's ``opmath`` for float32/half inputs):

* scale: with ``align_corners=True`` ``(in - 1) / (out - 1)`` (0 if ``out == 1``); otherwise
  ``1 / scale_factor`` when a ``scale_factor`` was given (and not recomputed), else ``in / out``.
* ``nearest``: ``src = min(floor(dst * scale), in - 1)``; ``nearest-exact``: ``floor((dst + 0.5) * scale)``.
* ``linear``/``bilinear``/``trilinear``: ``src = (dst + 0.5) * scale - 0.5`` clamped at 0
  (``dst * scale`` with ``align_corners=True``), two taps ``floor(src)`` and the next (clamped).
* ``bicubic``: the same source index without the clamp, Keys' cubic with ``A = -0.75`` over
  four taps whose indices are clamped to the border.
* ``area``: adaptive average pooling to the output size.
* ``antialias=True`` (bilinear/bicubic): PIL's separable filter, support ``taps / 2 * max(scale, 1)``,
  centred at ``scale * (dst + 0.5)``, weights normalised per output (a dense ``[out, in]`` matrix).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, positive_int, shape_str
from ._pooling import adaptive_avg_pool_nd

__all__ = ["interpolate", "pixel_shuffle", "pixel_unshuffle", "channel_shuffle"]

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_NEEDS_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
_CUBIC_A = -0.75


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _output_size(
    x: jax.Array, n: int, size: Any, scale_factor: Any, recompute: bool | None
) -> tuple[tuple[int, ...], tuple[float | None, ...]]:
    """Output spatial size and the scale factors the kernels see (``None``: derive from sizes)."""
    spatial = x.shape[2:]
    if size is not None and scale_factor is not None:
        raise ConfigError("interpolate: only one of size or scale_factor should be defined")
    if size is not None:
        if recompute:
            raise ConfigError("interpolate: recompute_scale_factor is not meaningful with an explicit size")
        sizes = tuple(size) if isinstance(size, Sequence) and not isinstance(size, str) else (size,) * n
        if len(sizes) != n:
            raise ShapeError(
                f"interpolate: input and output must have the same number of spatial dimensions, but got "
                f"input with spatial dimensions of {list(spatial)} and output size of {size!r}; pass the "
                "input as [N, C, d1, ..., dK] and size as (o1, ..., oK)"
            )
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ConfigError(f"interpolate: size must be positive ints, got {size!r}")
        return tuple(int(s) for s in sizes), (None,) * n
    if scale_factor is None:
        raise ConfigError("interpolate: either size or scale_factor should be defined")
    if isinstance(scale_factor, Sequence) and not isinstance(scale_factor, str):
        scales = tuple(scale_factor)
        if len(scales) != n:
            raise ShapeError(
                f"interpolate: input and scale_factor must have the same number of spatial dimensions, but "
                f"got input with spatial dimensions of {list(spatial)} and scale_factor of {scale_factor!r}"
            )
    else:
        scales = (scale_factor,) * n
    if not all(_is_number(s) and s > 0 for s in scales):
        raise ConfigError(f"interpolate: scale_factor must be positive numbers, got {scale_factor!r}")
    out = tuple(math.floor(float(d) * float(s)) for d, s in zip(spatial, scales, strict=True))
    if any(o <= 0 for o in out):
        raise ShapeError(
            f"interpolate: input {shape_str(x.shape)} with scale_factor {scale_factor!r} gives output size "
            f"{out}; every size must be positive"
        )
    return out, ((None,) * n if recompute else tuple(float(s) for s in scales))


def _scale(in_size: int, out_size: int, scale: float | None, align_corners: bool, ft: Any) -> Any:
    if align_corners:
        return ft((in_size - 1) / (out_size - 1)) if out_size > 1 else ft(0)
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(in_size / out_size)


def _nearest_axis(x: jax.Array, axis: int, out: int, scale: float | None, exact: bool) -> jax.Array:
    size = x.shape[axis]
    s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(size / out)
    dst = np.arange(out, dtype=np.float32)
    if exact:  # PyTorch: floorf((dst + 0.5) * scale), the product in double
        src = np.floor(((np.arange(out) + 0.5) * np.float64(s)).astype(np.float32)).astype(np.int64)
    elif out == size:
        src = np.arange(out)
    elif out == 2 * size:
        src = np.arange(out) >> 1
    else:
        src = np.floor(dst * s).astype(np.int64)
    return jnp.take(x, jnp.asarray(np.minimum(src, size - 1)), axis=axis)


def _weights_shape(ndim: int, axis: int, n: int) -> tuple[int, ...]:
    return tuple(n if i == axis else 1 for i in range(ndim))


def _linear_axis(x: jax.Array, axis: int, out: int, scale: float | None, align: bool, ft: Any) -> jax.Array:
    size = x.shape[axis]
    s = _scale(size, out, scale, align, ft)
    dst = np.arange(out).astype(ft)
    src = s * dst if align else np.maximum(s * (dst + ft(0.5)) - ft(0.5), ft(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    l1 = np.clip(src - i0.astype(ft), 0, 1).astype(ft)
    l0 = (ft(1) - l1).astype(ft)
    shape = _weights_shape(x.ndim, axis, out)
    w0 = jnp.asarray(l0.reshape(shape), x.dtype)
    w1 = jnp.asarray(l1.reshape(shape), x.dtype)
    return jnp.take(x, jnp.asarray(i0), axis=axis) * w0 + jnp.take(x, jnp.asarray(i1), axis=axis) * w1


def _cubic_coefficients(t: np.ndarray, ft: Any) -> list[np.ndarray]:
    a = ft(_CUBIC_A)

    def near(u: np.ndarray) -> np.ndarray:  # |u| <= 1
        return ((a + 2) * u - (a + 3)) * u * u + 1

    def far(u: np.ndarray) -> np.ndarray:  # 1 < |u| < 2
        return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a

    one = ft(1)
    return [far(t + one).astype(ft), near(t).astype(ft), near(one - t).astype(ft), far(ft(2) - t).astype(ft)]


def _cubic_axis(x: jax.Array, axis: int, out: int, scale: float | None, align: bool, ft: Any) -> jax.Array:
    size = x.shape[axis]
    s = _scale(size, out, scale, align, ft)
    dst = np.arange(out).astype(ft)
    src = (s * dst if align else s * (dst + ft(0.5)) - ft(0.5)).astype(ft)
    base = np.minimum(np.floor(src).astype(np.int64), size - 1)
    t = np.clip(src - base.astype(ft), 0, 1).astype(ft)
    shape = _weights_shape(x.ndim, axis, out)
    y: jax.Array | None = None
    for k, w in enumerate(_cubic_coefficients(t, ft)):
        idx = np.clip(base - 1 + k, 0, size - 1)
        term = jnp.take(x, jnp.asarray(idx), axis=axis) * jnp.asarray(w.reshape(shape), x.dtype)
        y = term if y is None else y + term
    assert y is not None  # four cubic taps
    return y


def _aa_filter(u: np.ndarray, cubic: bool, ft: Any) -> np.ndarray:
    u = np.abs(u)
    if not cubic:  # triangle
        return np.where(u < 1, 1 - u, 0).astype(ft)
    a = ft(-0.5)  # PIL's and PyTorch's antialiased bicubic use a = -0.5 (Keys' value), not -0.75
    near = ((a + 2) * u - (a + 3)) * u * u + 1
    far = ((a * u - 5 * a) * u + 8 * a) * u - 4 * a
    return np.where(u < 1, near, np.where(u < 2, far, 0)).astype(ft)


def _antialias_axis(
    x: jax.Array, axis: int, out: int, scale: float | None, align: bool, cubic: bool, ft: Any
) -> jax.Array:
    """PyTorch's (and PIL's) antialiased resampling along one axis: the filter widens by the
    downscale factor, weights are normalised per output; applied as a dense ``[out, in]`` matrix."""
    size = x.shape[axis]
    s = _scale(size, out, scale, align, ft)
    interp = 4 if cubic else 2
    support = ft(interp * 0.5) * s if s >= 1 else ft(interp * 0.5)
    invscale = ft(1) / s if s >= 1 else ft(1)
    max_taps = int(np.ceil(support)) * 2 + 1
    weights = np.zeros((out, size), ft)
    for i in range(out):
        center = s * ft(i + 0.5)
        lo = max(int(center - support + ft(0.5)), 0)
        n = min(max(min(int(center + support + ft(0.5)), size) - lo, 0), max_taps)
        w = _aa_filter((np.arange(n).astype(ft) + ft(lo) - center + ft(0.5)) * invscale, cubic, ft)
        total = w.sum(dtype=ft)
        weights[i, lo : lo + n] = w / total if total != 0 else w
    y = jnp.tensordot(jnp.asarray(weights, x.dtype), jnp.moveaxis(x, axis, 0), axes=1)
    return jnp.moveaxis(y, 0, axis)


def interpolate(
    input: jax.Array,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> jax.Array:
    """Resize ``[N, C, *spatial]`` (1-3 spatial axes) (``torch.nn.functional.interpolate``).

    Args:
      input: ``[N, C, L]``, ``[N, C, H, W]`` or ``[N, C, D, H, W]`` floating array (also ``uint8``
        for the nearest modes).
      size: output spatial size (int or tuple); exactly one of ``size`` and ``scale_factor``.
      scale_factor: multiplier per spatial axis; output size ``floor(in * scale_factor)``. Unless
        ``recompute_scale_factor=True``, the kernels use ``1 / scale_factor`` as the coordinate scale
        (as PyTorch), not ``in / out``.
      mode: ``"nearest"``, ``"nearest-exact"``, ``"linear"`` (3D), ``"bilinear"``/``"bicubic"`` (4D),
        ``"trilinear"`` (5D) or ``"area"``.
      align_corners: interpolating modes only; ``True`` maps the corner pixels' centres onto each
        other. ``None`` means ``False``.
      recompute_scale_factor: derive the coordinate scale from the computed output size.
      antialias: ``bilinear``/``bicubic`` on 4D input only: widen the filter by the downscale factor
        (PyTorch's and PIL's antialiased resize; ``bicubic`` then uses ``a = -0.5``).

    Returns:
      ``[N, C, *new_spatial]``.

    Raises:
      ConfigError: If not exactly one of ``size`` and ``scale_factor`` is given, a size or factor is
        not positive, or ``mode`` is unknown or does not fit the rank.
      ShapeError: If ``input`` is not 3-D to 5-D, or ``size``/``scale_factor`` has the wrong length.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.interpolate(jnp.array([[[1.0, 2.0]]]), scale_factor=2, mode="linear").tolist()
      [[[1.0, 1.25, 1.75, 2.0]]]
      >>> F.interpolate(jnp.ones((1, 3, 4, 4)), size=(2, 8)).shape
      (1, 3, 2, 8)
    """
    if mode not in _MODES:
        raise ConfigError(
            f"interpolate: unknown mode {mode!r}; expected one of {', '.join(map(repr, _MODES))}"
        )
    x = input
    # nearest modes only copy elements: uint8 images are accepted, as by PyTorch
    if not (mode in ("nearest", "nearest-exact") and getattr(x, "dtype", None) == jnp.uint8):
        check_float_input(x)
    if x.ndim not in (3, 4, 5):
        raise ShapeError(
            f"interpolate: expected 3D, 4D or 5D input [N, C, d1, ...] (a batch axis is required), got "
            f"{x.ndim}D input of shape {shape_str(x.shape)}"
        )
    interpolating = mode in _NEEDS_RANK
    if align_corners is not None and not interpolating:
        raise ConfigError(
            "interpolate: align_corners option can only be set with the interpolating modes: "
            f"linear | bilinear | bicubic | trilinear (got mode={mode!r})"
        )
    if antialias and (mode not in ("bilinear", "bicubic") or x.ndim != 4):
        raise ConfigError(
            "interpolate: anti-alias option is restricted to bilinear and bicubic modes and requires a "
            f"4-D input (got mode={mode!r}, {x.ndim}D input)"
        )
    if interpolating and x.ndim != _NEEDS_RANK[mode]:
        raise ShapeError(
            f"interpolate: got {x.ndim}D input of shape {shape_str(x.shape)}, but {mode} mode needs "
            f"{_NEEDS_RANK[mode]}D input"
        )
    n = x.ndim - 2
    out, scales = _output_size(x, n, size, scale_factor, recompute_scale_factor)
    if mode == "area":
        return adaptive_avg_pool_nd(n, x, out, where="interpolate")
    align = bool(align_corners)
    # PyTorch computes coordinates in float32 for float32 and half inputs (opmath), float64 for float64
    ft = np.float64 if x.dtype == jnp.float64 else np.float32
    # half-precision inputs are interpolated in float32 and cast back, as PyTorch's opmath does
    y = (
        x.astype(jnp.float32)
        if mode not in ("nearest", "nearest-exact") and jnp.finfo(x.dtype).bits < 32
        else x
    )
    for i in range(n):
        axis = 2 + i
        if antialias:
            y = _antialias_axis(y, axis, out[i], scales[i], align, mode == "bicubic", ft)
        elif mode in ("nearest", "nearest-exact"):
            y = _nearest_axis(y, axis, out[i], scales[i], mode == "nearest-exact")
        elif mode == "bicubic":
            y = _cubic_axis(y, axis, out[i], scales[i], align, ft)
        else:
            y = _linear_axis(y, axis, out[i], scales[i], align, ft)
    return y.astype(x.dtype)


def _factor(value: Any, name: str, where: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def pixel_shuffle(input: jax.Array, upscale_factor: int) -> jax.Array:
    """``[*, C * r**2, H, W] -> [*, C, H * r, W * r]`` (``torch.nn.functional.pixel_shuffle``).

    Args:
      input: ``[*, C * r**2, H, W]``.
      upscale_factor: The factor ``r`` (a positive int).

    Returns:
      ``[*, C, H * r, W * r]``.

    Raises:
      ConfigError: If ``upscale_factor`` is not a positive int.
      ShapeError: If ``input`` has fewer than 3 dimensions or its channels are not divisible by ``r**2``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.pixel_shuffle(jnp.arange(4.0).reshape(1, 4, 1, 1), 2).tolist()
      [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    r = _factor(upscale_factor, "upscale_factor", "pixel_shuffle")
    x = jnp.asarray(input)
    if x.ndim < 3:
        raise ShapeError(
            f"pixel_shuffle: expected input of at least 3 dimensions [*, C * r**2, H, W], got "
            f"{x.ndim}D input of shape {shape_str(x.shape)}"
        )
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise ShapeError(
            f"pixel_shuffle: expected the channel dimension to be divisible by upscale_factor**2 = "
            f"{r * r}, but "
            f"input.size(-3)={c} (input {shape_str(x.shape)})"
        )
    oc = c // (r * r)
    k = len(lead)
    y = x.reshape(*lead, oc, r, r, h, w)
    y = y.transpose(*range(k), k, k + 3, k + 1, k + 4, k + 2)
    return y.reshape(*lead, oc, h * r, w * r)


def pixel_unshuffle(input: jax.Array, downscale_factor: int) -> jax.Array:
    """``[*, C, H * r, W * r] -> [*, C * r**2, H, W]`` (``torch.nn.functional.pixel_unshuffle``).

    Args:
      input: ``[*, C, H * r, W * r]``.
      downscale_factor: The factor ``r`` (a positive int).

    Returns:
      ``[*, C * r**2, H, W]``.

    Raises:
      ConfigError: If ``downscale_factor`` is not a positive int.
      ShapeError: If ``input`` has fewer than 3 dimensions or ``H``/``W`` are not divisible by ``r``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.pixel_unshuffle(jnp.arange(4.0).reshape(1, 1, 2, 2), 2).reshape(-1).tolist()
      [0.0, 1.0, 2.0, 3.0]
    """
    r = _factor(downscale_factor, "downscale_factor", "pixel_unshuffle")
    x = jnp.asarray(input)
    if x.ndim < 3:
        raise ShapeError(
            f"pixel_unshuffle: expected input of at least 3 dimensions [*, C, H * r, W * r], got {x.ndim}D "
            f"input of shape {shape_str(x.shape)}"
        )
    *lead, c, h, w = x.shape
    for name, v in (("height", h), ("width", w)):
        if v % r:
            raise ShapeError(
                f"pixel_unshuffle: expected {name} to be divisible by downscale_factor={r}, but it is {v} "
                f"(input {shape_str(x.shape)})"
            )
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.transpose(*range(k), k, k + 2, k + 4, k + 1, k + 3)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: jax.Array, groups: int) -> jax.Array:
    """Interleave the channels of ``groups`` groups (ShuffleNet): ``(N, g*k, *) -> (N, k*g, *)`` transposed.

    Args:
      input: ``(N, C, *)`` with ``C`` divisible by ``groups``.
      groups: number of groups.

    Returns:
      An array of the input's shape, channels reordered.

    Raises:
      ConfigError: ``groups < 1``.
      ShapeError: fewer than 3 dimensions or channels not divisible by ``groups``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.channel_shuffle(jnp.arange(6.0).reshape(1, 6, 1), 2)[0, :, 0].tolist()
      [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    """
    positive_int("groups", groups, "channel_shuffle")
    if input.ndim < 3:
        raise ShapeError(
            f"channel_shuffle: expected an input with at least 3 dimensions, got {shape_str(input.shape)}"
        )
    n, c = input.shape[:2]
    if c % groups:
        raise ShapeError(f"channel_shuffle: number of channels ({c}) must be divisible by groups ({groups})")
    rest = input.shape[2:]
    x = input.reshape(n, groups, c // groups, *rest)
    return jnp.swapaxes(x, 1, 2).reshape(input.shape)
