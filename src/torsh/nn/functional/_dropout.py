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
import math

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, check_p, shape_str

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]

# SELU's scale * alpha: a dropped unit is set to SELU's negative saturation value, -_SELU_SAT
_SELU_SAT = 1.7580993408473766


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


def _feature_mask_shape(x: jax.Array) -> tuple[int, ...]:
    """One draw per (sample, channel) of ``(N, C, *)``."""
    return x.shape[:2] + (1,) * (x.ndim - 2)


def dropout1d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Zero whole channels of ``(N, C, L)`` or ``(C, L)`` with probability ``p`` (``F.dropout1d``).

    Kept channels are scaled by ``1 / (1 - p)``; one draw per (sample, channel).

    Args:
      input: ``(N, C, L)`` or unbatched ``(C, L)`` floating array.
      p: probability of a channel to be zeroed (default 0.5).
      training: apply dropout (True, default) or return ``input`` unchanged.
      key: PRNG key of the mask (required when ``training`` and ``p > 0``).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      ShapeError: an input that is not 2-D or 3-D.
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.dropout1d(jnp.ones((2, 8, 3)), 0.5, key=torsh.random.key(0))
      >>> bool(((y == 0).all(axis=2) | (y == 2).all(axis=2)).all())
      True
    """
    check_p(p)
    if input.ndim not in (2, 3):
        raise ShapeError(
            f"dropout1d: expected 2D or 3D input (C, L) or (N, C, L), got {input.ndim}D input of shape "
            f"{shape_str(input.shape)}; dropout1d drops channels of inputs with 1 spatial dimension "
            "(F.dropout drops single elements of any input)"
        )
    if not training or p == 0.0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("dropout1d")
    return _apply_mask(input, p, key, input.shape[:-1] + (1,))


def dropout3d(
    input: jax.Array,
    p: float = 0.5,
    training: bool = True,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Zero whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` with probability ``p``.

    Kept channels are scaled by ``1 / (1 - p)``. PyTorch only warns for other ranks (deprecated, to be
    an error); torsh raises already, as for ``dropout2d``.

    Args:
      input: ``(N, C, D, H, W)`` or unbatched ``(C, D, H, W)`` floating array.
      p: probability of a channel to be zeroed (default 0.5).
      training: apply dropout (True, default) or return ``input`` unchanged.
      key: PRNG key of the mask (required when ``training`` and ``p > 0``).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      ShapeError: an input that is not 4-D or 5-D.
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.dropout3d(jnp.ones((1, 8, 2, 2, 2)), 0.5, key=torsh.random.key(0))
      >>> bool(((y == 0).all(axis=(2, 3, 4)) | (y == 2).all(axis=(2, 3, 4))).all())
      True
    """
    check_p(p)
    if input.ndim not in (4, 5):
        raise ShapeError(
            f"dropout3d: expected 4D or 5D input (C, D, H, W) or (N, C, D, H, W), got {input.ndim}D input "
            f"of shape {shape_str(input.shape)}; dropout3d drops channels of inputs with 3 spatial "
            "dimensions (F.dropout drops single elements of any input)"
        )
    if not training or p == 0.0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("dropout3d")
    return _apply_mask(input, p, key, input.shape[:-3] + (1, 1, 1))


def _apply_alpha_mask(x: jax.Array, p: float, key: jax.Array, mask_shape: tuple[int, ...]) -> jax.Array:
    """PyTorch's alpha dropout: ``x * a * keep + b`` with ``b = a * SAT * (keep - 1 + p)``.

    ``a = 1 / sqrt((SAT² p + 1)(1 - p))`` keeps a zero-mean, unit-variance input so; dropped units
    become ``a * SAT * (p - 1)`` (SELU's saturation, affinely corrected). ``p == 1`` gives zeros, as PyTorch.
    """
    if p == 1.0:
        return x * jnp.zeros((), x.dtype)
    a = 1.0 / math.sqrt((_SELU_SAT * _SELU_SAT * p + 1.0) * (1.0 - p))
    noise = _keep_mask(key, p, mask_shape).astype(x.dtype)
    # the same operations in the same dtype as ATen's _dropout_impl
    b = (noise - 1) * jnp.asarray(_SELU_SAT * a, x.dtype) + jnp.asarray(_SELU_SAT * a * p, x.dtype)
    return x * (noise * jnp.asarray(a, x.dtype)) + b


def alpha_dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Alpha dropout for SELU networks (``torch.nn.functional.alpha_dropout``).

    Each element is dropped with probability ``p`` to SELU's negative saturation value, then the
    result is scaled and shifted so that a zero-mean, unit-variance input keeps its mean and variance:
    ``a * (x * keep - 1.7581 * (1 - keep)) + 1.7581 * a * p`` with ``a = 1 / sqrt((1.7581² p + 1)(1 - p))``.
    As PyTorch, ``training`` defaults to False here (the module passes its mode).

    Args:
      input: any floating array.
      p: probability of an element to be dropped (default 0.5).
      training: apply alpha dropout (default False: return ``input`` unchanged).
      key: PRNG key of the mask (required when ``training`` and ``p > 0``).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.alpha_dropout(jnp.zeros(1000), 0.2, training=True, key=torsh.random.key(0))
      >>> sorted({round(v, 4) for v in y.tolist()})  # dropped, kept
      [-1.2362, 0.309]
    """
    check_p(p)
    if not training or p == 0.0 or input.size == 0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("alpha_dropout")
    return _apply_alpha_mask(input, p, key, input.shape)


def feature_alpha_dropout(
    input: jax.Array,
    p: float = 0.5,
    training: bool = False,
    *,
    key: jax.Array | None = None,
) -> jax.Array:
    """Alpha dropout of whole channels of ``(N, C, *)`` (``torch.nn.functional.feature_alpha_dropout``).

    As :func:`alpha_dropout` with one draw per (sample, channel). ``training`` defaults to False, as
    PyTorch.

    Args:
      input: ``(N, C, *)`` floating array (at least 2-D when dropout is applied).
      p: probability of a channel to be dropped (default 0.5).
      training: apply alpha dropout (default False: return ``input`` unchanged).
      key: PRNG key of the mask (required when ``training`` and ``p > 0``).

    Returns:
      An array of ``input``'s shape and dtype.

    Raises:
      ConfigError: ``p`` outside [0, 1], or no ``key`` in training mode.
      ShapeError: a 0-D or 1-D input when dropout is applied (as PyTorch).
      DTypeError: a non-floating input.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.feature_alpha_dropout(jnp.zeros((2, 8, 3)), 0.2, training=True, key=torsh.random.key(0))
      >>> bool((y == y[:, :, :1]).all())  # one value per channel
      True
    """
    check_p(p)
    if not training or p == 0.0 or input.size == 0:
        return input
    check_float_input(input)
    if key is None:
        raise _missing_key("feature_alpha_dropout")
    if p == 1.0:
        return input * jnp.zeros((), input.dtype)
    if input.ndim < 2:
        raise ShapeError(
            f"feature_alpha_dropout: feature dropout requires at least 2 dimensions (N, C, *), got "
            f"{input.ndim}D input of shape {shape_str(input.shape)}; alpha_dropout drops single elements"
        )
    return _apply_alpha_mask(input, p, key, _feature_mask_shape(input))
