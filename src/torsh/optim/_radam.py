"""RAdam (Liu et al., 2020): Adam with variance rectification, as ``torch.optim.RAdam``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer, bias_correction
from ._state import OptState

__all__ = ["RAdam", "RAdamState"]


class RAdamState(OptState):
    """State of :class:`RAdam`: ``step``, per-group ``lr``, per-parameter ``exp_avg`` and ``exp_avg_sq``."""

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    exp_avg_sq: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class RAdam(Optimizer):
    r"""Rectified Adam, as ``torch.optim.RAdam``.

    With :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, the step is the Adam step times the
    rectification
    :math:`r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}`
    when :math:`\rho_t > 5`, and plain (bias-corrected) momentum SGD otherwise.

    Args:
      lr: learning rate, or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: L2 penalty (or decoupled with ``decoupled_weight_decay=True``).
      decoupled_weight_decay: decay the parameters directly, as AdamW does.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.RAdam(lr=0.1)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([2.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)  # the first steps are SGD with momentum: 1 - 0.1 * 2
      0.8
    """

    _state_type = RAdamState
    _slot_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        lr: float | Callable = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
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
        hp["decoupled_weight_decay"] = check.flag("decoupled_weight_decay", hp["decoupled_weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        beta1, beta2 = hp["betas"]
        wd = hp["weight_decay"]
        if wd != 0:
            if hp["decoupled_weight_decay"]:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        v = slots["exp_avg_sq"] * beta2 + (1 - beta2) * (g * g)
        bc1 = bias_correction(beta1, t)
        bc2 = bias_correction(beta2, t)
        corrected = m / bc1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (1 - bc2) / bc2
        rectified = rho_t > 5.0
        rho = jnp.where(rectified, rho_t, 6.0)  # keep the unused branch finite
        rect = jnp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        adaptive = jnp.sqrt(bc2) / (jnp.sqrt(v) + hp["eps"])
        step = jnp.where(rectified, corrected * lr * adaptive * rect, corrected * lr)
        return p - step, {"exp_avg": m, "exp_avg_sq": v}
