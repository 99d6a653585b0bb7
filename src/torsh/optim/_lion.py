"""Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023, Program 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer
from ._state import OptState

__all__ = ["Lion", "LionState"]


class LionState(OptState):
    """State of :class:`Lion`: ``step``, per-group ``lr``, per-parameter ``exp_avg``."""

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class Lion(Optimizer):
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    .. math::
        c = \beta_1 m + (1-\beta_1) g,\quad
        p \leftarrow p - \eta\,(\operatorname{sign}(c) + \lambda p),\quad
        m_t = \beta_2 m + (1-\beta_2) g

    Args:
      lr: learning rate (default 1e-4; typically 3-10x smaller than AdamW's), or a schedule.
      betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.99)), each in [0, 1).
      weight_decay: decoupled weight decay :math:`\lambda` (typically 3-10x AdamW's).
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Lion(lr=0.1)
      >>> params = {"w": jnp.array([1.0, 1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([0.3, -2.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]
      [0.9, 1.1]
    """

    _state_type = LionState
    _slot_names = ("exp_avg",)

    def __init__(
        self,
        lr: float | Callable = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp["lr"] = check.lr("lr", hp["lr"])
        hp["betas"] = check.betas("betas", hp["betas"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        beta1, beta2 = hp["betas"]
        m = slots["exp_avg"]
        c = m + (1 - beta1) * (g - m)
        if hp["weight_decay"] != 0:
            p = p * (1 - lr * hp["weight_decay"])
        p = p - lr * jnp.sign(c)
        m = m + (1 - beta2) * (g - m)
        return p, {"exp_avg": m}
