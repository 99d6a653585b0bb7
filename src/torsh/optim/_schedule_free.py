"""Schedule-free optimization (Defazio et al., "The Road Less Scheduled", NeurIPS 2024).

The optimizer keeps three sequences: ``z`` (the base optimizer's iterates), ``x`` (their weighted
average, the point to evaluate) and ``y = b1 x + (1 - b1) z`` (where gradients are taken, the
parameters you hold during training). No learning-rate decay schedule is needed: the averaging does
its work. ``x`` is recovered from ``y`` and ``z`` by :meth:`ScheduleFree.eval_params`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ._adam import AdamW
from ._base import GradientTransformation, flatten_like
from ._config import Checker, FrozenDict, option
from ._groups import DEFAULT_GROUP, ParamGroup, as_param_group, assign_groups
from ._lr import get_lr
from ._optimizer import Optimizer
from ._sgd import SGD
from ._state import OptState
from ._transforms import check_transform, open_unit_interval, trainable_copy
from .schedules import linear

__all__ = ["ScheduleFree", "ScheduleFreeState", "schedule_free_adamw", "schedule_free_sgd"]

PyTree = Any


class ScheduleFreeState(OptState):
    """State of :class:`ScheduleFree` (names as in the authors' PyTorch implementation).

    Args:
      step: steps taken.
      z: the base optimizer's iterates (``None`` at leaves that are not trained).
      lr_max: per param group of the base optimizer, the largest learning rate seen so far.
      weight_sum: per param group, the sum of the averaging weights so far.
      inner: the base optimizer's state.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.schedule_free_sgd(lr=0.1).init({"w": jnp.ones(2)})
      >>> state.z["w"].tolist(), float(state.weight_sum["default"])
      ([1.0, 1.0], 0.0)
    """

    step: jax.Array
    z: Any
    lr_max: dict
    weight_sum: dict
    inner: Any


class ScheduleFree(GradientTransformation):
    r"""Schedule-free wrapper of a base optimizer (Defazio et al. 2024, Algorithm 1).

    With :math:`u_t` the base optimizer's update computed at :math:`y_t` (the parameters),

    .. math::
        z_{t+1} = z_t + u_t,\quad
        c_{t+1} = \frac{w_t}{\sum_{i \le t} w_i},\ w_t = (t+1)^r \max_{i \le t}\eta_i^{p},\quad
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},\quad
        y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1) z_{t+1}

    computed without storing :math:`x` (as the authors' PyTorch code does). The parameters you train
    are :math:`y`; evaluate at :meth:`eval_params`. The weights use the base optimizer's current
    learning rate :math:`\eta_t`, so a warmup schedule given as its ``lr`` is accounted for. When the
    base is an ``optim.Optimizer`` with ``param_groups``, each group has its own weights (its own
    :math:`\max_i \eta_i`, :math:`\sum_i w_i` and :math:`c`), as the authors' ``schedulefree``
    package keeps them per group; for another base (a chain) one set of weights uses the largest lr.
    Most users want :func:`schedule_free_adamw` or :func:`schedule_free_sgd`.

    Args:
      opt: the base optimizer (it must keep a learning rate: an ``optim.Optimizer`` or a chain
        ending in one); its momentum should be off, the interpolation provides it.
      b1: the interpolation :math:`\beta_1` between :math:`x` and :math:`z`, in (0, 1).
      weight_lr_power: the power :math:`p` of the learning rate in the averaging weights.
      r: the power of the step in the averaging weights (0: uniform).

    Raises:
      ConfigError: ``opt`` is not a torsh optimizer, or an argument out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.ScheduleFree(optim.SGD(lr=0.5), b1=0.5)
      >>> params = {"w": jnp.zeros(1)}
      >>> state = opt.init(params)
      >>> for _ in range(2):
      ...     params, state = opt.step(params, {"w": jnp.array([-1.0])}, state)
      >>> params["w"].tolist(), opt.eval_params(params, state)["w"].tolist()   # y; x, the mean of z
      ([0.875], [0.75])
    """

    opt: GradientTransformation = option(check=check_transform)
    b1: float = option(0.9, open_unit_interval)  # > 0: eval_params divides by it
    weight_lr_power: float = option(2.0, "finite")
    r: float = option(0.0, "finite")

    def init(self, params: PyTree) -> ScheduleFreeState:
        """The state: ``z`` starts at ``params``, no weight yet.

        Args:
          params: the parameters.

        Returns:
          The :class:`ScheduleFreeState`.

        Raises:
          TreeError: the base optimizer's state holds no learning rate.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> sorted(optim.schedule_free_sgd(lr=0.1).init({"w": jnp.ones(2)}).state_dict())
          ['inner.lr.default', 'inner.step', 'lr_max.default', 'step', 'weight_sum.default', 'z.w']
        """
        inner = self.opt.init(params)
        zeros = {g: jnp.zeros_like(lr) for g, lr in self._lrs(inner).items()}
        return ScheduleFreeState(
            step=jnp.zeros((), jnp.int32),
            z=trainable_copy(params),
            lr_max=zeros,
            weight_sum=zeros,
            inner=inner,
        )

    def _per_group(self) -> bool:
        return isinstance(self.opt, Optimizer)

    def _lrs(self, inner: Any) -> dict[str, jax.Array]:
        """The learning rate of this step per weight group (the base optimizer's groups)."""
        if self._per_group():
            return {g: jnp.asarray(lr) for g, lr in inner.lr.items()}
        return {DEFAULT_GROUP: jnp.max(jnp.stack([jnp.asarray(v) for v in get_lr(inner).values()]))}

    def _leaf_groups(self, params: PyTree) -> list[str | None]:
        """The weight group of every leaf (``None``: not trained)."""
        leaves, _, paths, trainable = Optimizer._layout(params)
        if not self._per_group():
            return [DEFAULT_GROUP if t else None for t in trainable]
        opt: Any = self.opt
        groups = opt._groups()
        owners = assign_groups(type(opt).__name__, groups, paths, leaves, trainable, check_unmatched=False)
        return [groups[i][0] if i >= 0 else None for i in owners]

    def _weights(self, state: ScheduleFreeState) -> tuple[dict, dict, dict]:
        """Per group: the averaging coefficient :math:`c_{t+1}`, the new ``lr_max`` and ``weight_sum``."""
        cs, maxes, sums = {}, {}, {}
        for g, lr in self._lrs(state.inner).items():
            lr_max = jnp.maximum(state.lr_max[g], lr)
            k = state.step.astype(lr_max.dtype)
            weight = (k + 1) ** self.r * lr_max**self.weight_lr_power
            weight_sum = state.weight_sum[g] + weight
            cs[g] = jnp.where(weight_sum > 0, weight / jnp.where(weight_sum > 0, weight_sum, 1), 0.0)
            maxes[g], sums[g] = lr_max, weight_sum
        return cs, maxes, sums

    def _advance(
        self, params: PyTree, updates: PyTree, state: ScheduleFreeState, inner: Any
    ) -> tuple[list[Any], list[Any], Any, ScheduleFreeState]:
        cs, lr_max, weight_sum = self._weights(state)
        leaves, spec = _tree.flatten(params)
        ups = flatten_like(spec, updates, "ScheduleFree: updates", params)
        zs = flatten_like(spec, state.z, "ScheduleFree: state.z", params)
        new_y: list[Any] = []
        new_z: list[Any] = []
        for y, u, z, group in zip(leaves, ups, zs, self._leaf_groups(params), strict=True):
            if u is None or z is None or group is None:
                new_y.append(None)
                new_z.append(z)
                continue
            y = jnp.asarray(y)
            cdt = jnp.promote_types(y.dtype, jnp.float32)
            yc, zc, uc = y.astype(cdt), z.astype(cdt), jnp.asarray(u).astype(cdt)
            cc = cs[group].astype(cdt)
            # y_{t+1} = (1 - c) y + c z + (1 - b1 (1 - c)) u: x is never stored
            new_y.append(((1 - cc) * yc + cc * zc + (1 - self.b1 * (1 - cc)) * uc).astype(y.dtype))
            new_z.append((zc + uc).astype(z.dtype))
        new_state = state.replace(
            step=state.step + 1,
            z=_tree.unflatten(spec, new_z),
            lr_max=lr_max,
            weight_sum=weight_sum,
            inner=inner,
        )
        return leaves, new_y, spec, new_state

    def update(
        self, grads: PyTree, state: ScheduleFreeState, params: PyTree = None
    ) -> tuple[PyTree, ScheduleFreeState]:
        updates, inner = self.opt.update(grads, state.inner, params)
        leaves, new_y, spec, new_state = self._advance(params, updates, state, inner)
        out = [None if n is None else (n - jnp.asarray(p)) for n, p in zip(new_y, leaves, strict=True)]
        return _tree.unflatten(spec, out), new_state

    def step(
        self, params: PyTree, grads: PyTree, state: ScheduleFreeState
    ) -> tuple[PyTree, ScheduleFreeState]:
        updates, inner = self.opt.update(grads, state.inner, params)
        leaves, new_y, spec, new_state = self._advance(params, updates, state, inner)
        out = [p if n is None else n for n, p in zip(new_y, leaves, strict=True)]
        return _tree.unflatten(spec, out), new_state

    def eval_params(self, params: PyTree, state: ScheduleFreeState) -> PyTree:
        """The averaged point :math:`x = (y - (1 - \\beta_1) z) / \\beta_1`, where to evaluate the model.

        Args:
          params: the training parameters :math:`y`.
          state: the state of the same step.

        Returns:
          The parameters to evaluate (leaves that are not trained are taken from ``params``).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.schedule_free_sgd(lr=1.0, momentum=0.5)
          >>> params = {"w": jnp.zeros(1)}
          >>> state = opt.init(params)
          >>> for _ in range(2):
          ...     params, state = opt.step(params, {"w": jnp.array([-1.0])}, state)
          >>> params["w"].tolist(), opt.eval_params(params, state)["w"].tolist()
          ([1.75], [1.5])
        """
        b1 = self.b1
        return _tree.map(
            lambda y, z: (jnp.asarray(y) - (1 - b1) * z) / b1 if z is not None else y,
            params,
            state.z,
        )


def _warmup(lr: float | Callable, warmup_steps: int) -> float | Callable:
    """The authors' warmup, ``lr * min(1, (k + 1) / warmup_steps)`` at step ``k``."""
    if warmup_steps <= 1 or callable(lr):
        return lr
    return linear(lr, start_factor=1.0 / warmup_steps, end_factor=1.0, total_iters=warmup_steps - 1)


def _warmed_groups(owner: str, param_groups: Any, warmup_steps: int, shared: str) -> tuple[ParamGroup, ...]:
    """The param groups for the base optimizer, each group's lr with the warmup applied."""
    if isinstance(param_groups, (ParamGroup, dict)):
        param_groups = (param_groups,)
    if not isinstance(param_groups, Sequence):
        Checker(owner).fail(
            "param_groups", "a sequence of optim.ParamGroup (or {'params': ...} dicts)", param_groups
        )
    out = []
    for i, spec in enumerate(param_groups):
        group = as_param_group(spec, i, owner)
        if shared in group.options:
            Checker(owner).conflict(
                f"param group {group!r} sets {shared}, which is shared by all groups in the schedule-free "
                f"interpolation; set it in {owner}(...)"
            )
        if "lr" in group.options:
            lr = _warmup(group.options["lr"], warmup_steps)
            group = group.replace(options=FrozenDict({**group.options, "lr": lr}))
        out.append(group)
    return tuple(out)


def schedule_free_adamw(
    lr: float = 0.0025,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    param_groups: Sequence[ParamGroup | dict] = (),
) -> ScheduleFree:
    """Schedule-free AdamW, the authors' ``AdamWScheduleFree`` (same arguments and defaults).

    :class:`ScheduleFree` around ``AdamW(betas=(0, beta2))``: Adam's normalisation without its momentum
    (the interpolation with ``beta1`` replaces it), weight decay taken at :math:`y`. Param groups may
    set ``lr`` (warmed up like the default), ``eps`` and ``weight_decay``; each group has its own
    averaging weights, as in the authors' package.

    Args:
      lr: the learning rate (no decay schedule needed), >= 0.
      betas: ``(beta1, beta2)``: the interpolation, in (0, 1), and Adam's second-moment decay.
      eps: added to Adam's denominator, > 0.
      weight_decay: decoupled weight decay, >= 0.
      warmup_steps: steps of linear warmup, ``lr * min(1, (k + 1) / warmup_steps)``.
      r: the power of the step in the averaging weights.
      weight_lr_power: the power of the learning rate in the averaging weights.
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup`); not ``betas``.

    Returns:
      The optimizer (a :class:`ScheduleFree`).

    Raises:
      ConfigError: an argument out of range, or a param group setting ``betas``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.schedule_free_adamw(lr=0.1)
      >>> params = {"w": jnp.ones(2)}
      >>> params, state = opt.step(params, {"w": jnp.array([1.0, -1.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()], [round(x, 4) for x in state.z["w"].tolist()]
      ([0.9, 1.1], [0.9, 1.1])
    """
    check = Checker("schedule_free_adamw")
    b1, b2 = check.betas("betas", betas)
    warmup_steps = check.integer("warmup_steps", warmup_steps, 0)
    groups = _warmed_groups("schedule_free_adamw", param_groups, warmup_steps, "betas")
    base = AdamW(
        lr=_warmup(lr, warmup_steps), betas=(0.0, b2), eps=eps, weight_decay=weight_decay, param_groups=groups
    )
    return ScheduleFree(base, b1=b1, weight_lr_power=weight_lr_power, r=r)


def schedule_free_sgd(
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    param_groups: Sequence[ParamGroup | dict] = (),
) -> ScheduleFree:
    """Schedule-free SGD, the authors' ``SGDScheduleFree`` (same arguments and defaults).

    :class:`ScheduleFree` around plain ``SGD`` (L2 weight decay taken at :math:`y`), with
    ``momentum`` as the interpolation :math:`\\beta_1`. Param groups may set ``lr`` (warmed up like
    the default) and ``weight_decay``; each group has its own averaging weights.

    Args:
      lr: the learning rate (no decay schedule needed), >= 0.
      momentum: the interpolation :math:`\\beta_1`, in (0, 1).
      weight_decay: L2 weight decay, >= 0.
      warmup_steps: steps of linear warmup, ``lr * min(1, (k + 1) / warmup_steps)``.
      r: the power of the step in the averaging weights.
      weight_lr_power: the power of the learning rate in the averaging weights.
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup`); not ``momentum``.

    Returns:
      The optimizer (a :class:`ScheduleFree`).

    Raises:
      ConfigError: an argument out of range, or a param group setting ``momentum``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.schedule_free_sgd(lr=0.1)
      >>> params = {"w": jnp.ones(1)}
      >>> params, state = opt.step(params, {"w": jnp.array([1.0])}, opt.init(params))
      >>> [round(x, 4) for x in params["w"].tolist()]
      [0.9]
    """
    warmup_steps = Checker("schedule_free_sgd").integer("warmup_steps", warmup_steps, 0)
    groups = _warmed_groups("schedule_free_sgd", param_groups, warmup_steps, "momentum")
    base = SGD(lr=_warmup(lr, warmup_steps), weight_decay=weight_decay, param_groups=groups)
    return ScheduleFree(base, b1=momentum, weight_lr_power=weight_lr_power, r=r)
