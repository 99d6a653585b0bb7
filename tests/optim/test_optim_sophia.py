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


def _sophia_h_paper(p0, a, us, lr, betas, rho, weight_decay, eps, steps, k):
    """Sophia-H, Algorithms 1 and 3 of Liu et al. in float64 numpy, on
    L(w, b) = w^T A w / 2 + sum(log cosh b): gradient (A w, tanh b), Hessian blocks A and diag(sech^2 b).
    ``us[j]`` is the Gaussian probe of the j-th estimate (drawn by the caller)."""
    (b1, b2), wd = betas, weight_decay
    p = {n: v.astype(np.float64) for n, v in p0.items()}
    m = {n: np.zeros_like(v) for n, v in p.items()}
    h = {n: np.zeros_like(v) for n, v in p.items()}
    out = []
    for t in range(steps):
        g = {"w": a @ p["w"], "b": np.tanh(p["b"])}
        if t % k == 0:  # Algorithm 1: u * (H u)
            u = us[t // k]
            hu = {"w": a @ u["w"], "b": u["b"] / np.cosh(p["b"]) ** 2}
            for n in p:
                h[n] = b2 * h[n] + (1 - b2) * u[n] * hu[n]
        for n in p:
            m[n] = b1 * m[n] + (1 - b1) * g[n]
            p[n] = p[n] - lr * wd * p[n]
            p[n] = p[n] - lr * np.clip(m[n] / np.maximum(rho * h[n], eps), -1, 1)
        out.append({n: v.copy() for n, v in p.items()})
    return out


def test_sophia_h_matches_paper_float64():
    steps, k = 12, 4
    rng = np.random.default_rng(3)
    q = rng.normal(size=(4, 4))
    a = q @ q.T + 0.5 * np.eye(4)  # a full (non-diagonal) positive definite Hessian block
    p0 = {"b": rng.normal(size=3), "w": rng.normal(size=4)}
    kw = dict(lr=0.05, betas=(0.9, 0.8), rho=0.5, weight_decay=0.1, eps=1e-12)
    with jax.enable_x64(True):
        aj = jnp.asarray(a)

        def loss(p):
            return 0.5 * p["w"] @ aj @ p["w"] + jnp.sum(jnp.log(jnp.cosh(p["b"])))

        opt = optim.Sophia(**kw)
        key = jax.random.key(7)

        estimate = jax.jit(lambda p, s, key: opt.update_hessian(s, optim.hutchinson_hessian(loss, p, key)))
        step = jax.jit(lambda p, s: opt.step(p, jax.grad(loss)(p), s))
        params = {n: jnp.asarray(v) for n, v in p0.items()}
        state, ours = opt.init(params), []
        for t in range(steps):
            if t % k == 0:
                state = estimate(params, state, jax.random.fold_in(key, t))
            params, state = step(params, state)
            ours.append(params)
        # the probes hutchinson_hessian documents: normal(keys[i]) per trainable leaf, tree order (b, w)
        us = []
        for t in range(0, steps, k):
            kb, kw_ = jax.random.split(jax.random.fold_in(key, t), 2)
            us.append(
                {
                    "b": np.asarray(jax.random.normal(kb, (3,), jnp.float64)),
                    "w": np.asarray(jax.random.normal(kw_, (4,), jnp.float64)),
                }
            )
    ref = _sophia_h_paper(p0, a, us, steps=steps, k=k, **kw)
    for t in range(steps):
        for n in p0:
            np.testing.assert_allclose(np.asarray(ours[t][n]), ref[t][n], rtol=1e-10, atol=1e-12)


def test_hutchinson_is_unbiased_and_checks_its_input():
    a = jnp.array([[2.0, 1.0], [1.0, 3.0]])

    def loss(p):
        return 0.5 * p["w"] @ a @ p["w"]

    params = {"w": jnp.ones(2), "frozen": jnp.int32(1)}
    draws = jax.jit(jax.vmap(lambda key: optim.hutchinson_hessian(loss, params, key)["w"]))(
        jax.random.split(jax.random.key(0), 4000)
    )
    # E[u * A u] = diag(A); standard errors of the mean: 0.05 and 0.07 (Var = 9 and 19 over 4000 draws)
    np.testing.assert_allclose(np.asarray(draws.mean(0)), [2.0, 3.0], atol=0.2)
    assert optim.hutchinson_hessian(loss, params, jax.random.key(1))["frozen"] is None
    with pytest.raises(ShapeError, match="hutchinson_hessian: loss_fn must return a scalar loss"):
        optim.hutchinson_hessian(lambda p: p["w"], params, jax.random.key(0))
