"""``pad`` (``torch.nn.functional.pad``): constant, reflect, replicate and circular padding.

The pad tuple is PyTorch's: pairs ``(left, right)`` starting from the **last** axis. Negative
amounts crop. Non-constant modes gather with static index maps (one ``take`` per padded axis), so
gradients flow back to the source elements exactly as PyTorch accumulates them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ...errors import ConfigError, ShapeError
from .._utils import shape_str

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def _pairs(pad: Any, ndim: int) -> list[tuple[int, int, int]]:
    """``(axis, before, after)`` for each padded axis, from PyTorch's last-axis-first pad tuple."""
    if not isinstance(pad, Sequence) or isinstance(pad, str):
        raise ConfigError(f"pad: pad must be a tuple of ints (left, right, top, bottom, ...), got {pad!r}")
    pad = tuple(pad)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise ConfigError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ConfigError(f"pad: padding length must be divisible by 2, got {len(pad)} values {pad!r}")
    if len(pad) // 2 > ndim:
        raise ShapeError(
            f"pad: padding length should be less than or equal to two times the input dimension, but got "
            f"padding length {len(pad)} and input of dimension {ndim}"
        )
    return [(ndim - 1 - i, int(pad[2 * i]), int(pad[2 * i + 1])) for i in range(len(pad) // 2)]


def _source_index(mode: str, size: int, before: int, after: int) -> np.ndarray:
    """For every output position along one axis, the input position it copies."""
    j = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(j, 0, size - 1)
    if mode == "circular":  # PyTorch crops first (negative amounts), then wraps the cropped range
        lo, hi = max(-before, 0), size - max(-after, 0)
        return lo + np.mod(np.arange(-max(before, 0), hi - lo + max(after, 0)), hi - lo)
    # reflect (without repeating the edge): period 2 * (size - 1)
    if size == 1:
        return np.zeros_like(j)
    period = 2 * (size - 1)
    m = np.mod(j, period)
    return np.where(m < size, m, period - m)


def pad(
    input: jax.Array, pad: Sequence[int], mode: str = "constant", value: float | None = None
) -> jax.Array:
    """Pad (or, with negative amounts, crop) ``input`` (``torch.nn.functional.pad``).

    Args:
      input: any array; non-constant modes need ``[N, C, *spatial]`` or ``[C, *spatial]`` with 1-3
        padded spatial axes (2-5D input).
      pad: ``(left, right)`` for the last axis, then ``(top, bottom)`` for the one before, and so on.
      mode: ``"constant"``, ``"reflect"`` (mirror, edge not repeated), ``"replicate"`` (edge value) or
        ``"circular"`` (wrap around).
      value: the fill of ``"constant"`` mode (default 0); other modes take none.

    Differences from PyTorch: non-constant padding that leaves an empty axis, and circular padding by
    more than what remains after cropping (torch 2.13 returns uninitialised memory there), raise a
    ShapeError.

    Returns:
      The padded (or cropped) array.

    Raises:
      ConfigError: For an odd-length or too long ``pad``, an unknown ``mode``, or a ``value`` with a
        non-constant mode.
      ShapeError: If a non-constant mode gets an input of the wrong rank, or padding larger than the axis.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.pad(jnp.array([[[1.0, 2.0, 3.0]]]), (2, 1), mode="reflect").tolist()
      [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
      >>> F.pad(jnp.ones((1, 2)), (1, 0), value=5.0).tolist()
      [[5.0, 1.0, 1.0]]
    """
    x = jnp.asarray(input)
    if mode not in _MODES:
        raise ConfigError(
            f"pad: unrecognised padding mode {mode!r}; expected one of {', '.join(map(repr, _MODES))}"
        )
    pairs = _pairs(pad, x.ndim)
    if mode == "constant":
        fill = jnp.asarray(0 if value is None else value, x.dtype)
        config = [(0, 0, 0)] * x.ndim
        for axis, before, after in pairs:
            if x.shape[axis] + before + after < 0:
                raise ShapeError(
                    f"pad: the padded size of dimension {axis} would be {x.shape[axis] + before + after} "
                    f"(input {shape_str(x.shape)}, pad {tuple(pad)})"
                )
            config[axis] = (before, after, 0)
        return lax.pad(x, fill, config)
    if value is not None:
        raise ConfigError(f'pad: padding mode "{mode}" doesn\'t take in value argument (got value={value!r})')
    n = len(pairs)
    if n not in (1, 2, 3) or x.ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"pad: padding size {2 * n} is not supported for {x.ndim}D input of shape "
            f"{shape_str(x.shape)} in "
            f'mode "{mode}"; supported: 2D or 3D input with 2 values (last axis), 3D or 4D with 4 (last 2 '
            "axes), 4D or 5D with 6 (last 3 axes)"
        )
    for axis, before, after in pairs:
        size = x.shape[axis]
        if mode == "reflect" and (before >= size or after >= size):
            raise ShapeError(
                f"pad: reflect padding size should be less than the corresponding input dimension, but got "
                f"padding ({before}, {after}) at dimension {axis} of input {shape_str(x.shape)}"
            )
        kept = size + min(before, 0) + min(after, 0)  # circular mode crops first, then wraps
        if mode == "circular" and (before > kept or after > kept):
            raise ShapeError(
                f"pad: circular padding ({before}, {after}) at dimension {axis} of input "
                f"{shape_str(x.shape)} "
                f"wraps around more than once (each amount must be at most the {kept} elements left after "
                "cropping)"
            )
        if size == 0 or size + before + after <= 0:
            raise ShapeError(
                f"pad: cannot {mode}-pad dimension {axis} of input {shape_str(x.shape)} "
                f"by ({before}, {after})"
            )
    for axis, before, after in pairs:
        x = jnp.take(x, jnp.asarray(_source_index(mode, x.shape[axis], before, after)), axis=axis)
    return x
