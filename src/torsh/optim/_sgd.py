"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer
from ._state import OptState

__all__ = ["SGD", "SGDState"]


class SGDState(OptState):
    """State of :class:`SGD`.

    Attributes:
      step: number of steps taken (int32).
      lr: learning rate per param group, used by the next step.
      momentum_buffer: per-parameter momentum (``None`` when ``momentum=0``).
      hyperparams: the static configuration per param group.
    """

    step: jax.Array
    lr: dict
    momentum_buffer: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


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
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup` or ``{"params": ...}``).

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

    _state_type = SGDState
    _slot_names = ("momentum_buffer",)

    def __init__(
        self,
        lr: float | Callable = 1e-3,
        momentum: float | Callable = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp["lr"] = check.lr("lr", hp["lr"])
        # momentum may follow a schedule (e.g. schedules.cyclic_momentum, CyclicLR's cycle_momentum)
        hp["momentum"] = check.schedule_or("momentum", hp["momentum"], check.nonneg)
        hp["dampening"] = check.number("dampening", hp["dampening"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["nesterov"] = check.flag("nesterov", hp["nesterov"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        first = hp["momentum"](0) if callable(hp["momentum"]) else hp["momentum"]
        if hp["nesterov"] and (float(first) <= 0 or hp["dampening"] != 0):
            check.conflict(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={hp['momentum']}, dampening={hp['dampening']}"
            )
        return hp

    def _slots(self, hp: FrozenDict) -> tuple[str, ...]:
        return ("momentum_buffer",) if callable(hp["momentum"]) or hp["momentum"] != 0 else ()

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        wd, momentum, dampening = hp["weight_decay"], hp["momentum"], hp["dampening"]
        if wd != 0:
            g = g + wd * p
        new_slots = {}
        if callable(momentum):  # the momentum of step t (1-based) is the schedule's value at t - 1
            momentum = jnp.asarray(momentum(t.astype(jnp.int32) - 1), p.dtype)
        if callable(hp["momentum"]) or momentum != 0:
            buf = jnp.where(t == 1, g, momentum * slots["momentum_buffer"] + (1 - dampening) * g)
            new_slots["momentum_buffer"] = buf
            g = g + momentum * buf if hp["nesterov"] else buf
        return p - lr * g, new_slots
