"""LAMB (You et al., "Large Batch Optimization for Deep Learning", ICLR 2020, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, bias_correction

__all__ = ["LAMB", "LAMBState"]


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

    lr: float | Callable = 1e-3
    betas: tuple[float, float] = option((0.9, 0.999), "betas")
    eps: float = option(1e-6, "positive")
    weight_decay: float = option(0.0, "nonneg")

    slots = {"exp_avg": "the first moment :math:`m`", "exp_avg_sq": "the second moment :math:`v`"}
    weight_decay_style = None  # the decay joins the Adam ratio before the trust ratio (the rule's own)

    def update_leaf(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        g, t, p = leaf.grad, leaf.step, leaf.param
        m = leaf.slots["exp_avg"]
        m = m + (1 - beta1) * (g - m)
        v = leaf.slots["exp_avg_sq"] * beta2 + (1 - beta2) * (g * g)
        r = (m / bias_correction(beta1, t)) / (jnp.sqrt(v / bias_correction(beta2, t)) + self.eps)
        if self.weight_decay != 0:
            r = r + self.weight_decay * p
        p_norm = jnp.sqrt(jnp.sum(p * p))
        r_norm = jnp.sqrt(jnp.sum(r * r))
        ratio = jnp.where((p_norm > 0) & (r_norm > 0), p_norm / jnp.where(r_norm > 0, r_norm, 1.0), 1.0)
        return p - (leaf.lr * ratio) * r, {"exp_avg": m, "exp_avg_sq": v}


LAMBState = LAMB.State
