"""Prodigy against optax.contrib.prodigy and against the authors' prodigyopt algorithm in float64."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _optim_reference import (
    assert_trajectories_close,
    grad_stream,
    make_params,
    optax_trajectory,
    torsh_trajectory,
)

from torsh import optim
from torsh.errors import ConfigError, DTypeError

STEPS = 60


@pytest.fixture(scope="module")
def data():
    return make_params(0), grad_stream(1, steps=STEPS)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (
            optim.Prodigy(use_bias_correction=True),
            optax.contrib.prodigy(),
        ),
        (
            optim.Prodigy(lr=0.5, betas=(0.8, 0.99), weight_decay=0.1, use_bias_correction=True, d0=1e-4),
            optax.contrib.prodigy(0.5, betas=(0.8, 0.99), weight_decay=0.1, estim_lr0=1e-4),
        ),
        (
            optim.Prodigy(use_bias_correction=True, safeguard_warmup=True, beta3=0.9, d_coef=2.0),
            optax.contrib.prodigy(safeguard_warmup=True, beta3=0.9, estim_lr_coef=2.0),
        ),
    ],
    ids=["defaults", "wd-d0", "safeguard"],
)
def test_matches_optax(ours, theirs, data):
    params, grads = data
    # d grows by orders of magnitude over the first steps: compare at float32 accuracy of the products
    assert_trajectories_close(
        torsh_trajectory(ours, params, grads),
        optax_trajectory(theirs, params, grads),
        rtol=1e-4,
        atol_scale=1e-5,
    )


def _prodigy_reference(params, grads, lr, betas, eps, weight_decay, decouple, d0, growth_rate):
    """prodigyopt.Prodigy.step (use_bias_correction=False, safeguard_warmup=False), float64 numpy."""
    beta1, beta2 = betas
    beta3 = math.sqrt(beta2)
    p = {k: v.astype(np.float64) for k, v in params.items()}
    p0 = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    s = {k: np.zeros_like(x) for k, x in p.items()}
    d, d_max, d_num = d0, d0, 0.0
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for k in range(STEPS):
        dlr = d * lr
        d_num *= beta3
        d_denom = 0.0
        g = {}
        for n in p:
            g[n] = grads[n][k].astype(np.float64)
            if not decouple:
                g[n] = g[n] + weight_decay * p[n]
            d_num += (d / d0) * dlr * np.dot(g[n].ravel(), (p0[n] - p[n]).ravel())
            m[n] = beta1 * m[n] + d * (1 - beta1) * g[n]
            v[n] = beta2 * v[n] + d * d * (1 - beta2) * g[n] * g[n]
            s[n] = beta3 * s[n] + (d / d0) * dlr * g[n]
            d_denom += np.abs(s[n]).sum()
        d_hat = d_num / d_denom
        if d == d0:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = min(d_max, d * growth_rate)
        for n in p:
            if decouple:
                p[n] = p[n] - weight_decay * dlr * p[n]
            p[n] = p[n] - dlr * m[n] / (np.sqrt(v[n]) + d * eps)
            out[n][k] = p[n]
    return out


AUTHORS = [
    dict(
        lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decouple=True, d0=1e-6, growth_rate=math.inf
    ),
    dict(lr=1.0, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05, decouple=False, d0=1e-5, growth_rate=1.02),
]


@pytest.mark.parametrize("kw", AUTHORS, ids=["defaults", "l2-growth"])
def test_matches_the_authors_algorithm(kw, data, x64):
    # in float64 on both sides: the estimate d is a ratio of long sums, float32 rounding moves it by ~1%
    params, grads = ({k: v.astype(np.float64) for k, v in tree.items()} for tree in data)
    ours = torsh_trajectory(optim.Prodigy(**kw), params, grads)
    assert_trajectories_close(ours, _prodigy_reference(params, grads, **kw), rtol=1e-9, atol_scale=1e-10)


def test_update_agrees_with_step_and_errors():
    opt = optim.Prodigy(weight_decay=0.1)
    p = {"w": jnp.array([1.0, -2.0]), "n": jnp.int32(4)}
    g = {"w": jnp.array([0.5, 0.25]), "n": None}
    a, _ = opt.step(p, g, opt.init(p))
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(optim.apply_updates(p, u)["w"], a["w"], rtol=1e-6)
    assert int(a["n"]) == 4
    with pytest.raises(ConfigError, match="Prodigy: d0 must be a finite number > 0, got 0.0"):
        optim.Prodigy(d0=0.0)
    with pytest.raises(ConfigError, match="Prodigy: growth_rate must be a number >= 1"):
        optim.Prodigy(growth_rate=0.5)
    with pytest.raises(DTypeError, match="complex"):
        optim.Prodigy().init({"w": jnp.ones(2, jnp.complex64)})


def _prodigy_groups_reference(params, grads, groups, lr, betas, d0):
    """prodigyopt.Prodigy.step with param groups, float64 numpy: one shared d; per group
    ``groups[leaf] = (lr, weight_decay, eps)`` (decoupled decay), lr the shared value or 0.
    One deliberate difference: a group at lr 0 is left unchanged (prodigyopt still decays it)."""
    beta1, beta2 = betas
    beta3 = math.sqrt(beta2)
    p = {k: v.astype(np.float64) for k, v in params.items()}
    p0 = {k: v.copy() for k, v in p.items()}
    m, v, s = ({k: np.zeros_like(x) for k, x in p.items()} for _ in range(3))
    d, d_max, d_num = d0, d0, 0.0
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for k in range(STEPS):
        dlr = d * lr  # lr = max over groups
        d_num *= beta3
        d_denom = 0.0
        for n in p:
            if groups[n][0] == 0.0:
                continue
            g = grads[n][k].astype(np.float64)
            d_num += (d / d0) * dlr * np.dot(g.ravel(), (p0[n] - p[n]).ravel())
            m[n] = beta1 * m[n] + d * (1 - beta1) * g
            v[n] = beta2 * v[n] + d * d * (1 - beta2) * g * g
            s[n] = beta3 * s[n] + (d / d0) * dlr * g
            d_denom += np.abs(s[n]).sum()
        d_hat = d_num / d_denom
        if d == d0:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = d_max  # min(d_max, d * growth_rate) with the default growth_rate=inf
        for n in p:
            group_lr, wd, eps = groups[n]
            if group_lr != 0.0:
                p[n] = p[n] - wd * dlr * p[n]
                p[n] = p[n] - dlr * m[n] / (np.sqrt(v[n]) + d * eps)
            out[n][k] = p[n]
    return out


def test_param_groups_share_one_d_as_the_authors_code(data, x64):
    params, grads = ({k: v.astype(np.float64) for k, v in tree.items()} for tree in data)
    opt = optim.Prodigy(
        lr=0.5,
        weight_decay=0.05,
        d0=1e-5,
        param_groups=[
            optim.ParamGroup("b", weight_decay=0.0, eps=1e-4, name="no_decay"),
            {"params": "s", "lr": 0.0},
        ],
    )
    groups = {"w": (0.5, 0.05, 1e-8), "b": (0.5, 0.0, 1e-4), "s": (0.0, 0.05, 1e-8)}
    expected = _prodigy_groups_reference(params, grads, groups, lr=0.5, betas=(0.9, 0.999), d0=1e-5)
    ours = torsh_trajectory(opt, params, grads)
    assert_trajectories_close(ours, expected, rtol=1e-9, atol_scale=1e-10)
    assert np.all(ours["s"] == params["s"])  # the frozen group
    state = opt.init({k: jnp.asarray(x) for k, x in params.items()})
    assert sorted(state.lr) == ["default", "group2", "no_decay"] and float(state.lr["group2"]) == 0.0
    with pytest.raises(ConfigError, match="Prodigy: param group 'group1' sets lr=0.1; .* the default"):
        optim.Prodigy(param_groups=[optim.ParamGroup("b", lr=0.1)])
    with pytest.raises(ConfigError, match="sets betas, which is global in Prodigy"):
        optim.Prodigy(param_groups=[optim.ParamGroup("b", betas=(0.5, 0.9))])
    with pytest.raises(ConfigError, match="eps must be a finite number > 0, got -1"):
        optim.Prodigy(param_groups=[optim.ParamGroup("b", eps=-1)])
    with pytest.raises(ConfigError, match="selects no"):
        optim.Prodigy(param_groups=[optim.ParamGroup("nothing*", eps=1e-3)]).init({"w": jnp.ones(2)})
