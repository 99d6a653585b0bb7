"""Adamax (Kingma & Ba, 2015, section 7), as ``torch.optim.Adamax``."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, bias_correction

__all__ = ["Adamax", "AdamaxState"]


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

    lr: float | Callable = 2e-3
    betas: tuple[float, float] = option((0.9, 0.999), "betas")
    eps: float = option(1e-8, "positive")
    weight_decay: float = option(0.0, "nonneg")

    slots = {
        "exp_avg": "the first moment :math:`m`",
        "exp_inf": "the exponentially weighted infinity norm :math:`u`",
    }
    weight_decay_style = "l2"

    def update_leaf(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        g = leaf.grad
        m = leaf.slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        u = jnp.maximum(leaf.slots["exp_inf"] * beta2, jnp.abs(g) + self.eps)
        clr = leaf.lr / bias_correction(beta1, leaf.step)
        return leaf.param - clr * (m / u), {"exp_avg": m, "exp_inf": u}


AdamaxState = Adamax.State
