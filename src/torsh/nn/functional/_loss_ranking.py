"""Margin, ranking and embedding losses with PyTorch's formulas, options and error cases.

``margin_ranking_loss``, ``hinge_embedding_loss``, ``soft_margin_loss``, ``cosine_embedding_loss``,
``multi_margin_loss``, ``multilabel_margin_loss``, ``multilabel_soft_margin_loss``,
``triplet_margin_loss`` and ``triplet_margin_with_distance_loss``. Hinges are written with ``where``
so that the gradient at the hinge is PyTorch's (it passes where ``clamp_min`` keeps its argument).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from .._checks import check_indices
from .._utils import check_float_input, shape_str
from .._utils import check_reduction as _check_reduction
from ._distance import pairwise_distance
from ._loss import _reduce, _same_shape

__all__ = [
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "cosine_embedding_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]


def _clamp_min0(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` with torch's ``clamp_min`` gradient (1 where ``z >= 0``)."""
    return jnp.where(z >= 0, z, jnp.zeros_like(z))


def _hinge(z: jax.Array) -> jax.Array:
    """``max(z, 0)`` with the gradient of PyTorch's C++ margin criteria (0 at ``z == 0``)."""
    return jnp.where(z > 0, z, jnp.zeros_like(z))


def margin_ranking_loss(
    input1: jax.Array,
    input2: jax.Array,
    target: jax.Array,
    margin: float = 0.0,
    reduction: str = "mean",
) -> jax.Array:
    """``max(0, -target * (input1 - input2) + margin)``: ``target`` (1 or -1) says which input ranks higher.

    Args:
      input1: scores, any shape.
      input2: scores, broadcastable with ``input1``, same number of dimensions.
      target: 1 where ``input1`` should rank higher, -1 where ``input2`` should; same number of dimensions.
      margin: the required gap.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: the three arrays differ in their number of dimensions (PyTorch raises too).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x1, x2, y = jnp.array([1.0, 0.2]), jnp.array([0.5, 0.8]), jnp.array([1.0, 1.0])
      >>> round(float(F.margin_ranking_loss(x1, x2, y, margin=0.1)), 4)
      0.35
    """
    _check_reduction("margin_ranking_loss", reduction)
    check_float_input(input1, what="input1")
    if not (jnp.ndim(input1) == jnp.ndim(input2) == jnp.ndim(target)):
        raise ShapeError(
            "margin_ranking_loss: input1, input2 and target must have the same number of dimensions, got "
            f"{shape_str(jnp.shape(input1))}, {shape_str(jnp.shape(input2))} and "
            f"{shape_str(jnp.shape(target))}"
        )
    return _reduce(_clamp_min0(-target * (input1 - input2) + margin), reduction)


def hinge_embedding_loss(
    input: jax.Array,
    target: jax.Array,
    margin: float = 1.0,
    reduction: str = "mean",
) -> jax.Array:
    """``input`` where ``target == 1``, ``max(0, margin - input)`` where ``target == -1`` (distances).

    Args:
      input: distances (or dissimilarities), any shape.
      target: 1 (similar pair) or -1 (dissimilar pair), broadcastable with ``input``.
      margin: the distance beyond which dissimilar pairs cost nothing.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      DTypeError: a non-floating ``input``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.hinge_embedding_loss(jnp.array([0.3, 0.4]), jnp.array([1, -1]), reduction="none").tolist()
      [0.30000001192092896, 0.6000000238418579]
    """
    _check_reduction("hinge_embedding_loss", reduction)
    check_float_input(input)
    zeros = jnp.zeros_like(input)
    # PyTorch: where(target != 1, clamp_min(margin - x, 0), 0) + where(target != -1, x, 0)
    loss = jnp.where(target != 1, _clamp_min0(margin - input), zeros) + jnp.where(target != -1, input, zeros)
    return _reduce(loss, reduction)


def soft_margin_loss(
    input: jax.Array,
    target: jax.Array,
    reduction: str = "mean",
) -> jax.Array:
    """Two-class logistic loss ``log(1 + exp(-target * input))`` with targets in {1, -1}.

    Args:
      input: scores, any shape.
      target: 1 or -1, the input's shape.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: ``target`` does not have the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> round(float(F.soft_margin_loss(jnp.array([2.0, -1.0]), jnp.array([1.0, 1.0]))), 4)
      0.7201
    """
    _check_reduction("soft_margin_loss", reduction)
    check_float_input(input)
    _same_shape("soft_margin_loss", input, target)
    return _reduce(jnp.logaddexp(0.0, -input * target), reduction)


