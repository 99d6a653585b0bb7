"""Negative log-likelihood losses: Gaussian (with a predicted variance), Poisson, and CTC over alignments."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ...debug import require
from ...errors import ConfigError, DTypeError, ShapeError
from .._errors import ValueRangeError
from .._utils import check_float_input, shape_str
from .._utils import check_reduction as _check_reduction
from ._loss import _reduce, _same_shape

__all__ = ["gaussian_nll_loss", "poisson_nll_loss", "ctc_loss"]


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
    """Poisson negative log-likelihood (``torch.nn.functional.poisson_nll_loss``).

    ``exp(input) - target * input`` (``log_input``) or ``input - target * log(input + eps)``, plus
    Stirling's approximation of ``log(target!)`` with ``full``.

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


_NEG = -1e30  # "log 0" that keeps logsumexp's gradient finite in unreachable CTC states
_IMPOSSIBLE = 1e29  # a CTC loss above this had no valid alignment: reported as inf, as PyTorch does


def _ctc_padded_targets(targets: jax.Array, target_lengths: jax.Array, n: int) -> jax.Array:
    """``(N, S)`` targets from PyTorch's padded ``(N, S)`` or concatenated ``(sum(target_lengths),)`` form."""
    if targets.ndim == 2:
        return targets
    # concatenated: sample n's labels start at the sum of the earlier lengths; S = the total (static)
    total = targets.shape[0]
    starts = jnp.cumsum(target_lengths) - target_lengths
    idx = starts[:, None] + jnp.arange(max(total, 1))[None, :]
    return jnp.take(targets, jnp.clip(idx, 0, max(total - 1, 0)), axis=0) if total else jnp.zeros((n, 1), int)


def _check_ctc_args(
    log_probs: jax.Array, targets: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array, blank: int
) -> None:
    name = "ctc_loss"
    check_float_input(log_probs, what="log_probs")
    if log_probs.ndim not in (2, 3):
        raise ShapeError(f"{name}: expected log_probs (T, N, C) or (T, C), got {shape_str(log_probs.shape)}")
    t_max, c = log_probs.shape[0], log_probs.shape[-1]
    n = log_probs.shape[1] if log_probs.ndim == 3 else 1
    if not 0 <= blank < c:
        raise ConfigError(f"{name}: blank must be in [0, {c}) (the number of classes), got {blank}")
    if input_lengths.shape != (n,) or target_lengths.shape != (n,):
        raise ShapeError(
            f"{name}: expected input_lengths and target_lengths of shape ({n},) (one per sample), got "
            f"{shape_str(input_lengths.shape)} and {shape_str(target_lengths.shape)}"
        )
    if targets.ndim not in (1, 2) or (targets.ndim == 2 and targets.shape[0] != n):
        raise ShapeError(
            f"{name}: expected targets ({n}, S) padded or (sum(target_lengths),) concatenated, got "
            f"{shape_str(targets.shape)}"
        )
    if not jnp.issubdtype(targets.dtype, jnp.integer):
        raise DTypeError(f"{name}: expected integer targets (class indices), got {targets.dtype}")
    s_max = targets.shape[1] if targets.ndim == 2 else targets.shape[0]
    require(
        lambda: (input_lengths >= 0) & (input_lengths <= t_max),
        ValueRangeError,
        f"{name}: input_lengths must be in [0, {t_max}] (the time steps of log_probs), got {{}}",
        lambda: (input_lengths,),
        on=input_lengths,
    )
    require(
        lambda: (target_lengths >= 0) & (target_lengths <= s_max),
        ValueRangeError,
        f"{name}: target_lengths must be in [0, {s_max}] (the targets' length), got {{}}",
        lambda: (target_lengths,),
        on=target_lengths,
    )
    if targets.ndim == 1:
        require(
            lambda: jnp.sum(target_lengths) <= s_max,
            ValueRangeError,
            f"{name}: concatenated targets hold {s_max} labels, but target_lengths sum to {{}}",
            lambda: (jnp.sum(target_lengths),),
            on=target_lengths,
        )


