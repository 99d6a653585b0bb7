"""LAMB (You et al., "Large Batch Optimization for Deep Learning", ICLR 2020, Algorithm 2)."""

from __future__ import annotations

import jax.numpy as jnp

from ._adam import _AdamFamily
from ._optimizer import Leaf, bias_correction

__all__ = ["LAMB", "LAMBState"]


class LAMB(_AdamFamily):
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
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.LAMB(lr=0.1)
      >>> params = {"w": jnp.array([3.0, 4.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([1.0, 1.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]  # the step has norm lr * ||w|| = 0.5
      [2.6464, 3.6464]
    """

    eps: float = 1e-6
    slots = _AdamFamily.slots
    weight_decay_style = None  # the decay joins the Adam ratio before the trust ratio (the rule's own)

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        t, p = leaf.step, leaf.param
        m, v = self._moments(leaf)
        r = (m / bias_correction(beta1, t)) / (jnp.sqrt(v / bias_correction(beta2, t)) + self.eps)
        if self.weight_decay != 0:
            r = r + self.weight_decay * p
        p_norm = jnp.sqrt(jnp.sum(p * p))
        r_norm = jnp.sqrt(jnp.sum(r * r))
        ratio = jnp.where((p_norm > 0) & (r_norm > 0), p_norm / jnp.where(r_norm > 0, r_norm, 1.0), 1.0)
        return ratio * r, {"exp_avg": m, "exp_avg_sq": v}


LAMBState = LAMB.State
