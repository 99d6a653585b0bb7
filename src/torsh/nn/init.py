"""Parameter initialisers with PyTorch's semantics (``torch.nn.init``), as pure functions.

PyTorch fills a tensor in place (``kaiming_uniform_(w, a=...)``); torsh returns a new array:
``kaiming_uniform(key, shape, a=...)``. Fan computation and gains are PyTorch's: for a weight of
shape ``[out, in, *kernel]``, ``fan_in = in * prod(kernel)`` and ``fan_out = out * prod(kernel)``.
Every initialiser takes ``dtype`` (default: :func:`torsh.get_default_dtype`).

Example:
    >>> import torsh
    >>> from torsh.nn import init
    >>> w = init.kaiming_uniform(torsh.random.key(0), (64, 32), a=5 ** 0.5)
    >>> float(abs(w).max()) <= 1 / 32 ** 0.5
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ._utils import float_dtype, resolve_key

__all__ = [
    "calculate_gain",
    "calculate_fan_in_and_fan_out",
    "uniform",
    "normal",
    "trunc_normal",
    "constant",
    "zeros",
    "ones",
    "eye",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "reset_xavier_uniform",
]

Shape = Sequence[int]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (``torch.nn.init.calculate_gain``).

    Example:
      >>> from torsh.nn import init
      >>> round(init.calculate_gain("leaky_relu", 0.2), 6)
      1.38675
    """
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, (int, float)) and not isinstance(param, bool):
            slope = param
        else:
            raise ConfigError(f"calculate_gain: negative_slope must be a number, got {param!r}")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ConfigError(
        f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
        f"{[*_LINEAR_FNS, 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'selu']}"
    )


def _shape(shape: Shape | int) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)


