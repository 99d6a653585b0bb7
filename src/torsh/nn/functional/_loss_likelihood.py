"""Negative log-likelihood losses of distributions: Gaussian (with a predicted variance) and Poisson."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ...debug import require
from ...errors import ShapeError
from .._errors import ValueRangeError
from .._utils import check_float_input, shape_str
from .._utils import check_reduction as _check_reduction
from ._loss import _reduce, _same_shape

__all__ = ["gaussian_nll_loss", "poisson_nll_loss"]


def _var_like_input(input: jax.Array, var: jax.Array) -> jax.Array:
    """PyTorch's accepted ``var`` shapes: the input's, one dimension short, or one broadcast dimension."""
    in_shape, v_shape = tuple(jnp.shape(input)), tuple(jnp.shape(var))
    if v_shape == in_shape:
        return var
    if in_shape[:-1] == v_shape:
        return var[..., None]  # homoscedastic over the last dimension
    if (
        len(in_shape) == len(v_shape)
        and sum(v for i, v in zip(in_shape, v_shape, strict=True) if i != v) == 1
    ):
        return var  # one dimension of size 1, broadcast
    raise ShapeError(
        f"gaussian_nll_loss: var of shape {shape_str(v_shape)} does not fit input {shape_str(in_shape)}: "
        "expected the input's shape, the input's shape without its last dimension, or the input's shape "
        "with one dimension of size 1"
    )


def gaussian_nll_loss(
    input: jax.Array,
    target: jax.Array,
    var: jax.Array | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> jax.Array:
    """``0.5 * (log(var) + (input - target)**2 / var)`` (+ ``0.5 log 2π`` with ``full``).

    As in PyTorch, ``var`` is clamped below at ``eps`` for stability and the clamp does not enter the
    gradient (the gradient with respect to ``var`` is that of the unclamped expression at the clamped value).

    Args:
      input: predicted means.
      target: observations, the input's shape.
      var: predicted variances (>= 0): the input's shape, one dimension short of it (one variance per
        row), or with one dimension of size 1; or a float.
      full: add the constant ``0.5 * log(2π)``.
      eps: the clamp of ``var``.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: ``target`` or ``var`` of a shape that does not fit the input.
      ValueRangeError: a negative variance (eagerly; under ``jit`` inside ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> mean, target, var = jnp.array([1.0, 2.0]), jnp.array([1.5, 2.0]), jnp.array([0.5, 1.0])
      >>> round(float(F.gaussian_nll_loss(mean, target, var)), 4)
      -0.0483
    """
    _check_reduction("gaussian_nll_loss", reduction)
    check_float_input(input)
    _same_shape("gaussian_nll_loss", input, target)
    if isinstance(var, (int, float)):
        var = jnp.full_like(input, var)
    var = _var_like_input(input, jnp.asarray(var))
    require(
        lambda: var >= 0,
        ValueRangeError,
        "gaussian_nll_loss: var has a negative entry ({}); variances must be >= 0",
        lambda: (jnp.min(var),),
        on=var,
    )
    clamped = var + jax.lax.stop_gradient(jnp.maximum(var, eps) - var)  # torch clamps under no_grad
    loss = 0.5 * (jnp.log(clamped) + jnp.square(input - target) / clamped)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def poisson_nll_loss(
    input: jax.Array,
    target: jax.Array,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> jax.Array:
    """Poisson negative log-likelihood: ``exp(input) - target * input`` (``log_input``) or
    ``input - target * log(input + eps)``, plus Stirling's approximation of ``log(target!)`` with ``full``.

    Args:
      input: predicted log-rates (``log_input=True``) or rates.
      target: observed counts, the input's shape.
      log_input: whether ``input`` is the log of the rate.
      full: add Stirling's term ``t log t - t + 0.5 log(2πt)`` where ``target > 1``.
      eps: keeps ``log`` finite when ``log_input=False``.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: ``target`` does not have the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> round(float(F.poisson_nll_loss(jnp.array([0.0, 1.0]), jnp.array([1.0, 3.0]))), 4)
      0.3591
    """
    _check_reduction("poisson_nll_loss", reduction)
    check_float_input(input)
    _same_shape("poisson_nll_loss", input, target)
    if log_input:
        loss = jnp.exp(input) - target * input
    else:
        loss = input - target * jnp.log(input + eps)
    if full:
        big = target > 1
        t = jnp.where(big, target, jnp.ones_like(target))  # keeps log finite (and its gradient) elsewhere
        stirling = t * jnp.log(t) - t + 0.5 * jnp.log(2 * math.pi * t)
        loss = loss + jnp.where(big, stirling, jnp.zeros_like(stirling))
    return _reduce(loss, reduction)
