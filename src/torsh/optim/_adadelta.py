"""Adadelta (Zeiler, 2012), as ``torch.optim.Adadelta``."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, ema_square

__all__ = ["Adadelta", "AdadeltaState"]


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta`` (note its default ``lr=1.0``).

    .. math::
        v_t = \rho v + (1-\rho) g^2,\quad
        \Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{v_t + \epsilon}}\,g,\quad
        u_t = \rho u + (1-\rho)\Delta^2,\quad p \leftarrow p - \eta\Delta

    Args:
      lr: coefficient scaling the delta (default 1.0), or a schedule.
      rho: running-average coefficient, in [0, 1].
      eps: added inside the square roots (default 1e-6), > 0.
      weight_decay: L2 penalty.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adadelta()
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([1.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.99684
    """

    lr: float | Callable = 1.0
    rho: float = option(0.9, "probability")
    eps: float = option(1e-6, "positive")
    weight_decay: float = option(0.0, "nonneg")

    slots = {
        "square_avg": "the running average of :math:`g^2`",
        "acc_delta": "the running average of squared updates",
    }
    weight_decay_style = "l2"

    def direction(self, leaf: Leaf) -> tuple:
        rho, eps, g = self.rho, self.eps, leaf.grad
        sq = ema_square(leaf.slots["square_avg"], g, rho)
        std = jnp.sqrt(sq + eps)
        delta = jnp.sqrt(leaf.slots["acc_delta"] + eps) / std * g
        acc = ema_square(leaf.slots["acc_delta"], delta, rho)
        return delta, {"square_avg": sq, "acc_delta": acc}


AdadeltaState = Adadelta.State
