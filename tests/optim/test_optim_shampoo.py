"""Shampoo with blocking against Gupta et al. (2018) Algorithm 1, blocked as in Anil et al. (2020),
written in float64 numpy (optax has no Shampoo)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _optim_reference import assert_trajectories_close, grad_stream, torsh_trajectory

from torsh import optim
from torsh.errors import ConfigError, DTypeError

STEPS = 12
SHAPES = {"b": (5,), "k": (3, 2, 2), "s": (), "w": (7, 4)}


def _inv_root(a, root):
    w, v = np.linalg.eigh(a)
    return (v * w ** (-1.0 / root)) @ v.T


def _shampoo_paper(params, grads, lr, eps, block, wd):
    """Per leaf: the matrix (shape[0], rest) (a vector is one row), cut into blocks of <= block x block;
    per block L += G G^T, R += G^T G (from eps I), W -= lr L^-1/4 G R^-1/4."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    stats = {}
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for t in range(STEPS):
        for k in p:
            shape = p[k].shape
            m = 1 if len(shape) < 2 else shape[0]
            n = math.prod(shape) // m
            g = (grads[k][t].astype(np.float64) + wd * p[k]).reshape(m, n)
            d = np.zeros_like(g)
            for i in range(0, m, block):
                for j in range(0, n, block):
                    gb = g[i : i + block, j : j + block]
                    left, right = stats.setdefault(
                        (k, i, j), (eps * np.eye(gb.shape[0]), eps * np.eye(gb.shape[1]))
                    )
                    left, right = left + gb @ gb.T, right + gb.T @ gb
                    stats[(k, i, j)] = (left, right)
                    d[i : i + block, j : j + block] = _inv_root(left, 4) @ gb @ _inv_root(right, 4)
            p[k] = p[k] - lr * d.reshape(shape)
            out[k][t] = p[k]
    return out


def _data(dtype):
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s).astype(dtype) for k, s in SHAPES.items()}
    grads = {k: v.astype(dtype) for k, v in grad_stream(1, steps=STEPS, shapes=SHAPES).items()}
    return params, grads


@pytest.mark.parametrize("block,wd", [(3, 0.0), (128, 0.05)], ids=["blocks-of-3", "one-block-wd"])
def test_matches_the_algorithm_in_float64(block, wd, x64):
    params, grads = _data(np.float64)
    opt = optim.Shampoo(lr=0.05, eps=1e-3, block_size=block, weight_decay=wd)
    expected = _shampoo_paper(params, grads, 0.05, 1e-3, block, wd)
    assert_trajectories_close(torsh_trajectory(opt, params, grads), expected, rtol=1e-9, atol_scale=1e-10)


def test_float32_follows_the_float64_algorithm():
    params, grads = _data(np.float32)
    opt = optim.Shampoo(lr=0.05, eps=1e-2, block_size=3)
    expected = _shampoo_paper(params, grads, 0.05, 1e-2, 3, 0.0)
    assert_trajectories_close(torsh_trajectory(opt, params, grads), expected, rtol=1e-3, atol_scale=1e-4)


def test_update_agrees_with_step_untrained_leaves_and_errors():
    opt = optim.Shampoo(lr=0.1, block_size=2)
    p = {"w": jnp.arange(6.0).reshape(2, 3), "n": jnp.int32(2)}
    g = {"w": jnp.ones((2, 3)), "n": None}
    a, state = jax.jit(opt.step)(p, g, opt.init(p))
    u, _ = opt.update(g, opt.init(p), p)
    np.testing.assert_allclose(optim.apply_updates(p, u)["w"], a["w"], rtol=1e-6)
    assert int(a["n"]) == 2 and state.left["n"] is None
    assert sorted(state.state_dict()) == [
        "left.w.0",
        "left.w.1",
        "lr.default",
        "right.w.0",
        "right.w.1",
        "step",
    ]
    with pytest.raises(ConfigError, match="Shampoo: block_size must be an integer >= 1, got 0"):
        optim.Shampoo(block_size=0)
    with pytest.raises(DTypeError, match="complex"):
        optim.Shampoo().init({"w": jnp.ones(2, jnp.complex64)})


