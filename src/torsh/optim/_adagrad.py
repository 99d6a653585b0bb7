"""Adagrad (Duchi et al., 2011), as ``torch.optim.Adagrad``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer

__all__ = ["Adagrad", "AdagradState"]


class Adagrad(Optimizer):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::
        \tilde\eta = \frac{\eta}{1 + (t-1)\,\text{lr\_decay}},\quad s_t = s + g^2,\quad
        p \leftarrow p - \tilde\eta\,\frac{g}{\sqrt{s_t} + \epsilon}

    Args:
      lr: learning rate (default 1e-2), or a schedule.
      lr_decay: learning-rate decay, >= 0.
      weight_decay: L2 penalty.
      initial_accumulator_value: starting value of the sum of squares, >= 0.
      eps: added to the denominator (default 1e-10), > 0.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adagrad(lr=0.5)
      >>> params = {"w": jnp.array([1.0])}
      >>> params, state = opt.step(params, {"w": jnp.array([2.0])}, opt.init(params))
      >>> round(params["w"].item(), 5), state.sum["w"].tolist()
      (0.5, [4.0])
    """

    lr: float | Callable = 1e-2
    lr_decay: float = option(0.0, "nonneg")
    weight_decay: float = option(0.0, "nonneg")
    initial_accumulator_value: float = option(0.0, "nonneg")
    eps: float = option(1e-10, "positive")

    slots = {"sum": "the sum of squared gradients"}
    weight_decay_style = "l2"

    def init_slot(self, name: str, param: jax.Array) -> jax.Array:
        value = self.initial_accumulator_value
        if jnp.iscomplexobj(param):  # PyTorch starts each real and imaginary part at the value
            return jnp.full_like(param, complex(value, value))
        return jnp.full_like(param, value)

    def direction(self, leaf: Leaf) -> tuple:
        g = leaf.grad
        s = leaf.slots["sum"] + g * g
        std = jnp.sqrt(s) + self.eps
        return (g / std) / (1 + (leaf.step - 1) * self.lr_decay), {"sum": s}


AdagradState = Adagrad.State
