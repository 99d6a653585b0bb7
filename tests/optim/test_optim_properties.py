"""Properties over random parameters and gradients (hypothesis)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import torsh
from torsh import optim

OPTIMIZERS = [
    optim.SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    optim.Adam(lr=1e-2, amsgrad=True),
    optim.AdamW(lr=1e-2, param_groups=[optim.ParamGroup("b", weight_decay=0.0)]),
    optim.NAdam(lr=1e-2),
    optim.RAdam(lr=1e-2),
    optim.Adagrad(lr=0.1, lr_decay=0.1),
    optim.RMSprop(lr=1e-2, centered=True, momentum=0.5),
    optim.LAMB(lr=1e-2, weight_decay=0.1),
    optim.Lion(lr=1e-3, weight_decay=0.1),
]
_JITTED: dict = {}


def _jitted(opt):
    if opt not in _JITTED:
        _JITTED[opt] = (jax.jit(opt.step), jax.jit(opt.update))
    return _JITTED[opt]


floats = st.floats(-10, 10, width=32, allow_subnormal=False)
tree = st.fixed_dictionaries(
    {
        "w": arrays(np.float32, (3, 2), elements=floats),
        "b": arrays(np.float32, (2,), elements=floats),
    }
)


@settings(max_examples=examples(20))
@given(opt=st.sampled_from(OPTIMIZERS), params=tree, g1=tree, g2=tree)
def test_step_is_update_plus_apply_and_jit_is_eager(opt, params, g1, g2):
    params = {k: jnp.asarray(v) for k, v in params.items()}
    step, update = _jitted(opt)
    state = opt.init(params)
    p_eager, s_eager = opt.step(params, g1, state)
    p_jit, s_jit = step(params, g1, state)
    assert torsh.tree.allclose(p_eager, p_jit, rtol=1e-6, atol=1e-6)
    assert torsh.tree.allclose(s_eager, s_jit, rtol=1e-6, atol=1e-6)
    # second step from a state that has history
    p2, s2 = step(p_jit, g2, s_jit)
    updates, s2u = update(g2, s_jit, p_jit)
    assert torsh.tree.allclose(optim.apply_updates(p_jit, updates), p2, rtol=1e-6, atol=1e-6)
    assert torsh.tree.allclose(s2u, s2, rtol=0, atol=0)
    # the state survives a state_dict round trip exactly
    restored = opt.init(params).load_state_dict({k: np.asarray(v) for k, v in s2.state_dict().items()})
    assert torsh.tree.allclose(restored, s2, rtol=0, atol=0)
    assert all(np.isfinite(np.asarray(x)).all() for x in torsh.tree.leaves(p2))


@given(g=tree, max_norm=st.floats(0.01, 100.0))
def test_clipped_norm_is_bounded_and_direction_kept(g, max_norm):
    g = {k: jnp.asarray(v) for k, v in g.items()}
    clipped, norm = optim.clip_grad_norm(g, max_norm)
    new_norm = float(optim.global_norm(clipped))
    assert new_norm <= max_norm * (1 + 1e-5) + 1e-6
    if float(norm) <= max_norm:
        assert torsh.tree.allclose(clipped, g, rtol=1e-5, atol=1e-6)
    else:
        ratio = max_norm / (float(norm) + 1e-6)
        assert torsh.tree.allclose(clipped, jax.tree.map(lambda x: x * ratio, g), rtol=1e-5, atol=1e-6)


@given(steps=st.lists(st.integers(1, 50), min_size=1, max_size=4), at=st.integers(0, 250))
def test_sequence_is_join_with_cumulative_boundaries(steps, at):
    phases = [optim.schedules.exponential_decay(0.1 * (i + 1), 0.9) for i in range(len(steps) + 1)]
    seq = optim.schedules.sequence(*zip(phases[:-1], steps, strict=True), phases[-1])
    joined = optim.schedules.join(phases, list(np.cumsum(steps)))
    assert float(seq(at)) == float(joined(at))
