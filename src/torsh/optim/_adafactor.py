"""Adafactor (Shazeer & Stern, 2018), as ``torch.optim.Adafactor``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._config import Checker, option
from ._optimizer import Leaf, Optimizer, lerp

__all__ = ["Adafactor", "AdafactorState"]


def _mean_square(g: jax.Array, axis: int) -> jax.Array:
    """``norm(g, dim=axis) ** 2 / g.shape[axis]``, rounded as PyTorch computes it."""
    return jnp.square(jnp.linalg.norm(g, axis=axis, keepdims=True)) / g.shape[axis]


class Adafactor(Optimizer):
    r"""Adafactor, as ``torch.optim.Adafactor``: factored second moments, no first moment.

    Matrices keep row and column averages of :math:`g^2` (memory :math:`O(n+m)` instead of
    :math:`O(nm)`).

    .. math::
        \beta_{2,t} = 1 - t^{c},\quad \rho_t = \min(\eta, 1/\sqrt t),\quad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(p))\,\rho_t,\quad
        R \leftarrow \operatorname{lerp}(R, \overline{g^2}^{\,row}, 1-\beta_{2,t}),\
        C \leftarrow \operatorname{lerp}(C, \overline{g^2}^{\,col}, 1-\beta_{2,t}),

    .. math::
        \hat v = \frac{R\,C}{\max(\overline{R}, \epsilon_1)},\quad
        u = \frac{g}{\sqrt{\max(\hat v, \epsilon_1^2)}},\quad
        p \leftarrow p(1 - \eta\lambda) - \frac{\alpha_t}{\max(1, \mathrm{RMS}(u)/d)}\,u

    Tensors with fewer than two dimensions keep a full second moment ``variance``; tensors with more
    factor over their last two dimensions (``row_var``, ``col_var``).

    Args:
      lr: learning rate :math:`\eta` (default 1e-2; it caps the relative step size :math:`\rho_t`).
      beta2_decay: :math:`c \le 0`, the decay exponent of :math:`1 - \beta_{2,t}`.
      eps: :math:`(\epsilon_1, \epsilon_2)`; :math:`\epsilon_1` ``None`` means the machine epsilon of
        the parameter's (compute) dtype.
      d: the clipping threshold of the update's RMS, >= 1.
      weight_decay: decoupled weight decay :math:`\lambda`.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adafactor()
      >>> params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> state.row_var["w"].shape, state.col_var["w"].shape, state.variance["b"].shape
      ((3, 1), (1, 2), (2,))
      >>> params, state = opt.step(params, {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}, state)
      >>> round(params["w"][0, 0].item(), 4)
      0.99
    """

    lr: float | Callable = 1e-2
    beta2_decay: float = option(-0.8, "finite")
    eps: tuple[float | None, float] = option((None, 1e-3), lambda c, n, v: _eps(c, n, v))
    d: float = option(1.0, "finite")
    weight_decay: float = option(0.0, "nonneg")

    slots = {
        "row_var": "the row averages of :math:`g^2` (tensors with 2 or more dimensions)",
        "col_var": "the column averages of :math:`g^2` (tensors with 2 or more dimensions)",
        "variance": "the average of :math:`g^2` (tensors with fewer than 2 dimensions)",
    }

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        if values["beta2_decay"] > 0:
            check.fail("beta2_decay", "<= 0", values["beta2_decay"])
        if values["d"] < 1.0:
            check.fail("d", "a clipping threshold >= 1", values["d"])

    def active_slots(self, param: jax.Array) -> tuple[str, ...]:
        return ("row_var", "col_var") if param.ndim > 1 else ("variance",)

    def init_slot(self, name: str, param: jax.Array) -> jax.Array:
        if jnp.iscomplexobj(param):
            raise TypeError("Adafactor does not support complex parameters (as torch.optim.Adafactor)")
        shape = list(param.shape)
        if name == "row_var":
            shape[-1] = 1
        elif name == "col_var":
            shape[-2] = 1
        return jnp.zeros(shape, param.dtype)

    # update_leaf, not direction: the step is rms(p) * min(lr, 1/sqrt(t)), not a multiple of lr
    def update_leaf(self, leaf: Leaf) -> tuple:
        p, g, t, lr = leaf.param, leaf.grad, leaf.step, leaf.lr
        eps1 = jnp.finfo(p.dtype).eps if self.eps[0] is None else self.eps[0]
        weight = t**self.beta2_decay  # 1 - beta2_t
        alpha = jnp.maximum(self.eps[1], jnp.linalg.norm(p) / (p.size**0.5)) * jnp.minimum(
            lr, 1 / jnp.sqrt(t)
        )
        if self.weight_decay != 0:
            p = p * (1 - lr * self.weight_decay)
        if g.ndim > 1:
            row = lerp(leaf.slots["row_var"], _mean_square(g, -1), weight)
            col = lerp(leaf.slots["col_var"], _mean_square(g, -2), weight)
            var = (row @ col) / jnp.maximum(jnp.mean(row, axis=-2, keepdims=True), eps1)
            new = {"row_var": row, "col_var": col}
        else:
            var = lerp(leaf.slots["variance"], g * g, weight)
            new = {"variance": var}
        update = jax.lax.rsqrt(jnp.maximum(var, eps1 * eps1)) * g
        denom = jnp.maximum(1.0, jnp.linalg.norm(update) / (update.size**0.5 * self.d))
        return p - (alpha / denom) * update, new


def _eps(check: Checker, name: str, value: object) -> tuple[float | None, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        check.fail(name, "a pair (eps1 or None, eps2)", value)
    eps1 = check.optional(f"{name}[0]", value[0], check.nonneg)  # type: ignore[index]
    return (eps1, check.nonneg(f"{name}[1]", value[1]))  # type: ignore[index]


AdafactorState = Adafactor.State
