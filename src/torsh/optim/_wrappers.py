"""Wrappers around an optimizer: gradient accumulation (``MultiSteps``) and dynamic loss scaling
for float16 training (``DynamicLossScale``). Both decide *inside* the jitted step, with
``lax.cond``, whether the wrapped optimizer runs, so a training step compiles once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import ConfigError
from ..tree import static
from ._base import GradientTransformation, flatten_like
from ._config import Checker, FrozenDict, option
from ._optimizer import _compute_dtype
from ._state import OptState
from ._transforms import check_transform, open_unit_interval

__all__ = ["MultiSteps", "MultiStepsState", "DynamicLossScale", "LossScaleState", "all_finite"]

PyTree = Any


def _zeros_like_structure(tree_of_shapes: PyTree) -> PyTree:
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tree_of_shapes)


class MultiStepsState(OptState):
    """State of :class:`MultiSteps`.

    Args:
      mini_step: micro-steps accumulated since the last real update (0 .. every_k - 1).
      grad_acc: the sum of the accumulated gradients (float32 for half-precision parameters).
      inner: the wrapped optimizer's state.
      every_k: the number of micro-steps per update (static).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.MultiSteps(optim.SGD(lr=0.1), every_k=4).init({"w": jnp.zeros(2)})
      >>> int(state.mini_step), state.grad_acc["w"].tolist(), state.every_k
      (0, [0.0, 0.0], 4)
    """

    mini_step: jax.Array
    grad_acc: Any
    inner: Any
    every_k: int = static(default=1)


class MultiSteps(GradientTransformation):
    """Gradient accumulation: apply ``opt`` to the mean of every ``every_k`` consecutive gradients.

    Micro-steps in between return the parameters unchanged (``update`` returns zero updates), so one
    jitted training step serves both; this is optax's ``MultiSteps`` and PyTorch's "call
    ``optimizer.step()`` every k backward passes" with the loss divided by k.

    Args:
      opt: the optimizer (or any gradient transformation) to apply every ``every_k`` micro-steps.
      every_k: number of micro-steps per update, >= 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.MultiSteps(optim.SGD(lr=1.0), every_k=2)
      >>> params = {"w": jnp.zeros(1)}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([1.0])}, state)
      >>> params["w"].tolist()
      [0.0]
      >>> params, state = opt.step(params, {"w": jnp.array([3.0])}, state)
      >>> params["w"].tolist()   # one SGD step on the mean gradient 2.0
      [-2.0]
    """

    opt: GradientTransformation = option(check=check_transform)
    every_k: int = option(check="count")

    def init(self, params: PyTree) -> MultiStepsState:
        mask = _tree.trainable_mask(params)
        acc = _tree.map(
            lambda p, m: jnp.zeros(jnp.shape(p), _compute_dtype(jnp.asarray(p).dtype)) if m else None,
            params,
            mask,
        )
        return MultiStepsState(
            mini_step=jnp.zeros((), jnp.int32),
            grad_acc=acc,
            inner=self.opt.init(params),
            every_k=self.every_k,
        )

    def _accumulate(self, grads: PyTree, state: MultiStepsState, params: PyTree) -> tuple[PyTree, PyTree]:
        leaves, spec = _tree.flatten(params)
        acc = flatten_like(spec, state.grad_acc, "MultiSteps: state.grad_acc", params)
        g = flatten_like(spec, grads, "MultiSteps: grads", params)
        new_acc = [
            None if a is None else (a if x is None else a + jnp.asarray(x).astype(a.dtype))
            for a, x in zip(acc, g, strict=True)
        ]
        mean = [None if a is None else a / self.every_k for a in new_acc]
        # the mean is handed to the optimizer in the parameters' dtype
        mean = [
            None if m is None else m.astype(jnp.asarray(p).dtype) for m, p in zip(mean, leaves, strict=True)
        ]
        return _tree.unflatten(spec, new_acc), _tree.unflatten(spec, mean)

    def update(
        self, grads: PyTree, state: MultiStepsState, params: PyTree = None
    ) -> tuple[PyTree, MultiStepsState]:
        if params is None:
            raise ConfigError("MultiSteps.update: params are required")
        acc, mean = self._accumulate(grads, state, params)
        boundary = state.mini_step + 1 >= self.every_k

        def apply(_):
            updates, inner = self.opt.update(mean, state.inner, params)
            return updates, inner, _tree.map(jnp.zeros_like, acc)

        def wait(_):
            shapes = jax.eval_shape(lambda: self.opt.update(mean, state.inner, params)[0])
            return _zeros_like_structure(shapes), state.inner, acc

        updates, inner, new_acc = jax.lax.cond(boundary, apply, wait, None)
        mini = jnp.where(boundary, 0, state.mini_step + 1).astype(jnp.int32)
        return updates, state.replace(mini_step=mini, grad_acc=new_acc, inner=inner)

    def step(self, params: PyTree, grads: PyTree, state: MultiStepsState) -> tuple[PyTree, MultiStepsState]:
        acc, mean = self._accumulate(grads, state, params)
        boundary = state.mini_step + 1 >= self.every_k

        def apply(_):
            new_params, inner = self.opt.step(params, mean, state.inner)
            return new_params, inner, _tree.map(jnp.zeros_like, acc)

        def wait(_):
            return params, state.inner, acc

        new_params, inner, new_acc = jax.lax.cond(boundary, apply, wait, None)
        mini = jnp.where(boundary, 0, state.mini_step + 1).astype(jnp.int32)
        return new_params, state.replace(mini_step=mini, grad_acc=new_acc, inner=inner)


def all_finite(tree: PyTree) -> jax.Array:
    """True (a bool array) when every floating leaf of ``tree`` is free of inf and nan.

    Args:
      tree: a pytree (``None`` and non-floating leaves are ignored).

    Returns:
      A scalar bool array (jit-safe).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> bool(optim.all_finite({"a": jnp.ones(2), "b": None})), bool(optim.all_finite([jnp.array(jnp.inf)]))
      (True, False)
    """
    checks = [jnp.all(jnp.isfinite(x)) for x in _tree.leaves(tree) if x is not None and _tree.is_inexact(x)]
    if not checks:
        return jnp.bool_(True)
    return jnp.all(jnp.stack(checks))


def _above_one(check: Checker, name: str, value: Any) -> float:
    v = check.finite(name, value)
    if not v > 1.0:
        check.fail(name, "a finite number > 1", value)
    return v


class LossScaleState(OptState):
    """State of :class:`DynamicLossScale`.

    Args:
      scale: the current loss scale (multiply the loss by it before differentiating).
      growth_tracker: consecutive finite steps since the last change of scale.
      found_inf: whether the last step found non-finite gradients (and was skipped).
      inner: the wrapped optimizer's state.
      config: the scaler's configuration (static).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.DynamicLossScale(optim.SGD(lr=0.1)).init({"w": jnp.zeros(1)})
      >>> float(state.scale), int(state.growth_tracker), bool(state.found_inf)
      (65536.0, 0, False)
    """

    scale: jax.Array
    growth_tracker: jax.Array
    found_inf: jax.Array
    inner: Any
    config: FrozenDict = static(default=FrozenDict())


class DynamicLossScale(GradientTransformation):
    """Dynamic loss scaling for float16 training, with ``torch.amp.GradScaler``'s rule.

    Multiply the loss by ``state.scale`` (or use :meth:`scale_loss`) before differentiating; ``step``
    unscales the gradients, and if any is inf/nan skips the update (parameters and inner state
    unchanged) and multiplies the scale by ``backoff_factor``; after ``growth_interval`` consecutive
    finite steps it multiplies the scale by ``growth_factor``. All inside ``jit``.

    Args:
      opt: the optimizer to wrap.
      init_scale: starting scale (default 2**16).
      growth_factor: > 1.
      backoff_factor: in (0, 1).
      growth_interval: finite steps between growths, >= 1.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.DynamicLossScale(optim.SGD(lr=0.1), init_scale=4.0)
      >>> params = {"w": jnp.ones(1, jnp.float16)}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([jnp.inf], jnp.float16)}, state)
      >>> params["w"].tolist(), float(state.scale), bool(state.found_inf)
      ([1.0], 2.0, True)
      >>> params, state = opt.step(params, {"w": jnp.array([4.0], jnp.float16)}, state)  # scaled by 2
      >>> params["w"].tolist()
      [0.7998046875]
    """

    opt: GradientTransformation = option(check=check_transform)
    init_scale: float = option(2.0**16, "positive")
    growth_factor: float = option(2.0, _above_one)
    backoff_factor: float = option(0.5, open_unit_interval)
    growth_interval: int = option(2000, "count")

    def init(self, params: PyTree) -> LossScaleState:
        return LossScaleState(
            scale=jnp.asarray(self.init_scale, jnp.float32),
            growth_tracker=jnp.zeros((), jnp.int32),
            found_inf=jnp.bool_(False),
            inner=self.opt.init(params),
            config=FrozenDict((k, v) for k, v in self._config_items() if k != "opt"),
        )

    @staticmethod
    def scale_loss(loss: jax.Array, state: LossScaleState) -> jax.Array:
        """``loss * state.scale`` in the loss's dtype (differentiate this).

        Args:
          loss: the scalar loss.
          state: the scaler's state.

        Returns:
          The scaled loss.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.DynamicLossScale(optim.SGD(lr=0.1), init_scale=8.0)
          >>> float(opt.scale_loss(jnp.float16(0.5), opt.init({"w": jnp.zeros(1)})))
          4.0
        """
        loss = jnp.asarray(loss)
        return loss * state.scale.astype(loss.dtype)

    @staticmethod
    def unscale(grads: PyTree, state: LossScaleState) -> PyTree:
        """Divide gradients by the scale (in float32, returned in each gradient's dtype).

        Args:
          grads: gradients of the scaled loss.
          state: the scaler's state.

        Returns:
          The gradients of the loss itself.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.DynamicLossScale(optim.SGD(lr=0.1), init_scale=8.0)
          >>> opt.unscale({"w": jnp.array([4.0], jnp.float16)}, opt.init({"w": jnp.zeros(1)}))["w"].tolist()
          [0.5]
        """
        inv = 1.0 / state.scale

        def one(g: Any) -> Any:
            if g is None or not _tree.is_inexact(g):
                return g
            g = jnp.asarray(g)
            return (g.astype(jnp.promote_types(g.dtype, jnp.float32)) * inv).astype(g.dtype)

        return _tree.map(one, grads)

    def _next(self, state: LossScaleState, finite: jax.Array) -> dict[str, jax.Array]:
        successful = state.growth_tracker + 1
        grow = successful == self.growth_interval
        grown = state.scale * self.growth_factor
        scale = jnp.where(
            finite,
            jnp.where(grow & jnp.isfinite(grown), grown, state.scale),
            state.scale * self.backoff_factor,
        )
        tracker = jnp.where(finite, jnp.where(grow, 0, successful), 0).astype(jnp.int32)
        return {"scale": scale.astype(state.scale.dtype), "growth_tracker": tracker, "found_inf": ~finite}

    def update(
        self, grads: PyTree, state: LossScaleState, params: PyTree = None
    ) -> tuple[PyTree, LossScaleState]:
        grads = self.unscale(grads, state)
        finite = all_finite(grads)

        def apply(_):
            return self.opt.update(grads, state.inner, params)

        def skip(_):
            shapes = jax.eval_shape(lambda: self.opt.update(grads, state.inner, params)[0])
            return _zeros_like_structure(shapes), state.inner

        updates, inner = jax.lax.cond(finite, apply, skip, None)
        return updates, state.replace(inner=inner, **self._next(state, finite))

    def step(self, params: PyTree, grads: PyTree, state: LossScaleState) -> tuple[PyTree, LossScaleState]:
        grads = self.unscale(grads, state)
        finite = all_finite(grads)
        new_params, inner = jax.lax.cond(
            finite, lambda _: self.opt.step(params, grads, state.inner), lambda _: (params, state.inner), None
        )
        return new_params, state.replace(inner=inner, **self._next(state, finite))
