"""Learning-rate schedules: jit-safe functions of the step, usable as any optimizer's ``lr=``.

A schedule maps the number of optimizer steps taken so far (0 for the first update) to a learning
rate, exactly as the learning rate a PyTorch optimizer uses after that many ``scheduler.step()``
calls. Schedules are small frozen structs (hashable, comparable, readable ``repr``), so they sit
in an optimizer's static configuration. Any function ``step -> lr`` built from ``jax.numpy`` works
too.

==============================  ==========================================
torch.optim.lr_scheduler        torsh.optim.schedules
==============================  ==========================================
ConstantLR                      :func:`constant` (a plain float is a constant lr)
StepLR                          :func:`step_decay`
MultiStepLR                     :func:`multistep_decay`
ExponentialLR                   :func:`exponential_decay`
CosineAnnealingLR               :func:`cosine_annealing`
CosineAnnealingWarmRestarts     :func:`cosine_annealing_warm_restarts`
LinearLR                        :func:`linear`
OneCycleLR (lr part)            :func:`one_cycle`
PolynomialLR                    :func:`polynomial_decay`
CyclicLR                        :func:`cyclic`
MultiplicativeLR                :func:`multiplicative`
SequentialLR                    :func:`join` / :func:`sequence`
ReduceLROnPlateau               :class:`ReduceLROnPlateau` (host side; chains
                                with a schedule as in PyTorch)
==============================  ==========================================

Epochs: torsh counts optimizer steps. A PyTorch scheduler stepped once per *epoch* is the same
schedule with ``steps_per_epoch=len(loader)``, accepted by every schedule here (or wrap any
schedule with :func:`per_epoch`): ``step_decay(0.1, step_size=30, steps_per_epoch=len(loader))`` is
``StepLR(opt, step_size=30)`` with ``scheduler.step()`` at the end of each epoch.

Example:
    >>> from torsh.optim import schedules
    >>> s = schedules.warmup_cosine(1e-3, warmup_steps=100, total_steps=1000)
    >>> [round(float(s(i)), 6) for i in (0, 50, 100, 1000)]
    [0.0, 0.0005, 0.001, 0.0]
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeGuard

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ._config import Checker, Config, option
from ._plateau import ReduceLROnPlateau

__all__ = [
    "Schedule",
    "per_epoch",
    "constant",
    "step_decay",
    "multistep_decay",
    "exponential_decay",
    "cosine_annealing",
    "cosine_annealing_warm_restarts",
    "linear",
    "linear_warmup",
    "warmup_cosine",
    "one_cycle",
    "polynomial_decay",
    "cyclic",
    "cyclic_momentum",
    "multiplicative",
    "join",
    "sequence",
    "ReduceLROnPlateau",
]


def _dtype() -> Any:
    return jnp.result_type(float)


def _steps(step: Any) -> jax.Array:
    return jnp.asarray(step).astype(_dtype())


def _power(base: float, k: jax.Array) -> jax.Array:
    """``base ** k`` for a Python ``base >= 0`` via ``exp(k log base)`` (log taken in double)."""
    if base == 0.0:
        return jnp.where(k == 0, 1.0, 0.0).astype(_dtype())
    return jnp.exp(k * math.log(base))


def _half_cosine(num: jax.Array, den: float | jax.Array) -> jax.Array:
    """``(1 + cos(pi * num / den)) / 2``, accurate to float32 rounding also where it nears zero.

    The naive form loses relative precision as the cosine approaches -1 (the tail of every cosine
    schedule, where the learning rate is small). Here ``num`` is reduced modulo the period exactly and
    the value computed as ``sin(pi * (den - r) / (2 den)) ** 2``, whose argument is exact near zero.
    """
    r = jnp.mod(num, 2 * den)
    r = jnp.where(r > den, 2 * den - r, r)
    return jnp.sin((den - r) * (math.pi / (2 * den))) ** 2


def _check(schedule: str) -> Checker:
    return Checker(f"schedules.{schedule}")


def _count0(check: Checker, name: str, value: Any) -> int:
    return check.integer(name, value, 0)


class Schedule(Config):
    """Base class of torsh's schedules: ``schedule(step) -> lr`` (a scalar array), jit-safe.

    A schedule is a frozen :class:`torsh.tree.Struct` whose fields are static configuration, validated
    when it is built; so it is hashable, compares by value and can be closed over by jitted functions
    or passed through them. Each schedule class is built by the function of the same name
    (``schedules.step_decay(...)``), which names it in error messages.

    Example:
      >>> import jax
      >>> from torsh.optim import schedules
      >>> s = schedules.step_decay(1.0, step_size=2, gamma=0.5)
      >>> isinstance(s, schedules.Schedule), s == schedules.step_decay(1.0, 2, 0.5), float(jax.jit(s)(2))
      (True, True, 0.5)
    """

    def __call__(self, step: Any) -> jax.Array:
        raise NotImplementedError


class _PerEpoch(Schedule):
    _owner = "schedules.per_epoch"
    schedule: Callable = option(check="function")
    steps_per_epoch: int = option(check="count")

    def __call__(self, step: Any) -> jax.Array:
        return jnp.asarray(self.schedule(jnp.floor_divide(jnp.asarray(step), self.steps_per_epoch)), _dtype())


def per_epoch(schedule: Callable, steps_per_epoch: int) -> Schedule:
    """``schedule`` counted in epochs: its value at step ``t`` is ``schedule(t // steps_per_epoch)``.

    As a PyTorch scheduler whose ``step()`` is called once per epoch of ``steps_per_epoch`` batches.
    Every schedule constructor also takes ``steps_per_epoch=`` directly.

    Args:
      schedule: a function of the epoch.
      steps_per_epoch: optimizer steps (batches) per epoch, >= 1.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.per_epoch(schedules.step_decay(1.0, step_size=2, gamma=0.5), steps_per_epoch=3)
      >>> [float(s(i)) for i in range(0, 15, 3)]
      [1.0, 1.0, 0.5, 0.5, 0.25]
      >>> s == schedules.step_decay(1.0, step_size=2, gamma=0.5, steps_per_epoch=3)
      True
    """
    return _PerEpoch(schedule, steps_per_epoch)


def _epochs(fn: Callable[..., Schedule]) -> Callable[..., Schedule]:
    """Give a schedule constructor the ``steps_per_epoch=`` keyword (see :func:`per_epoch`)."""
    import inspect

    @functools.wraps(fn)
    def wrapper(*args: Any, steps_per_epoch: int | None = None, **kwargs: Any) -> Schedule:
        schedule = fn(*args, **kwargs)
        if steps_per_epoch is None:
            return schedule
        return _PerEpoch(schedule, _check(fn.__name__).integer("steps_per_epoch", steps_per_epoch, 1))

    sig = inspect.signature(fn)
    extra = inspect.Parameter(
        "steps_per_epoch", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="int | None"
    )
    params = list(sig.parameters.values())
    if params and params[-1].kind == inspect.Parameter.VAR_POSITIONAL:
        params.append(extra)
    else:
        params.append(extra)
    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper


class _Constant(Schedule):
    _owner = "schedules.constant"
    value: float = option(check="nonneg")
    factor: float = option(check="probability")
    total_iters: int = option(check=_count0)

    def __call__(self, step: Any) -> jax.Array:
        s = _steps(step)
        return jnp.where(s < self.total_iters, self.value * self.factor, self.value).astype(_dtype())


@_epochs
def constant(value: float, factor: float = 1.0 / 3, total_iters: int = 5) -> Schedule:
    """``value * factor`` for the first ``total_iters`` steps, then ``value`` (PyTorch's ConstantLR).

    PyTorch's defaults ``factor=1/3, total_iters=5``. For a learning rate that never changes, pass
    the number itself (``lr=0.1``; :func:`join` and :func:`sequence` accept numbers too).

    Args:
      value: the learning rate after ``total_iters`` steps, >= 0.
      factor: multiplier of ``value`` before that, in [0, 1].
      total_iters: steps at ``value * factor``, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.constant(0.1, factor=0.5, total_iters=2)
      >>> [round(float(s(i)), 3) for i in range(4)]
      [0.05, 0.05, 0.1, 0.1]
    """
    return _Constant(value, factor, total_iters)


class _StepDecay(Schedule):
    _owner = "schedules.step_decay"
    lr: float = option(check="nonneg")
    step_size: int = option(check="count")
    gamma: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        k = jnp.floor_divide(jnp.asarray(step), self.step_size).astype(_dtype())
        return self.lr * _power(self.gamma, k)


@_epochs
def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr * gamma ** (step // step_size)`` (PyTorch's StepLR).

    Args:
      lr: the initial learning rate, >= 0.
      step_size: steps between decays, >= 1.
      gamma: multiplier at each decay, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.step_decay(1.0, step_size=2, gamma=0.5)
      >>> [float(s(i)) for i in range(5)]
      [1.0, 1.0, 0.5, 0.5, 0.25]
    """
    return _StepDecay(lr, step_size, gamma)


def _milestones(check: Checker, name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        check.fail(name, "a sequence of step numbers", value)
    return tuple(sorted(check.integer(f"{name}[{i}]", m, 0) for i, m in enumerate(value)))


class _MultiStepDecay(Schedule):
    _owner = "schedules.multistep_decay"
    lr: float = option(check="nonneg")
    milestones: Sequence[int] = option(check=_milestones)  # normalised to a sorted tuple
    gamma: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        if not self.milestones:
            return jnp.asarray(self.lr, _dtype())
        passed = jnp.sum(jnp.asarray(step) >= jnp.asarray(self.milestones)).astype(_dtype())
        return self.lr * _power(self.gamma, passed)


@_epochs
def multistep_decay(lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """``lr`` times ``gamma`` for every milestone reached (PyTorch's MultiStepLR).

    Args:
      lr: the initial learning rate, >= 0.
      milestones: the steps at which the learning rate is multiplied by ``gamma``.
      gamma: multiplier at each milestone, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.multistep_decay(1.0, milestones=[1, 3], gamma=0.1)
      >>> [round(float(s(i)), 4) for i in range(4)]
      [1.0, 0.1, 0.1, 0.01]
    """
    return _MultiStepDecay(lr, milestones, gamma)


class _ExponentialDecay(Schedule):
    _owner = "schedules.exponential_decay"
    lr: float = option(check="nonneg")
    gamma: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        return self.lr * _power(self.gamma, _steps(step))


@_epochs
def exponential_decay(lr: float, gamma: float) -> Schedule:
    """``lr * gamma ** step`` (PyTorch's ExponentialLR).

    Args:
      lr: the initial learning rate, >= 0.
      gamma: multiplier per step, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> round(float(schedules.exponential_decay(1.0, 0.9)(2)), 4)
      0.81
    """
    return _ExponentialDecay(lr, gamma)


class _CosineAnnealing(Schedule):
    _owner = "schedules.cosine_annealing"
    lr: float = option(check="nonneg")
    T_max: int = option(check="count")
    eta_min: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        return self.eta_min + (self.lr - self.eta_min) * _half_cosine(_steps(step), self.T_max)


@_epochs
def cosine_annealing(lr: float, T_max: int, eta_min: float = 0.0) -> Schedule:
    """``eta_min + (lr - eta_min)(1 + cos(pi step / T_max)) / 2`` (PyTorch's CosineAnnealingLR).

    Like PyTorch's, it keeps following the cosine after ``T_max`` (rising again); use
    :func:`warmup_cosine` or :func:`join` with :func:`constant` to hold the final value.

    Args:
      lr: the initial learning rate, >= 0.
      T_max: steps of the half period, >= 1.
      eta_min: the learning rate at ``T_max``, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.cosine_annealing(1.0, T_max=10)
      >>> [round(float(s(i)), 4) for i in (0, 5, 10)]
      [1.0, 0.5, 0.0]
    """
    return _CosineAnnealing(lr, T_max, eta_min)


class _CosineWarmRestarts(Schedule):
    _owner = "schedules.cosine_annealing_warm_restarts"
    lr: float = option(check="nonneg")
    T_0: int = option(check="count")
    T_mult: int = option(check="count")
    eta_min: float = option(check="nonneg")

    def _cycle(self, step: jax.Array) -> tuple[jax.Array, jax.Array]:
        step = jnp.asarray(step)
        if self.T_mult == 1:
            return (step % self.T_0).astype(_dtype()), jnp.asarray(self.T_0, _dtype())
        # Cycle n starts at T_0 (T_mult^n - 1) / (T_mult - 1); tabulate the starts that fit in int32.
        starts, lengths, start, length = [], [], 0, self.T_0
        while start < 2**31:
            starts.append(start)
            lengths.append(length)
            start, length = start + length, length * self.T_mult
        n = jnp.searchsorted(jnp.asarray(starts), step, side="right") - 1
        t_cur = step - jnp.asarray(starts)[n]
        return t_cur.astype(_dtype()), jnp.asarray(np.asarray(lengths, np.float64), _dtype())[n]

    def __call__(self, step: Any) -> jax.Array:
        t_cur, t_i = self._cycle(step)
        return self.eta_min + (self.lr - self.eta_min) * _half_cosine(t_cur, t_i)


@_epochs
def cosine_annealing_warm_restarts(lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> Schedule:
    """Cosine annealing restarted every ``T_i = T_0 * T_mult**i`` steps (SGDR).

    PyTorch's CosineAnnealingWarmRestarts.

    Args:
      lr: the learning rate at each restart, >= 0.
      T_0: steps of the first cycle, >= 1.
      T_mult: growth factor of the cycle length, an integer >= 1.
      eta_min: the learning rate at the end of each cycle, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.cosine_annealing_warm_restarts(1.0, T_0=2, T_mult=2)
      >>> [round(float(s(i)), 3) for i in range(7)]
      [1.0, 0.5, 1.0, 0.854, 0.5, 0.146, 1.0]
    """
    return _CosineWarmRestarts(lr, T_0, T_mult, eta_min)


class _Linear(Schedule):
    _owner = "schedules.linear"
    lr: float = option(check="nonneg")
    start_factor: float = option(check="probability")
    end_factor: float = option(check="probability")
    total_iters: int = option(check="count")

    def __call__(self, step: Any) -> jax.Array:
        s = jnp.minimum(_steps(step), self.total_iters)
        return self.lr * (self.start_factor + (self.end_factor - self.start_factor) * s / self.total_iters)


@_epochs
def linear(
    lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5
) -> Schedule:
    """``lr`` times a factor moving linearly from ``start_factor`` to ``end_factor`` (PyTorch's LinearLR).

    The factor reaches ``end_factor`` after ``total_iters`` steps and is held there.

    Args:
      lr: the learning rate the factors multiply, >= 0.
      start_factor: the factor at step 0, in [0, 1].
      end_factor: the factor from step ``total_iters`` on, in [0, 1].
      total_iters: steps of the ramp, >= 1.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.linear(1.0, start_factor=0.5, total_iters=2)
      >>> [float(s(i)) for i in range(4)]
      [0.5, 0.75, 1.0, 1.0]
    """
    return _Linear(lr, start_factor, end_factor, total_iters)


@_epochs
def linear_warmup(lr: float, warmup_steps: int, init_lr: float = 0.0) -> Schedule:
    """From ``init_lr`` linearly up to ``lr`` over ``warmup_steps`` steps, then ``lr``.

    Args:
      lr: the learning rate after the warmup, >= 0.
      warmup_steps: steps of the ramp, >= 1.
      init_lr: the learning rate at step 0, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.linear_warmup(1.0, warmup_steps=4)
      >>> [float(s(i)) for i in range(6)]
      [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    return _LinearWarmup(lr, warmup_steps, init_lr)


class _LinearWarmup(Schedule):
    _owner = "schedules.linear_warmup"
    lr: float = option(check="nonneg")
    warmup_steps: int = option(check="count")
    init_lr: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        s = jnp.minimum(_steps(step), self.warmup_steps)
        return self.lr + (self.init_lr - self.lr) * (1.0 - s / self.warmup_steps)


class _WarmupCosine(Schedule):
    _owner = "schedules.warmup_cosine"
    lr: float = option(check="nonneg")
    warmup_steps: int = option(check=_count0)
    total_steps: int = option(check="count")
    init_lr: float = option(check="nonneg")
    end_lr: float = option(check="nonneg")

    @classmethod
    def _check_combination(cls, check: Checker, values: dict[str, Any]) -> None:
        if values["total_steps"] <= values["warmup_steps"]:
            check.fail("total_steps", f"> warmup_steps ({values['warmup_steps']})", values["total_steps"])

    def __call__(self, step: Any) -> jax.Array:
        s = _steps(step)
        warm = self.init_lr + (self.lr - self.init_lr) * s / max(self.warmup_steps, 1)
        into = jnp.clip(s - self.warmup_steps, 0.0, self.total_steps - self.warmup_steps)
        decay = self.end_lr + (self.lr - self.end_lr) * _half_cosine(
            into, self.total_steps - self.warmup_steps
        )
        return jnp.where(s < self.warmup_steps, warm, decay)


@_epochs
def warmup_cosine(
    lr: float, warmup_steps: int, total_steps: int, init_lr: float = 0.0, end_lr: float = 0.0
) -> Schedule:
    """Linear warmup from ``init_lr`` to ``lr``, then cosine decay to ``end_lr`` (held afterwards).

    Same as optax's ``warmup_cosine_decay_schedule``.

    Args:
      lr: the peak learning rate, reached at ``warmup_steps``, >= 0.
      warmup_steps: steps of the linear warmup, >= 0.
      total_steps: the step at which ``end_lr`` is reached, > ``warmup_steps``.
      init_lr: the learning rate at step 0, >= 0.
      end_lr: the learning rate from ``total_steps`` on, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.warmup_cosine(1.0, warmup_steps=2, total_steps=6, end_lr=0.1)
      >>> [round(float(s(i)), 3) for i in range(8)]
      [0.0, 0.5, 1.0, 0.868, 0.55, 0.232, 0.1, 0.1]
    """
    return _WarmupCosine(lr, warmup_steps, total_steps, init_lr, end_lr)


class _OneCycle(Schedule):
    phases: tuple[tuple[float, float, float], ...]  # (end_step, start_lr, end_lr)
    cos: bool

    def __call__(self, step: Any) -> jax.Array:
        s = _steps(step)
        out = jnp.zeros((), _dtype())
        start = 0.0
        chosen = jnp.zeros((), bool)
        for i, (end, lr0, lr1) in enumerate(self.phases):
            last = i == len(self.phases) - 1
            here = ~chosen & ((s <= end) if not last else True)
            span = (end - start) or 1.0  # an empty phase (PyTorch divides by zero there)
            into = jnp.clip(s - start, 0.0, span) if last else s - start
            if self.cos:
                value = lr1 + (lr0 - lr1) * _half_cosine(into, span)
            else:
                value = (lr1 - lr0) * (into / span) + lr0
            out = jnp.where(here, value, out)
            chosen = chosen | here
            start = end
        return out


@_epochs
def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
) -> Schedule:
    """The 1cycle policy (Smith & Topin, 2017), the learning-rate part of PyTorch's OneCycleLR.

    From ``max_lr / div_factor`` up to ``max_lr`` over ``pct_start`` of ``total_steps``, then down
    to ``max_lr / div_factor / final_div_factor`` (held after ``total_steps``, where PyTorch raises).

    Args:
      max_lr: the peak learning rate, >= 0.
      total_steps: steps of the cycle, >= 1.
      pct_start: fraction of the steps spent rising, in [0, 1].
      anneal_strategy: ``"cos"`` or ``"linear"``.
      div_factor: ``max_lr / div_factor`` is the initial learning rate, > 0.
      final_div_factor: the final learning rate is the initial one divided by this, > 0.
      three_phase: fall back to the initial learning rate before annealing to the final one.

    Returns:
      The schedule, a function ``step -> lr``.

    Raises:
      ConfigError: an argument out of its range.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.one_cycle(1.0, total_steps=10, anneal_strategy="linear")
      >>> [round(float(s(i)), 3) for i in (0, 2, 9)]
      [0.04, 1.0, 0.0]
    """
    check = _check("one_cycle")
    max_lr = check.nonneg("max_lr", max_lr)
    total = check.integer("total_steps", total_steps, 1)
    pct = check.unit_interval("pct_start", pct_start, closed_right=True)
    if anneal_strategy not in ("cos", "linear"):
        check.fail("anneal_strategy", "'cos' or 'linear'", anneal_strategy)
    three_phase = check.flag("three_phase", three_phase)
    div = check.positive("div_factor", div_factor)
    final_div = check.positive("final_div_factor", final_div_factor)
    initial = max_lr / div
    minimum = initial / final_div
    phases: tuple[tuple[float, float, float], ...]
    if three_phase:
        phases = (
            (float(pct * total) - 1, initial, max_lr),
            (float(2 * pct * total) - 2, max_lr, initial),
            (float(total - 1), initial, minimum),
        )
    else:
        phases = ((float(pct * total) - 1, initial, max_lr), (float(total - 1), max_lr, minimum))
    return _OneCycle(phases, anneal_strategy == "cos")


class _Polynomial(Schedule):
    _owner = "schedules.polynomial_decay"
    lr: float = option(check="nonneg")
    total_iters: int = option(check="count")
    power: float = option(check="nonneg")
    end_lr: float = option(check="nonneg")

    def __call__(self, step: Any) -> jax.Array:
        s = jnp.minimum(_steps(step), self.total_iters)
        return (self.lr - self.end_lr) * (1.0 - s / self.total_iters) ** self.power + self.end_lr


@_epochs
def polynomial_decay(lr: float, total_iters: int = 5, power: float = 1.0, end_lr: float = 0.0) -> Schedule:
    """``(lr - end_lr)(1 - min(step, total_iters) / total_iters) ** power + end_lr`` (PolynomialLR).

    PyTorch's PolynomialLR is the case ``end_lr=0``.

    Args:
      lr: the initial learning rate, >= 0.
      total_iters: steps of the decay, >= 1.
      power: exponent of the decay, >= 0.
      end_lr: the learning rate from ``total_iters`` on, >= 0.

    Returns:
      The schedule, a function ``step -> lr``.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.polynomial_decay(1.0, total_iters=4, power=2.0)
      >>> [float(s(i)) for i in range(5)]
      [1.0, 0.5625, 0.25, 0.0625, 0.0]
    """
    return _Polynomial(lr, total_iters, power, end_lr)


class _Cyclic(Schedule):
    base_lr: float
    max_lr: float
    total_size: float
    step_ratio: float
    mode: str
    gamma: float
    scale_fn: Callable | None
    scale_mode: str

    def _scale(self, x: jax.Array) -> jax.Array:
        if self.scale_fn is not None:
            return jnp.asarray(self.scale_fn(x), _dtype())
        if self.mode == "triangular":
            return jnp.ones_like(x)
        if self.mode == "triangular2":
            return _power(0.5, x - 1.0)
        return _power(self.gamma, x)  # exp_range

    def __call__(self, step: Any) -> jax.Array:
        s = _steps(step)
        cycle = jnp.floor(1.0 + s / self.total_size)
        x = 1.0 + s / self.total_size - cycle
        factor = jnp.where(x <= self.step_ratio, x / self.step_ratio, (x - 1.0) / (self.step_ratio - 1.0))
        height = (self.max_lr - self.base_lr) * factor
        return self.base_lr + height * self._scale(cycle if self.scale_mode == "cycle" else s)


@_epochs
def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable | None = None,
    scale_mode: str = "cycle",
) -> Schedule:
    """Cyclical learning rates (Smith, 2017): PyTorch's CyclicLR, same arguments and defaults.

    The lr rises linearly from ``base_lr`` to ``max_lr`` over ``step_size_up`` steps, falls back over
    ``step_size_down`` (default: ``step_size_up``), and repeats; ``mode`` scales the amplitude:
    ``"triangular"`` (constant), ``"triangular2"`` (halved each cycle), ``"exp_range"`` (times
    ``gamma ** step``). A custom ``scale_fn`` (jax.numpy, of the cycle number or of the step, per
    ``scale_mode``) replaces ``mode``. PyTorch's ``cycle_momentum=True`` (its default) also cycles
    SGD's momentum: pass :func:`cyclic_momentum` with the same cycle as ``SGD(momentum=...)``.

    Args:
      base_lr: the lower end of the cycle, >= 0.
      max_lr: the upper end of the cycle, >= 0.
      step_size_up: steps rising, >= 1.
      step_size_down: steps falling, >= 1 (default ``step_size_up``).
      mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
      gamma: base of ``"exp_range"``'s amplitude factor, >= 0.
      scale_fn: ``None`` or a jax.numpy function of the cycle number or step, replacing ``mode``.
      scale_mode: ``"cycle"`` or ``"iterations"``: what ``scale_fn`` is a function of.

    Returns:
      The schedule, a function ``step -> lr``.

    Raises:
      ConfigError: an argument out of its range.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.cyclic(0.1, 1.0, step_size_up=2, mode="triangular2")
      >>> [round(float(s(i)), 3) for i in range(9)]
      [0.1, 0.55, 1.0, 0.55, 0.1, 0.325, 0.55, 0.325, 0.1]
    """
    check = _check("cyclic")
    base = check.nonneg("base_lr", base_lr)
    top = check.nonneg("max_lr", max_lr)
    up = check.integer("step_size_up", step_size_up, 1)
    down = up if step_size_down is None else check.integer("step_size_down", step_size_down, 1)
    if mode not in ("triangular", "triangular2", "exp_range"):
        check.fail("mode", "'triangular', 'triangular2' or 'exp_range'", mode)
    if scale_fn is not None and not callable(scale_fn):
        check.fail("scale_fn", "None or a function", scale_fn)
    if scale_fn is None:
        scale_mode = "iterations" if mode == "exp_range" else "cycle"  # PyTorch ignores scale_mode then
    elif scale_mode not in ("cycle", "iterations"):
        check.fail("scale_mode", "'cycle' or 'iterations'", scale_mode)
    total = float(up + down)
    return _Cyclic(base, top, total, up / total, mode, check.nonneg("gamma", gamma), scale_fn, scale_mode)


@_epochs
def cyclic_momentum(
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable | None = None,
    scale_mode: str = "cycle",
) -> Schedule:
    """The momentum cycle of PyTorch's ``CyclicLR(cycle_momentum=True)``, for ``SGD(momentum=...)``.

    From ``max_momentum`` down to ``base_momentum`` while the lr rises, and back.

    Args:
      base_momentum: the lower end of the cycle, >= 0.
      max_momentum: the upper end of the cycle, >= 0.
      step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode: the cycle, as in :func:`cyclic`.

    Returns:
      The momentum schedule, a function ``step -> momentum``.

    Raises:
      ConfigError: an argument out of its range.

    Example:
      >>> from torsh import optim
      >>> from torsh.optim import schedules
      >>> opt = optim.SGD(lr=schedules.cyclic(0.01, 0.1, step_size_up=4),
      ...                 momentum=schedules.cyclic_momentum(0.8, 0.9, step_size_up=4))
      >>> [round(float(schedules.cyclic_momentum(0.8, 0.9, step_size_up=4)(i)), 3) for i in (0, 2, 4)]
      [0.9, 0.85, 0.8]
    """
    # momentum = max - (max - base) * factor * scale: cyclic() with the two ends swapped
    return cyclic.__wrapped__(  # type: ignore[attr-defined]  # set by functools.wraps in _epochs
        max_momentum, base_momentum, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode
    )


class _Multiplicative(Schedule):
    lr: float
    products: tuple[float, ...]  # lr * prod(lr_lambda(1..t)) for t = 0..total_iters

    def __call__(self, step: Any) -> jax.Array:
        table = jnp.asarray(np.asarray(self.products), _dtype())
        return table[jnp.clip(jnp.asarray(step), 0, len(self.products) - 1)]


@_epochs
def multiplicative(
    lr: float, lr_lambda: Callable[[int], float] | float, total_iters: int | None = None
) -> Schedule:
    """PyTorch's MultiplicativeLR: the lr is multiplied by ``lr_lambda(t)`` at step ``t = 1, 2, ...``.

    ``lr_lambda`` is called on the host with Python ints, as PyTorch calls it, so any Python function
    works (branches, lookups); the products are tabulated once for steps ``1..total_iters`` and the lr
    holds after ``total_iters``. A number instead of a function is a constant factor (no table, no
    ``total_iters``: that is :func:`exponential_decay`).

    Args:
      lr: the initial learning rate, >= 0.
      lr_lambda: ``t -> factor`` (a Python function, factors >= 0) or one factor.
      total_iters: the steps tabulated when ``lr_lambda`` is a function.

    Returns:
      The schedule, a function ``step -> lr``.

    Raises:
      ConfigError: an argument out of its range, or ``lr_lambda`` failing or returning a bad factor.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.multiplicative(1.0, lambda epoch: 0.5 if epoch % 2 else 1.0, total_iters=4)
      >>> [float(s(i)) for i in range(6)]
      [1.0, 0.5, 0.5, 0.25, 0.25, 0.25]
    """
    check = _check("multiplicative")
    lr = check.nonneg("lr", lr)
    if not callable(lr_lambda):
        if not _is_value(lr_lambda):
            check.fail("lr_lambda", "a function of the step or a number", lr_lambda)
        return _ExponentialDecay(lr, check.nonneg("lr_lambda", lr_lambda))
    if total_iters is None:
        check.fail(
            "total_iters",
            "given (the steps over which lr_lambda is tabulated) when lr_lambda is a function",
            total_iters,
        )
    total = check.integer("total_iters", total_iters, 0)
    products, value = [lr], lr
    for t in range(1, total + 1):
        try:
            factor = lr_lambda(t)
        except Exception as e:  # report any failure of the user's function
            raise ConfigError(
                f"schedules.multiplicative: lr_lambda({t}) failed: {type(e).__name__}: {e}"
            ) from e
        factor = check.nonneg(f"lr_lambda({t})", factor)
        value *= factor
        products.append(value)
    return _Multiplicative(lr, tuple(products))


def _is_value(x: Any) -> TypeGuard[float]:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class _Value(Schedule):
    """A learning rate that never changes (a number given where a schedule is expected)."""

    value: float

    def __call__(self, step: Any) -> jax.Array:
        return jnp.full(jnp.shape(step), self.value, _dtype())


def _as_schedule(where: str, name: str, x: Any) -> Callable:
    if _is_value(x):
        return _Value(_check(where).nonneg(name, x))
    if not callable(x):
        _check(where).fail(name, "a schedule (a function of the step) or a number", x)
    return x


class _Join(Schedule):
    schedules: tuple[Callable, ...]
    boundaries: tuple[int, ...]

    def __call__(self, step: Any) -> jax.Array:
        step = jnp.asarray(step)
        out = jnp.asarray(self.schedules[0](step), _dtype())
        for schedule, boundary in zip(self.schedules[1:], self.boundaries, strict=True):
            out = jnp.where(step >= boundary, jnp.asarray(schedule(step - boundary), _dtype()), out)
        return out


@_epochs
def join(schedules: Sequence[Callable], boundaries: Sequence[int]) -> Schedule:
    """Schedule ``i + 1`` takes over at step ``boundaries[i]``, restarted at its own step 0.

    PyTorch's SequentialLR with ``milestones=boundaries``; optax's ``join_schedules``.

    Args:
      schedules: the schedules (or numbers: constant learning rates), in order.
      boundaries: the increasing steps at which the next one takes over (one fewer than schedules).

    Returns:
      The schedule, a function ``step -> lr``.

    Raises:
      ConfigError: an argument out of its range.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.join([schedules.linear_warmup(1.0, 2), schedules.exponential_decay(1.0, 0.5)], [2])
      >>> [float(s(i)) for i in range(5)]
      [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    check = _check("join")
    schedules = tuple(_as_schedule("join", f"schedules[{i}]", x) for i, x in enumerate(schedules))
    boundaries = tuple(boundaries)
    if not schedules:
        check.fail("schedules", "at least one schedule", schedules)
    if len(boundaries) != len(schedules) - 1:
        check.fail(
            "boundaries",
            f"{len(schedules) - 1} step numbers (one fewer than the schedules)",
            boundaries,
        )
    bs = tuple(check.integer(f"boundaries[{i}]", b, 0) for i, b in enumerate(boundaries))
    if list(bs) != sorted(bs):
        check.fail("boundaries", "increasing", boundaries)
    return _Join(schedules, bs)


@_epochs
def sequence(*phases: tuple[Callable, int] | Callable) -> Schedule:
    """Run schedules one after the other, each for a number of steps.

    ``sequence((warmup, 100), (cosine, 900), 1e-5)``: the last phase may omit its length (it runs
    forever); a number is a constant learning rate.

    Args:
      *phases: ``(schedule, steps)`` pairs; the last may be a schedule alone.

    Returns:
      The schedule, a function ``step -> lr``.

    Raises:
      ConfigError: an argument out of its range.

    Example:
      >>> from torsh.optim import schedules
      >>> s = schedules.sequence((1.0, 2), schedules.exponential_decay(0.5, 0.5))
      >>> [float(s(i)) for i in range(4)]
      [1.0, 1.0, 0.5, 0.25]
    """
    check = _check("sequence")
    if not phases:
        check.fail("phases", "at least one (schedule, steps) phase", phases)
    schedules, boundaries, at = [], [], 0
    for i, phase in enumerate(phases):
        if _is_value(phase):
            phase = _Value(float(phase))
        elif isinstance(phase, tuple) and len(phase) == 2 and _is_value(phase[0]):
            phase = (_Value(float(phase[0])), phase[1])
        if callable(phase):
            if i != len(phases) - 1:
                check.fail(f"phase {i}", "a (schedule, steps) pair (only the last may omit steps)", phase)
            schedules.append(phase)
            break
        if not (isinstance(phase, tuple) and len(phase) == 2 and callable(phase[0])):
            check.fail(f"phase {i}", "a (schedule, steps) pair", phase)
        schedules.append(phase[0])
        at += check.integer(f"phase {i} steps", phase[1], 1)
        boundaries.append(at)
    if len(boundaries) == len(schedules):  # every phase had a length: the last one continues
        boundaries.pop()
    return join(schedules, boundaries)
