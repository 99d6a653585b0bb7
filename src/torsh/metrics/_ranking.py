"""Ranking metrics over every score seen: AUROC and average precision (binary and one-vs-rest).

Their exact values depend on the order of *all* scores, which no fixed-size sum preserves. The
state is therefore a fixed-capacity buffer: ``scores`` (``[capacity]`` or ``[capacity, C]``), integer
``labels`` and the ``count`` of valid samples seen. Its size is static (jit compiles once); samples
past ``capacity`` raise :class:`CapacityError` when updating eagerly and make ``compute`` return NaN
under ``jit`` (``count`` keeps counting, so the overflow is never silent). ``compute`` sorts the buffer:
O(capacity log capacity). Binned AUROC approximations were rejected because they differ from
scikit-learn's exact values.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ShapeError
from ..tree import static
from ._base import COUNT, Metric, State, float_dtype, is_concrete
from ._errors import CapacityError

__all__ = ["AUROC", "AveragePrecision"]

DEFAULT_CAPACITY = 16384


def _binary_auroc(scores: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
    """Mann-Whitney U / (n_pos n_neg) with ties counted 1/2: the area under scikit-learn's ROC curve."""
    pos, neg = valid & (labels == 1), valid & (labels != 1)
    n_pos, n_neg = jnp.sum(pos), jnp.sum(neg)
    neg_sorted = jnp.sort(jnp.where(neg, scores, jnp.inf))
    below = jnp.minimum(jnp.searchsorted(neg_sorted, scores, side="left"), n_neg)
    upto = jnp.minimum(jnp.searchsorted(neg_sorted, scores, side="right"), n_neg)
    # 2 * (negatives below + half the ties) per positive, summed as exact small integers per entry
    twice_u = jnp.sum(jnp.where(pos, 2 * below + (upto - below), 0).astype(float_dtype()))
    pairs = n_pos.astype(float_dtype()) * n_neg.astype(float_dtype())
    return jnp.where((n_pos > 0) & (n_neg > 0), twice_u / (2 * jnp.where(pairs > 0, pairs, 1.0)), jnp.nan)


