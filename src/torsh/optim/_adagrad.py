"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer
from ._state import OptState

__all__ = ["Adagrad", "AdagradState"]


class AdagradState(OptState):
    """State of :class:`Adagrad`: ``step``, per-group ``lr``, per-parameter ``sum`` of squared gradients."""

    step: jax.Array
    lr: dict
    sum: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::
        \tilde\eta = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}},\quad s_t = s + g^2,\quad
        p \leftarrow p - \tilde\eta\,\frac{g}{\sqrt{s_t} + \epsilon}

    Args:
      lr: learning rate (default 1e-2), or a schedule.
      lr_decay: learning-rate decay, >= 0.
      weight_decay: L2 penalty.
      initial_accumulator_value: starting value of the sum of squares, >= 0.
      eps: added to the denominator (default 1e-10), > 0.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adagrad(lr=0.5)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, state = opt.step(params, {"w": jnp.array([2.0])}, opt.init(params))
      >>> round(params["w"].item(), 5), state.sum["w"].tolist()
      (0.5, [4.0])
    """

    _state_type = AdagradState
    _slot_names = ("sum",)

    def __init__(
        self,
        lr: float | Callable = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp["lr"] = check.lr("lr", hp["lr"])
        hp["lr_decay"] = check.nonneg("lr_decay", hp["lr_decay"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["initial_accumulator_value"] = check.nonneg(
            "initial_accumulator_value", hp["initial_accumulator_value"]
        )
        hp["eps"] = check.positive("eps", hp["eps"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _init_slot(self, name, param, hp):
        value = hp["initial_accumulator_value"]
        if jnp.iscomplexobj(param):  # PyTorch starts each real and imaginary part at the value
            return jnp.full_like(param, complex(value, value))
        return jnp.full_like(param, value)

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        if hp["weight_decay"] != 0:
            g = g + hp["weight_decay"] * p
        clr = lr / (1 + (t - 1) * hp["lr_decay"])
        s = slots["sum"] + g * g
        std = jnp.sqrt(s) + hp["eps"]
        return p - clr * (g / std), {"sum": s}