def cosine_embedding_loss(
    input1: jax.Array,
    input2: jax.Array,
    target: jax.Array,
    margin: float = 0.0,
    reduction: str = "mean",
) -> jax.Array:
    """``1 - cos(x1, x2)`` for ``target == 1``, ``max(0, cos(x1, x2) - margin)`` for ``target == -1``.

    Args:
      input1: embeddings ``(N, D)`` or ``(D,)``.
      input2: embeddings of the same shape.
      target: ``(N,)`` (or a scalar for 1-D inputs) of 1 and -1.
      margin: in [-1, 1]; 0 to 0.5 is typical.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: inputs that are not both ``(N, D)`` or ``(D,)`` with a matching target.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x1, x2 = jnp.array([[1.0, 0.0], [1.0, 0.0]]), jnp.array([[1.0, 1.0], [0.0, 1.0]])
      >>> loss = F.cosine_embedding_loss(x1, x2, jnp.array([1, -1]), reduction="none")
      >>> [round(v, 4) for v in loss.tolist()]
      [0.2929, 0.0]
    """
    _check_reduction("cosine_embedding_loss", reduction)
    check_float_input(input1, what="input1")
    t_dim = jnp.ndim(target)
    if t_dim not in (0, 1):
        raise ShapeError(
            f"cosine_embedding_loss: expected a 0-d or 1-d target, got {shape_str(jnp.shape(target))}"
        )
    if not (jnp.ndim(input1) == jnp.ndim(input2) == t_dim + 1) or jnp.shape(input1) != jnp.shape(input2):
        raise ShapeError(
            f"cosine_embedding_loss: expected input1 and input2 of one shape, (N, D) for a (N,) target or "
            f"(D,) for a 0-d target, got {shape_str(jnp.shape(input1))}, {shape_str(jnp.shape(input2))} and "
            f"target {shape_str(jnp.shape(target))}"
        )
    if t_dim == 1 and jnp.shape(target)[0] != jnp.shape(input1)[0]:
        raise ShapeError(
            f"cosine_embedding_loss: target has {jnp.shape(target)[0]} entries for "
            f"{jnp.shape(input1)[0]} pairs"
        )
    eps = 1e-12  # PyTorch's EPSILON in the squared magnitudes
    prod = jnp.sum(input1 * input2, axis=t_dim)
    mag1 = jnp.sum(input1 * input1, axis=t_dim) + eps
    mag2 = jnp.sum(input2 * input2, axis=t_dim) + eps
    cos = prod / jnp.sqrt(mag1 * mag2)
    zeros = jnp.zeros_like(cos)
    loss = jnp.where(target == 1, 1 - cos, zeros) + jnp.where(target == -1, _clamp_min0(cos - margin), zeros)
    return _reduce(loss, reduction)


def _class_scores(name: str, input: jax.Array, target: jax.Array) -> tuple[jax.Array, jax.Array, bool]:
    """``(N, C)`` scores and ``(N, ...)`` targets from PyTorch's ``(C,)``/``(N, C)`` conventions."""
    check_float_input(input)
    if jnp.ndim(input) not in (1, 2) or jnp.shape(input)[-1] == 0:
        raise ShapeError(
            f"{name}: expected input (C,) or (N, C) with C > 0, got {shape_str(jnp.shape(input))}"
        )
    single = jnp.ndim(input) == 1
    return (input[None] if single else input), target, single


def check_margin_p(name: str, p: int) -> None:
    """ConfigError unless the multi-margin power ``p`` is 1 or 2 (also for nn.MultiMarginLoss)."""
    if p not in (1, 2):
        raise ConfigError(f"{name}: only p == 1 and p == 2 are supported, got p={p!r}")


