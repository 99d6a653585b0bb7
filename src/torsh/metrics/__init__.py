"""Pure, jit-able, mergeable metrics: a metric is configuration, its state a pytree of arrays.

Every metric has four pure methods: ``init() -> state``, ``update(state, preds, target, mask=None)
-> state``, ``merge(state_a, state_b) -> state`` and ``compute(state) -> value``. States are dicts of
arrays, so they pass through ``jax.jit``/``torsh.jit``, ``lax.scan`` and checkpoints; ``mask`` (bool
``[batch]``) excludes padded rows. Count-based states are sums: ``jax.lax.psum`` merges them across
devices, and :meth:`Metric.reduce` does the right collective for every metric. Values equal
scikit-learn's (see docs/metrics.md for the few documented differences: empty inputs give NaN).

Example:
    >>> import jax, jax.numpy as jnp
    >>> from torsh import metrics
    >>> m = metrics.F1Score(num_classes=3, average="macro")
    >>> step = jax.jit(m.update)
    >>> s = m.init()
    >>> s = step(s, jnp.array([[2.0, 0.1, 0.3], [0.1, 2.0, 0.3]]), jnp.array([0, 2]))
    >>> padded = jnp.array([[0.1, 0.2, 3.0], [0.0, 0.0, 0.0]])
    >>> s = step(s, padded, jnp.array([2, 1]), jnp.array([True, False]))
    >>> round(float(m.compute(s)), 4)
    0.5556
"""

from ._aggregation import Mean, Sum
from ._base import Metric
from ._classification import Accuracy, ConfusionMatrix, F1Score, Precision, Recall
from ._errors import CapacityError
from ._ranking import AUROC, AveragePrecision
from ._regression import MeanAbsoluteError, MeanSquaredError, R2Score
from ._text import Perplexity

__all__ = [
    "Metric",
    "Mean",
    "Sum",
    "Accuracy",
    "ConfusionMatrix",
    "Precision",
    "Recall",
    "F1Score",
    "AUROC",
    "AveragePrecision",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "R2Score",
    "Perplexity",
    "CapacityError",
]
