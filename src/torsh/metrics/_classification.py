"""Classification metrics from class predictions: Accuracy (top-k), ConfusionMatrix, Precision,
Recall and F1Score (binary, micro, macro, weighted, per class), with scikit-learn's definitions."""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from ..tree import static
from ._base import COUNT, Metric, State, float_dtype

__all__ = ["Accuracy", "ConfusionMatrix", "Precision", "Recall", "F1Score"]

_AVERAGES = ("binary", "micro", "macro", "weighted", None)


def _check_threshold(metric: Metric, threshold: Any) -> float:
    if not isinstance(threshold, numbers.Real) or isinstance(threshold, bool) or not math.isfinite(threshold):
        metric._fail("threshold", "a finite real number", threshold)
    return float(threshold)


def _check_classes(metric: Metric, num_classes: Any, minimum: int = 2) -> int:
    if (
        not isinstance(num_classes, numbers.Integral)
        or isinstance(num_classes, bool)
        or num_classes < minimum
    ):
        metric._fail("num_classes", f"an int >= {minimum}", num_classes)
    return int(num_classes)


def predicted_labels(
    metric: Metric, preds: Any, target: jax.Array, num_classes: int | None, threshold: float
) -> jax.Array:
    """Class ids from ``preds``: the argmax of ``[batch, C]`` scores (first index on ties, like
    ``argmax``), ``[batch]`` integer/bool labels as given, or ``[batch]`` float scores thresholded
    (``score > threshold`` is class 1, torchmetrics' rule)."""
    p = metric._array(preds, "preds")
    if p.ndim == target.ndim + 1:
        if num_classes is not None and p.shape[-1] != num_classes:
            raise ShapeError(
                f"{metric._name()}: preds has {p.shape[-1]} class scores per row, "
                f"num_classes is {num_classes}"
            )
        if p.shape[:-1] != target.shape:
            raise ShapeError(
                f"{metric._name()}: preds of shape {list(p.shape)} need target of shape "
                f"{list(p.shape[:-1])}, "
                f"got {list(target.shape)}"
            )
        return jnp.argmax(p, axis=-1).astype(jnp.int32)
    if p.shape != target.shape:
        raise ShapeError(
            f"{metric._name()}: preds must have shape {list(target.shape)} (labels or binary scores) or "
            f"{[*target.shape, 'num_classes']} (class scores), got {list(p.shape)}"
        )
    if p.dtype == jnp.bool_ or jnp.issubdtype(p.dtype, jnp.integer):
        return p.astype(jnp.int32)
    return (p > threshold).astype(jnp.int32)


def confusion_update(
    metric: Metric, counts: jax.Array, pred: jax.Array, target: jax.Array, valid: jax.Array
) -> jax.Array:
    """``counts[true, pred] += 1`` for valid rows (ids outside ``[0, C)`` are dropped under jit)."""
    c = counts.shape[0]
    metric._check_range(target, valid, c, "target")
    metric._check_range(pred, valid, c, "preds")
    ok = valid & (target >= 0) & (target < c) & (pred >= 0) & (pred < c)
    index = jnp.where(ok, target * c + pred, c * c).reshape(-1)
    flat = counts.reshape(-1).at[index].add(jnp.ones(index.shape, COUNT), mode="drop")
    return flat.reshape(c, c)


def _confusion_init(num_classes: Any) -> State:  # an int once the metric is built
    return {"confmat": jnp.zeros((num_classes, num_classes), COUNT)}


def _confusion_state(metric: Any, state: State, preds: Any, target: Any, mask: Any) -> State:
    """One update of a metric that accumulates a confusion matrix (ConfusionMatrix, precision/recall/F1)."""
    t = metric._int_target(target)
    p = predicted_labels(metric, preds, t, metric.num_classes, metric.threshold)
    valid = metric._mask(mask, t.shape)
    return {"confmat": confusion_update(metric, state["confmat"], p, t, valid)}


class ConfusionMatrix(Metric):
    """Counts ``C[i, j]`` of samples of true class ``i`` predicted as ``j`` (scikit-learn's layout).

    Args:
      num_classes: the number of classes (2 for binary scores).
      normalize: ``None`` (counts), ``"true"`` (rows sum to 1), ``"pred"`` (columns) or ``"all"``;
        an empty row/column normalises to 0, as in scikit-learn.
      threshold: for ``[batch]`` float scores, ``score > threshold`` is class 1.

    Raises:
      ConfigError: ``num_classes`` < 1 or not an int, an unknown ``normalize``, a bad ``threshold``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.ConfusionMatrix(num_classes=3)
      >>> m(jnp.array([0, 2, 2, 1]), jnp.array([0, 1, 2, 1])).tolist()
      [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """

    num_classes: int = static()
    normalize: str | None = static(default=None)
    threshold: float = static(default=0.5)

    def __init__(self, num_classes: int, normalize: str | None = None, threshold: float = 0.5) -> None:
        self.num_classes = _check_classes(self, num_classes)
        if normalize not in (None, "true", "pred", "all"):
            self._fail("normalize", "None, 'true', 'pred' or 'all'", normalize)
        self.normalize = normalize
        self.threshold = _check_threshold(self, threshold)

    def init(self) -> State:
        return _confusion_init(self.num_classes)

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        return _confusion_state(self, state, preds, target, mask)

    def compute(self, state: State) -> jax.Array:
        cm = state["confmat"]
        if self.normalize is None:
            return cm
        cm = cm.astype(float_dtype())
        if self.normalize == "true":
            den = cm.sum(axis=1, keepdims=True)
        elif self.normalize == "pred":
            den = cm.sum(axis=0, keepdims=True)
        else:
            den = cm.sum()
        return jnp.where(den > 0, cm / jnp.where(den > 0, den, 1.0), 0.0)


