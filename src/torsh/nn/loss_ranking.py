"""Margin, ranking and embedding loss modules (``nn.TripletMarginLoss()``, ...).

They wrap :mod:`torsh.nn.functional`'s functions of the same names with PyTorch's constructor arguments.

Class weights are buffers, as in PyTorch. ``size_average``/``reduce`` are accepted for signature
compatibility and ignored (deprecated in PyTorch; pass ``reduction=``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ..tree import static
from ._utils import check_reduction as _check_reduction
from .functional import _loss_ranking as _R
from .loss import _Loss, _opt_array
from .module import buffer

__all__ = [
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "CosineEmbeddingLoss",
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]

_Array = jax.Array


class _MarginLoss(_Loss):
    margin: float = static()

    def _set(self, name: str, margin: float, reduction: str) -> None:
        _check_reduction(name, reduction)
        self.margin = float(margin)
        self.reduction = reduction


class MarginRankingLoss(_MarginLoss):
    """``max(0, -y * (x1 - x2) + margin)`` (``torch.nn.MarginRankingLoss``).

    Args:
      margin: the required gap between the two scores.
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.MarginRankingLoss(margin=0.5)
      >>> float(loss(jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])))
      0.75
    """

    def __init__(
        self, margin: float = 0.0, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        self._set("MarginRankingLoss", margin, reduction)

    def forward(self, input1: _Array, input2: _Array, target: _Array) -> _Array:
        return _R.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)


class HingeEmbeddingLoss(_MarginLoss):
    """``x`` for similar pairs (``y = 1``), ``max(0, margin - x)`` for dissimilar ones (``y = -1``).

    Args:
      margin: distance beyond which dissimilar pairs cost nothing.
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> float(nn.HingeEmbeddingLoss()(jnp.array([0.2, 0.4]), jnp.array([1, -1])))
      0.4000000059604645
    """

    def __init__(
        self, margin: float = 1.0, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        self._set("HingeEmbeddingLoss", margin, reduction)

    def forward(self, input: _Array, target: _Array) -> _Array:
        return _R.hinge_embedding_loss(input, target, self.margin, self.reduction)


class SoftMarginLoss(_Loss):
    """Two-class logistic loss ``log(1 + exp(-y x))`` (``torch.nn.SoftMarginLoss``).

    Args:
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.SoftMarginLoss()(jnp.array([0.0]), jnp.array([1.0]))), 4)
      0.6931
    """

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        _check_reduction("SoftMarginLoss", reduction)
        self.reduction = reduction

    def forward(self, input: _Array, target: _Array) -> _Array:
        return _R.soft_margin_loss(input, target, self.reduction)


class CosineEmbeddingLoss(_MarginLoss):
    """``1 - cos(x1, x2)`` for ``y = 1``, ``max(0, cos(x1, x2) - margin)`` for ``y = -1``.

    Args:
      margin: in [-1, 1]; 0 to 0.5 is typical.
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> float(nn.CosineEmbeddingLoss()(jnp.array([[1.0, 0.0]]), jnp.array([[2.0, 0.0]]), jnp.array([1])))
      0.0
    """

    def __init__(
        self, margin: float = 0.0, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        self._set("CosineEmbeddingLoss", margin, reduction)

    def forward(self, input1: _Array, input2: _Array, target: _Array) -> _Array:
        return _R.cosine_embedding_loss(input1, input2, target, self.margin, self.reduction)


class MultiMarginLoss(_MarginLoss):
    """Multi-class hinge loss (``torch.nn.MultiMarginLoss``); ``weight`` is a buffer.

    Args:
      p: 1 or 2.
      margin: the required gap between the target score and the others.
      weight: per-class weights ``(C,)``.
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: ``p`` not 1 or 2, an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.MultiMarginLoss()(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([3]))), 4)
      0.325
    """

    p: int = static()
    weight: jax.Array | None = buffer()

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        _R.check_margin_p("MultiMarginLoss", p)
        self._set("MultiMarginLoss", margin, reduction)
        self.p = int(p)
        self.weight = _opt_array(weight)

    def forward(self, input: _Array, target: _Array) -> _Array:
        return _R.multi_margin_loss(input, target, self.p, self.margin, self.weight, self.reduction)


class MultiLabelMarginLoss(_Loss):
    """Multi-label hinge loss; targets list class indices padded with -1 (``torch.nn.MultiLabelMarginLoss``).

    Args:
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.MultiLabelMarginLoss()
      >>> round(float(loss(jnp.array([[0.1, 0.2, 0.4, 0.8]]), jnp.array([[3, 0, -1, 1]]))), 4)
      0.85
    """

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        _check_reduction("MultiLabelMarginLoss", reduction)
        self.reduction = reduction

    def forward(self, input: _Array, target: _Array) -> _Array:
        return _R.multilabel_margin_loss(input, target, self.reduction)


class MultiLabelSoftMarginLoss(_Loss):
    """Per-class logistic loss averaged over classes (``torch.nn.MultiLabelSoftMarginLoss``).

    Args:
      weight: per-class weights (a buffer).
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.MultiLabelSoftMarginLoss()(jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]]))), 4)
      0.6931
    """

    weight: jax.Array | None = buffer()

    def __init__(
        self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        _check_reduction("MultiLabelSoftMarginLoss", reduction)
        self.reduction = reduction
        self.weight = _opt_array(weight)

    def forward(self, input: _Array, target: _Array) -> _Array:
        return _R.multilabel_soft_margin_loss(input, target, self.weight, self.reduction)


class TripletMarginLoss(_MarginLoss):
    """``max(d(a, p) - d(a, n) + margin, 0)`` with the p-norm distance (``torch.nn.TripletMarginLoss``).

    Args:
      margin: > 0.
      p: the norm degree.
      eps: added inside the norm.
      swap: use ``min(d(a, n), d(p, n))`` as the negative distance.
      size_average: ignored (deprecated in PyTorch).
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: ``margin <= 0`` or an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> a, pos, neg = jnp.zeros((1, 2)), jnp.array([[0.0, 1.0]]), jnp.array([[3.0, 0.0]])
      >>> float(nn.TripletMarginLoss(eps=0.0)(a, pos, neg))
      0.0
    """

    norm: float = static()
    eps: float = static()
    swap: bool = static()

    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        _R._check_margin("TripletMarginLoss", margin)
        self._set("TripletMarginLoss", margin, reduction)
        self.norm = float(p)
        self.eps = float(eps)
        self.swap = bool(swap)

    def forward(self, anchor: _Array, positive: _Array, negative: _Array) -> _Array:
        return _R.triplet_margin_loss(
            anchor, positive, negative, self.margin, self.norm, self.eps, self.swap, self.reduction
        )


class TripletMarginWithDistanceLoss(_MarginLoss):
    """Triplet loss with any distance function (``torch.nn.TripletMarginWithDistanceLoss``).

    Args:
      distance_function: ``(x1, x2) -> distances``; default ``F.pairwise_distance``. It is static
        configuration: pass a module-level function (or a ``torsh`` module) so that jit can cache it.
      margin: > 0.
      swap: use ``min(d(a, n), d(p, n))`` as the negative distance.
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: ``margin <= 0`` or an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.TripletMarginWithDistanceLoss(distance_function=lambda x, y: jnp.abs(x - y).sum(-1))
      >>> float(loss(jnp.zeros((1, 2)), jnp.ones((1, 2)), jnp.full((1, 2), 3.0)))
      0.0
    """

    distance_function: Callable[[_Array, _Array], _Array] | None = static()
    swap: bool = static()

    def __init__(
        self,
        *,
        distance_function: Callable[[_Array, _Array], _Array] | None = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        _R._check_margin("TripletMarginWithDistanceLoss", margin)
        self._set("TripletMarginWithDistanceLoss", margin, reduction)
        self.distance_function = distance_function
        self.swap = bool(swap)

    def forward(self, anchor: _Array, positive: _Array, negative: _Array) -> _Array:
        return _R.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )
