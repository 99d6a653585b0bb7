"""Spatial-transformer sampling (Jaderberg et al., 2015): ``affine_grid`` and ``grid_sample``, as PyTorch's.

Grids hold normalised coordinates in [-1, 1] (x first, then y, then z), ``-1`` and ``1`` being the
centres of the corner pixels with ``align_corners=True`` and their outer edges with ``False``. Sampling
gathers the neighbouring pixels and weights them, so gradients flow to both the input and the grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, shape_str

__all__ = ["affine_grid", "grid_sample"]

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")


def _base_coords(n: int, align_corners: bool, dtype: jax.typing.DTypeLike) -> jax.Array:
    if n <= 1:
        return jnp.zeros((max(n, 0),), dtype)
    steps = jnp.linspace(-1.0, 1.0, n, dtype=dtype)
    return steps if align_corners else steps * ((n - 1) / n)


def affine_grid(theta: jax.Array, size: Sequence[int], align_corners: bool = False) -> jax.Array:
    """Sampling grid of affine transforms: ``(N, H, W, 2)`` from ``(N, 2, 3)`` (3-D: ``(N, D, H, W, 3)``).

    Args:
      theta: affine matrices ``(N, 2, 3)`` for a 4-D ``size`` or ``(N, 3, 4)`` for a 5-D one, mapping
        output coordinates to input coordinates.
      size: the output size ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
      align_corners: whether -1 and 1 are the centres (True) or edges (False) of the corner pixels.

    Returns:
      The grid for :func:`grid_sample`.

    Raises:
      DTypeError: a non-floating ``theta``.
      ShapeError: ``theta`` not matching ``size``, ``size`` not 4-D or 5-D, or non-positive sizes.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> identity = jnp.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
      >>> F.affine_grid(identity, (1, 1, 2, 2), align_corners=True)[0].tolist()
      [[[-1.0, -1.0], [1.0, -1.0]], [[-1.0, 1.0], [1.0, 1.0]]]
    """
    check_float_input(theta, what="theta")
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise ShapeError(f"affine_grid: size must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got {size}")
    k = len(size) - 2
    if theta.ndim != 3 or theta.shape[1:] != (k, k + 1) or theta.shape[0] != size[0]:
        raise ShapeError(
            f"affine_grid: expected a batch of {k}-D affine matrices of shape ({size[0]}, {k}, {k + 1}) "
            f"for size {size}, got {shape_str(theta.shape)}"
        )
    if min(size) <= 0:
        raise ShapeError(f"affine_grid: expected positive sizes, got {size}")
    spatial = size[2:]  # (H, W) or (D, H, W)
    axes = [_base_coords(s, align_corners, theta.dtype) for s in reversed(spatial)]  # x (W) first
    mesh = jnp.meshgrid(*axes, indexing="ij")  # each (W, H[, D])
    base = jnp.stack([*mesh, jnp.ones_like(mesh[0])], axis=-1)  # (W, H[, D], k + 1)
    base = jnp.transpose(base, tuple(reversed(range(k))) + (k,))  # ([D,] H, W, k + 1)
    grid = jnp.einsum("...j,nij->n...i", base, theta, precision=jax.lax.Precision.HIGHEST)
    return grid


def _unnormalize(coord: jax.Array, size: int, align_corners: bool) -> jax.Array:
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord: jax.Array, twice_low: int, twice_high: int) -> jax.Array:
    if twice_low == twice_high:
        return jnp.zeros_like(coord)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    coord = jnp.abs(coord - low)
    extra = jnp.fmod(coord, span)
    flips = jnp.floor(coord / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _source_index(coord: jax.Array, size: int, padding_mode: str, align_corners: bool) -> jax.Array:
    """PyTorch's grid_sampler_compute_source_index: unnormalise, then apply the padding mode."""
    coord = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        coord = jnp.clip(coord, 0, size - 1)
    elif padding_mode == "reflection":
        coord = _reflect(coord, 0, 2 * (size - 1)) if align_corners else _reflect(coord, -1, 2 * size - 1)
        coord = jnp.clip(coord, 0, size - 1)
    return coord


def _gather(inp: jax.Array, idx: list[jax.Array]) -> tuple[jax.Array, jax.Array]:
    """``inp[n, :, *idx]`` (zeros outside) as ``(N, C, *out)``, and the in-bounds mask ``(N, *out)``."""
    spatial = inp.shape[2:]
    inside = jnp.ones(idx[0].shape, bool)
    clipped = []
    for i, s in zip(idx, spatial, strict=True):
        inside = inside & (i >= 0) & (i <= s - 1)
        clipped.append(jnp.clip(i, 0, s - 1).astype(jnp.int32))
    n = inp.shape[0]
    batch = jnp.arange(n).reshape((n,) + (1,) * (idx[0].ndim - 1))
    vals = jnp.moveaxis(inp, 1, -1)[(batch, *clipped)]  # (N, *out, C)
    vals = jnp.moveaxis(vals, -1, 1)  # (N, C, *out)
    return vals * inside[:, None].astype(vals.dtype), inside


