"""Lookahead (Zhang et al., "Lookahead Optimizer: k steps forward, 1 step back", NeurIPS 2019)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ._base import GradientTransformation, apply_updates, flatten_like
from ._config import option
from ._optimizer import _compute_dtype
from ._state import OptState
from ._transforms import check_transform, trainable_copy

__all__ = ["Lookahead", "LookaheadState"]

PyTree = Any


class LookaheadState(OptState):
    """State of :class:`Lookahead`.

    Args:
      step: steps taken (the slow weights move when it reaches a multiple of ``k``).
      slow: the slow weights (``None`` at leaves that are not trained).
      inner: the wrapped (fast) optimizer's state.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.Lookahead(optim.SGD(lr=0.1)).init({"w": jnp.ones(2)})
      >>> int(state.step), state.slow["w"].tolist()
      (0, [1.0, 1.0])
    """

    step: jax.Array
    slow: Any
    inner: Any


class Lookahead(GradientTransformation):
    r"""Lookahead around any torsh optimizer: ``k`` fast steps, then one slow step back.

    The wrapped optimizer updates the (fast) parameters as usual; every ``k`` steps the slow weights
    move towards them, :math:`\phi \leftarrow \phi + \alpha(\theta - \phi)`, and the parameters are
    reset to the slow weights (Algorithm 1 of the paper; ``optax.lookahead`` with
    ``reset_state=False``). The parameters you hold are the fast ones; after a multiple of ``k``
    steps they equal the slow ones, which is when to evaluate. The inner optimizer's state (moments,
    learning-rate schedule) carries on across synchronisations.

    Args:
      opt: the optimizer (or any gradient transformation) making the fast steps.
      k: fast steps per synchronisation, >= 1.
      alpha: slow step size, in [0, 1].

    Raises:
      ConfigError: ``opt`` is not a torsh optimizer, or ``k``/``alpha`` out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Lookahead(optim.SGD(lr=1.0), k=2, alpha=0.5)
      >>> params = {"w": jnp.zeros(1)}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([-1.0])}, state)
      >>> params["w"].tolist()   # a fast step
      [1.0]
      >>> params, state = opt.step(params, {"w": jnp.array([-1.0])}, state)
      >>> params["w"].tolist()   # fast weights reach 2.0; slow ones move half way there, params follow
      [1.0]
    """

    opt: GradientTransformation = option(check=check_transform)
    k: int = option(5, "count")
    alpha: float = option(0.5, "probability")

    def init(self, params: PyTree) -> LookaheadState:
        """The state: step 0, slow weights equal to ``params``, the inner optimizer's state.

        Args:
          params: the parameters.

        Returns:
          The :class:`LookaheadState`.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> sorted(optim.Lookahead(optim.SGD(lr=0.1)).init({"w": jnp.ones(2)}).state_dict())
          ['inner.lr.default', 'inner.step', 'slow.w', 'step']
        """
        inner = self.opt.init(params)
        return LookaheadState(step=jnp.zeros((), jnp.int32), slow=trainable_copy(params), inner=inner)

    def _synchronise(self, fast: PyTree, state: LookaheadState, inner: Any) -> tuple[PyTree, LookaheadState]:
        step = state.step + 1
        sync = step % self.k == 0
        leaves, spec = _tree.flatten(fast)
        slow = flatten_like(spec, state.slow, "Lookahead: state.slow", fast)
        new_fast: list[Any] = []
        new_slow: list[Any] = []
        for f, s in zip(leaves, slow, strict=True):
            if s is None:
                new_fast.append(f)
                new_slow.append(None)
                continue
            cdt = _compute_dtype(s.dtype)
            moved = (s.astype(cdt) + self.alpha * (jnp.asarray(f).astype(cdt) - s.astype(cdt))).astype(
                s.dtype
            )
            new_fast.append(jnp.where(sync, moved, f).astype(jnp.asarray(f).dtype))
            new_slow.append(jnp.where(sync, moved, s))
        new_state = state.replace(step=step, slow=_tree.unflatten(spec, new_slow), inner=inner)
        return _tree.unflatten(spec, new_fast), new_state

    def step(self, params: PyTree, grads: PyTree, state: LookaheadState) -> tuple[PyTree, LookaheadState]:
        fast, inner = self.opt.step(params, grads, state.inner)
        return self._synchronise(fast, state, inner)

    def update(
        self, grads: PyTree, state: LookaheadState, params: PyTree = None
    ) -> tuple[PyTree, LookaheadState]:
        updates, inner = self.opt.update(grads, state.inner, params)
        new_params, new_state = self._synchronise(apply_updates(params, updates), state, inner)
        leaves, spec = _tree.flatten(params)
        ups = flatten_like(spec, updates, "Lookahead: updates", params)
        news = spec.flatten_up_to(new_params)
        out = [
            None if u is None else (jnp.asarray(n) - jnp.asarray(p)).astype(jnp.asarray(u).dtype)
            for u, n, p in zip(ups, news, leaves, strict=True)
        ]
        return _tree.unflatten(spec, out), new_state
