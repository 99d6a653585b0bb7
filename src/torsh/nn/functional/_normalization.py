"""Normalisation functions: batch_norm, instance_norm, layer_norm, rms_norm, group_norm.

Statistics of half-precision inputs are computed in float32 (PyTorch's "opmath" type) and the result is
cast back, so bfloat16/float16 forward passes stay close to float32.

Synchronised batch statistics (``axis_name``, PyTorch's ``SyncBatchNorm``): inside ``shard_map`` /
``pmap`` / ``vmap`` each device holds a shard of the batch; the global mean is ``psum(sum x) / N`` and
the global biased variance ``psum(sum (x - mean)²) / N`` (two passes, like the one-device statistics,
so the result is the full batch's to rounding; one-pass ``E[x²] - E[x]²`` loses digits when
``|mean| >> std``). ``N`` is the global count, static, so the unbiased correction ``N / (N - 1)`` of
the running variance uses it as PyTorch's ``batch_norm_gather_stats_with_counts`` does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ConfigError, DistributedError, ShapeError
from .._utils import check_float_input, opmath, shape_str

__all__ = [
    "batch_norm",
    "instance_norm",
    "layer_norm",
    "rms_norm",
    "group_norm",
    "normalize",
    "local_response_norm",
]


def _channel_shape(x: jax.Array) -> tuple[int, ...]:
    """Broadcast shape for a per-channel vector (channels on axis 1)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine(
    y: jax.Array, weight: jax.Array | None, bias: jax.Array | None, shape: tuple[int, ...]
) -> jax.Array:
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def batch_stats(x: jax.Array, axes: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """Mean and biased variance over ``axes`` (in float32 or wider)."""
    x32 = opmath(x)
    mean = jnp.mean(x32, axis=axes)
    var = jnp.mean(jnp.square(x32 - jnp.expand_dims(mean, axes)), axis=axes)
    return mean, var


def normalize_with(
    x: jax.Array,
    mean: jax.Array,
    var: jax.Array,
    weight: jax.Array | None,
    bias: jax.Array | None,
    eps: float,
    shape: tuple[int, ...],
) -> jax.Array:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with per-channel vectors reshaped to ``shape``."""
    x32 = opmath(x)
    invstd = jax.lax.rsqrt(var.astype(x32.dtype) + eps)
    y = (x32 - mean.astype(x32.dtype).reshape(shape)) * invstd.reshape(shape)
    return _affine(y, weight, bias, shape).astype(x.dtype)


def verify_batch_size(x: jax.Array, count: int | None = None) -> None:
    """ShapeError when a training batch has one value per channel (``count``: the global count)."""
    n = math.prod(x.shape[:1] + x.shape[2:]) if count is None else count
    if n == 1:
        raise ShapeError(
            f"expected more than 1 value per channel when training, got input of shape {shape_str(x.shape)}"
            + ("" if count is None else " (1 value per channel over all devices of the batch axis)")
        )


def check_axis_name(axis_name: Any, owner: str) -> Any:
    """``axis_name`` if it is None, a name (str) or a tuple of names; ConfigError otherwise."""
    ok = axis_name is None or isinstance(axis_name, str)
    ok = ok or (
        isinstance(axis_name, tuple) and bool(axis_name) and all(isinstance(a, str) for a in axis_name)
    )
    if not ok:
        raise ConfigError(
            f"{owner}: axis_name must be None, a mapped-axis name (str) or a tuple of names, "
            f"got {axis_name!r}"
        )
    return axis_name


def global_count(local: int, axis_name: Any, owner: str) -> int:
    """The number of values per channel over every device of ``axis_name`` (a static int)."""
    try:
        return int(jax.lax.psum(local, axis_name))  # a Python int: JAX multiplies by the axis size
    except NameError:  # JAX: "unbound axis name"
        raise DistributedError(
            f"{owner}: axis_name={axis_name!r} is not bound here; synchronised batch statistics need "
            f"the call to run inside torsh.distributed.shard_map (a mesh axis named {axis_name!r}), "
            f"torsh.pmap or torsh.vmap with axis_name={axis_name!r}; for the local batch's statistics "
            "use axis_name=None (nn.BatchNorm*d instead of nn.SyncBatchNorm)"
        ) from None


def sync_batch_stats(
    x: jax.Array, axes: tuple[int, ...], axis_name: Any, owner: str
) -> tuple[jax.Array, jax.Array, int]:
    """Mean, biased variance and count over ``axes`` of the batch spread over ``axis_name`` (two-pass)."""
    count = global_count(math.prod(x.shape[a] for a in axes), axis_name, owner)
    x32 = opmath(x)
    n = max(count, 1)  # an empty global batch: zeros / 1, as nothing is normalised anyway
    mean = jax.lax.psum(jnp.sum(x32, axis=axes), axis_name) / n
    centred = jnp.square(x32 - jnp.expand_dims(mean, axes))
    var = jax.lax.psum(jnp.sum(centred, axis=axes), axis_name) / n
    return mean, var, count


def batch_norm(
    input: jax.Array,
    running_mean: jax.Array | None,
    running_var: jax.Array | None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
    *,
    axis_name: Any = None,
) -> jax.Array:
    """Batch normalisation over axis 1 of ``(N, C, *)`` (``torch.nn.functional.batch_norm``).

    ``training=True`` normalises with the batch statistics; otherwise with ``running_mean`` and
    ``running_var``. Being pure, it returns only the output: the running statistics are updated by
    ``nn.BatchNorm*`` under :func:`torsh.nn.stateful` (``momentum`` is accepted for compatibility).

    ``axis_name`` (torsh's ``SyncBatchNorm``): when training inside ``shard_map`` / ``pmap`` / ``vmap``
    over a batch split along that mapped axis, the statistics are those of the whole global batch
    (every device gets the same, and gradients flow through the collectives).

    Args:
      input: ``(N, C, *)``.
      running_mean: Per-channel running mean (used when not training; may be None when training).
      running_var: Per-channel running variance.
      weight: Per-channel scale (None: 1).
      bias: Per-channel shift (None: 0).
      training: Normalise with the batch statistics instead of the running ones.
      momentum: Accepted for PyTorch compatibility (the module updates its running statistics).
      eps: Added to the variance.
      axis_name: Mapped axis (or tuple of axes) the batch is split over, for global statistics in
        training; None: the local batch's.

    Returns:
      The normalised array, of ``input``'s shape.

    Raises:
      ShapeError: If ``input`` is not ``(N, C, *)``, or a training batch has one value per channel.
      ConfigError: If ``eps < 0``, not training without running statistics, or a bad ``axis_name``.
      DistributedError: If training with an ``axis_name`` that no enclosing ``shard_map`` / ``pmap`` /
        ``vmap`` binds.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.batch_norm(jnp.array([[1.0], [3.0]]), None, None, training=True).round(3).ravel().tolist()
      [-1.0, 1.0]
      >>> # two "devices" with one sample each: the statistics are those of both samples
      >>> bn = lambda x: F.batch_norm(x, None, None, training=True, axis_name="d")
      >>> torsh.vmap(bn, axis_name="d")(jnp.array([[[1.0]], [[3.0]]])).round(3).ravel().tolist()
      [-1.0, 1.0]
    """
    check_float_input(input)
    if input.ndim < 2:
        raise ShapeError(f"batch_norm: expected input (N, C, *), got shape {shape_str(input.shape)}")
    if eps < 0:
        raise ConfigError(f"batch_norm: eps must be non-negative, got {eps}")
    check_axis_name(axis_name, "batch_norm")
    shape = _channel_shape(input)
    if training:
        axes = (0, *range(2, input.ndim))
        if axis_name is None:
            verify_batch_size(input)
            mean, var = batch_stats(input, axes)
        else:
            mean, var, count = sync_batch_stats(input, axes, axis_name, "batch_norm")
            verify_batch_size(input, count)
    else:
        if running_mean is None or running_var is None:
            raise ConfigError("batch_norm: running_mean and running_var are needed when training=False")
        mean, var = running_mean, running_var
    return normalize_with(input, mean, var, weight, bias, eps, shape)


def instance_norm(
    input: jax.Array,
    running_mean: jax.Array | None = None,
    running_var: jax.Array | None = None,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> jax.Array:
    """Per-sample, per-channel normalisation of ``(N, C, *)`` over the spatial axes.

    Args:
        input: ``(N, C, *)``.
        running_mean: Per-channel running mean (used with ``use_input_stats=False``).
        running_var: Per-channel running variance.
        weight: Per-channel scale (None: 1).
        bias: Per-channel shift (None: 0).
        use_input_stats: Normalise with each sample's own statistics.
        momentum: Accepted for PyTorch compatibility.
        eps: Added to the variance.

    Returns:
        The normalised array, of ``input``'s shape.

    Raises:
        ShapeError: If ``input`` is not ``(N, C, *)`` or a per-channel array has the wrong size.
        ConfigError: If ``use_input_stats=False`` without running statistics.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> y = F.instance_norm(jnp.arange(4.0).reshape(1, 1, 4))
        >>> [round(v, 4) for v in y[0, 0].tolist()]
        [-1.3416, -0.4472, 0.4472, 1.3416]
    """
    check_float_input(input)
    if input.ndim < 3:
        raise ShapeError(
            f"instance_norm: expected input (N, C, *spatial), got shape {shape_str(input.shape)}"
        )
    shape = _channel_shape(input)
    if use_input_stats:
        if math.prod(input.shape[2:]) == 1:
            raise ShapeError(
                "expected more than 1 spatial element when training, got input of shape "
                f"{shape_str(input.shape)}"
            )
        axes = tuple(range(2, input.ndim))
        mean, var = batch_stats(input, axes)
        x32 = opmath(input)
        stat_shape = input.shape[:2] + (1,) * (input.ndim - 2)
        y = (x32 - mean.reshape(stat_shape)) * jax.lax.rsqrt(var.reshape(stat_shape) + eps)
        return _affine(y, weight, bias, shape).astype(input.dtype)
    if running_mean is None or running_var is None:
        raise ConfigError("instance_norm: running statistics are needed when use_input_stats=False")
    return normalize_with(input, running_mean, running_var, weight, bias, eps, shape)


def _check_normalized_shape(x: jax.Array, normalized_shape: Sequence[int], name: str) -> tuple[int, ...]:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(ns)
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != ns:
        raise ShapeError(
            f"expected input of shape [*, {', '.join(map(str, ns))}] (normalized_shape={list(ns)}), "
            f"got {shape_str(x.shape)}"
        )
    return ns


def layer_norm(
    input: jax.Array,
    normalized_shape: Sequence[int],
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    eps: float = 1e-5,
) -> jax.Array:
    """Normalise over the trailing ``normalized_shape`` axes (biased variance), then scale and shift.

    Args:
        input: The input; its trailing dimensions equal ``normalized_shape``.
        normalized_shape: The trailing shape to normalise over.
        weight: Elementwise scale of ``normalized_shape`` (None: 1).
        bias: Elementwise shift (None: 0).
        eps: Added to the variance.

    Returns:
        The normalised array, of ``input``'s shape.

    Raises:
        ShapeError: If ``input``'s trailing dimensions are not ``normalized_shape``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> [round(v, 4) for v in F.layer_norm(jnp.array([[1.0, 2.0, 3.0]]), (3,))[0].tolist()]
        [-1.2247, 0.0, 1.2247]
    """
    check_float_input(input)
    ns = _check_normalized_shape(input, normalized_shape, "layer_norm")
    axes = tuple(range(input.ndim - len(ns), input.ndim))
    x32 = opmath(input)
    mean = jnp.mean(x32, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(x32 - mean), axis=axes, keepdims=True)
    y = (x32 - mean) * jax.lax.rsqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y.astype(input.dtype)


def rms_norm(
    input: jax.Array,
    normalized_shape: Sequence[int],
    weight: jax.Array | None = None,
    eps: float | None = None,
) -> jax.Array:
    """RMS normalisation over the trailing ``normalized_shape`` axes (``F.rms_norm``).

    ``x / sqrt(mean(x²) + eps) * weight``; ``eps=None`` uses the machine epsilon of the computation
    type (float32 for half inputs), as PyTorch.

    Args:
        input: The input; its trailing dimensions equal ``normalized_shape``.
        normalized_shape: The trailing shape to normalise over.
        weight: Elementwise scale (None: 1).
        eps: Added to the mean square; None: the machine epsilon of the computation type.

    Returns:
        The normalised array, of ``input``'s shape.

    Raises:
        ShapeError: If ``input``'s trailing dimensions are not ``normalized_shape``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> [round(v, 4) for v in F.rms_norm(jnp.array([[3.0, 4.0]]), (2,))[0].tolist()]
        [0.8485, 1.1314]
    """
    check_float_input(input)
    ns = _check_normalized_shape(input, normalized_shape, "rms_norm")
    axes = tuple(range(input.ndim - len(ns), input.ndim))
    x32 = opmath(input)
    if eps is None:
        eps = float(jnp.finfo(x32.dtype).eps)
    y = (x32 * jax.lax.rsqrt(jnp.mean(jnp.square(x32), axis=axes, keepdims=True) + eps)).astype(input.dtype)
    return y if weight is None else y * weight


def group_norm(
    input: jax.Array,
    num_groups: int,
    weight: jax.Array | None = None,
    bias: jax.Array | None = None,
    eps: float = 1e-5,
) -> jax.Array:
    """Normalise ``(N, C, *)`` over groups of ``C // num_groups`` channels and the spatial axes.

    Args:
        input: ``(N, C, *)``.
        num_groups: The number of channel groups (divides ``C``).
        weight: Per-channel scale (None: 1).
        bias: Per-channel shift (None: 0).
        eps: Added to the variance.

    Returns:
        The normalised array, of ``input``'s shape.

    Raises:
        ShapeError: If ``C`` is not divisible by ``num_groups`` or ``input`` is not ``(N, C, *)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> y = F.group_norm(jnp.arange(4.0).reshape(1, 4, 1), num_groups=2)
        >>> [round(v, 3) for v in y[0, :, 0].tolist()]
        [-1.0, 1.0, -1.0, 1.0]
    """
    check_float_input(input)
    if input.ndim < 2:
        raise ShapeError(f"group_norm: expected input (N, C, *), got shape {shape_str(input.shape)}")
    n, c = input.shape[:2]
    if c % num_groups:
        raise ShapeError(f"group_norm: {c} channels are not divisible into {num_groups} groups")
    x32 = opmath(input)
    grouped = x32.reshape(n, num_groups, -1)
    mean = jnp.mean(grouped, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(grouped - mean), axis=-1, keepdims=True)
    y = ((grouped - mean) * jax.lax.rsqrt(var + eps)).reshape(input.shape)
    return _affine(y, weight, bias, _channel_shape(input)).astype(input.dtype)


def normalize(
    input: jax.Array,
    p: float = 2.0,
    dim: int = 1,
    eps: float = 1e-12,
) -> jax.Array:
    """``x / max(||x||_p, eps)`` along ``dim`` (``torch.nn.functional.normalize``).

    Args:
        input: The input.
        p: The norm's exponent.
        dim: The dimension to normalise along.
        eps: Lower bound of the norm (avoids division by zero).

    Returns:
        ``input`` scaled to unit ``p``-norm along ``dim``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> [round(v, 4) for v in F.normalize(jnp.array([[3.0, 4.0]]))[0].tolist()]
        [0.6, 0.8]
    """
    check_float_input(input)
    norm = (
        jnp.sum(jnp.abs(input) ** p, axis=dim, keepdims=True) ** (1.0 / p)
        if p != 2
        else jnp.sqrt(jnp.sum(jnp.square(input), axis=dim, keepdims=True))
    )
    return input / jnp.maximum(norm, eps)


def local_response_norm(
    input: jax.Array, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> jax.Array:
    """Local response normalisation across channels (AlexNet): ``x / (k + alpha * mean_window(x²)) ** beta``.

    The window covers ``size`` neighbouring channels (``size // 2`` before, ``(size - 1) // 2`` after,
    zero outside), and its mean divides by ``size`` always, as PyTorch.

    Args:
      input: ``(N, C, *)`` with at least 3 dimensions.
      size: number of channels in the window.
      alpha: multiplicative factor.
      beta: exponent.
      k: additive factor.

    Returns:
      An array of the input's shape.

    Raises:
      ConfigError: ``size < 1``.
      ShapeError: fewer than 3 dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> y = F.local_response_norm(jnp.ones((1, 3, 1)), size=3, alpha=3.0, beta=1.0, k=0.0)
      >>> [round(v, 4) for v in y[0, :, 0].tolist()]
      [0.5, 0.3333, 0.5]
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"local_response_norm: size must be a positive int, got {size!r}")
    check_float_input(input)
    if input.ndim < 3:
        raise ShapeError(
            f"local_response_norm: expected 3D or higher dimensionality input, got {shape_str(input.shape)}"
        )
    if input.size == 0:
        return input
    sq = jnp.square(opmath(input))
    pad = [(0, 0)] * input.ndim
    pad[1] = (size // 2, (size - 1) // 2)
    padded = jnp.pad(sq, pad)
    c = input.shape[1]
    window = sum(jax.lax.slice_in_dim(padded, i, i + c, axis=1) for i in range(size)) / size
    return (input / (k + alpha * window) ** beta).astype(input.dtype)


def _cross_map_scale(x32: jax.Array, size: int, alpha: float, k: float) -> jax.Array:
    """``k + alpha / size * S`` with PyTorch's ``CrossMapLRN2d`` window sums ``S`` over channels.

    PyTorch's running sum adds channel ``c + P - 1`` and removes channel ``c - P`` only for ``c > P``
    (``P = (size - 1) // 2 + 1``), so channel 0 is never removed: channel ``c`` sums the squares of
    channels ``[c - P + 1, c + P - 1]`` (clipped to the input) plus channel 0 once ``c >= P``.
    """
    c = x32.shape[1]
    p = int((size - 1) / 2 + 1)
    sq = jnp.square(x32)
    padded = jnp.pad(sq, [(0, 0), (p - 1, p - 1), (0, 0), (0, 0)])
    window = sum(jax.lax.slice_in_dim(padded, i, i + c, axis=1) for i in range(2 * p - 1))
    stale_first = (jnp.arange(c) >= p).astype(x32.dtype).reshape(1, c, 1, 1) * sq[:, :1]
    return k + alpha / size * (window + stale_first)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _cross_map_lrn2d_torch_grad(x32: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    return x32 * _cross_map_scale(x32, size, alpha, k) ** -beta


def _cross_map_fwd(
    x32: jax.Array, size: int, alpha: float, beta: float, k: float
) -> tuple[jax.Array, tuple[jax.Array, jax.Array, jax.Array]]:
    scale = _cross_map_scale(x32, size, alpha, k)
    out = x32 * scale**-beta
    return out, (x32, out, scale)


def _cross_map_bwd(
    size: int, alpha: float, beta: float, k: float, res: tuple[jax.Array, jax.Array, jax.Array], g: jax.Array
) -> tuple[jax.Array]:
    # PyTorch's hand-written backward (torch/nn/modules/_functions.py), vectorised: the ratios
    # g * out / scale sit at offset ``size - (size - 1) / 2`` of a zero buffer of C + size - 1
    # channels, and channel c accumulates ``size`` consecutive entries from position c.
    x32, out, scale = res
    c = x32.shape[1]
    offset = int(size - (size - 1) / 2)
    ratio = g * out / scale
    padded = jnp.pad(ratio, [(0, 0), (offset, size - 1 - offset), (0, 0), (0, 0)])
    accum = sum(jax.lax.slice_in_dim(padded, i, i + c, axis=1) for i in range(size))
    return (scale**-beta * g - (2 * alpha * beta / size) * x32 * accum,)


_cross_map_lrn2d_torch_grad.defvjp(_cross_map_fwd, _cross_map_bwd)


def cross_map_lrn2d(input: jax.Array, size: int, alpha: float, beta: float, k: float) -> jax.Array:
    """``input * (k + alpha / size * S) ** -beta`` with PyTorch's ``CrossMapLRN2d`` window and gradient.

    The gradient is PyTorch's hand-written backward (ported models train as in PyTorch); for
    ``size == 1``, where PyTorch's backward fails, it is the exact derivative.
    """
    check_float_input(input)
    if input.ndim != 4:
        raise ShapeError(
            f"CrossMapLRN2d: expected 4D input (N, C, H, W), got {input.ndim}D input of shape "
            f"{shape_str(input.shape)}"
        )
    if input.size == 0:
        return input
    x32 = opmath(input)
    if size == 1:
        y = x32 * _cross_map_scale(x32, size, alpha, k) ** -beta
    else:
        y = _cross_map_lrn2d_torch_grad(x32, size, alpha, beta, k)
    return y.astype(input.dtype)
