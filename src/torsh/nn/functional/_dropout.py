"""Dropout with an explicit key.

Masks: the key's two 32-bit words key the counter-based Philox-4x32 generator (written in ordinary
XLA integer ops, so the same key gives the same mask on every backend, eagerly and under ``jit``),
and an element is kept when its 32-bit draw is below ``round((1 - p) * 2**32)``. Measured against
JAX's other generators in docs/nn_sequence.md: it compiles faster than ``jax.random.bernoulli`` on
the default Threefry-2x32 key. Keys of another implementation (``jax.random.key(0, impl="rbg")``)
draw their bits from that implementation with the same rule.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, check_p, shape_str

__all__ = ["dropout", "dropout2d"]


def _missing_key(name: str) -> ConfigError:
    return ConfigError(
        f"{name} in training mode needs a PRNG key: call `model(x, key=key)` (e.g. key from "
        "torsh.random.split), or switch to evaluation with `model.eval()`"
    )


@functools.cache
def _has_philox() -> bool:
    # asked at the first mask, not at import: creating a key starts JAX's backends, after which
    # torsh.distributed.init() can no longer join a multi-process job
    try:
        jax.random.key(0, impl="philox4x32")
    except (ValueError, KeyError, TypeError):  # a jax without it: threefry bits (same threshold rule)
        return False
    return True


def _mask_key(key: jax.Array) -> jax.Array:
    """The key whose bits make masks: Philox-4x32 keyed with a (typed or raw) threefry key's two words."""
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    data = jax.random.key_data(key) if typed else key
    if data.shape[-1:] != (2,) or data.dtype != jnp.uint32 or not _has_philox():
        return key  # another implementation (e.g. impl="rbg"): its own bits
    return jax.random.wrap_key_data(data, impl="philox4x32")


def _keep_mask(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
    """Boolean mask, True with probability ``1 - p`` (to 2**-32): 32-bit Philox draws below a threshold."""
    threshold = min(round((1.0 - p) * 2**32), 2**32 - 1)
    return jax.random.bits(_mask_key(key), shape, jnp.uint32) < jnp.uint32(threshold)


def _apply_mask(x: jax.Array, p: float, key: jax.Array, mask_shape: tuple[int, ...]) -> jax.Array:
    if p == 1.0:
        return x * jnp.zeros((), x.dtype)
    keep = _keep_mask(key, p, mask_shape)
    return x * (keep.astype(x.dtype) * jnp.asarray(1.0 / (1.0 - p), x.dtype))


def dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Args:
      input: any floating array.
      p: probability of an element to be zeroed (default 0.5).
      training: apply dropout (True, default) or return ``input`` unchanged.
      key: PRNG key of the mask (required when ``training`` and ``p > 0``); the same key gives the
        same mask (Philox-4x32 keyed by the key's data, see the module docstring).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.dropout(jnp.ones(1000), 0.5, key=torsh.random.key(0))
      >>> sorted(set(y.tolist()))
      [0.0, 2.0]
    """
    check_p(p)
    if not training or p == 0.0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("dropout")
    return _apply_mask(input, p, key, input.shape)


def dropout2d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Zero whole channels of ``(N, C, H, W)`` with probability ``p`` (``torch.nn.functional.dropout2d``).

    As PyTorch does (for now), a 3-D input is read as ``(N, C, L)``, dropping channels per sample.

    Args:
      input: ``(N, C, H, W)`` or ``(N, C, L)`` floating array.
      p: probability of a channel to be zeroed (default 0.5).
      training: apply dropout (True, default) or return ``input`` unchanged.
      key: PRNG key of the mask (required when ``training`` and ``p > 0``).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      ShapeError: an input that is not 3-D or 4-D.
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.dropout2d(jnp.ones((1, 8, 2, 2)), 0.5, key=torsh.random.key(0))
      >>> bool(((y == 0).all(axis=(2, 3)) | (y == 2).all(axis=(2, 3))).all())
      True
    """
    check_p(p)
    if input.ndim not in (3, 4):
        raise ShapeError(
            f"expected 3D or 4D input (N, C, L) or (N, C, H, W), got {input.ndim}D input "
            f"of shape {shape_str(input.shape)}"
        )
    if not training or p == 0.0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("dropout2d")
    return _apply_mask(input, p, key, input.shape[:2] + (1,) * (input.ndim - 2))
