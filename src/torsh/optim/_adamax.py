"""Adamax (Kingma & Ba, 2015, section 7), as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer, bias_correction
from ._state import OptState

__all__ = ["Adamax", "AdamaxState"]


class AdamaxState(OptState):
    """State of :class:`Adamax`: ``step``, per-group ``lr``, per-parameter ``exp_avg`` and ``exp_inf``."""

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    exp_inf: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class Adamax(Optimizer):
    r"""Adamax, Adam with the infinity norm, as ``torch.optim.Adamax``.

    .. math::
        m_t = \beta_1 m + (1-\beta_1) g,\quad u_t = \max(\beta_2 u, |g| + \epsilon),\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\frac{m_t}{u_t}

    Args:
      lr: learning rate (default 2e-3), or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to :math:`|g|`, > 0.
      weight_decay: L2 penalty.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adamax(lr=0.1)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([4.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.9
    """

    _state_type = AdamaxState
    _slot_names = ("exp_avg", "exp_inf")

    def __init__(
        self,
        lr: float | Callable = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
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
        hp["eps"] = check.positive("eps", hp["eps"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        beta1, beta2 = hp["betas"]
        if hp["weight_decay"] != 0:
            g = g + hp["weight_decay"] * p
        m = slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        u = jnp.maximum(slots["exp_inf"] * beta2, jnp.abs(g) + hp["eps"])
        clr = lr / bias_correction(beta1, t)
        return p - clr * (m / u), {"exp_avg": m, "exp_inf": u}
