"""Adam and AdamW (Kingma & Ba, 2015; Loshchilov & Hutter, 2019), as in ``torch.optim.Adam/AdamW``."""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from ._config import Checker, option
from ._optimizer import Leaf, Optimizer, bias_correction, ema, ema_square

__all__ = ["Adam", "AdamW", "AdamState"]


class _AdamFamily(Optimizer):
    """The hyperparameters, slots and moments the Adam family shares (PyTorch's positions 2-4)."""

    betas: tuple[float, float] = option((0.9, 0.999), "betas")
    eps: float = option(1e-8, "positive")
    weight_decay: float = option(0.0, "nonneg")

    slots = {"exp_avg": "the first moment :math:`m`", "exp_avg_sq": "the second moment :math:`v`"}
    weight_decay_style: ClassVar[str | None] = "l2"

    def _moments(self, leaf: Leaf) -> tuple[jax.Array, jax.Array]:
        """The new first and second moments :math:`m_t, v_t` of ``leaf``."""
        beta1, beta2 = self.betas
        return ema(leaf.slots["exp_avg"], leaf.grad, beta1), ema_square(
            leaf.slots["exp_avg_sq"], leaf.grad, beta2
        )


class Adam(_AdamFamily):
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
      decoupled_weight_decay: decay the parameters directly (AdamW).
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

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

    amsgrad: bool = option(False, "flag")
    decoupled_weight_decay: bool = option(False, "flag", kw_only=True)

    slots = {
        **_AdamFamily.slots,
        "max_exp_avg_sq": "the running maximum of :math:`v` (``None`` unless ``amsgrad=True``)",
    }

    def active_slots(self, param: jax.Array) -> tuple[str, ...]:
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if self.amsgrad else ("exp_avg", "exp_avg_sq")

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        m, v = self._moments(leaf)
        new = {"exp_avg": m, "exp_avg_sq": v}
        if self.amsgrad:
            v = jnp.maximum(leaf.slots["max_exp_avg_sq"], v)
            new["max_exp_avg_sq"] = v
        denom = jnp.sqrt(v) / jnp.sqrt(bias_correction(beta2, leaf.step)) + self.eps
        return (m / denom) / bias_correction(beta1, leaf.step), new


AdamState = Adam.State


class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    The parameters are first decayed, :math:`p \leftarrow p(1 - \eta\lambda)`, then updated as in
    :class:`Adam` without an L2 term in the gradient. Note the default ``weight_decay=1e-2``.

    Args:
      lr: learning rate, or a schedule (function of the step).
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: decoupled weight decay :math:`\lambda`.
      amsgrad: use the running maximum of :math:`v_t`.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.AdamW(lr=0.1, weight_decay=0.5)
      >>> params = {"w": jnp.array([2.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([0.0])}, opt.init(params))
      >>> round(params["w"].item(), 6)
      1.9
    """

    weight_decay: float = 1e-2
    decoupled_weight_decay: bool = True

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        if not values["decoupled_weight_decay"]:
            check.conflict("decoupled_weight_decay is always True for AdamW (use Adam for L2 decay)")
