"""Averaged SGD (Polyak & Juditsky, 1992), as ``torch.optim.ASGD``."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer

__all__ = ["ASGD", "ASGDState"]


class ASGD(Optimizer):
    r"""Averaged stochastic gradient descent, as ``torch.optim.ASGD``.

    .. math::
        \eta_t = \frac{\eta}{(1 + \lambda \eta (t-1))^{\alpha}},\quad
        p \leftarrow p(1 - \lambda \eta_t) - \eta_t g,\quad
        \mu_t = \frac{1}{\max(1, t - 1 - t_0)},\quad
        \bar p \leftarrow \bar p + \mu_t (p - \bar p)

    The averaged parameters :math:`\bar p` are ``state.ax`` (averaging starts after ``t0`` steps).
    PyTorch keeps :math:`\eta_t` and :math:`\mu_t` per parameter as state computed after each step;
    here they are computed from the step number and this step's learning rate (the same values for a
    constant learning rate; with a schedule, PyTorch's :math:`\eta_t` uses the previous step's).

    Args:
      lr: learning rate (default 1e-2), or a schedule.
      lambd: decay term :math:`\lambda`.
      alpha: power :math:`\alpha` of the step-size decay.
      t0: the step after which averaging starts.
      weight_decay: L2 penalty.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.ASGD(lr=0.1, t0=0.0)
      >>> params = {"w": jnp.array([1.0])}
      >>> state = opt.init(params)
      >>> for _ in range(3):
      ...     params, state = opt.step(params, {"w": jnp.array([1.0])}, state)
      >>> round(params["w"].item(), 4), round(state.ax["w"].item(), 4)
      (0.7, 0.75)
    """

    lr: float | Callable = 1e-2
    lambd: float = option(1e-4, "nonneg")
    alpha: float = option(0.75, "finite")
    t0: float = option(1e6, "finite")
    weight_decay: float = option(0.0, "nonneg")

    slots = {"ax": "the averaged parameters :math:`\\bar p`"}
    weight_decay_style = "l2"

    # update_leaf, not direction: lr enters eta = lr / (1 + lambd lr t)^alpha non-linearly
    def update_leaf(self, leaf: Leaf) -> tuple:
        done = leaf.step - 1  # steps taken before this one
        # PyTorch keeps eta and mu as float32 scalars whatever the parameters' dtype
        f32 = jnp.float32
        eta = (leaf.lr / (1 + self.lambd * leaf.lr * done) ** self.alpha).astype(f32).astype(done.dtype)
        mu = jnp.where(done == 0, 1.0, 1 / jnp.maximum(1.0, done - self.t0)).astype(f32).astype(done.dtype)
        p = leaf.param * (1 - self.lambd * eta) - eta * leaf.grad
        ax = leaf.slots["ax"]
        return p, {"ax": jnp.where(mu == 1, p, ax + (p - ax) * mu)}


ASGDState = ASGD.State