def ctc_loss(
    log_probs: jax.Array,
    targets: jax.Array,
    input_lengths: jax.Array,
    target_lengths: jax.Array,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> jax.Array:
    """Connectionist Temporal Classification loss (Graves et al., 2006), ``torch.nn.functional.ctc_loss``.

    The negative log-likelihood of each target sequence summed over all its alignments with the
    input frames (blanks and repeats collapsed), computed by the forward (alpha) recursion in log
    space with ``lax.scan`` over time.

    ``log_probs`` should be ``log_softmax`` outputs. PyTorch's own backward returns the gradient of
    the loss with respect to the *logits* behind that ``log_softmax`` written into the ``log_probs``
    slot; torsh returns the true gradient with respect to ``log_probs``. Through ``log_softmax`` (the
    way the loss is used) the two give the same gradient for the logits and the same training.

    Args:
      log_probs: ``(T, N, C)`` (or ``(T, C)`` unbatched) log-probabilities over C classes incl. blank.
      targets: ``(N, S)`` padded label sequences, or ``(sum(target_lengths),)`` concatenated ones;
        labels must not be ``blank``.
      input_lengths: ``(N,)`` number of valid frames per sample (<= T).
      target_lengths: ``(N,)`` number of labels per sample (<= S).
      blank: the blank class.
      reduction: ``'none'`` (per sample), ``'mean'`` (each loss divided by its target length, then
        averaged over the batch, as PyTorch) or ``'sum'``.
      zero_infinity: replace infinite losses (no valid alignment: input too short) and their
        gradients by zero.

    Returns:
      The loss (``(N,)`` for ``reduction='none'``, else a scalar).

    Raises:
      ConfigError: an unknown ``reduction`` or ``blank`` outside ``[0, C)``.
      ShapeError: arrays of the wrong shapes.
      DTypeError: non-integer targets or non-floating log_probs.
      ValueRangeError: lengths outside their range (eagerly; under ``jit`` inside ``torsh.debug.checks``).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> log_probs = jax.nn.log_softmax(jnp.zeros((4, 1, 3)), axis=-1)  # uniform over {blank, a, b}
      >>> loss = F.ctc_loss(log_probs, jnp.array([[1, 2]]), jnp.array([4]), jnp.array([2]), reduction="sum")
      >>> round(float(loss), 4)  # -log(15 / 3**4): 15 of the 81 frame labellings collapse to "ab"
      1.6864
    """
    _check_reduction("ctc_loss", reduction)
    log_probs, targets = jnp.asarray(log_probs), jnp.asarray(targets)
    input_lengths, target_lengths = jnp.asarray(input_lengths), jnp.asarray(target_lengths)
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs = log_probs[:, None]
        targets = targets[None] if targets.ndim == 1 else targets
        input_lengths, target_lengths = jnp.reshape(input_lengths, (1,)), jnp.reshape(target_lengths, (1,))
    _check_ctc_args(log_probs, targets, input_lengths, target_lengths, blank)
    t_max, n, _ = log_probs.shape
    lp = log_probs.astype(jnp.promote_types(log_probs.dtype, jnp.float32))
    labels = _ctc_padded_targets(targets, target_lengths, n).astype(jnp.int32)  # (N, S)
    s = labels.shape[1]
    # extended sequence: blank, l1, blank, l2, ..., blank (length 2S + 1)
    ext = jnp.full((n, 2 * s + 1), blank, jnp.int32).at[:, 1::2].set(labels)
    prev2 = jnp.concatenate([jnp.full((n, 2), blank, jnp.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != blank) & (ext != prev2)  # a label may follow the previous label directly
    emit = jnp.take_along_axis(lp, jnp.broadcast_to(ext[None], (t_max, *ext.shape)), axis=2)  # (T, N, 2S+1)
    neg = jnp.asarray(_NEG, lp.dtype)
    pos = jnp.arange(2 * s + 1)[None, :]
    alpha0 = jnp.where(pos < 2, emit[0], neg)
    alpha0 = jnp.where((pos == 1) & (target_lengths[:, None] == 0), neg, alpha0)

    def shift(a: jax.Array, k: int) -> jax.Array:
        return jnp.concatenate([jnp.full((n, k), neg, a.dtype), a[:, :-k]], axis=1)

    def step(alpha: jax.Array, inputs: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, None]:
        e_t, t = inputs
        skip = jnp.where(can_skip, shift(alpha, 2), neg)
        new = jax.nn.logsumexp(jnp.stack([alpha, shift(alpha, 1), skip]), axis=0) + e_t
        return jnp.where((t < input_lengths)[:, None], new, alpha), None

    alpha, _ = jax.lax.scan(step, alpha0, (emit[1:], jnp.arange(1, t_max)))
    last = 2 * target_lengths
    end_blank = jnp.take_along_axis(alpha, last[:, None], axis=1)[:, 0]
    end_label = jnp.take_along_axis(alpha, jnp.maximum(last - 1, 0)[:, None], axis=1)[:, 0]
    end_label = jnp.where(target_lengths > 0, end_label, neg)
    nll = -jnp.logaddexp(end_blank, end_label)
    nll = jnp.where(input_lengths == 0, jnp.where(target_lengths == 0, 0.0, -neg), nll)
    impossible = nll > _IMPOSSIBLE
    if zero_infinity:
        nll = jnp.where(impossible, jnp.zeros_like(nll), nll)
    else:
        nll = jnp.where(impossible, jnp.inf, nll)
    nll = nll.astype(log_probs.dtype)
    if reduction == "mean":
        return jnp.mean(nll / jnp.maximum(target_lengths, 1).astype(nll.dtype))
    if reduction == "sum":
        return jnp.sum(nll)
    return nll[0] if unbatched else nll