def calculate_fan_in_and_fan_out(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shape ``[out, in, *receptive_field]`` (PyTorch's rule).

    Example:
      >>> from torsh.nn import init
      >>> init.calculate_fan_in_and_fan_out((16, 8, 3, 3))
      (72, 144)
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ConfigError(f"fan in and fan out need a shape with at least 2 dimensions, got {list(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _empty(shape: Shape) -> bool:
    return math.prod(_shape(shape)) == 0


def _fan(shape: Shape, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ConfigError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    return fan_in if mode == "fan_in" else fan_out


def uniform(key: jax.Array, shape: Shape, a: float = 0.0, b: float = 1.0, dtype: Any = None) -> jax.Array:
    """Samples from U(a, b)."""
    return jax.random.uniform(key, _shape(shape), float_dtype(dtype), a, b)


def normal(key: jax.Array, shape: Shape, mean: float = 0.0, std: float = 1.0, dtype: Any = None) -> jax.Array:
    """Samples from N(mean, std²)."""
    d = float_dtype(dtype)
    return (mean + std * jax.random.normal(key, _shape(shape), d)).astype(d)


def trunc_normal(
    key: jax.Array,
    shape: Shape,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    dtype: Any = None,
) -> jax.Array:
    """N(mean, std²) truncated to ``[a, b]`` (absolute bounds, as ``torch.nn.init.trunc_normal_``)."""
    if std <= 0:
        raise ConfigError(f"trunc_normal: std must be positive, got {std}")
    if a >= b:
        raise ConfigError(f"trunc_normal: expected a < b, got a={a}, b={b}")
    d = float_dtype(dtype)
    lower, upper = (a - mean) / std, (b - mean) / std
    # Sample in float32 at least, so the bounds hold after the affine map even for half precision.
    z = jax.random.truncated_normal(key, lower, upper, _shape(shape), jnp.promote_types(d, jnp.float32))
    return jnp.clip(mean + std * z, a, b).astype(d)


def constant(shape: Shape, val: float, dtype: Any = None) -> jax.Array:
    """An array filled with ``val``."""
    return jnp.full(_shape(shape), val, float_dtype(dtype))


def zeros(shape: Shape, dtype: Any = None) -> jax.Array:
    """An array of zeros."""
    return jnp.zeros(_shape(shape), float_dtype(dtype))


def ones(shape: Shape, dtype: Any = None) -> jax.Array:
    """An array of ones."""
    return jnp.ones(_shape(shape), float_dtype(dtype))


def eye(shape: Shape, dtype: Any = None) -> jax.Array:
    """The identity matrix of a 2-D shape (``torch.nn.init.eye_``)."""
    shape = _shape(shape)
    if len(shape) != 2:
        raise ConfigError(f"eye: expected a 2-D shape, got {list(shape)}")
    return jnp.eye(shape[0], shape[1], dtype=float_dtype(dtype))


def xavier_uniform(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    if _empty(shape):  # PyTorch: initialising a zero-element tensor is a no-op
        return zeros(shape, dtype)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform(key, shape, -bound, bound, dtype)


def xavier_normal(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    if _empty(shape):
        return zeros(shape, dtype)
    return normal(key, shape, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), dtype)


def kaiming_uniform(
    key: jax.Array,
    shape: Shape,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype: Any = None,
) -> jax.Array:
    """U(-bound, bound) with ``bound = gain * sqrt(3 / fan_mode)`` (He et al., 2015).

    ``a`` is the negative slope of the leaky ReLU that follows (only with ``nonlinearity='leaky_relu'``).
    PyTorch's Linear/Conv default is ``a=sqrt(5)``, i.e. ``bound = 1 / sqrt(fan_in)``.
    """
    fan = _fan(shape, mode)
    if _empty(shape):
        return zeros(shape, dtype)
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform(key, shape, -bound, bound, dtype)


def kaiming_normal(
    key: jax.Array,
    shape: Shape,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    dtype: Any = None,
) -> jax.Array:
    """N(0, std²) with ``std = gain / sqrt(fan_mode)``."""
    fan = _fan(shape, mode)
    if _empty(shape):
        return zeros(shape, dtype)
    return normal(key, shape, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), dtype)


def orthogonal(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """A (semi-)orthogonal matrix, reshaped to ``shape`` (Saxe et al., 2013; PyTorch's algorithm).

    The shape is viewed as ``[shape[0], prod(shape[1:])]``; rows (or columns, whichever are fewer)
    are orthonormal, then scaled by ``gain``.
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ConfigError(f"orthogonal: expected a shape with at least 2 dimensions, got {list(shape)}")
    d = float_dtype(dtype)
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows * cols == 0:
        return jnp.zeros(shape, d)
    flat = jax.random.normal(key, (rows, cols), jnp.promote_types(d, jnp.float32))
    if rows < cols:
        flat = flat.T
    q, r = jnp.linalg.qr(flat)
    q = q * jnp.sign(jnp.diagonal(r))  # makes the distribution uniform (Mezzadri, 2007)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(d)


def reset_xavier_uniform(module: Any, key: Any = None, gain: float = 1.0) -> Any:
    """A copy of ``module`` with every parameter of more than one dimension re-drawn xavier-uniform.

    This is what ``nn.Transformer`` does at construction (PyTorch's ``Transformer._reset_parameters``),
    made reachable for encoder-only or decoder-only models built from ``nn.TransformerEncoder``/
    ``nn.TransformerDecoder`` (PyTorch's own ``TransformerEncoder`` keeps its layers' defaults).
    Each parameter gets its own key, in ``named_parameters()`` order; buffers are untouched.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, key=torsh.random.key(0))
      >>> encoder = nn.init.reset_xavier_uniform(nn.TransformerEncoder(layer, 2), torsh.random.key(1))
      >>> bound = (6 / (16 + 8)) ** 0.5
      >>> bool(abs(encoder.layers[1].linear1.weight).max() <= bound)
      True
    """
    params = {n: p for n, p in module.named_parameters() if p.ndim > 1}
    if not params:
        return module
    keys = jax.random.split(resolve_key(key), len(params))
    new = {
        n: xavier_uniform(k, p.shape, gain, dtype=p.dtype)
        for k, (n, p) in zip(keys, params.items(), strict=True)
    }
    return module.replace(**new)
