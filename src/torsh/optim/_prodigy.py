"""Prodigy (Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
ICML 2024, Algorithm 4 as in the authors' ``prodigyopt.Prodigy``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import ConfigError, DTypeError
from ..tree import static
from ._base import GradientTransformation, flatten_like
from ._config import Checker, FrozenDict, _run_check, option
from ._groups import DEFAULT_GROUP, ParamGroup, assign_groups
from ._optimizer import Optimizer, _check_param_groups, _compute_dtype, lr_dtype
from ._state import OptState
from ._transforms import trainable_copy

__all__ = ["Prodigy", "ProdigyState"]

PyTree = Any


class ProdigyState(OptState):
    """State of :class:`Prodigy` (names as in ``prodigyopt``).

    Args:
      step: steps taken.
      lr: per param group, the learning-rate factor the next step uses (1 unless scheduled).
      d: the current estimate of the distance to the solution (the adaptive learning rate).
      d_max: the largest estimate so far.
      d_numerator: the weighted sum of ``<g, p0 - p>`` (the numerator of the estimate).
      exp_avg: first moment (``None`` at leaves that are not trained).
      exp_avg_sq: second moment.
      s: the weighted sum of gradients (the denominator of the estimate is its l1 norm).
      p0: the initial parameters.
      hyperparams: the static configuration.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.Prodigy().init({"w": jnp.ones(2)})
      >>> round(float(state.d) / 1e-6, 4), state.p0["w"].tolist()   # d starts at d0
      (1.0, [1.0, 1.0])
    """

    step: jax.Array
    lr: dict
    d: jax.Array
    d_max: jax.Array
    d_numerator: jax.Array
    exp_avg: Any
    exp_avg_sq: Any
    s: Any
    p0: Any
    hyperparams: FrozenDict = static(default=FrozenDict())


def _beta3(check: Checker, name: str, value: Any) -> float | None:
    return check.optional(name, value, check.unit_interval)


def _growth(check: Checker, name: str, value: Any) -> float:
    v = check.number(name, value)
    if not v >= 1.0:
        check.fail(name, "a number >= 1 (or inf)", value)
    return v


class _WholeTreeOptimizer(GradientTransformation):
    """An optimizer whose rule needs all leaves at once (a global estimate, block preconditioners).

    Subclasses define ``_run(grads, state, params) -> (new trained leaves or None, spec, new state)``;
    ``step``/``update`` and the learning rate (a number or a schedule, kept in ``state.lr`` as the
    value the next step uses, so ``get_lr``/``set_lr`` see it) are shared.
    """

    lr: float | Callable = option(1.0, "lr")

    def _lr(self, step: Any) -> jax.Array:
        return jnp.asarray(self.lr(step) if callable(self.lr) else self.lr, lr_dtype())

    def _next_lr(self, state: Any, step: jax.Array) -> dict:
        return {DEFAULT_GROUP: self._lr(step) if callable(self.lr) else state.lr[DEFAULT_GROUP]}

    def _hyperparams(self) -> FrozenDict:
        return FrozenDict({DEFAULT_GROUP: FrozenDict(self._config_items())})

    def _run(self, grads: PyTree, state: Any, params: PyTree) -> tuple[list, Any, Any]:
        raise NotImplementedError

    def step(self, params: PyTree, grads: PyTree, state: Any) -> tuple[PyTree, Any]:
        new, spec, new_state = self._run(grads, state, params)
        leaves = spec.flatten_up_to(params)
        out = [p if n is None else n.astype(jnp.asarray(p).dtype) for n, p in zip(new, leaves, strict=True)]
        return _tree.unflatten(spec, out), new_state

    def update(self, grads: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        if params is None:
            owner = type(self).__name__
            raise ConfigError(f"{owner}.update: params are required (call update(grads, state, params))")
        new, spec, new_state = self._run(grads, state, params)
        leaves = spec.flatten_up_to(params)
        out = [
            None if n is None else (n - jnp.asarray(p).astype(n.dtype)).astype(jnp.asarray(p).dtype)
            for n, p in zip(new, leaves, strict=True)
        ]
        return _tree.unflatten(spec, out), new_state


class Prodigy(_WholeTreeOptimizer):
    r"""Prodigy: Adam whose learning rate is estimated on the fly (no tuning of ``lr``).

    ``d`` estimates the distance from the initial point to a solution, from the correlation of the
    gradients with the distance travelled, :math:`\hat d = \sum_k \lambda_k \langle g_k, x_0 - x_k
    \rangle / \|\sum_k \lambda_k g_k\|_1`, and grows monotonically; Adam's moments are taken of
    :math:`d\,g` and the step is :math:`d \cdot lr`. The authors recommend ``lr=1`` (a schedule, such
    as a cosine decay, multiplies it), ``weight_decay`` as in AdamW and ``safeguard_warmup=True``
    with a warmup schedule. The estimate is global: one ``d`` for all parameters.

    Param groups follow the authors' ``prodigyopt``, which keeps that one ``d`` for all groups: a group
    may set its own ``weight_decay`` and ``eps``, and ``lr`` only as the shared value or 0 (prodigyopt
    raises for other values, since ``d`` scales one step size). A group at lr 0 is frozen: it adds
    nothing to the estimate and is not stepped (prodigyopt still applies its decoupled weight decay
    with the shared step; torsh leaves it unchanged). The other options are global.

    Args:
      lr: a factor of the estimated learning rate (default 1), or a schedule.
      betas: Adam's :math:`(\beta_1, \beta_2)`, each in [0, 1).
      beta3: decay of the estimate's running sums (default :math:`\sqrt{\beta_2}`).
      eps: added to the denominator (times ``d``), > 0.
      weight_decay: weight decay, >= 0.
      decouple: decoupled (AdamW-style, default) or L2 weight decay.
      use_bias_correction: Adam's bias correction of the step (off in the authors' default).
      safeguard_warmup: leave the schedule out of the denominator's sum (use with warmup).
      d0: the initial estimate, > 0.
      d_coef: a factor of the estimate, > 0.
      growth_rate: the largest factor by which ``d`` may grow per step (default unbounded).
      param_groups: per-parameter ``lr`` (the shared value or 0), ``weight_decay`` and ``eps``
        (:class:`torsh.optim.ParamGroup`).

    Raises:
      ConfigError: a hyperparameter out of its range (the message names it), or a param group
        setting a global option or another lr.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Prodigy()
      >>> params = {"w": jnp.array([4.0, -3.0])}
      >>> state = opt.init(params)
      >>> step = jax.jit(lambda p, s: opt.step(p, jax.grad(lambda q: jnp.sum(q["w"] ** 2))(p), s))
      >>> for _ in range(100):
      ...     params, state = step(params, state)
      >>> float(state.d) > 1.0, bool(jnp.all(jnp.abs(params["w"]) < 0.5))   # d grew from 1e-6
      (True, True)
    """

    lr: float | Callable = 1.0
    betas: tuple[float, float] = option((0.9, 0.999), "betas")
    beta3: float | None = option(None, _beta3)
    eps: float = option(1e-8, "positive")
    weight_decay: float = option(0.0, "nonneg")
    decouple: bool = option(True, "flag")
    use_bias_correction: bool = option(False, "flag")
    safeguard_warmup: bool = option(False, "flag")
    d0: float = option(1e-6, "positive")
    d_coef: float = option(1.0, "positive")
    growth_rate: float = option(math.inf, _growth)
    param_groups: tuple[ParamGroup, ...] = option((), _check_param_groups, kw_only=True)

    _GROUP_OPTIONS = ("lr", "weight_decay", "eps")

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        for i, group in enumerate(values.get("param_groups", ())):
            where = f"param group {group.name or f'group{i + 1}'!r}"
            for name, value in group.options.items():
                if name not in cls._GROUP_OPTIONS:
                    check.conflict(
                        f"{where} sets {name}, which is global in Prodigy (one estimate d for all "
                        f"parameters, as in prodigyopt); per group: {list(cls._GROUP_OPTIONS)}"
                    )
                _run_check(cls.__torsh_checks__.get(name), Checker(f"{check.owner} {where}"), name, value)
            lr = group.options.get("lr", values["lr"])
            if not (lr == values["lr"] or (not callable(lr) and lr == 0)):
                check.conflict(
                    f"{where} sets lr={lr!r}; Prodigy's groups share one step size d * lr, so a group's "
                    f"lr must be the default ({values['lr']!r}) or 0 (frozen), as in prodigyopt"
                )

    def _group_table(self) -> tuple[tuple[str, ParamGroup | None, dict], ...]:
        """``(name, group, {lr, weight_decay, eps})`` per param group, the defaults first."""
        defaults = {k: getattr(self, k) for k in self._GROUP_OPTIONS}
        rows: list[tuple[str, ParamGroup | None, dict]] = [(DEFAULT_GROUP, None, defaults)]
        for i, group in enumerate(self.param_groups):
            rows.append((group.name or f"group{i + 1}", group, {**defaults, **group.options}))
        return tuple(rows)

    def _leaf_groups(self, params: PyTree, check_unmatched: bool) -> list[int]:
        leaves, _, paths, trainable = Optimizer._layout(params)
        return assign_groups("Prodigy", self._group_table(), paths, leaves, trainable, check_unmatched)

    def _next_lr(self, state: Any, step: jax.Array) -> dict:
        return {
            name: self._group_lr(opts["lr"], step) if callable(opts["lr"]) else state.lr[name]
            for name, _, opts in self._group_table()
        }

    @staticmethod
    def _group_lr(lr: Any, step: Any) -> jax.Array:
        return jnp.asarray(lr(step) if callable(lr) else lr, lr_dtype())

    def init(self, params: PyTree) -> ProdigyState:
        """The state: ``d = d0``, zero moments and sums, ``p0`` a copy of ``params``.

        Args:
          params: the parameters (real floating leaves are trained).

        Returns:
          The :class:`ProdigyState`.

        Raises:
          DTypeError: a trainable leaf is complex.
          ConfigError: a param group selects no trainable parameter.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> sorted(optim.Prodigy().init({"w": jnp.ones(2)}).state_dict())[:4]
          ['d', 'd_max', 'd_numerator', 'exp_avg.w']
        """
        mask = _tree.trainable_mask(params)
        self._leaf_groups(params, check_unmatched=True)

        def zeros(p: Any, m: bool) -> Any:
            if not m:
                return None
            p = jnp.asarray(p)
            if jnp.iscomplexobj(p):
                raise DTypeError(f"Prodigy: complex parameters are not supported, got {p.dtype}")
            return jnp.zeros(p.shape, _compute_dtype(p.dtype))

        dt = lr_dtype()
        return ProdigyState(
            step=jnp.zeros((), jnp.int32),
            lr={name: self._group_lr(opts["lr"], 0) for name, _, opts in self._group_table()},
            d=jnp.asarray(self.d0, dt),
            d_max=jnp.asarray(self.d0, dt),
            d_numerator=jnp.zeros((), dt),
            exp_avg=_tree.map(zeros, params, mask),
            exp_avg_sq=_tree.map(zeros, params, mask),
            s=_tree.map(zeros, params, mask),
            p0=trainable_copy(params),
            hyperparams=self._hyperparams(),
        )

    def _run(self, grads: PyTree, state: ProdigyState, params: PyTree) -> tuple[list, Any, ProdigyState]:
        beta1, beta2 = self.betas
        beta3 = math.sqrt(beta2) if self.beta3 is None else self.beta3
        leaves, spec = _tree.flatten(params)
        names = ("grads", "state.exp_avg", "state.exp_avg_sq", "state.s", "state.p0")
        trees = (grads, state.exp_avg, state.exp_avg_sq, state.s, state.p0)
        cols = [flatten_like(spec, t, f"Prodigy: {n}", params) for n, t in zip(names, trees, strict=True)]
        t = state.step + 1
        d, dt = state.d, state.d.dtype
        table = self._group_table()
        owners = self._leaf_groups(params, check_unmatched=False)
        group_lr = [state.lr[name].astype(dt) for name, _, _ in table]
        lr = jnp.max(jnp.stack(group_lr))  # prodigyopt: the largest group lr (the others are 0)
        bc: float | jax.Array = 1.0
        if self.use_bias_correction:
            tf = t.astype(dt)
            bc = jnp.sqrt(1 - beta2**tf) / (1 - beta1**tf)
        dlr = d * lr * bc
        numerator = state.d_numerator * beta3
        denominator = jnp.zeros((), dt)
        rows: list[tuple[Any, ...] | None] = []
        for p, g, m, v, s, p0, gi in zip(leaves, *cols, owners, strict=True):
            if g is None or m is None or gi < 0:
                rows.append(None)
                continue
            opts, live = table[gi][2], group_lr[gi] > 0  # a group at lr 0 is frozen
            cdt = m.dtype
            pc, gc = jnp.asarray(p).astype(cdt), jnp.asarray(g).astype(cdt)
            if opts["weight_decay"] and not self.decouple:
                gc = gc + opts["weight_decay"] * pc
            dot = jnp.where(live, (d / self.d0) * dlr * jnp.vdot(gc, p0.astype(cdt) - pc).astype(dt), 0)
            numerator = numerator + dot
            m = jnp.where(live, beta1 * m + (d * (1 - beta1)) * gc, m)
            v = jnp.where(live, beta2 * v + (d * d * (1 - beta2)) * gc * gc, v)
            s = jnp.where(live, beta3 * s + ((d / self.d0) * (d if self.safeguard_warmup else dlr)) * gc, s)
            denominator = denominator + jnp.where(live, jnp.sum(jnp.abs(s)).astype(dt), 0)
            rows.append((pc, m, v, s, live, opts))
        d_hat = self.d_coef * numerator / jnp.where(denominator > 0, denominator, 1.0)
        d_hat = jnp.where(denominator > 0, d_hat, 0.0)
        d_new = jnp.where(d == self.d0, jnp.maximum(d, d_hat), d)
        d_max = jnp.maximum(state.d_max, d_hat)
        d_new = jnp.minimum(d_max, d_new * self.growth_rate)
        new_params: list[Any] = []
        new_m: list[Any] = []
        new_v: list[Any] = []
        new_s: list[Any] = []
        for row in rows:
            if row is None:
                new_params.append(None)
                new_m.append(None)
                new_v.append(None)
                new_s.append(None)
                continue
            pc, m, v, s, live, opts = row
            new_p = pc
            if opts["weight_decay"] and self.decouple:
                new_p = new_p - opts["weight_decay"] * dlr * new_p
            new_p = new_p - dlr * m / (jnp.sqrt(v) + d_new * opts["eps"])
            new_params.append(jnp.where(live, new_p, pc))
            new_m.append(m)
            new_v.append(v)
            new_s.append(s)
        new_state = state.replace(
            step=t,
            lr=self._next_lr(state, t),
            d=d_new,
            d_max=d_max,
            d_numerator=numerator,
            exp_avg=_tree.unflatten(spec, new_m),
            exp_avg_sq=_tree.unflatten(spec, new_v),
            s=_tree.unflatten(spec, new_s),
        )
        return new_params, spec, new_state
