"""Schedule-free AdamW and SGD against optax.contrib and against the authors' PyTorch algorithm
(SGDScheduleFree with warmup and r, written out in float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _optim_reference import assert_trajectories_close, grad_stream, make_params, torsh_trajectory

from torsh import optim
from torsh.errors import ConfigError

STEPS = 60


@pytest.fixture(scope="module")
def data():
    return make_params(0), grad_stream(1, steps=STEPS)


def _optax_run(tx, params, grads):
    """optax's trajectory of the parameters y and of the evaluation point x."""
    p0 = {k: jnp.asarray(v) for k, v in params.items()}

    @jax.jit
    def run(p0, grads):
        def body(carry, g):
            p, s = carry
            updates, s = tx.update(g, s, p)
            p = optax.apply_updates(p, updates)
            return (p, s), (p, optax.contrib.schedule_free_eval_params(s, p))

        return jax.lax.scan(body, (p0, tx.init(p0)), grads)[1]

    y, x = run(p0, {k: jnp.asarray(v) for k, v in grads.items()})
    return {k: np.asarray(v) for k, v in y.items()}, {k: np.asarray(v) for k, v in x.items()}


def _torsh_eval_points(opt, params, grads):
    p0 = {k: jnp.asarray(v) for k, v in params.items()}

    @jax.jit
    def run(p0, grads):
        def body(carry, g):
            p, s = opt.step(carry[0], g, carry[1])
            return (p, s), opt.eval_params(p, s)

        return jax.lax.scan(body, (p0, opt.init(p0)), grads)[1]

    return {k: np.asarray(v) for k, v in run(p0, {k: jnp.asarray(v) for k, v in grads.items()}).items()}


