"""Sophia-G against the paper's Algorithm 3 in float64 (optax has only the Hutchinson variant), and the
Gauss-Newton-Bartlett estimator against its closed form for a linear softmax model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _optim_reference import assert_trajectories_close, grad_stream, make_params

from torsh import optim
from torsh.errors import ConfigError, ShapeError

STEPS, K = 40, 10


def _sophia_paper(params, grads, hessians, lr, b1, b2, rho, wd, eps):
    """Liu et al. (2024) Algorithm 3 with the estimates given every K steps, float64 numpy."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    h = {k: np.zeros_like(v) for k, v in p.items()}
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for t in range(STEPS):
        for k in p:
            g = grads[k][t].astype(np.float64)
            m[k] = b1 * m[k] + (1 - b1) * g
            if t % K == 0:
                h[k] = b2 * h[k] + (1 - b2) * hessians[k][t // K].astype(np.float64)
            p[k] = p[k] - lr * wd * p[k]
            p[k] = p[k] - lr * np.clip(m[k] / np.maximum(rho * h[k], eps), -1, 1)
            out[k][t] = p[k]
    return out


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=1e-2, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1, eps=1e-15),
        dict(lr=3e-3, betas=(0.9, 0.5), rho=2.0, weight_decay=0.0, eps=1e-3),
    ],
    ids=["defaults", "clipping-eps"],
)
def test_matches_paper(kw):
    params, grads = make_params(0), grad_stream(1, steps=STEPS)
    rng = np.random.default_rng(2)
    hessians = {
        k: np.abs(rng.normal(size=(STEPS // K, *v.shape))).astype(np.float32) for k, v in params.items()
    }
    opt = optim.Sophia(**kw)

    @jax.jit
    def run(p, s, g, h, refresh):
        s = jax.lax.cond(refresh, lambda s: opt.update_hessian(s, h), lambda s: s, s)
        return opt.step(p, g, s)

    p = {k: jnp.asarray(v) for k, v in params.items()}
    s = opt.init(p)
    ours = {k: np.empty((STEPS, *v.shape), np.float32) for k, v in params.items()}
    for t in range(STEPS):
        h = {k: jnp.asarray(v[t // K]) for k, v in hessians.items()}
        p, s = run(p, s, {k: jnp.asarray(v[t]) for k, v in grads.items()}, h, t % K == 0)
        for k in params:
            ours[k][t] = np.asarray(p[k])
    expected = _sophia_paper(
        params, grads, hessians, kw["lr"], *kw["betas"], kw["rho"], kw["weight_decay"], kw["eps"]
    )
    assert_trajectories_close(ours, expected, rtol=2e-5)


def test_gnb_estimate_is_batch_times_squared_sampled_gradient():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 5, 3)).astype(np.float32)  # batch x sequence x features
    w = rng.normal(size=(3, 4)).astype(np.float32)
    key = jax.random.key(7)
    h = optim.gnb_hessian(lambda p: jnp.asarray(x) @ p["w"], {"w": jnp.asarray(w)}, key)
    logits = x.astype(np.float64) @ w
    labels = np.asarray(jax.random.categorical(key, jnp.asarray(x) @ jnp.asarray(w), axis=-1))
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    onehot = np.eye(4)[labels]
    n = labels.size
    g = np.einsum("bsf,bsc->fc", x, probs - onehot) / n  # gradient of the mean cross-entropy
    np.testing.assert_allclose(h["w"], n * g * g, rtol=1e-4, atol=1e-7)


def test_update_hessian_and_untrained_leaves_and_errors():
    opt = optim.Sophia(betas=(0.9, 0.75))
    params = {"w": jnp.ones(2), "n": jnp.int32(1)}
    state = opt.init(params)
    state = opt.update_hessian(state, {"w": jnp.array([4.0, 8.0]), "n": None})
    np.testing.assert_allclose(state.hessian["w"], [1.0, 2.0])
    new, state2 = opt.step(params, {"w": jnp.array([0.1, -0.1]), "n": None}, state)
    assert int(new["n"]) == 1 and sorted(state2.state_dict()) == [
        "exp_avg.w",
        "hessian.w",
        "lr.default",
        "step",
    ]
    np.testing.assert_allclose(state2.hessian["w"], state.hessian["w"])  # step never changes h
    with pytest.raises(ConfigError, match="Sophia: rho must be a finite number > 0, got 0.0"):
        optim.Sophia(rho=0.0)
    with pytest.raises(ShapeError, match="gnb_hessian"):
        optim.gnb_hessian(lambda p: jnp.sum(p["w"]), {"w": jnp.ones(2)}, jax.random.key(0))