class Accuracy(Metric):
    """The fraction of samples whose true class is among the ``top_k`` highest scores.

    ``preds`` are ``[batch, C]`` scores, ``[batch]`` integer labels (``top_k=1`` only) or ``[batch]``
    binary scores (``score > threshold`` is class 1). Ties rank the lower class index first (as
    ``argmax``). NaN when no sample was seen.

    Args:
      top_k: a sample counts as correct when its class is among its ``top_k`` highest scores.
      threshold: for ``[batch]`` float scores, ``score > threshold`` is class 1.

    Raises:
      ConfigError: ``top_k`` is not an int >= 1, or ``threshold`` is not a number.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> scores = jnp.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6]])
      >>> float(metrics.Accuracy()(scores, jnp.array([1, 2])))
      0.5
      >>> float(metrics.Accuracy(top_k=2)(scores, jnp.array([1, 0])))
      0.5
    """

    top_k: int = static(default=1)
    threshold: float = static(default=0.5)

    def __init__(self, top_k: int = 1, threshold: float = 0.5) -> None:
        if not isinstance(top_k, numbers.Integral) or isinstance(top_k, bool) or top_k < 1:
            self._fail("top_k", "an int >= 1", top_k)
        self.top_k = int(top_k)
        self.threshold = _check_threshold(self, threshold)

    def init(self) -> State:
        return {"correct": jnp.zeros((), COUNT), "total": jnp.zeros((), COUNT)}

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        t = self._int_target(target)
        p = self._array(preds, "preds")
        valid = self._mask(mask, t.shape)
        if p.ndim == t.ndim + 1 and self.top_k > 1:
            if p.shape[:-1] != t.shape:
                raise ShapeError(
                    f"{self._name()}: preds of shape {list(p.shape)} need target of shape "
                    f"{list(p.shape[:-1])}, got {list(t.shape)}"
                )
            c = p.shape[-1]
            if self.top_k > c:
                self._fail("top_k", f"<= the number of classes ({c})", self.top_k)
            self._check_range(t, valid, c, "target")
            idx = jnp.clip(t, 0, c - 1)
            own = jnp.take_along_axis(p, idx[..., None], axis=-1)
            classes = jnp.arange(c)
            ahead = (p > own) | ((p == own) & (classes < idx[..., None]))  # ranks before the true class
            hit = (jnp.sum(ahead, axis=-1) < self.top_k) & (t >= 0) & (t < c)
        else:
            if self.top_k > 1:
                raise ShapeError(
                    f"{self._name()}: top_k={self.top_k} needs [batch, num_classes] scores, got preds of "
                    f"shape {list(p.shape)}"
                )
            hit = predicted_labels(self, p, t, None, self.threshold) == t
        return {
            "correct": state["correct"] + jnp.sum(hit & valid, dtype=COUNT),
            "total": state["total"] + jnp.sum(valid, dtype=COUNT),
        }

    def compute(self, state: State) -> jax.Array:
        return state["correct"].astype(float_dtype()) / state["total"]


