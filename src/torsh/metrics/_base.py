"""The metric protocol: configuration objects with pure ``init``/``update``/``merge``/``compute``.

A metric object holds configuration only (static fields of a :class:`torsh.tree.Struct`); its *state*
is a plain dict of arrays, so it passes through ``jax.jit``, ``lax.scan`` and ``vmap`` and is saved
like any pytree. Count-based states are sums, so ``merge`` is addition and ``jax.lax.psum`` merges
the states of all devices; :meth:`Metric.reduce` does the right collective for every metric
(buffered and moment-based states need more than a sum).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError, DTypeError, ShapeError
from ..tree import Struct

__all__ = ["Metric"]

State = dict[str, jax.Array]


def is_concrete(*xs: Any) -> bool:
    """True when no argument is being traced (values can be inspected and errors raised)."""
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


COUNT = jnp.int32  # counts are exact integers (a float32 count stops being exact at 2**24)


def float_dtype() -> Any:
    """Sums use the default float precision (float32, or float64 under x64 mode)."""
    return jnp.result_type(float)


class Metric(Struct):
    """Base class of torsh metrics.

    Subclasses implement ``init() -> state``, ``update(state, preds, target, mask=None) -> state``
    and ``compute(state) -> value``. ``merge`` defaults to adding the states leaf by leaf (right for
    every count-based state), ``reduce(state, axis_name)`` to ``jax.lax.psum``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> m = metrics.Accuracy()
      >>> s = m.update(m.init(), jnp.array([[0.1, 0.9], [0.8, 0.2]]), jnp.array([1, 1]))
      >>> float(m.compute(s))
      0.5
    """

    # Metrics compare and hash by configuration (type and static fields), so equal metrics can be
    # used as static arguments and dict keys; NaN (zero_division=nan) equals itself here.
    def _key(self) -> tuple:
        values = tuple(getattr(self, name) for name in self.__torsh_static_fields__)
        return (type(self), tuple("nan" if isinstance(v, float) and v != v else v for v in values))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Metric) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def init(self) -> State:
        """The empty state (a dict of arrays).

        Returns:
          The state of a metric that has seen nothing.

        Example:
          >>> from torsh import metrics
          >>> {k: int(v) for k, v in metrics.Accuracy().init().items()}
          {'correct': 0, 'total': 0}
        """
        raise NotImplementedError

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        """The state after also seeing this batch; rows where ``mask`` is False are ignored.

        Pure: ``state`` is not modified, so it runs under ``jit``/``scan``. Bad values (class ids out
        of range, non-finite scores) are detected eagerly only; under ``jit`` they count nowhere.

        Args:
          state: the state so far (from :meth:`init` or an earlier update).
          preds: the predictions of this batch (scores, logits or labels; see the metric).
          target: the true values of this batch.
          mask: ``[batch]`` (or ``target``'s shape) bool array; False rows are ignored.

        Returns:
          The new state.

        Raises:
          ShapeError: ``preds``, ``target`` or ``mask`` shapes that do not fit (the message names them).
          DTypeError: non-numeric inputs, a non-bool mask, or float class ids.
          ConfigError: class ids outside the metric's classes (eagerly).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.Accuracy()
          >>> s = m.update(m.init(), jnp.array([1, 0, 1]), jnp.array([1, 1, 1]),
          ...              mask=jnp.array([True, True, False]))
          >>> int(s["correct"]), int(s["total"])
          (1, 2)
        """
        raise NotImplementedError

    def compute(self, state: State) -> Any:
        """The metric's value from a state (a scalar array, or an array for per-class results).

        Args:
          state: a state from :meth:`update`, :meth:`merge` or :meth:`reduce`.

        Returns:
          The value (NaN for most metrics when nothing was seen).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.Accuracy()
          >>> float(m.compute(m.update(m.init(), jnp.array([1, 0]), jnp.array([1, 1]))))
          0.5
        """
        raise NotImplementedError

    def merge(self, a: State, b: State) -> State:
        """One state holding what ``a`` and ``b`` saw (e.g. two shards or two devices).

        Args:
          a, b: two states of this metric.

        Returns:
          The merged state (leaf-wise sums by default).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.Accuracy()
          >>> a = m.update(m.init(), jnp.array([1]), jnp.array([1]))
          >>> b = m.update(m.init(), jnp.array([0]), jnp.array([1]))
          >>> float(m.compute(m.merge(a, b)))
          0.5
        """
        return jax.tree_util.tree_map(jnp.add, a, b)

    def reduce(self, state: State, axis_name: Any) -> State:
        """Merge the states of all devices along a mapped axis (inside ``shard_map``/``pmap``/``vmap``).

        Args:
          state: this device's state.
          axis_name: the mapped axis name (or names) to reduce over.

        Returns:
          The state of all devices together, the same on every device.

        Example:
          >>> import jax, jax.numpy as jnp
          >>> from torsh import metrics
          >>> m = metrics.Accuracy()
          >>> def per_device(p, t):
          ...     return m.compute(m.reduce(m.update(m.init(), p, t), "d"))
          >>> preds, target = jnp.array([[1, 1], [0, 1]]), jnp.array([[1, 1], [1, 1]])
          >>> jax.vmap(per_device, axis_name="d")(preds, target).tolist()   # 3 of 4, on each device
          [0.75, 0.75]
        """
        return jax.lax.psum(state, axis_name)

    def __call__(self, preds: Any, target: Any, mask: Any = None) -> Any:
        """The metric of one batch: ``compute(update(init(), preds, target, mask))``."""
        return self.compute(self.update(self.init(), preds, target, mask))

    # -- helpers shared by subclasses -------------------------------------------------------------
    def _name(self) -> str:
        return f"metrics.{type(self).__name__}"

    def _fail(self, argument: str, expected: str, value: Any) -> None:
        raise ConfigError(f"{self._name()}: {argument} must be {expected}, got {value!r}")

    def _array(self, x: Any, argument: str) -> jax.Array:
        if isinstance(x, jax.Array):
            arr = x
        elif isinstance(x, (np.ndarray, np.number, int, float, bool, list, tuple)):
            host = np.asarray(x)
            if not (host.dtype == np.bool_ or np.issubdtype(host.dtype, np.number) or host.dtype.kind == "V"):
                raise DTypeError(f"{self._name()}: {argument} must be numeric, got dtype {host.dtype}")
            arr = jnp.asarray(host)
        else:
            raise DTypeError(f"{self._name()}: {argument} must be an array, got {type(x).__name__}")
        if not (arr.dtype == jnp.bool_ or jnp.issubdtype(arr.dtype, jnp.number)):
            raise DTypeError(f"{self._name()}: {argument} must be numeric, got dtype {arr.dtype}")
        return arr

    def _mask(self, mask: Any, shape: tuple[int, ...]) -> jax.Array:
        """A bool mask of ``shape`` (a ``[batch]`` mask broadcasts over trailing target axes)."""
        if mask is None:
            return jnp.ones(shape, bool)
        m = self._array(mask, "mask")
        if m.dtype != jnp.bool_:
            raise DTypeError(f"{self._name()}: mask must be a bool array, got dtype {m.dtype}")
        if m.shape != shape[: m.ndim] or m.ndim == 0:
            raise ShapeError(
                f"{self._name()}: mask must have shape {list(shape[:1])} (one flag per row) or "
                f"{list(shape)}, got {list(m.shape)}"
            )
        return jnp.broadcast_to(m.reshape(m.shape + (1,) * (len(shape) - m.ndim)), shape)

    def _int_target(self, target: Any, argument: str = "target") -> jax.Array:
        t = self._array(target, argument)
        if t.dtype == jnp.bool_:
            t = t.astype(jnp.int32)
        if not jnp.issubdtype(t.dtype, jnp.integer):
            raise DTypeError(
                f"{self._name()}: {argument} must hold integer class ids, got dtype {t.dtype}; "
                f"convert it with {argument}.astype(jnp.int32)"
            )
        return t

    def _check_range(self, values: jax.Array, valid: jax.Array, high: int, argument: str) -> None:
        """Eagerly: class ids in ``[0, high)`` (under jit, out-of-range ids count nowhere)."""
        if not is_concrete(values, valid):
            return
        v = np.asarray(values)[np.asarray(valid)]
        if v.size and (v.min() < 0 or v.max() >= high):
            bad = v[(v < 0) | (v >= high)][0]
            raise ConfigError(f"{self._name()}: {argument} holds class id {int(bad)}, outside [0, {high})")
