"""Schedules against torch.optim.lr_scheduler over 1,000 steps, inside optimizers, and ReduceLROnPlateau."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from torsh import optim
from torsh.errors import ConfigError
from torsh.optim import schedules

from ._reference import (
    assert_trajectories_close,
    grad_stream,
    make_params,
    torch_trajectory,
    torsh_trajectory,
)

LS = torch.optim.lr_scheduler
N = 1000
BASE = 0.1


def torch_lrs(make_scheduler, steps=N, base=BASE):
    """The lr each of ``steps`` optimizer steps uses under a torch scheduler stepped after each one."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make_scheduler(opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return np.asarray(out)


def ours(schedule, steps=N):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(steps)))


CASES = [
    (
        "constant",
        schedules.constant(BASE, factor=0.25, total_iters=30),
        lambda o: LS.ConstantLR(o, factor=0.25, total_iters=30),
    ),
    (
        "step",
        schedules.step_decay(BASE, step_size=70, gamma=0.5),
        lambda o: LS.StepLR(o, step_size=70, gamma=0.5),
    ),
    (
        "multistep",
        schedules.multistep_decay(BASE, [100, 300, 300, 750], gamma=0.3),
        lambda o: LS.MultiStepLR(o, milestones=[100, 300, 300, 750], gamma=0.3),
    ),
    ("exponential", schedules.exponential_decay(BASE, 0.995), lambda o: LS.ExponentialLR(o, gamma=0.995)),
    (
        "cosine",
        schedules.cosine_annealing(BASE, T_max=300, eta_min=1e-3),
        lambda o: LS.CosineAnnealingLR(o, T_max=300, eta_min=1e-3),
    ),
    (
        "cosine-restarts",
        schedules.cosine_annealing_warm_restarts(BASE, T_0=50, eta_min=1e-4),
        lambda o: LS.CosineAnnealingWarmRestarts(o, T_0=50, eta_min=1e-4),
    ),
    (
        "cosine-restarts-mult",
        schedules.cosine_annealing_warm_restarts(BASE, T_0=7, T_mult=3),
        lambda o: LS.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=3),
    ),
    (
        "linear",
        schedules.linear(BASE, start_factor=0.1, end_factor=0.9, total_iters=200),
        lambda o: LS.LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=200),
    ),
    (
        "one-cycle",
        schedules.one_cycle(BASE, total_steps=N + 1),
        lambda o: LS.OneCycleLR(o, max_lr=BASE, total_steps=N + 1, cycle_momentum=False),
    ),
    (
        "one-cycle-linear-3phase",
        schedules.one_cycle(
            BASE,
            total_steps=N + 1,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
        ),
        lambda o: LS.OneCycleLR(
            o,
            max_lr=BASE,
            total_steps=N + 1,
            pct_start=0.25,
            anneal_strategy="linear",
            div_factor=10.0,
            final_div_factor=100.0,
            three_phase=True,
            cycle_momentum=False,
        ),
    ),
    (
        "polynomial",
        schedules.polynomial_decay(BASE, total_iters=800, power=2.0),
        lambda o: LS.PolynomialLR(o, total_iters=800, power=2.0),
    ),
    (
        "join-linear-exponential",
        schedules.join(
            [schedules.linear(BASE, 0.1, 1.0, 100), schedules.exponential_decay(BASE, 0.99)], [100]
        ),
        lambda o: LS.SequentialLR(
            o, [LS.LinearLR(o, 0.1, 1.0, 100), LS.ExponentialLR(o, 0.99)], milestones=[100]
        ),
    ),
    (
        "sequence-three",
        schedules.sequence(
            (schedules.linear(BASE, 0.5, 1.0, 10), 50),
            (schedules.step_decay(BASE, 20, 0.5), 200),
            schedules.cosine_annealing(BASE, 400),
        ),
        lambda o: LS.SequentialLR(
            o,
            [LS.LinearLR(o, 0.5, 1.0, 10), LS.StepLR(o, 20, 0.5), LS.CosineAnnealingLR(o, 400)],
            milestones=[50, 250],
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_schedule_matches_torch(case):
    _, schedule, make = case
    # torch's chainable (recursive) forms accumulate rounding where the lr approaches zero: an absolute
    # floor of 1e-7 * base covers it
    np.testing.assert_allclose(ours(schedule), torch_lrs(make), rtol=1e-5, atol=1e-7 * BASE)


def test_warmup_cosine_matches_optax():
    s = schedules.warmup_cosine(BASE, warmup_steps=100, total_steps=900, init_lr=1e-3, end_lr=1e-4)
    ref = optax.warmup_cosine_decay_schedule(1e-3, BASE, 100, 900, end_value=1e-4)
    np.testing.assert_allclose(ours(s), np.asarray(jax.vmap(ref)(jnp.arange(N))), rtol=1e-5, atol=1e-9)


def test_linear_warmup_matches_optax():
    s = schedules.linear_warmup(BASE, warmup_steps=250, init_lr=0.01)
    ref = optax.linear_schedule(0.01, BASE, 250)
    np.testing.assert_allclose(ours(s), np.asarray(jax.vmap(ref)(jnp.arange(N))), rtol=1e-6)
    down = schedules.linear_warmup(0.01, warmup_steps=10, init_lr=0.5)  # also works downwards
    np.testing.assert_allclose(
        ours(down, 12), np.asarray(jax.vmap(optax.linear_schedule(0.5, 0.01, 10))(jnp.arange(12))), rtol=1e-6
    )


def test_schedules_are_static_values():
    a = schedules.cosine_annealing(0.1, T_max=10)
    assert a == schedules.cosine_annealing(0.1, T_max=10) and hash(a) == hash(
        schedules.cosine_annealing(0.1, T_max=10)
    )
    assert optim.Adam(lr=a) == optim.Adam(lr=schedules.cosine_annealing(0.1, T_max=10))
    assert "T_max=10" in repr(a)


def test_optimizer_with_schedule_matches_torch_optimizer_with_scheduler():
    params, grads = make_params(0), grad_stream(1)
    sched = schedules.one_cycle(0.05, total_steps=250)
    ours_ = torsh_trajectory(optim.SGD(lr=sched, momentum=0.9), params, grads)
    ref = torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        params,
        grads,
        make_scheduler=lambda o: LS.OneCycleLR(o, max_lr=0.05, total_steps=250, cycle_momentum=False),
    )
    assert_trajectories_close(ours_, ref)
    ours_ = torsh_trajectory(optim.Adam(lr=schedules.cosine_annealing(1e-2, T_max=50)), params, grads)
    ref = torch_trajectory(
        lambda p: torch.optim.Adam(p, lr=1e-2),
        params,
        grads,
        make_scheduler=lambda o: LS.CosineAnnealingLR(o, T_max=50),
    )
    assert_trajectories_close(ours_, ref)


def test_state_lr_is_the_lr_of_the_next_step():
    opt = optim.SGD(lr=schedules.step_decay(1.0, step_size=2, gamma=0.5))
    p = {"w": jnp.zeros(1)}
    state = opt.init(p)
    seen = []
    for _ in range(5):
        seen.append(float(state.lr["default"]))
        p, state = opt.step(p, {"w": jnp.ones(1)}, state)
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25]
    assert float(p["w"][0]) == pytest.approx(-(1.0 + 1.0 + 0.5 + 0.5 + 0.25))


