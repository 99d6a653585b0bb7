"""float16 compute with optim.DynamicLossScale: the documented training step skips overflowing steps
(parameters and optimizer state unchanged, scale backed off) and recovers; the reference is the same
model trained in float32 without scaling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import amp, nn, optim, train
from torsh.nn import functional as F


def make_step(opt):
    # The recipe of docs/amp.md: scale the float32 loss, differentiate, DynamicLossScale unscales,
    # checks and skips inside the jitted step.
    @torsh.jit  # (no donation: the float32 reference below reuses the model's arrays)
    def step(state, x, y):
        def scaled_loss(model):
            loss = F.mse_loss(model(x), y)
            return opt.scale_loss(loss, state.opt_state), loss

        (_, loss), grads = torsh.value_and_grad(scaled_loss, has_aux=True)(state.model)
        return state.apply_gradients(grads), loss, grads

    return step


@pytest.fixture(scope="module")
def setup():
    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    x = jax.random.normal(jax.random.key(0), (32, 4))
    y = x @ jnp.array([[1.0], [-2.0], [0.5], [3.0]])
    return model, x, y


def test_skips_on_overflow_and_recovers(setup):
    model, x, y = setup
    # 2**30 times the loss's gradient does not fit float16 (max 65504): the first steps overflow
    opt = optim.DynamicLossScale(optim.SGD(lr=0.05), init_scale=2.0**30, growth_interval=5)
    state = train.TrainState.create(model=amp.apply(model, "p=f32,c=f16,o=f32"), opt=opt)
    step = make_step(opt)
    before = jax.tree.map(np.array, state.model)
    state, loss0, grads = step(state, x, y)
    assert bool(state.opt_state.found_inf) and float(state.opt_state.scale) == 2.0**29
    assert not all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(state.model), strict=True):
        np.testing.assert_array_equal(a, b)  # skipped: the float32 master weights are unchanged
    skips, losses = 1, [float(loss0)]
    while bool(state.opt_state.found_inf):
        state, loss, _ = step(state, x, y)
        skips += 1
        assert skips < 30
    scale = float(state.opt_state.scale)
    assert 2.0**5 < scale < 2.0**25 and skips >= 5  # backed off by halves until the gradients fit
    real = 1  # the step that ended the loop was applied
    for _ in range(40):
        state, loss, grads = step(state, x, y)
        losses.append(float(loss))
        real += not bool(state.opt_state.found_inf)
    assert 30 < real < 41  # growing the scale overflows again now and then: those steps are skipped
    assert {g.dtype for g in jax.tree.leaves(grads)} == {jnp.dtype("float32")}
    assert {p.dtype for p in jax.tree.leaves(state.model)} == {jnp.dtype("float32")}
    assert float(state.opt_state.scale) > scale  # grew back after growth_interval finite steps
    assert losses[-1] < 0.5 * losses[0]

    # the same number of real SGD steps in float32, unscaled: the same curve up to float16 rounding
    ref = train.TrainState.create(model=model, opt=optim.SGD(lr=0.05))

    @torsh.jit
    def ref_step(state, x, y):
        loss, grads = torsh.value_and_grad(lambda m: F.mse_loss(m(x), y))(state.model)
        return state.apply_gradients(grads), loss

    for _ in range(real):
        ref, _ = ref_step(ref, x, y)
    final = float(F.mse_loss(state.model.module(x), y))
    np.testing.assert_allclose(final, float(F.mse_loss(ref.model(x), y)), rtol=5e-2)


def test_float16_without_scaling_underflows(setup):
    """Why the scale exists: tiny float16 gradients vanish unscaled but survive with a scale."""
    model, x, y = setup
    fast = amp.apply(model, "p=f32,c=f16,o=f32")

    @jax.jit
    def first_layer_grad(model, scale):
        g = torsh.grad(lambda m: F.mse_loss(m(x), y) * 1e-8 * scale)(model)
        return (g.module if isinstance(g, amp.AmpModel) else g)[0].weight / scale

    reference = np.asarray(first_layer_grad(model, 1.0))
    unscaled, scaled = np.asarray(first_layer_grad(fast, 1.0)), np.asarray(first_layer_grad(fast, 2.0**20))
    assert np.mean(unscaled == 0) > 0.5  # most of the first layer's gradient flushed to zero
    np.testing.assert_allclose(scaled, reference, rtol=2e-2, atol=1e-12)