def _shampoo_grafted(params, grads, lr, eps, block, grafting, beta_g, eps_g, momentum, nesterov):
    """Blocked Shampoo with learning-rate grafting (Anil et al. 2020: per block, the grafted method's
    Frobenius norm times Shampoo's direction) and momentum on the grafted direction (Shi et al. 2023:
    B = mu B + P, step along B or P + mu B), float64 numpy."""
    p = {k: v.astype(np.float64) for k, v in params.items()}
    stats, acc = {}, {k: np.zeros_like(v) for k, v in p.items()}
    buf = {k: np.zeros_like(v) for k, v in p.items()}
    out = {k: np.empty((STEPS, *x.shape)) for k, x in p.items()}
    for t in range(1, STEPS + 1):
        for k in p:
            shape = p[k].shape
            m = 1 if len(shape) < 2 else shape[0]
            n = math.prod(shape) // m
            g = grads[k][t - 1].astype(np.float64).reshape(m, n)
            if grafting == "adagrad":
                acc[k] = acc[k] + g.reshape(shape) ** 2
                graft = g / (np.sqrt(acc[k].reshape(m, n)) + eps_g)
            elif grafting == "adam":
                acc[k] = beta_g * acc[k] + (1 - beta_g) * g.reshape(shape) ** 2
                graft = g / (np.sqrt(acc[k].reshape(m, n) / (1 - beta_g**t)) + eps_g)
            else:
                graft = g
            d = np.zeros_like(g)
            for i in range(0, m, block):
                for j in range(0, n, block):
                    gb = g[i : i + block, j : j + block]
                    left, right = stats.setdefault(
                        (k, i, j), (eps * np.eye(gb.shape[0]), eps * np.eye(gb.shape[1]))
                    )
                    left, right = left + gb @ gb.T, right + gb.T @ gb
                    stats[(k, i, j)] = (left, right)
                    sh = _inv_root(left, 4) @ gb @ _inv_root(right, 4)
                    gr = graft[i : i + block, j : j + block]
                    d[i : i + block, j : j + block] = np.linalg.norm(gr) / np.linalg.norm(sh) * sh
            d = d.reshape(shape)
            if momentum:
                buf[k] = momentum * buf[k] + d
                d = d + momentum * buf[k] if nesterov else buf[k]
            p[k] = p[k] - lr * d
            out[k][t - 1] = p[k]
    return out


@pytest.mark.parametrize(
    "kw",
    [
        dict(grafting="adam", grafting_beta2=0.9, grafting_eps=1e-6, momentum=0.9, nesterov=True),
        dict(grafting="adagrad", grafting_beta2=0.999, grafting_eps=1e-4, momentum=0.5, nesterov=False),
    ],
    ids=["adam-nesterov", "adagrad-momentum"],
)
def test_grafting_and_momentum_match_the_algorithm_in_float64(kw, x64):
    params, grads = _data(np.float64)
    opt = optim.Shampoo(lr=0.05, eps=1e-3, block_size=3, **kw)
    expected = _shampoo_grafted(
        params,
        grads,
        0.05,
        1e-3,
        3,
        kw["grafting"],
        kw["grafting_beta2"],
        kw["grafting_eps"],
        kw["momentum"],
        kw["nesterov"],
    )
    assert_trajectories_close(torsh_trajectory(opt, params, grads), expected, rtol=1e-9, atol_scale=1e-10)


def test_grafting_state_and_errors():
    state = optim.Shampoo(grafting="adam", momentum=0.9).init({"w": jnp.zeros((2, 3)), "n": jnp.int32(0)})
    assert state.graft["w"].shape == (2, 3) and state.momentum_buffer["w"].shape == (2, 3)
    assert state.graft["n"] is None and optim.Shampoo().init({"w": jnp.zeros(2)}).graft is None
    with pytest.raises(ConfigError, match="Shampoo: grafting must be one of"):
        optim.Shampoo(grafting="rmsprop-ish")
    with pytest.raises(ConfigError, match="Shampoo: nesterov=True requires momentum > 0"):
        optim.Shampoo(nesterov=True)
