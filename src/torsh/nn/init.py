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
import numpy as np

from ..errors import ConfigError
from . import _host_random
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

    Args:
        nonlinearity: ``"linear"``, a conv name, ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"leaky_relu"`` or
            ``"selu"``.
        param: The negative slope for ``"leaky_relu"`` (default 0.01).

    Returns:
        The gain.

    Raises:
        ConfigError: For an unsupported nonlinearity or a non-numeric ``param``.

    Example:
        >>> from torsh.nn import init
        >>> round(init.calculate_gain("relu"), 6), round(init.calculate_gain("leaky_relu", 0.2), 6)
        (1.414214, 1.38675)
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

    Args:
        shape: A weight shape with at least 2 dimensions.

    Returns:
        ``(in * prod(kernel), out * prod(kernel))``.

    Raises:
        ConfigError: If ``shape`` has fewer than 2 dimensions.

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
    """Samples from U(a, b) (``torch.nn.init.uniform_``, returning a new array).

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        a: The lower bound.
        b: The upper bound.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.uniform(torsh.random.key(0), (2, 3), a=-0.1, b=0.1)
        >>> w.shape, bool((abs(w) <= 0.1).all())
        ((2, 3), True)
    """
    shape, d = _shape(shape), float_dtype(dtype)
    u = _host_random.draw("uniform", key, shape, d)
    xp = _host_random.array_module(u)
    return _host_random.finish(xp.maximum(a, u * (b - a) + a), d)


def normal(key: jax.Array, shape: Shape, mean: float = 0.0, std: float = 1.0, dtype: Any = None) -> jax.Array:
    """Samples from N(mean, std²) (``torch.nn.init.normal_``, returning a new array).

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        mean: The mean.
        std: The standard deviation.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.normal(torsh.random.key(0), (256, 256), std=0.02)
        >>> round(float(w.std()), 2)
        0.02
    """
    shape, d = _shape(shape), float_dtype(dtype)
    z = _host_random.draw("normal", key, shape, d)
    return _host_random.finish(mean + std * z, d)


def trunc_normal(
    key: jax.Array,
    shape: Shape,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    dtype: Any = None,
) -> jax.Array:
    """N(mean, std²) truncated to ``[a, b]`` (absolute bounds, as ``torch.nn.init.trunc_normal_``).

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        mean: The mean of the untruncated normal.
        std: Its standard deviation (``> 0``).
        a: The lower bound (absolute, not in standard deviations).
        b: The upper bound.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape`` with values in ``[a, b]``.

    Raises:
        ConfigError: If ``std <= 0``, ``a >= b`` or ``dtype`` is not floating.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.trunc_normal(torsh.random.key(0), (64, 64), std=0.02, a=-0.04, b=0.04)  # ViT-style
        >>> bool((abs(w) <= 0.04).all())
        True
    """
    if std <= 0:
        raise ConfigError(f"trunc_normal: std must be positive, got {std}")
    if a >= b:
        raise ConfigError(f"trunc_normal: expected a < b, got a={a}, b={b}")
    d = float_dtype(dtype)
    lower, upper = (a - mean) / std, (b - mean) / std
    # Sample in float32 at least, so the bounds hold after the affine map even for half precision.
    z = _host_random.draw("truncated", key, _shape(shape), d, lower, upper)
    xp = _host_random.array_module(z)
    return _host_random.finish(xp.clip(mean + std * z, a, b), d)


def constant(shape: Shape, val: float, dtype: Any = None) -> jax.Array:
    """An array filled with ``val`` (``torch.nn.init.constant_``).

    Args:
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        val: The fill value.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype.

    Example:
        >>> from torsh.nn import init
        >>> init.constant((2,), 0.5)
        Array([0.5, 0.5], dtype=float32)
    """
    d = float_dtype(dtype)
    return _host_random.to_device(np.full(_shape(shape), val, np.dtype(jnp.promote_types(d, jnp.float32))), d)


def zeros(shape: Shape, dtype: Any = None) -> jax.Array:
    """An array of zeros (``torch.nn.init.zeros_``).

    Args:
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype.

    Example:
        >>> from torsh.nn import init
        >>> init.zeros(3)
        Array([0., 0., 0.], dtype=float32)
    """
    d = float_dtype(dtype)
    return _host_random.to_device(np.zeros(_shape(shape), np.dtype(d)), d)


def ones(shape: Shape, dtype: Any = None) -> jax.Array:
    """An array of ones (``torch.nn.init.ones_``).

    Args:
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype.

    Example:
        >>> from torsh.nn import init
        >>> init.ones((1, 2))
        Array([[1., 1.]], dtype=float32)
    """
    d = float_dtype(dtype)
    return _host_random.to_device(np.ones(_shape(shape), np.dtype(d)), d)


def eye(shape: Shape, dtype: Any = None) -> jax.Array:
    """The identity matrix of a 2-D shape (``torch.nn.init.eye_``).

    Args:
        shape: A 2-D shape ``(rows, cols)``.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array with ones on the diagonal.

    Raises:
        ConfigError: If ``shape`` is not 2-D or ``dtype`` is not floating.

    Example:
        >>> from torsh.nn import init
        >>> init.eye((2, 3))
        Array([[1., 0., 0.],
               [0., 1., 0.]], dtype=float32)
    """
    shape = _shape(shape)
    if len(shape) != 2:
        raise ConfigError(f"eye: expected a 2-D shape, got {list(shape)}")
    return jnp.eye(shape[0], shape[1], dtype=float_dtype(dtype))