def test_schedule_validation():
    with pytest.raises(ConfigError, match=r"schedules.step_decay: step_size must be an integer >= 1, got 0"):
        schedules.step_decay(0.1, 0)
    with pytest.raises(ConfigError, match="T_max"):
        schedules.cosine_annealing(0.1, T_max=2.5)
    with pytest.raises(ConfigError, match="lr must be >= 0"):
        schedules.exponential_decay(-0.1, 0.9)
    with pytest.raises(ConfigError, match="total_steps must be > warmup_steps"):
        schedules.warmup_cosine(0.1, warmup_steps=10, total_steps=10)
    with pytest.raises(ConfigError, match="anneal_strategy"):
        schedules.one_cycle(0.1, 100, anneal_strategy="exp")
    with pytest.raises(ConfigError, match="boundaries"):
        schedules.join([schedules.constant(0.1)], [10])
    with pytest.raises(ConfigError, match="increasing"):
        schedules.join([schedules.constant(0.1)] * 3, [10, 5])
    with pytest.raises(ConfigError, match="phase 0"):
        schedules.sequence(schedules.constant(0.1), schedules.constant(0.2))
    with pytest.raises(ConfigError, match="milestones"):
        schedules.multistep_decay(0.1, 10)
    with pytest.raises(ConfigError, match="start_factor"):
        schedules.linear(0.1, start_factor=2.0)
    with pytest.raises(ConfigError, match=r"lr\(0\) must be a finite number >= 0"):
        optim.SGD(lr=lambda step: -1.0)
    with pytest.raises(ConfigError, match="calling it at step 0 failed"):
        optim.SGD(lr=lambda step: undefined_name)  # noqa: F821


