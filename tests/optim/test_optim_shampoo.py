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
