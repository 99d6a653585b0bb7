"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer
from ._state import OptState

__all__ = ["Adadelta", "AdadeltaState"]


class AdadeltaState(OptState):
    """State of :class:`Adadelta`: ``step``, per-group ``lr``, per-parameter ``square_avg``, ``acc_delta``."""

    step: jax.Array
    lr: dict
    square_avg: Any = None
    acc_delta: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta`` (note its default ``lr=1.0``).

    .. math::
        v_t = \rho v + (1-\rho) g^2,\quad
        \Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{v_t + \epsilon}}\,g,\quad
        u_t = \rho u + (1-\rho)\Delta^2,\quad p \leftarrow p - \eta\Delta

    Args:
      lr: coefficient scaling the delta (default 1.0), or a schedule.
      rho: running-average coefficient, in [0, 1].
      eps: added inside the square roots (default 1e-6), > 0.
      weight_decay: L2 penalty.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adadelta()
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([1.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.99684
    """

    _state_type = AdadeltaState
    _slot_names = ("square_avg", "acc_delta")

    def __init__(
        self,
        lr: float | Callable = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp["lr"] = check.lr("lr", hp["lr"])
        hp["rho"] = check.unit_interval("rho", hp["rho"], closed_right=True)
        hp["eps"] = check.positive("eps", hp["eps"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        rho, eps = hp["rho"], hp["eps"]
        if hp["weight_decay"] != 0:
            g = g + hp["weight_decay"] * p
        sq = slots["square_avg"] * rho + (1 - rho) * (g * g)
        std = jnp.sqrt(sq + eps)
        delta = jnp.sqrt(slots["acc_delta"] + eps) / std * g
        acc = slots["acc_delta"] * rho + (1 - rho) * (delta * delta)
        return p - lr * delta, {"square_avg": sq, "acc_delta": acc}
