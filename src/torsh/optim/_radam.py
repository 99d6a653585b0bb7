"""RAdam (Liu et al., 2020): Adam with variance rectification, as ``torch.optim.RAdam``."""

from __future__ import annotations

import jax.numpy as jnp

from ._adam import _AdamFamily
from ._config import option
from ._optimizer import Leaf, bias_correction

__all__ = ["RAdam", "RAdamState"]


class RAdam(_AdamFamily):
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
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.RAdam(lr=0.1)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([2.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)  # the first steps are SGD with momentum: 1 - 0.1 * 2
      0.8
    """

    decoupled_weight_decay: bool = option(False, "flag")

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        t = leaf.step
        m, v = self._moments(leaf)
        bc1 = bias_correction(beta1, t)
        bc2 = bias_correction(beta2, t)
        corrected = m / bc1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (1 - bc2) / bc2
        rectified = rho_t > 5.0
        rho = jnp.where(rectified, rho_t, 6.0)  # keep the unused branch finite
        rect = jnp.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        adaptive = jnp.sqrt(bc2) / (jnp.sqrt(v) + self.eps)
        d = jnp.where(rectified, corrected * adaptive * rect, corrected)
        return d, {"exp_avg": m, "exp_avg_sq": v}


RAdamState = RAdam.State
