"""Schedules against torch.optim.lr_scheduler over 1,000 steps, inside optimizers, and ReduceLROnPlateau."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from _optim_reference import (
    assert_trajectories_close,
    grad_stream,
    make_params,
    torch_trajectory,
    torsh_trajectory,
)

from torsh import optim
from torsh.errors import ConfigError, FrozenInstanceError
from torsh.optim import schedules

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
    ("constant-torch-defaults", schedules.constant(BASE), lambda o: LS.ConstantLR(o)),
    (
        "cyclic-triangular",
        schedules.cyclic(0.01, BASE, step_size_up=70),
        lambda o: LS.CyclicLR(o, 0.01, BASE, step_size_up=70, cycle_momentum=False),
    ),
    (
        "cyclic-triangular2-asymmetric",
        schedules.cyclic(0.01, BASE, step_size_up=30, step_size_down=90, mode="triangular2"),
        lambda o: LS.CyclicLR(
            o, 0.01, BASE, step_size_up=30, step_size_down=90, mode="triangular2", cycle_momentum=False
        ),
    ),
    (
        "cyclic-exp-range",
        schedules.cyclic(0.001, BASE, step_size_up=50, mode="exp_range", gamma=0.998),
        lambda o: LS.CyclicLR(
            o, 0.001, BASE, step_size_up=50, mode="exp_range", gamma=0.998, cycle_momentum=False
        ),
    ),
    (
        "cyclic-custom-scale-fn",
        schedules.cyclic(0.01, BASE, step_size_up=40, scale_fn=lambda x: 1.0 / x, scale_mode="cycle"),
        lambda o: LS.CyclicLR(
            o,
            0.01,
            BASE,
            step_size_up=40,
            scale_fn=lambda x: 1.0 / x,
            scale_mode="cycle",
            cycle_momentum=False,
        ),
    ),
    (
        "multiplicative-lambda",
        schedules.multiplicative(BASE, lambda t: 0.9 if t % 100 == 0 else 0.999, total_iters=N),
        lambda o: LS.MultiplicativeLR(o, lambda t: 0.9 if t % 100 == 0 else 0.999),
    ),
    (
        "multiplicative-factor",
        schedules.multiplicative(BASE, 0.997),
        lambda o: LS.MultiplicativeLR(o, lambda t: 0.997),
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
    # frozen structs with no leaves: they pass through jit as arguments, and a changed copy is
    # validated like a new schedule
    assert jax.tree.leaves(a) == [] and float(jax.jit(lambda s, t: s(t))(a, 10)) == pytest.approx(0.0)
    with pytest.raises(FrozenInstanceError):
        a.T_max = 5
    assert a.replace(T_max=20) == schedules.cosine_annealing(0.1, T_max=20)
    with pytest.raises(ConfigError, match="schedules.cosine_annealing: T_max must be an integer >= 1, got 0"):
        a.replace(T_max=0)


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


@pytest.mark.parametrize("mode", ["triangular", "exp_range"])
def test_sgd_with_cyclic_momentum_matches_torch_cyclic_lr_with_cycle_momentum(mode):
    params, grads = make_params(0), grad_stream(1)
    cycle = dict(step_size_up=15, step_size_down=25, mode=mode, gamma=0.99)
    opt = optim.SGD(
        lr=schedules.cyclic(0.001, 0.05, **cycle),
        momentum=schedules.cyclic_momentum(0.7, 0.95, **cycle),
        weight_decay=0.01,
    )
    ref = torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.01),
        params,
        grads,
        make_scheduler=lambda o: LS.CyclicLR(o, 0.001, 0.05, base_momentum=0.7, max_momentum=0.95, **cycle),
    )
    assert_trajectories_close(torsh_trajectory(opt, params, grads), ref)
    momenta = ours(schedules.cyclic_momentum(0.7, 0.95, **cycle), 100)
    amplitude = 0.25 * (0.99**15 if mode == "exp_range" else 1.0)  # the lr's low is the momentum's high
    assert momenta[0] == pytest.approx(0.95) and momenta[15] == pytest.approx(0.95 - amplitude, rel=1e-5)


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
    with pytest.raises(ConfigError, match="lr must be a finite number >= 0"):
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
    with pytest.raises(
        ConfigError, match=r"schedules\[0\] must be a schedule \(a function of the step\) or a number"
    ):
        schedules.join(["fast"], [])
    with pytest.raises(ConfigError, match=r"SGD: momentum\(0\) must be a finite number >= 0"):
        optim.SGD(lr=0.1, momentum=lambda step: -1.0)
    with pytest.raises(ConfigError, match="nesterov=True requires momentum > 0"):
        optim.SGD(lr=0.1, momentum=lambda step: 0.0, nesterov=True)
    with pytest.raises(ConfigError, match="cyclic: mode must be"):
        schedules.cyclic(0.1, 1.0, mode="sine")
    with pytest.raises(ConfigError, match="cyclic: step_size_up must be an integer >= 1"):
        schedules.cyclic(0.1, 1.0, step_size_up=0)
    with pytest.raises(ConfigError, match="multiplicative: total_iters must be given"):
        schedules.multiplicative(0.1, lambda t: 0.9)
    with pytest.raises(ConfigError, match=r"lr_lambda\(3\) failed: ZeroDivisionError"):
        schedules.multiplicative(0.1, lambda t: 1 / (3 - t), total_iters=5)
    with pytest.raises(ConfigError, match=r"lr_lambda\(1\) must be a real number, got \'x\'"):
        schedules.multiplicative(0.1, lambda t: "x", total_iters=5)
    with pytest.raises(ConfigError, match="step_decay: steps_per_epoch must be an integer >= 1, got 0"):
        schedules.step_decay(0.1, 10, steps_per_epoch=0)
    with pytest.raises(ConfigError, match="per_epoch: steps_per_epoch must be an integer >= 1"):
        schedules.per_epoch(schedules.constant(0.1), 2.5)
    with pytest.raises(ConfigError, match="milestones"):
        schedules.multistep_decay(0.1, 10)
    with pytest.raises(ConfigError, match="start_factor"):
        schedules.linear(0.1, start_factor=2.0)
    with pytest.raises(ConfigError, match=r"lr\(0\) must be a finite number >= 0"):
        optim.SGD(lr=lambda step: -1.0)
    with pytest.raises(ConfigError, match="calling it at step 0 failed"):
        optim.SGD(lr=lambda step: undefined_name)  # noqa: F821


def test_constant_defaults_are_torch_constant_lr_and_numbers_are_constant_phases():
    import inspect

    sig = inspect.signature(schedules.constant)
    ref = inspect.signature(LS.ConstantLR)
    assert sig.parameters["factor"].default == ref.parameters["factor"].default
    assert sig.parameters["total_iters"].default == ref.parameters["total_iters"].default
    s = schedules.sequence((schedules.linear_warmup(1.0, 2), 3), 0.25)
    assert [float(s(i)) for i in range(5)] == [0.0, 0.5, 1.0, 0.25, 0.25]
    assert [float(x) for x in jax.vmap(schedules.join([0.5, 0.1], [2]))(jnp.arange(4))] == pytest.approx(
        [0.5, 0.5, 0.1, 0.1]
    )


# -- epoch-based schedules (issue 10) -------------------------------------------------------------
EPOCHS, STEPS_PER_EPOCH = 40, 7


def torch_epoch_lrs(
    make_scheduler, epochs=EPOCHS, steps=STEPS_PER_EPOCH, base=BASE, plateau=None, metrics=None
):
    """The lr of every optimizer step when the scheduler (and ReduceLROnPlateau) step once per epoch."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    sched = make_scheduler(opt) if make_scheduler else None
    reduce = LS.ReduceLROnPlateau(opt, **plateau) if plateau is not None else None
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for epoch in range(epochs):
            for _ in range(steps):
                out.append(opt.param_groups[0]["lr"])
                opt.step()
            if sched is not None:
                sched.step()
            if reduce is not None:
                reduce.step(metrics[epoch])
    return np.asarray(out)