def _cubic_weights(t: jax.Array) -> list[jax.Array]:
    a = -0.75  # PyTorch's bicubic coefficient

    def near(x: jax.Array) -> jax.Array:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: jax.Array) -> jax.Array:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def grid_sample(
    input: jax.Array,
    grid: jax.Array,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = False,
) -> jax.Array:
    """Sample ``input`` at the normalised locations of ``grid`` (``torch.nn.functional.grid_sample``).

    Args:
      input: ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
      grid: ``(N, H_out, W_out, 2)`` or ``(N, D_out, H_out, W_out, 3)`` of (x, y[, z]) in [-1, 1].
      mode: ``'bilinear'`` (trilinear for 5-D), ``'nearest'`` or ``'bicubic'`` (4-D only).
      padding_mode: what locations outside the input read: ``'zeros'``, ``'border'`` (the nearest
        edge pixel) or ``'reflection'`` (mirrored at the border).
      align_corners: whether -1 and 1 are the centres (True) or outer edges (False) of the corner pixels.

    Returns:
      ``(N, C, H_out, W_out)`` (or ``(N, C, D_out, H_out, W_out)``).

    Raises:
      ConfigError: an unknown ``mode`` or ``padding_mode``, or ``'bicubic'`` with a 5-D input.
      ShapeError: an input that is not 4-D/5-D or a grid that does not fit it.
      DTypeError: non-floating inputs or grids of another dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> img = jnp.arange(4.0).reshape(1, 1, 2, 2)
      >>> centre = jnp.zeros((1, 1, 1, 2))  # the middle of the image
      >>> F.grid_sample(img, centre, align_corners=True).tolist()
      [[[[1.5]]]]
    """
    if mode not in _MODES:
        raise ConfigError(f"grid_sample: mode must be one of {list(_MODES)}, got {mode!r}")
    if padding_mode not in _PADDING:
        raise ConfigError(f"grid_sample: padding_mode must be one of {list(_PADDING)}, got {padding_mode!r}")
    check_float_input(input)
    check_float_input(grid, like=input, what="grid")
    if input.ndim not in (4, 5):
        raise ShapeError(f"grid_sample: expected a 4-D or 5-D input, got {shape_str(input.shape)}")
    k = input.ndim - 2
    if grid.ndim != input.ndim or grid.shape[-1] != k or grid.shape[0] != input.shape[0]:
        raise ShapeError(
            f"grid_sample: expected a grid ({input.shape[0]}, {', '.join(['...'] * k)}, {k}) for input "
            f"{shape_str(input.shape)}, got {shape_str(grid.shape)}"
        )
    if mode == "bicubic" and k == 3:
        raise ConfigError("grid_sample: bicubic interpolation only supports 4-D input (as PyTorch)")
    spatial = input.shape[2:][::-1]  # sizes along x, y[, z]
    coords = [grid[..., d] for d in range(k)]  # x, y[, z], each (N, *out)
    if mode == "bicubic":
        # taps at floor(c) - 1 .. floor(c) + 2; padding applies to each tap's coordinate (PyTorch)
        raw = [_unnormalize(c, s, align_corners) for c, s in zip(coords, spatial, strict=True)]
        base = [jnp.floor(c) for c in raw]
        wx, wy = (_cubic_weights(c - b) for c, b in zip(raw, base, strict=True))
        out = jnp.zeros((), input.dtype)  # (0 + x is x; the sum keeps the terms' dtype)
        for j in range(4):
            for i in range(4):
                tap = []
                for b, off, s in ((base[0], i - 1, spatial[0]), (base[1], j - 1, spatial[1])):
                    t = b + off
                    if padding_mode == "border":
                        t = jnp.clip(t, 0, s - 1)
                    elif padding_mode == "reflection":
                        t = _reflect(t, 0, 2 * (s - 1)) if align_corners else _reflect(t, -1, 2 * s - 1)
                        t = jnp.clip(t, 0, s - 1)
                    tap.append(t)
                vals, _ = _gather(input, [jnp.round(tap[1]), jnp.round(tap[0])])
                out = out + vals * (wx[i] * wy[j])[:, None]
        return out
    src = [_source_index(c, s, padding_mode, align_corners) for c, s in zip(coords, spatial, strict=True)]
    if mode == "nearest":
        vals, _ = _gather(input, [jnp.round(c) for c in reversed(src)])  # round half to even, as nearbyint
        return vals
    lows = [jnp.floor(c) for c in src]
    fracs = [c - lo for c, lo in zip(src, lows, strict=True)]
    out = jnp.zeros((), input.dtype)
    for corner in range(2**k):
        offs = [(corner >> d) & 1 for d in range(k)]
        weight = jnp.ones((), fracs[0].dtype)
        for f, o in zip(fracs, offs, strict=True):
            weight = weight * (f if o else 1 - f)
        idx = [lo + o for lo, o in zip(lows, offs, strict=True)]
        vals, _ = _gather(input, list(reversed(idx)))
        out = out + vals * weight[:, None]
    return out
