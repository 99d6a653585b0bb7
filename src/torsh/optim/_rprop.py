"""Rprop (Riedmiller & Braun, 1993), as ``torch.optim.Rprop``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._config import Checker, option
from ._optimizer import Leaf, Optimizer

__all__ = ["Rprop", "RpropState"]


class Rprop(Optimizer):
    r"""Resilient backpropagation: per-element step sizes adapted by the sign of the gradient.

    .. math::
        s = \operatorname{sign}(g\,g_{prev}),\quad
        \Delta \leftarrow \operatorname{clip}(\Delta \cdot \{\eta_+ \text{ if } s>0,\ \eta_- \text{ if } s<0,\
        1\},\ \Delta_{min}, \Delta_{max}),\quad
        g \leftarrow 0 \text{ where } s<0,\quad p \leftarrow p - \operatorname{sign}(g)\,\Delta

    The learning rate is only the initial step size :math:`\Delta` (as in PyTorch, changing it later,
    by a schedule or ``set_lr``, has no effect).

    Args:
      lr: the initial step size (default 1e-2).
      etas: :math:`(\eta_-, \eta_+)`, with :math:`0 < \eta_- < 1 < \eta_+`.
      step_sizes: :math:`(\Delta_{min}, \Delta_{max})`, the bounds of the step sizes.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Rprop(lr=0.1)
      >>> params = {"w": jnp.array([1.0, 1.0])}
      >>> state = opt.init(params)
      >>> for g in ([1.0, 1.0], [1.0, -1.0]):
      ...     params, state = opt.step(params, {"w": jnp.array(g)}, state)
      >>> [round(x, 4) for x in params["w"].tolist()], [round(x, 4) for x in state.step_size["w"].tolist()]
      ([0.78, 0.9], [0.12, 0.05])
    """

    lr: float | Callable = 1e-2
    etas: tuple[float, float] = option((0.5, 1.2), lambda c, n, v: _pair(c, n, v))
    step_sizes: tuple[float, float] = option((1e-6, 50.0), lambda c, n, v: _pair(c, n, v))

    slots = {"prev": "the previous (masked) gradient", "step_size": "the step sizes :math:`\\Delta`"}

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        eta_minus, eta_plus = values["etas"]
        if not 0.0 < eta_minus < 1.0 < eta_plus:
            check.fail("etas", "(eta_minus, eta_plus) with 0 < eta_minus < 1 < eta_plus", values["etas"])
        low, high = values["step_sizes"]
        if not 0.0 <= low <= high:
            check.fail("step_sizes", "(min, max) with 0 <= min <= max", values["step_sizes"])

    def init_slot(self, name: str, param: jax.Array) -> jax.Array:
        if name == "step_size":  # PyTorch fills with lr (a complex parameter: lr + 0j)
            return jnp.full_like(param, self.lr(0) if callable(self.lr) else self.lr)
        return jnp.zeros_like(param)

    # update_leaf, not direction: lr is only the initial step size (init_slot), the rule ignores it
    def update_leaf(self, leaf: Leaf) -> tuple:
        eta_minus, eta_plus = self.etas
        g = leaf.grad
        s = jnp.sign(g * leaf.slots["prev"])
        factor = jnp.where(s > 0, eta_plus, jnp.where(s < 0, eta_minus, 1.0)).astype(g.dtype)
        step_size = jnp.clip(leaf.slots["step_size"] * factor, *self.step_sizes)
        g = jnp.where(factor == eta_minus, 0.0, g)  # PyTorch: no step (and no memory) after a sign change
        return leaf.param - jnp.sign(g) * step_size, {"prev": g, "step_size": step_size}


def _pair(check: Checker, name: str, value: object) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        check.fail(name, "a pair of numbers", value)
    return (check.number(f"{name}[0]", value[0]), check.number(f"{name}[1]", value[1]))  # type: ignore[index]


RpropState = Rprop.State
