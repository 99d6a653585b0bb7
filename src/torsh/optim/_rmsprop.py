"""RMSprop (Hinton, 2012; centered variant of Graves, 2013), as ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, ema, ema_square

__all__ = ["RMSprop", "RMSpropState"]


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``.

    .. math::
        v_t = \alpha v + (1-\alpha) g^2,\quad
        d = \sqrt{v_t - \bar g_t^2} + \epsilon \text{ (centered) or } \sqrt{v_t} + \epsilon,\quad
        b_t = \mu b + g/d,\quad p \leftarrow p - \eta\,b_t \text{ (or } \eta g/d \text{ without momentum)}

    Args:
      lr: learning rate (default 1e-2), or a schedule.
      alpha: smoothing constant, in [0, 1).
      eps: added to the denominator, > 0.
      weight_decay: L2 penalty.
      momentum: momentum factor, >= 0.
      centered: normalise by the estimated variance instead of the second moment.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.RMSprop(lr=0.01, alpha=0.0, eps=1e-8)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([3.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.99
    """

    lr: float | Callable = 1e-2
    alpha: float = option(0.99, "unit_interval")
    eps: float = option(1e-8, "positive")
    weight_decay: float = option(0.0, "nonneg")
    momentum: float = option(0.0, "nonneg")
    centered: bool = option(False, "flag")

    slots = {
        "square_avg": "the running average of :math:`g^2`",
        "momentum_buffer": "the momentum buffer (``None`` when ``momentum=0``)",
        "grad_avg": "the running average of :math:`g` (``None`` unless ``centered``)",
    }
    weight_decay_style = "l2"

    def active_slots(self, param: jax.Array) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.momentum > 0:
            names.append("momentum_buffer")
        if self.centered:
            names.append("grad_avg")
        return tuple(names)

    def direction(self, leaf: Leaf) -> tuple:
        alpha, g, slots = self.alpha, leaf.grad, leaf.slots
        sq = ema_square(slots["square_avg"], g, alpha)
        new = {"square_avg": sq}
        if self.centered:
            ga = ema(slots["grad_avg"], g, alpha)
            new["grad_avg"] = ga
            avg = jnp.sqrt(sq - ga * ga)
        else:
            avg = jnp.sqrt(sq)
        avg = avg + self.eps
        if self.momentum > 0:
            buf = slots["momentum_buffer"] * self.momentum + g / avg
            new["momentum_buffer"] = buf
            return buf, new
        return g / avg, new


RMSpropState = RMSprop.State
