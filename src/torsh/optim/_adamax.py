"""Adamax (Kingma & Ba, 2015, section 7), as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._adam import _AdamFamily
from ._optimizer import Leaf, bias_correction, ema

__all__ = ["Adamax", "AdamaxState"]


class Adamax(_AdamFamily):
    r"""Adamax, Adam with the infinity norm, as ``torch.optim.Adamax``.

    .. math::
        m_t = \beta_1 m + (1-\beta_1) g,\quad u_t = \max(\beta_2 u, |g| + \epsilon),\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\frac{m_t}{u_t}

    Args:
      lr: learning rate (default 2e-3), or a schedule.
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to :math:`|g|`, > 0.
      weight_decay: L2 penalty.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adamax(lr=0.1)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([4.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.9
    """

    lr: float | Callable = 2e-3

    slots = {
        "exp_avg": "the first moment :math:`m`",
        "exp_inf": "the exponentially weighted infinity norm :math:`u`",
    }

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        m = ema(leaf.slots["exp_avg"], leaf.grad, beta1)
        u = jnp.maximum(leaf.slots["exp_inf"] * beta2, jnp.abs(leaf.grad) + self.eps)
        return (m / u) / bias_correction(beta1, leaf.step), {"exp_avg": m, "exp_inf": u}


AdamaxState = Adamax.State