class _PRF(Metric):
    """Shared state and averaging of Precision, Recall and F1Score (a confusion matrix)."""

    num_classes: int | None = static(default=None)
    average: str | None = static(default="binary")
    zero_division: float = static(default=0.0)
    threshold: float = static(default=0.5)

    def __init__(
        self,
        num_classes: int | None = None,
        average: str | None = "binary",
        zero_division: float = 0.0,
        threshold: float = 0.5,
    ) -> None:
        if average not in _AVERAGES:
            self._fail("average", "'binary', 'micro', 'macro', 'weighted' or None", average)
        if average == "binary":
            if num_classes not in (None, 2):
                self._fail(
                    "num_classes", "None or 2 with average='binary' (use 'macro', 'micro'...)", num_classes
                )
            num_classes = 2
        elif num_classes is None:
            self._fail("num_classes", f"given (an int >= 2) with average={average!r}", num_classes)
        self.num_classes = _check_classes(self, num_classes)
        self.average = average
        if (
            not isinstance(zero_division, numbers.Real)
            or isinstance(zero_division, bool)
            or not (zero_division in (0, 1) or math.isnan(zero_division))
        ):
            self._fail("zero_division", "0.0, 1.0 or float('nan') (scikit-learn's choices)", zero_division)
        self.zero_division = float(zero_division)
        self.threshold = _check_threshold(self, threshold)

    def init(self) -> State:
        return _confusion_init(self.num_classes)

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        return _confusion_state(self, state, preds, target, mask)

    def _ratio(self, num: jax.Array, den: jax.Array) -> jax.Array:
        num, den = num.astype(float_dtype()), den.astype(float_dtype())
        return jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), self.zero_division)

    def _score(self, tp: jax.Array, pred_sum: jax.Array, true_sum: jax.Array) -> jax.Array:
        raise NotImplementedError

    def compute(self, state: State) -> jax.Array:
        cm = state["confmat"]
        seen = jnp.sum(cm) > 0  # no sample at all: NaN (scikit-learn refuses empty inputs)
        tp = jnp.diagonal(cm)
        pred_sum, true_sum = cm.sum(axis=0), cm.sum(axis=1)
        if self.average == "binary":
            return jnp.where(seen, self._score(tp[1], pred_sum[1], true_sum[1]), jnp.nan)
        if self.average == "micro":
            return jnp.where(seen, self._score(tp.sum(), pred_sum.sum(), true_sum.sum()), jnp.nan)
        per_class = self._score(tp, pred_sum, true_sum)
        if self.average is None:
            return jnp.where(seen, per_class, jnp.nan)
        # scikit-learn's _nanaverage over the labels present in target or preds: NaN scores
        # (zero_division=nan) are left out; NaN when nothing is left; weights that are all zero
        # (weighted average of classes never true) fall back to the plain mean
        keep = ((pred_sum + true_sum) > 0) & ~jnp.isnan(per_class)
        values = jnp.where(keep, per_class, 0.0)
        count = jnp.sum(keep)
        mean = jnp.sum(values) / jnp.maximum(count, 1)
        if self.average == "weighted":
            w = jnp.where(keep, true_sum, 0).astype(float_dtype())
            total = jnp.sum(w)
            mean = jnp.where(total > 0, jnp.sum(values * w) / jnp.where(total > 0, total, 1.0), mean)
        return jnp.where(count > 0, mean, jnp.nan)


class Precision(_PRF, init=False):
    """``tp / (tp + fp)`` (scikit-learn's ``precision_score``).

    Args:
      num_classes: classes of a multiclass problem (``None`` or 2 for ``average="binary"``).
      average: ``"binary"`` (class 1 of binary predictions), ``"micro"`` (global counts),
        ``"macro"`` (unweighted mean over the classes present in target or preds, as scikit-learn),
        ``"weighted"`` (mean weighted by true counts) or ``None`` (one value per class).
      zero_division: the value of a ratio whose denominator is 0: 0.0 (scikit-learn's default,
        without the warning), 1.0, or NaN (then left out of averages, NaN if nothing is left).
        With no sample at all the result is NaN (scikit-learn raises on empty inputs).
      threshold: for ``[batch]`` float scores, ``score > threshold`` is class 1.

    Raises:
      ConfigError: an unknown ``average``, ``num_classes`` that does not fit it, a bad
        ``zero_division`` or ``threshold``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> preds, target = jnp.array([0, 1, 1, 2]), jnp.array([0, 1, 2, 2])
      >>> round(float(metrics.Precision(num_classes=3, average="macro")(preds, target)), 4)
      0.8333
    """

    def _score(self, tp: jax.Array, pred_sum: jax.Array, true_sum: jax.Array) -> jax.Array:
        return self._ratio(tp, pred_sum)


class Recall(_PRF, init=False):
    """``tp / (tp + fn)`` (scikit-learn's ``recall_score``); arguments as :class:`Precision`.

    Args:
      num_classes, average, zero_division, threshold: as :class:`Precision`.

    Raises:
      ConfigError: as :class:`Precision`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> float(metrics.Recall()(jnp.array([0.9, 0.2, 0.7]), jnp.array([1, 1, 0])))
      0.5
    """

    def _score(self, tp: jax.Array, pred_sum: jax.Array, true_sum: jax.Array) -> jax.Array:
        return self._ratio(tp, true_sum)


class F1Score(_PRF, init=False):
    """``2 tp / (2 tp + fp + fn)``: the harmonic mean of precision and recall.

    scikit-learn's ``f1_score``.

    Args:
      num_classes, average, zero_division, threshold: as :class:`Precision`.

    Raises:
      ConfigError: as :class:`Precision`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> f1 = metrics.F1Score(num_classes=3, average="weighted")
      >>> round(float(f1(jnp.array([0, 1, 1, 2]), jnp.array([0, 1, 2, 2]))), 4)
      0.75
    """

    def _score(self, tp: jax.Array, pred_sum: jax.Array, true_sum: jax.Array) -> jax.Array:
        return self._ratio(2 * tp, pred_sum + true_sum)
