"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ._config import Checker, option
from ._optimizer import Leaf, Optimizer

__all__ = ["SGD", "SGDState"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, with PyTorch's ``torch.optim.SGD`` arguments and update rule.

    .. math::
        g \leftarrow \nabla + \lambda p,\quad
        b_t = \mu b_{t-1} + (1-\tau) g\ (b_1 = g),\quad
        p \leftarrow p - \eta\,(g + \mu b_t \text{ if nesterov else } b_t)

    Args:
      lr: learning rate, or a schedule (function of the step).
      momentum: momentum factor :math:`\mu` (0 disables the buffer), or a schedule of it
        (``schedules.cyclic_momentum``: PyTorch's ``CyclicLR(cycle_momentum=True)``).
      dampening: dampening :math:`\tau` for momentum.
      weight_decay: L2 penalty :math:`\lambda` added to the gradient.
      nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.SGD(lr=0.1, momentum=0.9)
      >>> params = {"w": jnp.array([1.0, 2.0])}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([1.0, 1.0])}, state)
      >>> params["w"].tolist(), int(state.step)
      ([0.8999999761581421, 1.899999976158142], 1)
    """

    lr: float | Callable = 1e-3
    # momentum may follow a schedule (e.g. schedules.cyclic_momentum, CyclicLR's cycle_momentum)
    momentum: float | Callable = option(0.0, lambda c, n, v: c.schedule_or(n, v, c.nonneg))
    dampening: float = option(0.0, "number")
    weight_decay: float = option(0.0, "nonneg")
    nesterov: bool = option(False, "flag")

    slots = {"momentum_buffer": "the momentum buffer (``None`` when ``momentum=0``)"}
    weight_decay_style = "l2"

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        momentum = values["momentum"]
        first = momentum(0) if callable(momentum) else momentum
        if values["nesterov"] and (float(first) <= 0 or values["dampening"] != 0):
            check.conflict(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={momentum}, dampening={values['dampening']}"
            )

    def active_slots(self, param: jax.Array) -> tuple[str, ...]:
        return ("momentum_buffer",) if callable(self.momentum) or self.momentum != 0 else ()

    def direction(self, leaf: Leaf) -> tuple:
        g = leaf.grad
        if callable(self.momentum):  # the momentum of step t (1-based) is the schedule's value at t - 1
            momentum: Any = jnp.asarray(self.momentum(leaf.step.astype(jnp.int32) - 1), g.dtype)
        elif self.momentum == 0:
            return g, {}
        else:
            momentum = self.momentum
        buf = jnp.where(
            leaf.step == 1, g, momentum * leaf.slots["momentum_buffer"] + (1 - self.dampening) * g
        )
        return (g + momentum * buf if self.nesterov else buf), {"momentum_buffer": buf}


SGDState = SGD.State
