"""Exponential moving average of parameters (PyTorch's ``AveragedModel`` with an EMA function)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..tree import static
from ._base import flatten_like
from ._config import Checker, Config, FrozenDict, option
from ._optimizer import _compute_dtype
from ._state import OptState

__all__ = ["EMA", "EMAState"]

PyTree = Any


class EMAState(OptState):
    """State of :class:`EMA`.

    Args:
      step: number of ``update`` calls so far.
      params: the averaged parameters (same structure as the model: use them for evaluation).
      config: the EMA's configuration (static).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.EMA(0.9).init({"w": jnp.ones(2)})
      >>> int(state.step), state.params["w"].tolist()
      (0, [1.0, 1.0])
    """

    step: jax.Array
    params: Any
    config: FrozenDict = static(default=FrozenDict())


def _check_decay(check: Checker, name: str, value: Any) -> float | Callable:
    return check.schedule_or(name, value, check.probability)


class EMA(Config):
    """Exponential moving average of the parameters, for evaluation with smoothed weights.

    ``ema.update(params, state)`` after each optimizer step sets, for every trainable leaf,
    ``avg = decay * avg + (1 - decay) * param``; the first update copies the parameters (as
    ``torch.optim.swa_utils.AveragedModel`` does). Leaves that are not trained (integers, buffers such as
    BatchNorm statistics) are taken from the latest parameters, or averaged too with
    ``include_buffers=True`` (PyTorch's ``use_buffers=True``).

    Args:
      decay: in [0, 1], or a schedule ``step -> decay`` (jit-safe).
      include_buffers: also average floating buffers.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> ema = optim.EMA(decay=0.5)
      >>> state = ema.init({"w": jnp.zeros(1)})
      >>> for w in (1.0, 3.0, 5.0):
      ...     state = ema.update({"w": jnp.array([w])}, state)
      >>> state.params["w"].tolist()   # copy 1.0, then 0.5*1+0.5*3 = 2.0, then 0.5*2+0.5*5
      [3.5]
    """

    decay: float | Callable = option(0.999, _check_decay)
    include_buffers: bool = option(False, "flag", kw_only=True)

    def _averaged(self, params: PyTree) -> list[bool]:
        leaves, spec = _tree.flatten(params)
        if self.include_buffers:
            return [_tree.is_inexact(x) for x in leaves]
        return [bool(m) for m in spec.flatten_up_to(_tree.trainable_mask(params))]

    def init(self, params: PyTree) -> EMAState:
        """A state whose average starts as a copy of ``params``.

        Args:
          params: the model's parameters (any pytree).

        Returns:
          The :class:`EMAState`.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> optim.EMA().init({"w": jnp.zeros(1)}).params["w"].tolist()
          [0.0]
        """
        copy = _tree.map(lambda x: jnp.array(x, copy=True) if _tree.is_array(x) else x, params)
        return EMAState(step=jnp.zeros((), jnp.int32), params=copy, config=FrozenDict(self._config_items()))

    def update(self, params: PyTree, state: EMAState) -> EMAState:
        """Fold the current ``params`` into the average (pure; jit it with the training step).

        Args:
          params: the parameters after the optimizer step.
          state: the EMA state.

        Returns:
          The new :class:`EMAState`.

        Raises:
          TreeError: ``state.params`` does not have the structure of ``params``.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> ema = optim.EMA(0.5)
          >>> state = ema.update({"w": jnp.ones(1)}, ema.init({"w": jnp.zeros(1)}))  # first: a copy
          >>> ema.update({"w": jnp.full(1, 3.0)}, state).params["w"].tolist()
          [2.0]
        """
        decay = self.decay
        d = jnp.asarray(decay(state.step) if callable(decay) else decay, jnp.result_type(float))
        first = state.step == 0
        leaves, spec = _tree.flatten(params)
        avg = flatten_like(spec, state.params, "EMA.update: state.params", params)
        out = []
        for p, a, averaged in zip(leaves, avg, self._averaged(params), strict=True):
            if not averaged:
                out.append(p)
                continue
            p_arr = jnp.asarray(p)
            cdt = _compute_dtype(p_arr.dtype)
            pc, ac = p_arr.astype(cdt), jnp.asarray(a).astype(cdt)
            new = ac + (1 - d.astype(jnp.real(pc).dtype)) * (
                pc - ac
            )  # torch._foreach_lerp_(avg, p, 1 - decay)
            out.append(jnp.where(first, pc, new).astype(p_arr.dtype))
        return state.replace(step=state.step + 1, params=_tree.unflatten(spec, out))
