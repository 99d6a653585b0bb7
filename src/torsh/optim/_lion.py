"""Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023, Program 1)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, ema

__all__ = ["Lion", "LionState"]


class Lion(Optimizer):
    r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

    .. math::
        c = \beta_1 m + (1-\beta_1) g,\quad
        p \leftarrow p - \eta\,(\operatorname{sign}(c) + \lambda p),\quad
        m_t = \beta_2 m + (1-\beta_2) g

    Args:
      lr: learning rate (default 1e-4; typically 3-10x smaller than AdamW's), or a schedule.
      betas: :math:`(\beta_1, \beta_2)` (default (0.9, 0.99)), each in [0, 1).
      weight_decay: decoupled weight decay :math:`\lambda` (typically 3-10x AdamW's).
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Lion(lr=0.1)
      >>> params = {"w": jnp.array([1.0, 1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([0.3, -2.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]
      [0.9, 1.1]
    """

    lr: float | Callable = 1e-4
    betas: tuple[float, float] = option((0.9, 0.99), "betas")
    weight_decay: float = option(0.0, "nonneg")

    slots = {"exp_avg": "the momentum :math:`m`"}
    weight_decay_style = "decoupled"

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        m, g = leaf.slots["exp_avg"], leaf.grad
        return jnp.sign(ema(m, g, beta1)), {"exp_avg": ema(m, g, beta2)}


LionState = Lion.State