CASES = [
    (
        "adamw",
        optim.schedule_free_adamw(lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1),
        optax.contrib.schedule_free_adamw(1e-2, b1=0.9, b2=0.99, weight_decay=0.1),
    ),
    (
        "adamw-power",
        optim.schedule_free_adamw(lr=3e-3, betas=(0.8, 0.9), eps=1e-6, weight_lr_power=1.0),
        optax.contrib.schedule_free_adamw(3e-3, b1=0.8, b2=0.9, eps=1e-6, weight_lr_power=1.0),
    ),
    (
        "sgd",
        optim.schedule_free_sgd(lr=0.05, momentum=0.9, weight_decay=0.01),
        optax.contrib.schedule_free_sgd(0.05, b1=0.9, weight_decay=0.01),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_matches_optax(case, data):
    _, ours, theirs = case
    params, grads = data
    y, x = _optax_run(theirs, params, grads)
    assert_trajectories_close(torsh_trajectory(ours, params, grads), y, rtol=2e-5, atol_scale=1e-5)
    assert_trajectories_close(_torsh_eval_points(ours, params, grads), x, rtol=2e-5, atol_scale=1e-5)


def _sgd_schedule_free(params, grads, lr, momentum, weight_decay, warmup_steps, r, weight_lr_power):
    """The authors' SGDScheduleFree.step (train mode), float64 numpy; returns y and x per step."""
    y = {k: v.astype(np.float64) for k, v in params.items()}
    z = {k: v.copy() for k, v in y.items()}
    x = {k: v.copy() for k, v in y.items()}
    lr_max, weight_sum = 0.0, 0.0
    out_y = {k: np.empty((STEPS, *v.shape)) for k, v in y.items()}
    out_x = {k: np.empty((STEPS, *v.shape)) for k, v in y.items()}
    for k in range(STEPS):
        sched = (k + 1) / warmup_steps if k < warmup_steps else 1.0
        lr_k = lr * sched
        lr_max = max(lr_k, lr_max)
        weight = (k + 1) ** r * lr_max**weight_lr_power
        weight_sum += weight
        ckp1 = weight / weight_sum if weight_sum else 0.0
        for n in y:
            g = grads[n][k].astype(np.float64) + weight_decay * y[n]
            z[n] = z[n] - lr_k * g
            x[n] = (1 - ckp1) * x[n] + ckp1 * z[n]
            y[n] = momentum * x[n] + (1 - momentum) * z[n]
            out_y[n][k], out_x[n][k] = y[n], x[n]
    return out_y, out_x


def test_sgd_with_warmup_and_r_matches_the_authors_algorithm(data):
    params, grads = data
    kw = dict(lr=0.05, momentum=0.8, weight_decay=0.01, warmup_steps=10, r=0.5, weight_lr_power=2.0)
    opt = optim.schedule_free_sgd(**kw)
    y, x = _sgd_schedule_free(params, grads, **kw)
    assert_trajectories_close(torsh_trajectory(opt, params, grads), y, rtol=2e-5, atol_scale=1e-5)
    assert_trajectories_close(_torsh_eval_points(opt, params, grads), x, rtol=2e-5, atol_scale=1e-5)


def test_update_agrees_with_step_and_validation():
    opt = optim.schedule_free_adamw(lr=0.1)
    p = {"w": jnp.array([1.0, -2.0]), "n": jnp.int32(1)}
    g = {"w": jnp.array([0.5, 0.25]), "n": None}
    a, sa = opt.step(p, g, opt.init(p))
    u, su = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(optim.apply_updates(p, u)["w"], a["w"], rtol=1e-6)
    assert int(a["n"]) == 1 and sa.z["n"] is None
    with pytest.raises(ConfigError, match=r"ScheduleFree: b1 must be in \(0, 1\)"):
        optim.schedule_free_sgd(momentum=0.0)
    with pytest.raises(ConfigError, match=r"schedule_free_adamw: betas\[1\] must be in \[0, 1\)"):
        optim.schedule_free_adamw(betas=(0.9, 1.0))
    with pytest.raises(ConfigError, match="schedule_free_sgd: warmup_steps must be an integer >= 0"):
        optim.schedule_free_sgd(warmup_steps=-1)
    with pytest.raises(ConfigError, match="ScheduleFree: opt must be a torsh.optim optimizer"):
        optim.ScheduleFree("adam")


def _sgd_schedule_free_groups(params, grads, groups, momentum, warmup_steps, r, weight_lr_power):
    """SGDScheduleFree.step with one param group per entry of ``groups`` ({leaf: (lr, weight_decay)}),
    each group with its own lr_max and weight_sum (the authors' per-group bookkeeping), float64."""
    y = {k: v.astype(np.float64) for k, v in params.items()}
    z = {k: v.copy() for k, v in y.items()}
    x = {k: v.copy() for k, v in y.items()}
    lr_max = dict.fromkeys(y, 0.0)
    weight_sum = dict.fromkeys(y, 0.0)
    out_y = {k: np.empty((STEPS, *v.shape)) for k, v in y.items()}
    for k in range(STEPS):
        sched = (k + 1) / warmup_steps if k < warmup_steps else 1.0
        for n in y:  # every leaf is its own group here
            lr, wd = groups[n]
            lr_k = lr * sched
            lr_max[n] = max(lr_k, lr_max[n])
            weight = (k + 1) ** r * lr_max[n] ** weight_lr_power
            weight_sum[n] += weight
            ckp1 = weight / weight_sum[n]
            g = grads[n][k].astype(np.float64) + wd * y[n]
            z[n] = z[n] - lr_k * g
            x[n] = (1 - ckp1) * x[n] + ckp1 * z[n]
            y[n] = momentum * x[n] + (1 - momentum) * z[n]
            out_y[n][k] = y[n]
    return out_y


def test_param_groups_have_their_own_weights(data):
    params, grads = data
    opt = optim.schedule_free_sgd(
        lr=0.05,
        momentum=0.8,
        weight_decay=0.01,
        warmup_steps=5,
        r=0.5,
        param_groups=[optim.ParamGroup("b", lr=0.2), {"params": "s", "lr": 0.005, "weight_decay": 0.0}],
    )
    groups = {"w": (0.05, 0.01), "b": (0.2, 0.01), "s": (0.005, 0.0)}
    y = _sgd_schedule_free_groups(
        params, grads, groups, momentum=0.8, warmup_steps=5, r=0.5, weight_lr_power=2.0
    )
    assert_trajectories_close(torsh_trajectory(opt, params, grads), y, rtol=2e-5, atol_scale=1e-5)
    state = opt.init({k: jnp.asarray(v) for k, v in params.items()})
    assert sorted(state.lr_max) == ["default", "group1", "group2"]
    # a group's weights differ from a single set driven by the largest lr (the previous behaviour)
    single = optim.schedule_free_sgd(lr=0.2, momentum=0.8, weight_decay=0.01, warmup_steps=5, r=0.5)
    assert not np.allclose(torsh_trajectory(single, params, grads)["w"], y["w"], rtol=1e-3)
    with pytest.raises(ConfigError, match="schedule_free_sgd: param group .* sets momentum"):
        optim.schedule_free_sgd(param_groups=[optim.ParamGroup("b", momentum=0.5)])
    with pytest.raises(ConfigError, match="schedule_free_adamw: param group .* sets betas"):
        optim.schedule_free_adamw(param_groups=[optim.ParamGroup("b", betas=(0.5, 0.9))])
