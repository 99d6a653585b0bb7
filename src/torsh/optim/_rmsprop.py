"""RMSprop (Hinton, 2012; centered variant of Graves, 2013), as ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from ..tree import static
from ._config import Checker, FrozenDict
from ._optimizer import Optimizer
from ._state import OptState

__all__ = ["RMSprop", "RMSpropState"]


class RMSpropState(OptState):
    """State of :class:`RMSprop`.

    Attributes:
      step, lr: steps taken; learning rate per param group.
      square_avg: per-parameter running average of :math:`g^2`.
      momentum_buffer: per-parameter momentum (``None`` when ``momentum=0``).
      grad_avg: per-parameter running average of :math:`g` (``None`` unless ``centered``).
      hyperparams: the static configuration per param group.
    """

    step: jax.Array
    lr: dict
    square_avg: Any = None
    momentum_buffer: Any = None
    grad_avg: Any = None
    hyperparams: FrozenDict = static(FrozenDict())
    lr_scale: Any = None  # {group: factor} for groups whose lr follows a schedule (ReduceLROnPlateau, set_lr)


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
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.RMSprop(lr=0.01, alpha=0.0, eps=1e-8)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, _ = opt.step(params, {"w": jnp.array([3.0])}, opt.init(params))
      >>> round(params["w"].item(), 5)
      0.99
    """

    _state_type = RMSpropState
    _slot_names = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        lr: float | Callable = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        param_groups: Sequence[Any] = (),
    ) -> None:
        self._setup(locals())

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        hp["lr"] = check.lr("lr", hp["lr"])
        hp["alpha"] = check.unit_interval("alpha", hp["alpha"])
        hp["eps"] = check.positive("eps", hp["eps"])
        hp["weight_decay"] = check.nonneg("weight_decay", hp["weight_decay"])
        hp["momentum"] = check.nonneg("momentum", hp["momentum"])
        hp["centered"] = check.flag("centered", hp["centered"])
        hp["maximize"] = check.flag("maximize", hp["maximize"])
        return hp

    def _slots(self, hp: FrozenDict) -> tuple[str, ...]:
        names = ["square_avg"]
        if hp["momentum"] > 0:
            names.append("momentum_buffer")
        if hp["centered"]:
            names.append("grad_avg")
        return tuple(names)

    def _update_leaf(self, p, g, slots, hp, t, lr, scalars):
        alpha = hp["alpha"]
        if hp["weight_decay"] != 0:
            g = g + hp["weight_decay"] * p
        sq = slots["square_avg"] * alpha + (1 - alpha) * (g * g)
        new = {"square_avg": sq}
        if hp["centered"]:
            ga = slots["grad_avg"]
            ga = ga + (1 - alpha) * (g - ga)
            new["grad_avg"] = ga
            avg = jnp.sqrt(sq - ga * ga)
        else:
            avg = jnp.sqrt(sq)
        avg = avg + hp["eps"]
        if hp["momentum"] > 0:
            buf = slots["momentum_buffer"] * hp["momentum"] + g / avg
            new["momentum_buffer"] = buf
            return p - lr * buf, new
        return p - lr * (g / avg), new
