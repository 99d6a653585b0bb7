"""Dropout with an explicit key."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._utils import check_float_input, shape_str

__all__ = ["dropout", "dropout2d"]


def _check_p(p: float) -> None:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ConfigError(f"dropout probability has to be between 0 and 1, but got {p!r}")


def _missing_key(name: str) -> ConfigError:
    return ConfigError(
        f"{name} in training mode needs a PRNG key: call `model(x, key=key)` (e.g. key from "
        "torsh.random.split), or switch to evaluation with `model.eval()`"
    )


def _keep_mask(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
    """Boolean mask, True with probability ``1 - p``."""
    return jax.random.bernoulli(key, 1.0 - p, shape)


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

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.dropout(jnp.ones(1000), 0.5, key=torsh.random.key(0))
      >>> sorted(set(y.tolist()))
      [0.0, 2.0]
    """
    _check_p(p)
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
    """
    _check_p(p)
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