def xavier_uniform(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010).

    ``torch.nn.init.xavier_uniform_``, returning a new array.

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        gain: The scaling factor (see :func:`calculate_gain`).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``shape`` has fewer than 2 dimensions or ``dtype`` is not floating.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.xavier_uniform(torsh.random.key(0), (16, 8))
        >>> bool(abs(w).max() <= (6 / (16 + 8)) ** 0.5)
        True
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    if _empty(shape):  # PyTorch: initialising a zero-element tensor is a no-op
        return zeros(shape, dtype)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform(key, shape, -bound, bound, dtype)


def xavier_normal(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))`` (``torch.nn.init.xavier_normal_``).

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        gain: The scaling factor (see :func:`calculate_gain`).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``shape`` has fewer than 2 dimensions or ``dtype`` is not floating.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.xavier_normal(torsh.random.key(0), (256, 256))
        >>> round(float(w.std()) / (2 / 512) ** 0.5, 1)
        1.0
    """
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

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        a: The negative slope of the following leaky ReLU.
        mode: ``"fan_in"`` (preserves the forward variance) or ``"fan_out"`` (the backward one).
        nonlinearity: The nonlinearity that follows (see :func:`calculate_gain`).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: For a bad ``mode`` or ``nonlinearity``, a shape with fewer than 2 dimensions, or
            a non-floating ``dtype``.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.kaiming_uniform(torsh.random.key(0), (64, 32), a=5 ** 0.5)  # nn.Linear(32, 64)'s
        >>> bool(abs(w).max() <= 1 / 32 ** 0.5)
        True
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
    """N(0, std²) with ``std = gain / sqrt(fan_mode)`` (``torch.nn.init.kaiming_normal_``).

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: The weight shape (PyTorch's layout: ``[out, in, *kernel]``).
        a: The negative slope of the following leaky ReLU.
        mode: ``"fan_in"`` or ``"fan_out"`` (torchvision's ResNets use ``"fan_out"``).
        nonlinearity: The nonlinearity that follows (see :func:`calculate_gain`).
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: For a bad ``mode`` or ``nonlinearity``, a shape with fewer than 2 dimensions, or
            a non-floating ``dtype``.

    Example:
        >>> import torsh
        >>> from torsh.nn import init
        >>> w = init.kaiming_normal(torsh.random.key(0), (64, 16, 3, 3), mode="fan_out", nonlinearity="relu")
        >>> round(float(w.std()) / (2 / (64 * 9)) ** 0.5, 1)
        1.0
    """
    fan = _fan(shape, mode)
    if _empty(shape):
        return zeros(shape, dtype)
    return normal(key, shape, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), dtype)


def orthogonal(key: jax.Array, shape: Shape, gain: float = 1.0, dtype: Any = None) -> jax.Array:
    """A (semi-)orthogonal matrix, reshaped to ``shape`` (Saxe et al., 2013; PyTorch's algorithm).

    The shape is viewed as ``[shape[0], prod(shape[1:])]``; rows (or columns, whichever are fewer)
    are orthonormal, then scaled by ``gain``.

    Args:
        key: A PRNG key (``torsh.random.key(0)``, ``torsh.random.next_key()``).
        shape: A shape with at least 2 dimensions.
        gain: The scaling factor.
        dtype: A floating dtype; the default dtype if None.

    Returns:
        An array of ``shape``.

    Raises:
        ConfigError: If ``shape`` has fewer than 2 dimensions or ``dtype`` is not floating.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh.nn import init
        >>> w = init.orthogonal(torsh.random.key(0), (3, 5))
        >>> bool(jnp.allclose(w @ w.T, jnp.eye(3), atol=1e-5))
        True
    """
    shape = _shape(shape)
    if len(shape) < 2:
        raise ConfigError(f"orthogonal: expected a shape with at least 2 dimensions, got {list(shape)}")
    d = float_dtype(dtype)
    rows = shape[0]
    cols = math.prod(shape[1:])
    if rows * cols == 0:
        return jnp.zeros(shape, d)
    flat = _host_random.draw("normal", key, (rows, cols), d)
    xp = _host_random.array_module(flat)
    q, r = xp.linalg.qr(flat.T if rows < cols else flat)
    q = q * xp.sign(xp.diagonal(r))  # makes the distribution uniform (Mezzadri, 2007)
    return _host_random.finish((gain * (q.T if rows < cols else q)).reshape(shape), d)


def reset_xavier_uniform(module: Any, key: Any = None, gain: float = 1.0) -> Any:
    """A copy of ``module`` with every parameter of more than one dimension re-drawn xavier-uniform.

    This is what ``nn.Transformer`` does at construction (PyTorch's ``Transformer._reset_parameters``),
    made reachable for encoder-only or decoder-only models built from ``nn.TransformerEncoder``/
    ``nn.TransformerDecoder`` (PyTorch's own ``TransformerEncoder`` keeps its layers' defaults).
    Each parameter gets its own key, in ``named_parameters()`` order; buffers are untouched.

    Args:
        module: Any torsh module.
        key: A PRNG key (or an int seed); the construction-time stream (:func:`torsh.random.next_key`)
            if None.
        gain: The scaling factor.

    Returns:
        The re-initialised copy (``module`` itself when it has no parameter of rank 2 or more).

    Raises:
        ConfigError: If ``key`` is not None, an int or a PRNG key.
        TraceError: If ``key`` is None inside a traced function.

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
