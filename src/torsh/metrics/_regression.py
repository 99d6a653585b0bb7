"""Regression metrics: MeanSquaredError, MeanAbsoluteError, R2Score (scikit-learn's definitions)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from ..tree import static
from ._base import Metric, State, float_dtype

__all__ = ["MeanSquaredError", "MeanAbsoluteError", "R2Score"]


def _pair(metric: Metric, preds: Any, target: Any, mask: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``preds`` and ``target`` as ``[batch, outputs]`` floats and a ``[batch, outputs]`` mask."""
    p = metric._array(preds, "preds").astype(float_dtype())
    t = metric._array(target, "target").astype(float_dtype())
    if p.shape != t.shape or p.ndim not in (1, 2):
        raise ShapeError(
            f"{metric._name()}: preds and target must have the same shape, [batch] or [batch, outputs]; "
            f"got preds {list(p.shape)} and target {list(t.shape)}"
        )
    m = metric._mask(mask, t.shape)
    if p.ndim == 1:
        p, t, m = p[:, None], t[:, None], m[:, None]
    return p, t, m


class _ErrorSum(Metric):
    def init(self) -> State:
        return {"total": jnp.zeros((), float_dtype()), "count": jnp.zeros((), float_dtype())}

    def _error(self, diff: jax.Array) -> jax.Array:
        raise NotImplementedError

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        p, t, m = _pair(self, preds, target, mask)
        return {
            "total": state["total"] + jnp.sum(jnp.where(m, self._error(p - t), 0.0)),
            "count": state["count"] + jnp.sum(m),
        }


class MeanSquaredError(_ErrorSum):
    """The mean of ``(preds - target) ** 2`` over every element; ``squared=False`` gives the root.

    scikit-learn's ``mean_squared_error`` with ``multioutput="uniform_average"``. NaN when nothing
    was seen.

    Args:
      squared: ``False`` for the root mean squared error.

    Raises:
      ConfigError: ``squared`` is not a bool.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> float(metrics.MeanSquaredError()(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0])))
      2.0
    """

    squared: bool = static(default=True)

    def __init__(self, squared: bool = True) -> None:
        if not isinstance(squared, bool):
            self._fail("squared", "a bool", squared)
        self.squared = squared

    def _error(self, diff: jax.Array) -> jax.Array:
        return diff * diff

    def compute(self, state: State) -> jax.Array:
        mse = state["total"] / state["count"]
        return mse if self.squared else jnp.sqrt(mse)


