"""NAdam (Dozat, 2016) with PyTorch's momentum-decay schedule, as ``torch.optim.NAdam``."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._adam import _AdamFamily
from ._config import option
from ._optimizer import Leaf, bias_correction, lr_dtype

__all__ = ["NAdam", "NAdamState"]


def _mu(beta1: float, momentum_decay: float, t: jax.Array) -> jax.Array:
    """:math:`\\mu_t = \\beta_1 (1 - 0.5 \\cdot 0.96^{t \\psi})`."""
    return beta1 * (1.0 - 0.5 * jnp.exp(t * (momentum_decay * math.log(0.96))))


class NAdam(_AdamFamily):
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
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.NAdam(lr=0.01)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, state = opt.step(params, {"w": jnp.array([1.0])}, opt.init(params))
      >>> round(params["w"].item(), 5), round(float(state.mu_product["default"]), 6)
      (0.98944, 0.450073)
    """

    lr: float | Callable = 2e-3
    momentum_decay: float = option(4e-3, "nonneg")
    decoupled_weight_decay: bool = option(False, "flag")

    scalars = ("mu_product",)

    def init_scalars(self) -> dict[str, jax.Array]:
        return {"mu_product": jnp.ones((), lr_dtype())}

    def advance_scalars(self, scalars: dict[str, jax.Array], step: jax.Array) -> dict[str, jax.Array]:
        product = scalars["mu_product"]
        return {"mu_product": product * _mu(self.betas[0], self.momentum_decay, step.astype(product.dtype))}

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        g, t = leaf.grad, leaf.step
        mu = _mu(beta1, self.momentum_decay, t)
        mu_next = _mu(beta1, self.momentum_decay, t + 1)
        mu_product = leaf.scalars["mu_product"]
        m, v = self._moments(leaf)
        denom = jnp.sqrt(v / bias_correction(beta2, t)) + self.eps
        d = ((1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        d = d + (mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
        return d, {"exp_avg": m, "exp_avg_sq": v}


NAdamState = NAdam.State