EPOCH_CASES = [
    (
        "step",
        dict(lr=BASE, step_size=5, gamma=0.5),
        schedules.step_decay,
        lambda o: LS.StepLR(o, step_size=5, gamma=0.5),
    ),
    (
        "multistep",
        dict(lr=BASE, milestones=[3, 10, 25]),
        schedules.multistep_decay,
        lambda o: LS.MultiStepLR(o, [3, 10, 25]),
    ),
    (
        "cosine",
        dict(lr=BASE, T_max=15),
        schedules.cosine_annealing,
        lambda o: LS.CosineAnnealingLR(o, T_max=15),
    ),
    (
        "exponential",
        dict(lr=BASE, gamma=0.9),
        schedules.exponential_decay,
        lambda o: LS.ExponentialLR(o, 0.9),
    ),
]


@pytest.mark.parametrize("case", EPOCH_CASES, ids=[c[0] for c in EPOCH_CASES])
def test_steps_per_epoch_equals_torch_scheduler_stepped_per_epoch(case):
    _, kwargs, make, make_torch = case
    ref = torch_epoch_lrs(make_torch)
    sched = make(**kwargs, steps_per_epoch=STEPS_PER_EPOCH)
    np.testing.assert_allclose(ours(sched, EPOCHS * STEPS_PER_EPOCH), ref, rtol=1e-5, atol=1e-7 * BASE)
    wrapped = schedules.per_epoch(make(**kwargs), STEPS_PER_EPOCH)
    np.testing.assert_array_equal(
        ours(wrapped, EPOCHS * STEPS_PER_EPOCH), ours(sched, EPOCHS * STEPS_PER_EPOCH)
    )


