"""Lookahead against optax.lookahead (fast and slow weights at every step) and its properties."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from _optim_reference import assert_trajectories_close, grad_stream, make_params, torsh_trajectory

from torsh import optim
from torsh.errors import ConfigError

STEPS = 23  # not a multiple of k: the run ends between synchronisations


def _optax_fast_and_slow(tx, params, grads):
    p0 = {k: jnp.asarray(v) for k, v in params.items()}

    @jax.jit
    def run(p0, grads):
        def body(carry, g):
            p, s = carry
            updates, s = tx.update(g, s, p)
            p = optax.apply_updates(p, updates)
            return (p, s), (p.fast, p.slow)

        la = optax.LookaheadParams.init_synced(p0)
        return jax.lax.scan(body, (la, tx.init(la)), grads)[1]

    fast, slow = run(p0, {k: jnp.asarray(v) for k, v in grads.items()})
    return {k: np.asarray(v) for k, v in fast.items()}, {k: np.asarray(v) for k, v in slow.items()}


def test_matches_optax():
    params, grads = make_params(0), grad_stream(1, steps=STEPS)
    k, alpha = 3, 0.8
    tx = optax.lookahead(optax.adam(1e-2, b1=0.8, b2=0.99), sync_period=k, slow_step_size=alpha)
    expected_fast, expected_slow = _optax_fast_and_slow(tx, params, grads)
    opt = optim.Lookahead(optim.Adam(lr=1e-2, betas=(0.8, 0.99)), k=k, alpha=alpha)
    p0 = {n: jnp.asarray(v) for n, v in params.items()}

    @jax.jit
    def run(p0, grads):
        # step() and update() side by side: the fast weights of both, and the slow weights
        def body(carry, g):
            p, s, q, su = carry
            p, s = opt.step(p, g, s)
            u, su = opt.update(g, su, q)
            q = optim.apply_updates(q, u)
            return (p, s, q, su), (p, q, s.slow)

        return jax.lax.scan(body, (p0, opt.init(p0), p0, opt.init(p0)), grads)[1]

    fast, fast_u, slow = run(p0, {n: jnp.asarray(v) for n, v in grads.items()})
    as_np = lambda tree: {n: np.asarray(v) for n, v in tree.items()}
    assert_trajectories_close(as_np(fast), expected_fast)
    assert_trajectories_close(as_np(fast_u), expected_fast)
    assert_trajectories_close(as_np(slow), expected_slow)


def test_alpha_one_is_the_inner_optimizer_and_alpha_zero_stays_put():
    params, grads = make_params(0), grad_stream(1, steps=6)
    inner = optim.SGD(lr=0.05, momentum=0.9)
    assert_trajectories_close(
        torsh_trajectory(optim.Lookahead(inner, k=2, alpha=1.0), params, grads),
        torsh_trajectory(inner, params, grads),
    )
    frozen = torsh_trajectory(optim.Lookahead(inner, k=3, alpha=0.0), params, grads)
    for n in params:  # every third step the parameters go back to where they started
        np.testing.assert_allclose(frozen[n][2], params[n])
        np.testing.assert_allclose(frozen[n][5], params[n])


def test_chains_untrained_leaves_and_state_dict():
    opt = optim.Lookahead(optim.chain(optim.clip_by_global_norm(1.0), optim.SGD(lr=0.1)), k=2)
    params = {"w": jnp.ones(2), "n": jnp.int32(3)}
    state = opt.init(params)
    assert sorted(state.state_dict()) == [
        "inner.0.norm",
        "inner.1.lr.default",
        "inner.1.step",
        "slow.w",
        "step",
    ]
    params, state = opt.step(params, {"w": jnp.ones(2), "n": None}, state)
    assert int(params["n"]) == 3 and state.slow["n"] is None


def test_validation():
    with pytest.raises(ConfigError, match="Lookahead: opt must be a torsh.optim optimizer"):
        optim.Lookahead(optax.sgd(0.1))
    with pytest.raises(ConfigError, match="Lookahead: k must be an integer >= 1, got 0"):
        optim.Lookahead(optim.SGD(lr=0.1), k=0)
    with pytest.raises(ConfigError, match=r"Lookahead: alpha must be in \[0, 1\], got 1.5"):
        optim.Lookahead(optim.SGD(lr=0.1), alpha=1.5)