def multi_margin_loss(
    input: jax.Array,
    target: jax.Array,
    p: int = 1,
    margin: float = 1.0,
    weight: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-class hinge: ``sum_{i != y} max(0, margin - x[y] + x[i])**p / C`` per sample.

    Args:
      input: scores ``(N, C)`` or ``(C,)``.
      target: class indices ``(N,)`` (or a scalar for a ``(C,)`` input), in ``[0, C)``.
      p: 1 or 2.
      margin: the required gap between the target score and the others.
      weight: per-class weights ``(C,)``; the term of a sample is scaled by ``weight[y]``.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (``(N,)`` for ``reduction='none'``, else a scalar).

    Raises:
      ConfigError: ``p`` not 1 or 2, an unknown ``reduction``.
      ShapeError: a target or weight of the wrong shape.
      IndexOutOfRangeError: a target outside ``[0, C)`` (eagerly; under ``jit`` inside
        ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> round(float(F.multi_margin_loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))), 4)
      0.325
    """
    _check_reduction("multi_margin_loss", reduction)
    check_margin_p("multi_margin_loss", p)
    x, t, single = _class_scores("multi_margin_loss", input, target)
    n, c = x.shape
    t = jnp.reshape(jnp.asarray(target), (-1,))
    if t.shape[0] != n or jnp.ndim(target) != (0 if single else 1):
        raise ShapeError(
            f"multi_margin_loss: expected target {'()' if single else f'({n},)'} for input "
            f"{shape_str(jnp.shape(input))}, got {shape_str(jnp.shape(target))}"
        )
    check_indices("multi_margin_loss", "target", t, c, "the number of classes")
    if weight is not None and jnp.shape(weight) != (c,):
        raise ShapeError(f"multi_margin_loss: expected weight ({c},), got {shape_str(jnp.shape(weight))}")
    x_y = jnp.take_along_axis(x, t[:, None], axis=1)
    z = _hinge(margin - x_y + x)
    h = z if p == 1 else z * z
    if weight is not None:
        h = h * jnp.asarray(weight, x.dtype)[t][:, None]
    not_target = jnp.arange(c)[None, :] != t[:, None]
    loss = jnp.sum(jnp.where(not_target, h, jnp.zeros_like(h)), axis=1) / c
    if single and reduction == "none":
        loss = loss[0]
    return _reduce(loss, reduction)


def multilabel_margin_loss(
    input: jax.Array,
    target: jax.Array,
    reduction: str = "mean",
) -> jax.Array:
    """Multi-label hinge: ``sum_{j, i not a target} max(0, 1 - (x[y_j] - x[i])) / C`` per sample.

    ``target`` lists each sample's classes first, padded with -1: the classes are the entries up to
    the first negative one (PyTorch's convention).

    Args:
      input: scores ``(N, C)`` or ``(C,)``.
      target: integer array of the input's shape: class indices, then -1 padding.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (``(N,)`` for ``reduction='none'``, else a scalar).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: a target that does not have the input's shape.
      IndexOutOfRangeError: a class index >= C (eagerly; under ``jit`` inside ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> x, y = jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]])
      >>> round(float(F.multilabel_margin_loss(x, y)), 4)
      0.85
    """
    _check_reduction("multilabel_margin_loss", reduction)
    x, _, single = _class_scores("multilabel_margin_loss", input, target)
    if jnp.shape(target) != jnp.shape(input):
        raise ShapeError(
            "multilabel_margin_loss: expected target of the input's shape "
            f"{shape_str(jnp.shape(input))}, got "
            f"{shape_str(jnp.shape(target))}"
        )
    t = jnp.reshape(jnp.asarray(target), x.shape)
    n, c = x.shape
    check_indices("multilabel_margin_loss", "target", jnp.where(t < 0, 0, t), c, "the number of classes")
    valid = jnp.cumprod(t >= 0, axis=1).astype(bool)  # entries before the first negative one
    t_safe = jnp.where(valid, t, 0)
    is_target = jnp.any(valid[:, :, None] & (t_safe[:, :, None] == jnp.arange(c)[None, None, :]), axis=1)
    x_t = jnp.take_along_axis(x, t_safe, axis=1)  # (N, J)
    z = _hinge(1 - x_t[:, :, None] + x[:, None, :])  # (N, J, C)
    keep = valid[:, :, None] & ~is_target[:, None, :]
    loss = jnp.sum(jnp.where(keep, z, jnp.zeros_like(z)), axis=(1, 2)) / c
    if single and reduction == "none":
        loss = loss[0]
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(
    input: jax.Array,
    target: jax.Array,
    weight: jax.Array | None = None,
    reduction: str = "mean",
) -> jax.Array:
    """Per-class logistic loss averaged over the classes: ``-mean_c(y log σ(x) + (1-y) log σ(-x))``.

    Args:
      input: scores ``(N, C)`` (or ``(C,)``).
      target: 0/1 (or soft) labels of the input's shape.
      weight: per-class weights, broadcast against the input.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (``(N,)`` for ``reduction='none'``, else a scalar).

    Raises:
      ConfigError: an unknown ``reduction``.
      ShapeError: a target that does not have the input's shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> round(float(F.multilabel_soft_margin_loss(jnp.array([[2.0, -1.0]]), jnp.array([[1.0, 0.0]]))), 4)
      0.2201
    """
    _check_reduction("multilabel_soft_margin_loss", reduction)
    check_float_input(input)
    _same_shape("multilabel_soft_margin_loss", input, target)
    loss = -(target * jax.nn.log_sigmoid(input) + (1 - target) * jax.nn.log_sigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = jnp.sum(loss, axis=-1) / jnp.shape(input)[-1]
    return _reduce(loss, reduction)


def _triplet_dims(name: str, anchor: jax.Array, positive: jax.Array, negative: jax.Array) -> None:
    if not (jnp.ndim(anchor) == jnp.ndim(positive) == jnp.ndim(negative)):
        raise ShapeError(
            f"{name}: anchor, positive and negative must have the same number of dimensions, got anchor "
            f"{shape_str(jnp.shape(anchor))}, positive {shape_str(jnp.shape(positive))} and negative "
            f"{shape_str(jnp.shape(negative))}"
        )


def _triplet(
    dist_pos: jax.Array, dist_neg: jax.Array, dist_swap: jax.Array | None, margin: float
) -> jax.Array:
    if dist_swap is not None:
        dist_neg = jnp.minimum(dist_neg, dist_swap)
    return _clamp_min0(margin + dist_pos - dist_neg)


def _check_margin(name: str, margin: float) -> None:
    if not margin > 0:
        raise ConfigError(f"{name}: margin must be greater than 0, got {margin}")


def triplet_margin_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` the p-norm pairwise distance (Schroff et al.).

    Args:
      anchor: embeddings ``(N, D)`` or ``(D,)``.
      positive: embeddings of the same class as the anchors.
      negative: embeddings of other classes.
      margin: > 0.
      p: the norm degree of the distance.
      eps: added to the difference inside the norm (PyTorch's ``pairwise_distance``).
      swap: use ``min(d(a, n), d(p, n))`` as the negative distance (Balntas et al., 2016).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: ``margin <= 0``, ``p < 0``, an unknown ``reduction``.
      ShapeError: inputs with different numbers of dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> a, pos, neg = jnp.array([[0.0, 0.0]]), jnp.array([[0.0, 1.0]]), jnp.array([[1.0, 1.0]])
      >>> round(float(F.triplet_margin_loss(a, pos, neg, eps=0.0)), 4)
      0.5858
    """
    name = "triplet_margin_loss"
    _check_reduction(name, reduction)
    _check_margin(name, margin)
    check_float_input(anchor, what="anchor")
    _triplet_dims(name, anchor, positive, negative)
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    d_swap = pairwise_distance(positive, negative, p, eps) if swap else None
    return _reduce(_triplet(d_pos, d_neg, d_swap, margin), reduction)


