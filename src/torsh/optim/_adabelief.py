"""AdaBelief (Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
Gradients", NeurIPS 2020, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp

from ._config import option
from ._optimizer import Leaf, Optimizer, bias_correction, ema, ema_square

__all__ = ["AdaBelief", "AdaBeliefState"]


class AdaBelief(Optimizer):
    r"""AdaBelief: Adam whose second moment is the variance of the gradient around its prediction.

    .. math::
        m_t = \beta_1 m + (1-\beta_1) g,\quad
        s_t = \beta_2 s + (1-\beta_2) (g - m_t)^2 + \epsilon,\quad
        p \leftarrow p - \frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{s_t}/\sqrt{1-\beta_2^t} + \epsilon}

    A gradient close to its running mean (the "belief") gets a large step, a surprising one a small
    step. ``eps`` enters twice, as in the paper and in ``optax.adabelief`` (its default 1e-16 is the
    paper's). Weight decay is decoupled by default (the authors' ``weight_decouple=True``);
    ``decoupled_weight_decay=False`` adds it to the gradient instead.

    Args:
      lr: learning rate, or a schedule (function of the step).
      betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
      eps: added to :math:`s_t` and to the denominator, > 0.
      weight_decay: weight decay :math:`\lambda`, >= 0.
      decoupled_weight_decay: decay the parameters directly (AdamW-style, default) or add
        :math:`\lambda p` to the gradient.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup` or ``{"params": ...}``).

    Raises:
      ConfigError: a hyperparameter out of its range (the message names it).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.AdaBelief(lr=0.1)
      >>> params = {"w": jnp.array([1.0, -1.0])}
      >>> params, state = opt.step(params, {"w": jnp.array([3.0, -0.5])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]
      [0.8889, -0.8889]
      >>> sorted(state.state_dict())
      ['exp_avg.w', 'exp_avg_var.w', 'lr.default', 'step']
    """

    lr: float | Callable = 1e-3
    betas: tuple[float, float] = option((0.9, 0.999), "betas")
    eps: float = option(1e-16, "positive")
    weight_decay: float = option(0.0, "nonneg")
    decoupled_weight_decay: bool = option(True, "flag", kw_only=True)

    slots = {
        "exp_avg": "the first moment :math:`m`",
        "exp_avg_var": "the belief term :math:`s`, the second moment of :math:`g - m`",
    }
    weight_decay_style = "l2"  # decoupled_weight_decay=True (the default) switches to decoupled decay

    def direction(self, leaf: Leaf) -> tuple:
        beta1, beta2 = self.betas
        g, t = leaf.grad, leaf.step
        m = ema(leaf.slots["exp_avg"], g, beta1)
        s = ema_square(leaf.slots["exp_avg_var"], g - m, beta2) + self.eps
        denom = jnp.sqrt(s) / jnp.sqrt(bias_correction(beta2, t)) + self.eps
        return (m / denom) / bias_correction(beta1, t), {"exp_avg": m, "exp_avg_var": s}


AdaBeliefState = AdaBelief.State