def _binary_ap(scores: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
    """scikit-learn's ``sum_k (R_k - R_{k-1}) P_k``: the mean over positives of the precision at their
    score's threshold (``tp(>= s) / n(>= s)``). 0 without positives (scikit-learn's value)."""
    pos = valid & (labels == 1)
    n_pos = jnp.sum(pos)
    cap = scores.shape[0]
    all_sorted = jnp.sort(jnp.where(valid, scores, -jnp.inf))
    pos_sorted = jnp.sort(jnp.where(pos, scores, -jnp.inf))
    n_ge = cap - jnp.searchsorted(all_sorted, scores, side="left")
    tp_ge = cap - jnp.searchsorted(pos_sorted, scores, side="left")
    precision = tp_ge.astype(float_dtype()) / jnp.maximum(n_ge, 1)
    ap = jnp.sum(jnp.where(pos, precision, 0.0)) / jnp.maximum(n_pos, 1)
    return jnp.where(jnp.any(valid), ap, jnp.nan)


class _Buffered(Metric):
    num_classes: int | None = static(default=None)
    average: str | None = static(default="macro")
    capacity: int = static(default=DEFAULT_CAPACITY)

    def __init__(
        self, num_classes: int | None = None, average: str | None = "macro", capacity: int = DEFAULT_CAPACITY
    ) -> None:
        if num_classes is not None and (
            not isinstance(num_classes, numbers.Integral) or isinstance(num_classes, bool) or num_classes < 2
        ):
            self._fail("num_classes", "None (binary scores) or an int >= 2 (one-vs-rest)", num_classes)
        self.num_classes = None if num_classes is None else int(num_classes)
        if average not in ("macro", "weighted", None):
            self._fail("average", "'macro', 'weighted' or None (one value per class)", average)
        self.average = average
        if not isinstance(capacity, numbers.Integral) or isinstance(capacity, bool) or capacity < 1:
            self._fail("capacity", "an int >= 1 (the most samples the state can hold)", capacity)
        self.capacity = int(capacity)

    def init(self) -> State:
        shape = (self.capacity,) if self.num_classes is None else (self.capacity, self.num_classes)
        return {
            "scores": jnp.zeros(shape, float_dtype()),
            "labels": jnp.zeros((self.capacity,), jnp.int32),
            "count": jnp.zeros((), COUNT),
        }

    def _check_count(self, count: jax.Array) -> None:
        if is_concrete(count) and int(count) > self.capacity:
            raise CapacityError(
                f"{self._name()}: {int(count)} samples do not fit the state's capacity={self.capacity}; "
                f"create the metric with a larger capacity, e.g. "
                f"{self._name()}(..., capacity={2 ** math.ceil(math.log2(int(count)))})"
            )

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        t = self._int_target(target)
        p = self._array(preds, "preds").astype(float_dtype())
        want = t.shape if self.num_classes is None else (*t.shape, self.num_classes)
        if t.ndim != 1 or p.shape != want:
            raise ShapeError(
                f"{self._name()}: expected target of shape [batch] and preds of shape "
                f"{['batch'] if self.num_classes is None else ['batch', self.num_classes]}, got target "
                f"{list(t.shape)} and preds {list(p.shape)}"
            )
        valid = self._mask(mask, t.shape)
        self._check_range(t, valid, 2 if self.num_classes is None else self.num_classes, "target")
        if is_concrete(p, valid) and not np.isfinite(np.asarray(p)[np.asarray(valid)]).all():
            self._fail("preds", "finite scores", "an array with NaN or infinite entries")
        new = _append(self, state, p, t, valid)
        self._check_count(new["count"])
        return new

    def merge(self, a: State, b: State) -> State:
        """``a``'s samples followed by ``b``'s.

        Args:
          a, b: two states of this metric.

        Returns:
          One state with both buffers.

        Raises:
          CapacityError: together they hold more than ``capacity`` samples (checked eagerly).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.AUROC(capacity=4)
          >>> a = m.update(m.init(), jnp.array([0.1, 0.8]), jnp.array([0, 1]))
          >>> b = m.update(m.init(), jnp.array([0.6, 0.4]), jnp.array([0, 1]))
          >>> float(m.compute(m.merge(a, b)))
          0.75
        """
        self._check_count(a["count"] + b["count"])
        i = jnp.arange(self.capacity)
        index = jnp.where(i < jnp.minimum(b["count"], self.capacity), a["count"] + i, self.capacity)
        index = jnp.where(index < self.capacity, index, self.capacity)
        return {
            "scores": a["scores"].at[index].set(b["scores"], mode="drop"),
            "labels": a["labels"].at[index].set(b["labels"], mode="drop"),
            "count": a["count"] + b["count"],
        }

    def reduce(self, state: State, axis_name: Any) -> State:
        """Gather every device's buffer (``all_gather``) and merge them in device order.

        Args:
          state: this device's state.
          axis_name: the mapped axis name to gather over.

        Returns:
          The merged state, the same on every device.

        Example:
          >>> import jax, jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.AUROC(capacity=4)
          >>> def per_device(p, t):
          ...     return m.compute(m.reduce(m.update(m.init(), p, t), "d"))
          >>> scores, labels = jnp.array([[0.1, 0.8], [0.6, 0.4]]), jnp.array([[0, 1], [0, 1]])
          >>> jax.vmap(per_device, axis_name="d")(scores, labels).tolist()
          [0.75, 0.75]
        """
        gathered = jax.lax.all_gather(state, axis_name)
        out = jax.tree_util.tree_map(lambda x: x[0], gathered)
        for i in range(1, gathered["count"].shape[0]):
            out = self.merge(out, jax.tree_util.tree_map(lambda x, i=i: x[i], gathered))
        return out

    def _binary(self, scores: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
        raise NotImplementedError

    def compute(self, state: State) -> jax.Array:
        self._check_count(state["count"])
        return _compute(self, state)

    def _compute(self, state: State) -> jax.Array:
        count = state["count"]
        valid = jnp.arange(self.capacity) < count
        if self.num_classes is None:
            value = self._binary(state["scores"], state["labels"], valid)
        else:
            classes = jnp.arange(self.num_classes)
            per_class = jax.vmap(
                lambda s, c: self._binary(s, (state["labels"] == c).astype(jnp.int32), valid)
            )(state["scores"].T, classes)
            if self.average is None:
                value = per_class
            elif self.average == "macro":
                value = jnp.mean(per_class)
            else:  # weighted by prevalence, as scikit-learn
                support = jnp.sum((state["labels"][None, :] == classes[:, None]) & valid, axis=1)
                value = jnp.sum(per_class * support) / jnp.maximum(jnp.sum(support), 1)
        return jnp.where(count <= self.capacity, value, jnp.nan)


# Compiled once per configuration and shape: the sort/search pipeline is dozens of small ops, slow
# to dispatch one by one when a metric is used eagerly. Inside a user's jit they are simply inlined.
@jax.jit
def _append(metric: _Buffered, state: State, p: jax.Array, t: jax.Array, valid: jax.Array) -> State:
    count = state["count"]
    slot = count + jnp.cumsum(valid) - 1
    index = jnp.where(valid & (slot < metric.capacity), slot, metric.capacity)
    return {
        "scores": state["scores"].at[index].set(p, mode="drop"),
        "labels": state["labels"].at[index].set(t.astype(jnp.int32), mode="drop"),
        "count": count + jnp.sum(valid, dtype=COUNT),
    }


@jax.jit
def _compute(metric: _Buffered, state: State) -> jax.Array:
    return metric._compute(state)


class AUROC(_Buffered, init=False):
    """The area under the ROC curve, equal to scikit-learn's ``roc_auc_score``.

    Binary: ``preds`` are ``[batch]`` scores (any monotone scale: probabilities or logits) and
    ``target`` 0/1. One-vs-rest (``num_classes=C``): ``preds`` ``[batch, C]`` and ``target`` class ids;
    ``average="macro"`` (mean over classes), ``"weighted"`` (by class prevalence) or ``None``. Each
    class column is ranked as given: pass probabilities (``jax.nn.softmax(logits)``) to match
    scikit-learn (which requires them) and torchmetrics (which applies a softmax to logits); ranking a
    column of raw logits gives a different value.
    NaN when a class has no positive or no negative sample (scikit-learn warns and returns NaN).

    Args:
      num_classes: ``None`` for binary scores, else the number of classes (one-vs-rest).
      average: how one-vs-rest scores are combined.
      capacity: the most samples the state holds (see the module docstring).

    Raises:
      ConfigError: a bad ``num_classes``, ``average`` or ``capacity``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.AUROC(capacity=8)
      >>> s = m.update(m.init(), jnp.array([0.1, 0.4, 0.35, 0.8]), jnp.array([0, 0, 1, 1]))
      >>> float(m.compute(s))
      0.75
    """

    def _binary(self, scores: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
        return _binary_auroc(scores, labels, valid)


class AveragePrecision(_Buffered, init=False):
    """Average precision, equal to scikit-learn's ``average_precision_score``.

    The step-wise area under the precision-recall curve, no interpolation. A class without positive
    samples scores 0, as in scikit-learn.

    Args:
      num_classes, average, capacity: as :class:`AUROC`.

    Raises:
      ConfigError: as :class:`AUROC`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.AveragePrecision(capacity=8)
      >>> round(float(m(jnp.array([0.1, 0.4, 0.35, 0.8]), jnp.array([0, 0, 1, 1]))), 4)
      0.8333
    """

    def _binary(self, scores: jax.Array, labels: jax.Array, valid: jax.Array) -> jax.Array:
        return _binary_ap(scores, labels, valid)
