"""Sophia (Liu et al., "Sophia: A Scalable Stochastic Second-order Optimizer for Language Model
Pre-training", ICLR 2024, Algorithm 3) and its two diagonal Hessian estimators: Hutchinson's
(Sophia-H, Algorithm 1) and Gauss-Newton-Bartlett (Sophia-G, Algorithm 2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import transforms
from .. import tree as _tree
from ..errors import ShapeError
from ._config import option
from ._optimizer import Leaf, Optimizer, ema

__all__ = ["Sophia", "SophiaState", "gnb_hessian", "hutchinson_hessian"]

PyTree = Any


class Sophia(Optimizer):
    r"""Sophia: momentum divided by a diagonal Hessian estimate, clipped element-wise.

    .. math::
        m_t = \beta_1 m + (1-\beta_1) g,\quad
        p \leftarrow p(1 - \eta\lambda)
            - \eta\,\operatorname{clip}\!\Big(\frac{m_t}{\max(\rho h, \epsilon)}, 1\Big)

    The diagonal Hessian estimate :math:`h` is *supplied by you*, every ``k`` steps (the paper uses
    ``k = 10``): compute an estimate :math:`\hat h` with :func:`gnb_hessian` (Sophia-G: the
    Gauss-Newton-Bartlett estimator, the squared gradient of the loss on labels sampled from the model,
    times the number of samples) or :func:`hutchinson_hessian` (Sophia-H: :math:`u \odot Hu` for a
    Gaussian :math:`u`, any loss) and fold it in with :meth:`update_hessian`,
    :math:`h \leftarrow \beta_2 h + (1-\beta_2)\hat h`.
    ``step`` itself never changes :math:`h` (between estimates it is reused, as in Algorithm 3).
    Until the first estimate :math:`h = 0` and the step is ``lr * sign(m)`` (clipped), as in the
    authors' code. Their ``rho * bs`` is ``rho`` here, the batch size being inside :math:`\hat h`.

    Args:
      lr: learning rate, or a schedule (default 1e-4, the authors' code).
      betas: :math:`(\beta_1, \beta_2)`: momentum and the Hessian average, each in [0, 1).
      rho: :math:`\rho`, the scale of the Hessian in the denominator (paper: 0.03-0.05), > 0.
      weight_decay: decoupled weight decay :math:`\lambda`, >= 0.
      eps: the floor :math:`\epsilon` of the denominator, > 0.
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options (:meth:`update_hessian` uses the default group's
        :math:`\beta_2` for every leaf).

    Raises:
      ConfigError: a hyperparameter out of its range (the message names it).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> params = {"w": jnp.zeros((4, 4))}
      >>> x, y = jnp.eye(4), jnp.arange(4)
      >>> logits_fn = lambda p: x @ p["w"]
      >>> loss = lambda p: -jnp.mean(jax.nn.log_softmax(logits_fn(p))[jnp.arange(4), y])
      >>> opt = optim.Sophia(lr=0.1, rho=0.05, weight_decay=0.0)
      >>> state = opt.init(params)
      >>> for t in range(10):
      ...     if t % 5 == 0:   # every k = 5 steps: a Gauss-Newton-Bartlett estimate
      ...         h = optim.gnb_hessian(logits_fn, params, jax.random.key(t))
      ...         state = opt.update_hessian(state, h)
      ...     params, state = opt.step(params, jax.grad(loss)(params), state)
      >>> float(loss(params)) < float(jnp.log(4.0))
      True
    """

    lr: float | Callable = 1e-4
    betas: tuple[float, float] = option((0.965, 0.99), "betas")
    rho: float = option(0.04, "positive")
    weight_decay: float = option(1e-1, "nonneg")
    eps: float = option(1e-15, "positive")

    slots = {
        "exp_avg": "the momentum :math:`m`",
        "hessian": "the running average :math:`h` of the diagonal Hessian estimates",
    }
    weight_decay_style = "decoupled"

    def direction(self, leaf: Leaf) -> tuple:
        beta1 = self.betas[0]
        m = ema(leaf.slots["exp_avg"], leaf.grad, beta1)
        ratio = jnp.minimum(jnp.abs(m) / jnp.maximum(self.rho * leaf.slots["hessian"], self.eps), 1.0)
        return jnp.sign(m) * ratio, {"exp_avg": m, "hessian": leaf.slots["hessian"]}

    def update_hessian(self, state: Any, estimate: PyTree) -> Any:
        """Fold a diagonal Hessian estimate into the state: ``h = beta2 * h + (1 - beta2) * estimate``.

        Args:
          state: this optimizer's state.
          estimate: a tree like the parameters (e.g. from :func:`gnb_hessian`); ``None`` (or any
            value) at leaves that are not trained.

        Returns:
          The state with the new Hessian average.

        Raises:
          TreeError: ``estimate`` does not have the structure of the parameters.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.Sophia(betas=(0.9, 0.5))
          >>> state = opt.init({"w": jnp.zeros(2)})
          >>> opt.update_hessian(state, {"w": jnp.array([2.0, 4.0])}).hessian["w"].tolist()
          [1.0, 2.0]
        """
        beta2 = self.betas[1]
        hessian = _tree.map(
            lambda h, e: (beta2 * h + (1 - beta2) * jnp.asarray(e).astype(h.dtype)).astype(h.dtype),
            state.hessian,
            estimate,
        )
        return state.replace(hessian=hessian)


SophiaState = Sophia.State


def gnb_hessian(logits_fn: Callable[[PyTree], jax.Array], params: PyTree, key: jax.Array) -> PyTree:
    r"""The Gauss-Newton-Bartlett estimate of the diagonal Hessian of a softmax cross-entropy loss.

    Samples labels :math:`\hat y` from the model's own predictive distribution,
    ``softmax(logits_fn(params))``, and returns :math:`B\,\hat g \odot \hat g` with :math:`\hat g` the
    gradient of the mean cross-entropy on the sampled labels and :math:`B` the number of predictions
    (every position but the last axis of the logits, e.g. batch x sequence tokens); Algorithm 2 of
    Liu et al. Its expectation is the diagonal of the Gauss-Newton matrix. Pure and jit-able.

    Args:
      logits_fn: ``params -> logits`` of shape ``(..., num_classes)`` on the current batch.
      params: the parameters.
      key: a PRNG key for the label samples.

    Returns:
      A tree like ``params`` (``None`` where :func:`torsh.grad` gives no gradient).

    Raises:
      ShapeError: the logits are a scalar.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> x = jnp.ones((4, 2))
      >>> h = optim.gnb_hessian(lambda p: x @ p["w"], {"w": jnp.zeros((2, 3))}, jax.random.key(0))
      >>> h["w"].shape, bool(jnp.all(h["w"] >= 0))
      ((2, 3), True)
    """
    logits = logits_fn(params)
    if jnp.ndim(logits) < 1:
        raise ShapeError(
            f"gnb_hessian: logits_fn must return logits (..., num_classes), got shape {jnp.shape(logits)}"
        )
    labels = jax.random.categorical(key, jax.lax.stop_gradient(logits), axis=-1)
    count = labels.size

    def sampled_loss(p: PyTree) -> jax.Array:
        logp = jax.nn.log_softmax(logits_fn(p), axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, labels[..., None], axis=-1))

    g = transforms.grad(sampled_loss)(params)
    return _tree.map(lambda x: None if x is None else count * x * x, g)


def hutchinson_hessian(loss_fn: Callable[[PyTree], jax.Array], params: PyTree, key: jax.Array) -> PyTree:
    r"""Hutchinson's unbiased estimate of the Hessian's diagonal, :math:`u \odot (\nabla^2 L\, u)`.

    Algorithm 1 of Liu et al. (Sophia-H): :math:`u \sim N(0, I)` over the trainable leaves, and the
    Hessian-vector product :math:`\nabla^2 L\, u` by forward-over-reverse differentiation (one
    gradient's cost, no Hessian is formed). :math:`E[u \odot Hu] = \operatorname{diag}(H)`. The entries
    of :math:`u` for the ``i``-th trainable leaf (tree order) are ``jax.random.normal(keys[i], shape)``
    with ``keys = jax.random.split(key, n)``. Pure and jit-able; feed it to :meth:`Sophia.update_hessian`.

    Args:
      loss_fn: ``params -> scalar loss`` on the current batch.
      params: the parameters (the trainable leaves are differentiated, as by :func:`torsh.grad`).
      key: a PRNG key for :math:`u` (explicit: the estimate is random).

    Returns:
      A tree like ``params``: the estimate at trainable leaves, ``None`` elsewhere.

    Raises:
      ShapeError: ``loss_fn`` does not return a scalar.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> loss = lambda p: jnp.sum(jnp.array([1.0, 3.0]) * p["w"] ** 2)   # Hessian diag(2, 6)
      >>> h = optim.hutchinson_hessian(loss, {"w": jnp.zeros(2), "n": 3}, jax.random.key(0))
      >>> u = jax.random.normal(jax.random.split(jax.random.key(0), 1)[0], (2,))
      >>> bool(jnp.allclose(h["w"], u * jnp.array([2.0, 6.0]) * u)), h["n"]
      (True, None)
    """
    leaves, spec = _tree.flatten(params)
    mask = spec.flatten_up_to(_tree.trainable_mask(params))
    index = [i for i, trained in enumerate(mask) if trained]

    def loss_of(trained: list[jax.Array]) -> jax.Array:
        full = list(leaves)
        for i, x in zip(index, trained, strict=True):
            full[i] = x
        loss = loss_fn(_tree.unflatten(spec, full))
        if jnp.ndim(loss) != 0:
            raise ShapeError(
                f"hutchinson_hessian: loss_fn must return a scalar loss, got shape {list(jnp.shape(loss))}"
            )
        return loss

    xs = [jnp.asarray(leaves[i]) for i in index]
    keys = list(jax.random.split(key, len(xs))) if xs else []
    us = [jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, xs, strict=True)]
    _, hu = jax.jvp(jax.grad(loss_of), (xs,), (us,))
    out: list[Any] = [None] * len(leaves)
    for i, u, h in zip(index, us, hu, strict=True):
        out[i] = u * h
    return _tree.unflatten(spec, out)
