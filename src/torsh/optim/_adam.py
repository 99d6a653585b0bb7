"""Adam and AdamW (Kingma & Ba, 2015; Loshchilov & Hutter, 2019), as in ``torch.optim.Adam/AdamW``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer, bias_correction
from ._state import OptState

__all__ = ["Adam", "AdamW", "AdamState"]


class AdamState(OptState):
    """State of :class:`Adam` and :class:`AdamW`.

    Attributes:
      step: number of steps taken (int32).
      lr: learning rate per param group, used by the next step.
      exp_avg: per-parameter first moment :math:`m`.
      exp_avg_sq: per-parameter second moment :math:`v`.
      max_exp_avg_sq: running maximum of :math:`v` (``None`` unless ``amsgrad=True``).
      hyperparams: the static configuration per param group.
    """

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    exp_avg_sq: Any = None
    max_exp_avg_sq: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


def _check_adam(check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
    hp["lr"] = check.lr("lr", hp["lr"])
    hp["betas"] = check.betas("betas", hp["betas"])
    hp["eps"] = check.positive("eps", hp["eps"])
    hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
    hp["amsgrad"] = check.flag("amsgrad", hp["amsgrad"])
    hp["maximize"] = check.flag("maximize", hp["maximize"])
    hp["decoupled_weight_decay"] = check.flag("decoupled_weight_decay", hp["decoupled_weight_decay"])
    return hp


class _AdamBase(Optimizer):
    _state_type = AdamState
    _slot_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def _slots(self, hp: FrozenDict) -> tuple[str, ...]:
        return self._slot_names if hp["amsgrad"] else ("exp_avg", "exp_avg_sq")

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
        new = {"exp_avg": m, "exp_avg_sq": v}
        if hp["amsgrad"]:
            v = jnp.maximum(slots["max_exp_avg_sq"], v)
            new["max_exp_avg_sq"] = v
        step_size = lr / bias_correction(beta1, t)
        denom = jnp.sqrt(v) / jnp.sqrt(bias_correction(beta2, t)) + hp["eps"]
        return p - step_size * (m / denom), new


class Adam(_AdamBase):
    r"""Adam, with ``torch.optim.Adam``'s arguments, defaults and update rule.

    .. math::
        g \leftarrow \nabla + \lambda p,\ m_t = \beta_1 m + (1-\beta_1) g,\
        v_t = \beta_2 v + (1-\beta_2) g^2,\
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}

    ``weight_decay`` is an L2 penalty added to the gradient (use :class:`AdamW`, or
    ``decoupled_weight_decay=True``, for decoupled decay).

    Args:
      lr: learning rate, or a schedule (function of the step).
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: L2 penalty.
      amsgrad: use the running maximum of :math:`v_t` (AMSGrad).
      maximize: maximize the objective instead of minimizing.
      decoupled_weight_decay: decay the parameters directly (AdamW).
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup` or ``{"params": ...}``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adam(lr=0.1)
      >>> params = {"w": jnp.array([1.0, -1.0])}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([3.0, -0.5])}, state)
      >>> [round(x, 4) for x in params["w"].tolist()]
      [0.9, -0.9]
      >>> float(state.lr["default"])
      0.10000000149011612
    """

    def __init__(
        self,
        lr: float | Callable = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        return _check_adam(check, hp)


class AdamW(_AdamBase):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    The parameters are first decayed, :math:`p \leftarrow p(1 - \eta\lambda)`, then updated as in
    :class:`Adam` without an L2 term in the gradient. Note the default ``weight_decay=1e-2``.

    Args:
      lr: learning rate, or a schedule (function of the step).
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: decoupled weight decay :math:`\lambda`.
      amsgrad: use the running maximum of :math:`v_t`.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options, e.g. ``[optim.ParamGroup("*.bias", weight_decay=0.0)]``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.AdamW(lr=0.1, weight_decay=0.5)
      >>> params = {"w": jnp.array([2.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([0.0])}, opt.init(params))
      >>> round(params["w"].item(), 6)
      1.9
    """

    def __init__(
        self,
        lr: float | Callable = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp.setdefault("decoupled_weight_decay", True)
        hp = _check_adam(check, hp)
        if not hp["decoupled_weight_decay"]:
            check.conflict("decoupled_weight_decay is always True for AdamW (use Adam for L2 decay)")
        return hp
