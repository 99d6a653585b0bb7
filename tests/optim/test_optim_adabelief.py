"""AdaBelief against optax.adabelief and against the paper's Algorithm 2 in float64."""

from __future__ import annotations

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
from torsh.errors import ConfigError


@pytest.fixture(scope="module")
def data():
    return make_params(0), grad_stream(1, steps=100)


def _adabelief_paper(params, grads, lr, b1, b2, eps, wd):
    """Zhuang et al. (2020) Algorithm 2 with decoupled weight decay, float64 numpy."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    steps = next(iter(grads.values())).shape[0]
    out = {k: np.empty((steps, *x.shape)) for k, x in p.items()}
    for t in range(1, steps + 1):
        for k in p:
            g = grads[k][t - 1].astype(np.float64)
            p[k] = p[k] * (1 - lr * wd)
            m[k] = b1 * m[k] + (1 - b1) * g
            s[k] = b2 * s[k] + (1 - b2) * (g - m[k]) ** 2 + eps
            m_hat, s_hat = m[k] / (1 - b1**t), s[k] / (1 - b2**t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(s_hat) + eps)
            out[k][t - 1] = p[k]
    return out


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (optim.AdaBelief(lr=1e-2), optax.adabelief(1e-2)),
        (
            optim.AdaBelief(lr=1e-2, betas=(0.8, 0.99), eps=1e-8),
            optax.adabelief(1e-2, b1=0.8, b2=0.99, eps=1e-8, eps_root=1e-8),
        ),
    ],
    ids=["defaults", "betas-eps"],
)
def test_matches_optax(ours, theirs, data):
    params, grads = data
    # optax's float32 bias correction of beta2 = 0.999 drifts ~1e-5 (see test_trajectories.py)
    assert_trajectories_close(
        torsh_trajectory(ours, params, grads),
        optax_trajectory(theirs, params, grads),
        rtol=5e-5,
        atol_scale=1e-5,
    )


def test_matches_paper_with_decoupled_weight_decay(data):
    params, grads = data
    ours = torsh_trajectory(optim.AdaBelief(lr=1e-2, eps=1e-12, weight_decay=0.1), params, grads)
    assert_trajectories_close(ours, _adabelief_paper(params, grads, 1e-2, 0.9, 0.999, 1e-12, 0.1), rtol=2e-5)


def test_l2_weight_decay_is_a_gradient_term_and_maximize_negates():
    params = {"w": jnp.array([1.0, -2.0])}
    g = {"w": jnp.array([0.3, 0.1])}
    l2 = optim.AdaBelief(lr=0.1, weight_decay=0.5, decoupled_weight_decay=False)
    plain = optim.AdaBelief(lr=0.1)
    a, _ = l2.step(params, g, l2.init(params))
    b, _ = plain.step(params, {"w": g["w"] + 0.5 * params["w"]}, plain.init(params))
    np.testing.assert_allclose(a["w"], b["w"], rtol=1e-6)
    up = optim.AdaBelief(lr=0.1, maximize=True)
    c, _ = up.step(params, {"w": -g["w"]}, up.init(params))
    d, _ = plain.step(params, g, plain.init(params))
    np.testing.assert_allclose(c["w"], d["w"], rtol=1e-6)


def test_validation():
    with pytest.raises(ConfigError, match=r"AdaBelief: betas\[1\] must be in \[0, 1\), got 1.0"):
        optim.AdaBelief(betas=(0.9, 1.0))
    with pytest.raises(ConfigError, match="AdaBelief: eps must be a finite number > 0, got 0.0"):
        optim.AdaBelief(eps=0.0)
    with pytest.raises(ConfigError, match="weight_decay"):
        optim.AdaBelief(weight_decay=-1.0)
