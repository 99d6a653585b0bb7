"""NAdam (Dozat, 2016) with PyTorch's momentum-decay schedule, as ``torch.optim.NAdam``."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer, bias_correction, lr_dtype
from ._state import OptState

__all__ = ["NAdam", "NAdamState"]


class NAdamState(OptState):
    """State of :class:`NAdam`.

    Attributes:
      step: number of steps taken (int32).
      lr: learning rate per param group, used by the next step.
      exp_avg, exp_avg_sq: per-parameter first and second moments.
      mu_product: per param group, the product of the momentum coefficients :math:`\\prod_i \\mu_i`.
      hyperparams: the static configuration per param group.
    """

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    exp_avg_sq: Any = None
    mu_product: dict | None = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


def _mu(beta1: float, momentum_decay: float, t: jax.Array) -> jax.Array:
    """:math:`\\mu_t = \\beta_1 (1 - 0.5 \\cdot 0.96^{t \\psi})`."""
    return beta1 * (1.0 - 0.5 * jnp.exp(t * (momentum_decay * math.log(0.96))))


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum, as ``torch.optim.NAdam``.

    .. math::
        \mu_t = \beta_1(1 - \tfrac12 0.96^{t\psi}),\quad
        p \leftarrow p - \eta\frac{1-\mu_t}{1-\prod_{i\le t}\mu_i}\frac{g}{d}
                       - \eta\frac{\mu_{t+1}}{1-\prod_{i\le t+1}\mu_i}\frac{m_t}{d},\quad
        d = \sqrt{v_t/(1-\beta_2^t)} + \epsilon

    Args:
      lr: learning rate (default 2e-3), or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: L2 penalty (or decoupled decay with ``decoupled_weight_decay=True``).
      momentum_decay: :math:`\psi`, >= 0.
      decoupled_weight_decay: decay the parameters directly, as AdamW does.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.NAdam(lr=0.01)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, state = opt.step(params, {"w": jnp.array([1.0])}, opt.init(params))
      >>> round(params["w"].item(), 5), round(float(state.mu_product["default"]), 6)
      (0.98944, 0.450073)
    """

    _state_type = NAdamState
    _slot_names = ("exp_avg", "exp_avg_sq")
    _scalar_names = ("mu_product",)

    def __init__(
        self,
        lr: float | Callable = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
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
        hp["momentum_decay"] = check.nonneg("momentum_decay", hp["momentum_decay"])
        hp["decoupled_weight_decay"] = check.flag("decoupled_weight_decay", hp["decoupled_weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _init_scalars(self, hp: FrozenDict) -> dict[str, jax.Array]:
        return {"mu_product": jnp.ones((), lr_dtype())}

    def _advance_scalars(self, hp, t, scalars):
        mu = _mu(hp["betas"][0], hp["momentum_decay"], t.astype(scalars["mu_product"].dtype))
        return {"mu_product": scalars["mu_product"] * mu}

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        beta1, beta2 = hp["betas"]
        wd = hp["weight_decay"]
        if wd != 0:
            if hp["decoupled_weight_decay"]:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        mu = _mu(beta1, hp["momentum_decay"], t)
        mu_next = _mu(beta1, hp["momentum_decay"], t + 1)
        mu_product = scalars["mu_product"]
        m = slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        v = slots["exp_avg_sq"] * beta2 + (1 - beta2) * (g * g)
        denom = jnp.sqrt(v / bias_correction(beta2, t)) + hp["eps"]
        p = p + (-lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p = p + (-lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
        return p, {"exp_avg": m, "exp_avg_sq": v}
