"""Mean and Sum of a stream of values."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from ._base import Metric, State, float_dtype

__all__ = ["Mean", "Sum"]


class _Aggregate(Metric):
    def init(self) -> State:
        return {"total": jnp.zeros((), float_dtype()), "weight": jnp.zeros((), float_dtype())}

    def update(self, state: State, values: Any, *, weight: Any = None, mask: Any = None) -> State:  # type: ignore[override]
        """Add ``values`` (any shape; every element counts) with an optional ``weight``.

        Keyword-only ``weight``/``mask``, so a call made for a ``(preds, target)`` metric fails
        loudly instead of reading ``target`` as a weight.

        Args:
          state: the state so far.
          values: the values (any shape).
          weight: broadcast to ``values``' shape (default 1).
          mask: ``[batch]`` or ``values``' shape; False rows are dropped.

        Returns:
          The new state.

        Raises:
          ShapeError: ``weight`` does not broadcast to ``values``, or a mask of the wrong shape.
          DTypeError: non-numeric values or weights, or a non-bool mask.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.Mean()
          >>> s = m.update(m.init(), jnp.array([1.0, 3.0]), weight=jnp.array([3.0, 1.0]))
          >>> float(m.compute(s))
          1.5
        """
        v = self._array(values, "values").astype(float_dtype())
        w = jnp.ones(v.shape, v.dtype) if weight is None else self._array(weight, "weight").astype(v.dtype)
        try:
            w = jnp.broadcast_to(w, v.shape)
        except ValueError:
            raise ShapeError(
                f"{self._name()}: weight of shape {list(w.shape)} does not broadcast to values' "
                f"{list(v.shape)}"
            ) from None
        m = (
            self._mask(mask, v.shape)
            if v.ndim
            else (jnp.ones((), bool) if mask is None else jnp.asarray(mask))
        )
        w = jnp.where(m, w, 0.0)
        return {
            "total": state["total"] + jnp.sum(jnp.where(m, v * w, 0.0)),
            "weight": state["weight"] + jnp.sum(w),
        }

    def __call__(self, values: Any, *, weight: Any = None, mask: Any = None) -> jax.Array:  # type: ignore[override]
        return self.compute(self.update(self.init(), values, weight=weight, mask=mask))


class Mean(_Aggregate):
    """The (weighted) mean of every value seen: ``sum(w * x) / sum(w)`` (torchmetrics' MeanMetric).

    NaN when nothing was seen (no values, or every row masked), as ``numpy.mean([])``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.Mean()
      >>> s = m.update(m.init(), jnp.array([1.0, 2.0, 3.0]))
      >>> s = m.update(s, jnp.array([10.0, 0.0]), mask=jnp.array([True, False]))
      >>> float(m.compute(s))
      4.0
    """

    def compute(self, state: State) -> jax.Array:
        return state["total"] / state["weight"]


class Sum(_Aggregate):
    """The (weighted) sum of every value seen (torchmetrics' SumMetric); 0 when nothing was seen.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.Sum()
      >>> float(m.compute(m.update(m.init(), jnp.array([1.0, 2.0]), weight=jnp.array([1.0, 0.5]))))
      2.0
    """

    def compute(self, state: State) -> jax.Array:
        return state["total"]