def triplet_margin_with_distance_loss(
    anchor: jax.Array,
    positive: jax.Array,
    negative: jax.Array,
    *,
    distance_function: Callable[[jax.Array, jax.Array], jax.Array] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> jax.Array:
    """:func:`triplet_margin_loss` with any distance function (default: ``pairwise_distance``).

    Args:
      anchor: embeddings.
      positive: embeddings of the same class as the anchors.
      negative: embeddings of other classes.
      distance_function: ``(x1, x2) -> distances`` (e.g. ``lambda a, b: 1 - F.cosine_similarity(a, b)``).
      margin: > 0.
      swap: use ``min(d(a, n), d(p, n))`` as the negative distance.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Returns:
      The loss (a scalar unless ``reduction='none'``).

    Raises:
      ConfigError: ``margin <= 0`` or an unknown ``reduction``.
      ShapeError: inputs with different numbers of dimensions.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> a, pos, neg = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.1]]), jnp.array([[0.0, 1.0]])
      >>> cos_dist = lambda x, y: 1 - F.cosine_similarity(x, y)
      >>> round(float(F.triplet_margin_with_distance_loss(a, pos, neg, distance_function=cos_dist)), 4)
      0.005
    """
    name = "triplet_margin_with_distance_loss"
    _check_reduction(name, reduction)
    _check_margin(name, margin)
    _triplet_dims(name, anchor, positive, negative)
    dist = distance_function if distance_function is not None else pairwise_distance
    d_swap = dist(positive, negative) if swap else None
    return _reduce(_triplet(dist(anchor, positive), dist(anchor, negative), d_swap, margin), reduction)
