"""LAMB (You et al., "Large Batch Optimization for Deep Learning", ICLR 2020, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer, bias_correction
from ._state import OptState

__all__ = ["LAMB", "LAMBState"]


class LAMBState(OptState):
    """State of :class:`LAMB`: ``step``, per-group ``lr``, per-parameter ``exp_avg`` and ``exp_avg_sq``."""

    step: jax.Array
    lr: dict
    exp_avg: Any = None
    exp_avg_sq: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


class LAMB(Optimizer):
    r"""LAMB: Adam directions rescaled per parameter tensor by a trust ratio.

    For every parameter tensor (layer) :math:`x`:

    .. math::
        r = \frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon} + \lambda x,\quad
        x \leftarrow x - \eta\,\frac{\|x\|}{\|r\|}\,r

    with the trust ratio taken as 1 when either norm is zero (the published algorithm with
    :math:`\phi` the identity; optax's ``lamb`` computes the same).

    Args:
      lr: learning rate, or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator (default 1e-6), > 0.
      weight_decay: decoupled weight decay :math:`\lambda` (inside the trust-ratio direction).
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options (e.g. ``weight_decay=0.0`` for biases and norms).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.LAMB(lr=0.1)
      >>> params = {"w": jnp.array([3.0, 4.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([1.0, 1.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]  # the step has norm lr * ||w|| = 0.5
      [2.6464, 3.6464]
    """

    _state_type = LAMBState
    _slot_names = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        lr: float | Callable = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
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
        hp["betas"] = check.betas("betas", hp["betas"])
        hp["eps"] = check.positive("eps", hp["eps"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        beta1, beta2 = hp["betas"]
        m = slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        v = slots["exp_avg_sq"] * beta2 + (1 - beta2) * (g * g)
        r = (m / bias_correction(beta1, t)) / (jnp.sqrt(v / bias_correction(beta2, t)) + hp["eps"])
        if hp["weight_decay"] != 0:
            r = r + hp["weight_decay"] * p
        p_norm = jnp.sqrt(jnp.sum(p * p))
        r_norm = jnp.sqrt(jnp.sum(r * r))
        ratio = jnp.where((p_norm > 0) & (r_norm > 0), p_norm / jnp.where(r_norm > 0, r_norm, 1.0), 1.0)
        return p - (lr * ratio) * r, {"exp_avg": m, "exp_avg_sq": v}