# -- ReduceLROnPlateau ----------------------------------------------------------------------------
PLATEAU = [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.01, threshold_mode="abs", cooldown=3, min_lr=0.002),
    dict(factor=0.3, patience=0, threshold=0.1, cooldown=1, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=["defaults", "max-abs-cooldown-min", "rel-eps"])
def test_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 20), 0.5 + 0.02 * rng.normal(size=80)])
    p = torch.nn.Parameter(torch.zeros(1))
    topt = torch.optim.SGD([p], lr=0.1)
    tsched = LS.ReduceLROnPlateau(topt, **kwargs)
    opt = optim.SGD(lr=0.1)
    state = opt.init({"w": jnp.zeros(1)})
    plateau = optim.ReduceLROnPlateau(**kwargs)
    for m in metrics:
        tsched.step(float(m))
        state = plateau.step(float(m), state)
        assert float(state.lr["default"]) == pytest.approx(topt.param_groups[0]["lr"], rel=1e-6)
    assert plateau.num_bad_epochs == tsched.num_bad_epochs and plateau.best == tsched.best


def test_plateau_state_dict_and_groups_and_errors():
    opt = optim.chain(
        optim.clip_by_value(1.0),
        optim.SGD(lr=0.1, param_groups=[optim.ParamGroup("b", lr=0.01, name="bias")]),
    )
    state = opt.init({"w": jnp.zeros(1), "b": jnp.zeros(1)})
    plateau = optim.ReduceLROnPlateau(patience=0, factor=0.5, min_lr={"1.default": 0.0, "1.bias": 0.008})
    state = plateau.step(1.0, state)
    state = plateau.step(2.0, state)
    lrs = {k: round(float(v), 6) for k, v in optim.get_lr(state).items()}
    assert lrs == {"1.default": 0.05, "1.bias": 0.008}
    copy = optim.ReduceLROnPlateau(patience=0, factor=0.5)
    copy.load_state_dict(plateau.state_dict())
    assert copy.state_dict() == plateau.state_dict()
    with pytest.raises(ConfigError, match="schedule"):
        sched_state = optim.SGD(lr=schedules.exponential_decay(0.1, 0.9)).init({"w": jnp.zeros(1)})
        p = optim.ReduceLROnPlateau(patience=0)
        p.step(1.0, sched_state)
        p.step(2.0, sched_state)
    with pytest.raises(ConfigError, match="factor must be in"):
        optim.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ConfigError, match="mode"):
        optim.ReduceLROnPlateau(mode="up")
    with pytest.raises(ConfigError, match="no entry for group"):
        bad = optim.ReduceLROnPlateau(patience=0, min_lr={"default": 0.0})
        bad.step(1.0, state)
        bad.step(2.0, state)


def test_cosine_tails_keep_relative_precision():
    """Near the end of a cosine the lr is tiny; it stays accurate relative to itself (float64 truth)."""
    t = np.arange(1001)
    exact = (1 + np.cos(np.pi * t / 1000)) / 2
    np.testing.assert_allclose(
        ours(schedules.cosine_annealing(1.0, T_max=1000), 1001), exact, rtol=2e-6, atol=1e-30
    )
    exact = 0.5 * (1 + np.cos(np.pi * np.clip(t - 100, 0, 900) / 900))
    warm = ours(schedules.warmup_cosine(1.0, 100, 1000), 1001)
    np.testing.assert_allclose(warm[100:], exact[100:], rtol=2e-6, atol=1e-30)