def test_optimizer_with_per_epoch_step_decay_matches_torch_steplr_per_epoch():
    params = make_params(0)
    grads = grad_stream(1, steps=60)
    sched = schedules.step_decay(0.05, step_size=2, gamma=0.3, steps_per_epoch=10)
    ours_ = torsh_trajectory(optim.SGD(lr=sched, momentum=0.9), params, grads)
    tparams = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    opt = torch.optim.SGD(list(tparams.values()), lr=0.05, momentum=0.9)
    steplr = LS.StepLR(opt, step_size=2, gamma=0.3)
    ref = {k: [] for k in params}
    for i in range(60):
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k][i])
        opt.step()
        for k, p in tparams.items():
            ref[k].append(p.detach().numpy().copy())
        if (i + 1) % 10 == 0:  # end of an epoch of 10 batches
            steplr.step()
    assert_trajectories_close(ours_, {k: np.stack(v) for k, v in ref.items()})


# -- schedules chained with ReduceLROnPlateau (issue 17) ----------------------------------------
CHAINED = [
    (
        "step",
        schedules.step_decay(BASE, step_size=4, gamma=0.5),
        lambda o: LS.StepLR(o, 4, 0.5),
        dict(patience=2, factor=0.5),
    ),
    (
        "exponential",
        schedules.exponential_decay(BASE, 0.95),
        lambda o: LS.ExponentialLR(o, 0.95),
        dict(patience=1, factor=0.3, cooldown=2),
    ),
    (
        "cosine",
        schedules.cosine_annealing(BASE, T_max=60),
        lambda o: LS.CosineAnnealingLR(o, T_max=60),
        dict(patience=3),
    ),
    (
        "min-lr",
        schedules.multistep_decay(BASE, [10, 20], 0.5),
        lambda o: LS.MultiStepLR(o, [10, 20], 0.5),
        dict(patience=0, factor=0.5, min_lr=0.02),
    ),
]


@pytest.mark.parametrize("case", CHAINED, ids=[c[0] for c in CHAINED])
def test_schedule_chained_with_plateau_matches_torch(case):
    _, sched, make_torch, kwargs = case
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.6, 10), 0.6 + 0.05 * rng.random(EPOCHS - 10)])
    ref = torch_epoch_lrs(make_torch, plateau=kwargs, metrics=metrics)
    opt = optim.SGD(lr=schedules.per_epoch(sched, STEPS_PER_EPOCH))
    params = {"w": jnp.zeros(1)}
    state = opt.init(params)
    step = jax.jit(opt.step)
    plateau = optim.ReduceLROnPlateau(**kwargs)
    seen = []
    for epoch in range(EPOCHS):
        for _ in range(STEPS_PER_EPOCH):
            seen.append(float(state.lr["default"]))
            params, state = step(params, {"w": jnp.ones(1)}, state)
        state = plateau.step(metrics[epoch], state)
    assert float(state.lr_scale["default"]) < 1.0  # the plateau did reduce
    np.testing.assert_allclose(seen, ref, rtol=1e-5, atol=1e-7 * BASE)


def test_set_lr_rescales_a_schedule_and_refuses_a_schedule_at_zero():
    opt = optim.Adam(lr=schedules.exponential_decay(1.0, 0.5))
    state = opt.init({"w": jnp.zeros(2)})
    state = optim.set_lr(state, 0.25)
    p = {"w": jnp.zeros(2)}
    lrs = []
    for _ in range(3):
        p, state = opt.step(p, {"w": jnp.ones(2)}, state)
        lrs.append(float(state.lr["default"]))
    assert lrs == pytest.approx([0.125, 0.0625, 0.03125])
    assert sorted(state.state_dict()) == [
        "exp_avg.w",
        "exp_avg_sq.w",
        "lr.default",
        "lr_scale.default",
        "step",
    ]
    assert "lr_scale.default" not in optim.Adam(lr=0.1).init({"w": jnp.zeros(2)}).state_dict()
    warm = optim.SGD(lr=schedules.linear_warmup(1.0, 10)).init({"w": jnp.zeros(1)})
    with pytest.raises(ConfigError, match="is at 0 now"):
        optim.set_lr(warm, 0.5)
    jitted = jax.jit(lambda s: optim.set_lr(s, lambda g, lr: lr * 0.5))(opt.init({"w": jnp.zeros(2)}))
    assert float(jitted.lr_scale["default"]) == 0.5


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