class MeanAbsoluteError(_ErrorSum):
    """The mean of ``|preds - target|`` (scikit-learn's ``mean_absolute_error``); NaN when empty.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> float(metrics.MeanAbsoluteError()(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0])))
      1.0
    """

    def _error(self, diff: jax.Array) -> jax.Array:
        return jnp.abs(diff)

    def compute(self, state: State) -> jax.Array:
        return state["total"] / state["count"]


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` (scikit-learn's ``r2_score``).

    The state keeps per output the count, mean and centred sum of squares of the targets (merged
    with Chan et al.'s parallel formula, so a nearly constant target loses no precision to
    ``sum(y**2) - sum(y)**2 / n`` cancellation) and the residual sum of squares. As scikit-learn
    (``force_finite=True``): a constant target scores 1 if predicted exactly, else 0; fewer than two
    samples give NaN.

    Args:
      multioutput: for ``[batch, outputs]`` inputs: ``"uniform_average"`` (default),
        ``"variance_weighted"`` or ``"raw_values"`` (one score per output).

    Raises:
      ConfigError: ``num_outputs`` is not an int >= 1, or an unknown ``multioutput``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> preds, target = jnp.array([2.5, 0.0, 2.0, 8.0]), jnp.array([3.0, -0.5, 2.0, 7.0])
      >>> round(float(metrics.R2Score()(preds, target)), 4)
      0.9486
    """

    num_outputs: int = static(default=1)
    multioutput: str = static(default="uniform_average")

    def __init__(self, num_outputs: int = 1, multioutput: str = "uniform_average") -> None:
        if not isinstance(num_outputs, int) or isinstance(num_outputs, bool) or num_outputs < 1:
            self._fail("num_outputs", "an int >= 1", num_outputs)
        if multioutput not in ("uniform_average", "variance_weighted", "raw_values"):
            self._fail("multioutput", "'uniform_average', 'variance_weighted' or 'raw_values'", multioutput)
        self.num_outputs, self.multioutput = num_outputs, multioutput

    def init(self) -> State:
        z = jnp.zeros((self.num_outputs,), float_dtype())
        return {"count": jnp.zeros((), float_dtype()), "mean": z, "m2": z, "sse": z}

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        p, t, m = _pair(self, preds, target, mask)
        if t.shape[1] != self.num_outputs:
            raise ShapeError(
                f"{self._name()}: num_outputs is {self.num_outputs}, "
                f"the batch has {t.shape[1]} outputs per row"
            )
        n = jnp.sum(m[:, 0]).astype(float_dtype())
        # shift by the first valid target: a constant column then has mean and m2 exactly
        first = jnp.argmax(m[:, 0])
        shift = t[first]
        mean = shift + jnp.sum(jnp.where(m, t - shift, 0.0), axis=0) / jnp.maximum(n, 1.0)
        m2 = jnp.sum(jnp.where(m, (t - mean) ** 2, 0.0), axis=0)
        sse = jnp.sum(jnp.where(m, (p - t) ** 2, 0.0), axis=0)
        return self.merge(state, {"count": n, "mean": jnp.where(n > 0, mean, 0.0), "m2": m2, "sse": sse})

    def merge(self, a: State, b: State) -> State:
        n = a["count"] + b["count"]
        safe = jnp.where(n > 0, n, 1.0)
        delta = b["mean"] - a["mean"]
        return {
            "count": n,
            "mean": a["mean"] + delta * (b["count"] / safe),
            "m2": a["m2"] + b["m2"] + delta**2 * (a["count"] * b["count"] / safe),
            "sse": a["sse"] + b["sse"],
        }

    def reduce(self, state: State, axis_name: Any) -> State:
        """psum of counts and sums, with the centred sums of squares moved to the global mean.

        Args:
          state: this device's state.
          axis_name: the mapped axis name to reduce over.

        Returns:
          The state of all devices together.

        Example:
          >>> import jax, jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.R2Score()
          >>> def per_device(p, t):
          ...     return m.compute(m.reduce(m.update(m.init(), p, t), "d"))
          >>> preds, target = jnp.array([[2.5, 0.0], [2.0, 8.0]]), jnp.array([[3.0, -0.5], [2.0, 7.0]])
          >>> round(float(jax.vmap(per_device, axis_name="d")(preds, target)[0]), 4)
          0.9486
        """
        n = jax.lax.psum(state["count"], axis_name)
        mean = jax.lax.psum(state["count"] * state["mean"], axis_name) / jnp.where(n > 0, n, 1.0)
        m2 = jax.lax.psum(state["m2"] + state["count"] * (state["mean"] - mean) ** 2, axis_name)
        return {"count": n, "mean": mean, "m2": m2, "sse": jax.lax.psum(state["sse"], axis_name)}

    def compute(self, state: State) -> jax.Array:
        sse, m2 = state["sse"], state["m2"]
        raw = jnp.where(m2 > 0, 1.0 - sse / jnp.where(m2 > 0, m2, 1.0), jnp.where(sse == 0, 1.0, 0.0))
        if self.multioutput == "raw_values":
            out = raw
        elif self.multioutput == "variance_weighted" and self.num_outputs > 1:
            total = jnp.sum(m2)
            out = jnp.where(total > 0, jnp.sum(raw * m2) / jnp.where(total > 0, total, 1.0), jnp.mean(raw))
        else:
            out = jnp.mean(raw)
        return jnp.where(state["count"] >= 2, out, jnp.nan)
