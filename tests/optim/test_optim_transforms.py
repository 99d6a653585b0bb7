"""Gradient transformations and wrappers against their PyTorch / optax counterparts."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from _optim_reference import (
    assert_trajectories_close,
    grad_stream,
    make_params,
    torch_trajectory,
    torsh_trajectory,
)

import torsh
from torsh import optim
from torsh.errors import ConfigError, TreeError
from torsh.tree import Struct, field


def _torch_grads(grads):
    params = [torch.nn.Parameter(torch.zeros(np.shape(g))) for g in grads.values()]
    for p, g in zip(params, grads.values(), strict=True):
        p.grad = torch.tensor(np.asarray(g))
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(0)
    grads = {
        "a": rng.normal(size=(4, 3)).astype(np.float32),
        "b": rng.normal(size=5).astype(np.float32),
        "c": None,
    }
    ours, norm = optim.clip_grad_norm(
        {k: None if v is None else jnp.asarray(v) for k, v in grads.items()}, max_norm, norm_type
    )
    tparams = _torch_grads({k: v for k, v in grads.items() if v is not None})
    tnorm = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    np.testing.assert_allclose(float(norm), float(tnorm), rtol=1e-6)
    for k, p in zip(["a", "b"], tparams, strict=True):
        np.testing.assert_allclose(ours[k], p.grad.numpy(), rtol=1e-6, atol=1e-7)
    assert ours["c"] is None


def test_clip_grad_value_matches_torch():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(6,)).astype(np.float32)
    (p,) = _torch_grads({"g": g})
    torch.nn.utils.clip_grad_value_([p], 0.3)
    np.testing.assert_array_equal(optim.clip_grad_value({"g": jnp.asarray(g)}, 0.3)["g"], p.grad.numpy())


def test_chain_clip_then_adam_matches_torch():
    params, grads = make_params(0), grad_stream(1)
    ours = torsh_trajectory(optim.chain(optim.clip_by_global_norm(1.0), optim.Adam(lr=1e-2)), params, grads)

    tparams = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    opt = torch.optim.Adam(tparams.values(), lr=1e-2)
    ref = {k: [] for k in params}
    for i in range(grads["w"].shape[0]):
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k][i])
        torch.nn.utils.clip_grad_norm_(tparams.values(), 1.0)
        opt.step()
        for k, p in tparams.items():
            ref[k].append(p.detach().numpy().copy())
    assert_trajectories_close(ours, {k: np.stack(v) for k, v in ref.items()})


def test_clip_state_records_the_norm_and_update_matches_optax_ordering():
    t = optim.clip_by_global_norm(2.0)
    g = {"a": jnp.array([3.0, 4.0])}
    u, state = jax.jit(t.update)(g, t.init(g))
    assert float(state.norm) == 5.0 and state.state_dict() == {"norm": state.norm}
    np.testing.assert_allclose(u["a"], np.array([3.0, 4.0]) * 2.0 / (5.0 + 1e-6), rtol=1e-7)


def test_add_decayed_weights_and_mask_equal_sgd_weight_decay_groups():
    params, grads = make_params(0), grad_stream(1)
    ours = torsh_trajectory(
        optim.chain(optim.add_decayed_weights(0.1, mask="w"), optim.SGD(lr=0.05, momentum=0.9)), params, grads
    )
    ref = torch_trajectory(
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
        params,
        grads,
        groups=lambda tp: [{"params": [tp["w"]], "weight_decay": 0.1}, {"params": [tp["b"], tp["s"]]}],
    )
    assert_trajectories_close(ours, ref)


def test_masks_by_predicate_and_tree():
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2), "n": jnp.int32(1)}
    g = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2), "n": None}
    by_pred = optim.add_decayed_weights(1.0, mask=lambda path, x: x.ndim > 1)
    by_tree = optim.add_decayed_weights(1.0, mask={"w": True, "b": False, "n": False})
    for t in (by_pred, by_tree):
        u, _ = t.update(g, t.init(params), params)
        assert (
            u["w"].tolist() == [[1.0, 1.0], [1.0, 1.0]] and u["b"].tolist() == [0.0, 0.0] and u["n"] is None
        )
    with pytest.raises(TreeError, match="mask"):
        optim.add_decayed_weights(1.0, mask={"w": True}).update(g, None, params)
    with pytest.raises(TreeError, match="must be a bool"):
        optim.add_decayed_weights(1.0, mask={"w": "yes", "b": False, "n": False}).update(g, None, params)


def test_masked_runs_inner_on_selected_leaves_only():
    params, grads = make_params(0), grad_stream(1, steps=50)
    # Adam on "w" only, plain gradients (then SGD lr 1) elsewhere == torch: Adam on w, SGD(lr=1) on the rest
    opt = optim.chain(optim.masked(optim.Adam(lr=1e-2), "w"), optim.masked(optim.SGD(lr=1.0), ["b", "s"]))
    ours = torsh_trajectory(opt, params, grads)
    tparams = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    adam = torch.optim.Adam([tparams["w"]], lr=1e-2)
    sgd = torch.optim.SGD([tparams["b"], tparams["s"]], lr=1.0)
    ref = {k: [] for k in params}
    for i in range(50):
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k][i])
        adam.step()
        sgd.step()
        for k, p in tparams.items():
            ref[k].append(p.detach().numpy().copy())
    # the second masked transformation passes the Adam updates of "w" through unchanged
    assert_trajectories_close(ours, {k: np.stack(v) for k, v in ref.items()})
    state = opt.init({k: jnp.asarray(v) for k, v in params.items()})
    assert sorted(state.state_dict()) == [
        "0.inner.exp_avg.w",
        "0.inner.exp_avg_sq.w",
        "0.inner.lr.default",
        "0.inner.step",
        "1.inner.lr.default",
        "1.inner.step",
    ]


def test_scale():
    t = optim.chain(optim.scale(-0.1))
    p = {"w": jnp.ones(2)}
    new, _ = t.step(p, {"w": jnp.ones(2)}, t.init(p))
    np.testing.assert_allclose(new["w"], [0.9, 0.9])
    with pytest.raises(ConfigError, match="scale: factor must be a real number, got nan"):
        optim.scale(float("nan"))
    with pytest.raises(ConfigError, match="scale: factor must be a finite real number, got inf"):
        optim.scale(float("inf"))


# -- gradient accumulation -----------------------------------------------------------------------
def test_multisteps_matches_optax_and_mean_of_gradients():
    params, grads = make_params(0), grad_stream(1, steps=60)
    k = 4
    ours = torsh_trajectory(optim.MultiSteps(optim.Adam(lr=1e-2), every_k=k), params, grads)
    tx = optax.MultiSteps(optax.adam(1e-2, b2=0.999), every_k_schedule=k)

    p0 = {kk: jnp.asarray(v) for kk, v in params.items()}

    @jax.jit
    def run(p0, g):
        def body(carry, gi):
            u, s = tx.update(gi, carry[1], carry[0])
            p = optax.apply_updates(carry[0], u)
            return (p, s), p

        return jax.lax.scan(body, (p0, tx.init(p0)), g)[1]

    ref = {kk: np.asarray(v) for kk, v in run(p0, {kk: jnp.asarray(v) for kk, v in grads.items()}).items()}
    # optax's float32 bias correction differs slightly (see test_trajectories); 15 real steps only
    assert_trajectories_close(ours, ref, rtol=2e-5, atol_scale=2e-6)
    # against torch: Adam on the mean of each block of k gradients, parameters unchanged in between
    means = {kk: v.reshape(-1, k, *v.shape[1:]).mean(axis=1) for kk, v in grads.items()}
    torch_steps = torch_trajectory(lambda p: torch.optim.Adam(p, lr=1e-2), params, means)
    expected = {}
    for kk in params:
        rows, before = [], params[kk]
        for after in torch_steps[kk]:
            rows += [before] * (k - 1) + [after]
            before = after
        expected[kk] = np.stack(rows)
    assert_trajectories_close(ours, expected)


def test_multisteps_update_returns_zero_updates_between_boundaries():
    opt = optim.MultiSteps(optim.SGD(lr=1.0, momentum=0.9), every_k=3)
    p = {"w": jnp.ones(2), "n": jnp.int32(0)}
    state = opt.init(p)
    upd = jax.jit(opt.update)
    u, state = upd({"w": jnp.ones(2), "n": None}, state, p)
    assert u["w"].tolist() == [0.0, 0.0] and int(state.mini_step) == 1 and int(state.inner.step) == 0
    u, state = upd({"w": jnp.ones(2), "n": None}, state, p)
    u, state = upd({"w": jnp.full(2, 4.0), "n": None}, state, p)
    assert u["w"].tolist() == [-2.0, -2.0] and int(state.mini_step) == 0 and int(state.inner.step) == 1
    assert state.grad_acc["w"].tolist() == [0.0, 0.0]
    with pytest.raises(ConfigError, match="every_k"):
        optim.MultiSteps(optim.SGD(), every_k=0)


# -- EMA -------------------------------------------------------------------------------------------
class Net(Struct):
    weight: jax.Array
    stat: jax.Array = field(buffer=True)


@pytest.mark.parametrize("use_buffers", [False, True])
def test_ema_matches_torch_averaged_model(use_buffers):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(3))
            self.register_buffer("stat", torch.zeros(3))

    rng = np.random.default_rng(0)
    seq_w = rng.normal(size=(30, 3)).astype(np.float32)
    seq_s = rng.normal(size=(30, 3)).astype(np.float32)
    tnet = TNet()
    avg = AveragedModel(tnet, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=use_buffers)
    ema = optim.EMA(0.9, include_buffers=use_buffers)
    state = ema.init(Net(jnp.zeros(3), jnp.zeros(3)))
    update = jax.jit(ema.update)
    for w, s in zip(seq_w, seq_s, strict=True):
        with torch.no_grad():
            tnet.weight.copy_(torch.tensor(w))
            tnet.stat.copy_(torch.tensor(s))
        avg.update_parameters(tnet)
        state = update(Net(jnp.asarray(w), jnp.asarray(s)), state)
        np.testing.assert_allclose(
            state.params.weight, avg.module.weight.detach().numpy(), rtol=1e-6, atol=1e-7
        )
        if use_buffers:
            np.testing.assert_allclose(state.params.stat, avg.module.stat.numpy(), rtol=1e-6, atol=1e-7)
        else:  # torsh takes buffers from the latest model (PyTorch leaves them stale until update_bn)
            np.testing.assert_array_equal(state.params.stat, s)


def test_ema_schedule_and_errors():
    ema = optim.EMA(lambda step: jnp.minimum(0.99, (1.0 + step) / (10.0 + step)))
    state = ema.init({"w": jnp.zeros(1)})
    state = ema.update({"w": jnp.ones(1)}, state)
    state = ema.update({"w": jnp.zeros(1)}, state)
    assert state.params["w"].tolist() == pytest.approx([2 / 11])
    with pytest.raises(ConfigError, match="decay"):
        optim.EMA(1.5)


# -- dynamic loss scaling ------------------------------------------------------------------------
def test_loss_scale_follows_torch_grad_scaler_rule():
    found = [False, False, True, False, False, False, True, True, False, False, False, False, False]
    scale_t = torch.tensor(1024.0)
    tracker = torch.tensor(0, dtype=torch.int32)
    opt = optim.DynamicLossScale(
        optim.SGD(lr=0.1), init_scale=1024.0, growth_factor=4.0, backoff_factor=0.25, growth_interval=3
    )
    p = {"w": jnp.ones(2)}
    state = opt.init(p)
    step = jax.jit(opt.step)
    for inf in found:
        torch._amp_update_scale_(scale_t, tracker, torch.tensor(1.0 if inf else 0.0), 4.0, 0.25, 3)
        g = {"w": jnp.array([jnp.inf if inf else 1.0, 2.0]) * state.scale}
        before = p
        p, state = step(p, g, state)
        assert float(state.scale) == float(scale_t) and int(state.growth_tracker) == int(tracker)
        assert bool(state.found_inf) == inf
        if inf:
            assert torsh.tree.allclose(p, before, rtol=0, atol=0)
        else:
            np.testing.assert_allclose(p["w"], before["w"] - 0.1 * np.array([1.0, 2.0]), rtol=1e-6)


def test_loss_scaled_float16_training_skips_overflow():
    opt = optim.DynamicLossScale(optim.Adam(lr=1e-2), init_scale=2.0**15, growth_interval=2)
    p = {"w": jnp.full(4, 1.0, jnp.float16)}
    state = opt.init(p)

    @jax.jit
    def train(p, state):
        grads = jax.grad(lambda q: opt.scale_loss(jnp.sum(q["w"].astype(jnp.float16) ** 2), state))(p)
        return opt.step(p, grads, state)

    p1, s1 = train(p, state)  # the gradient 2 * 1 * 32768 overflows float16: skipped, scale halves
    assert bool(s1.found_inf) and float(s1.scale) == 2.0**14 and int(s1.inner.step) == 0
    assert p1["w"].tolist() == p["w"].tolist()
    p2, s2 = train(p1, s1)
    assert not bool(s2.found_inf) and int(s2.inner.step) == 1 and p2["w"].dtype == jnp.float16
    assert float(p2["w"][0]) == pytest.approx(0.99, abs=1e-3)
    u, s3 = jax.jit(opt.update)(jax.tree.map(lambda x: x * jnp.inf, {"w": jnp.ones(4, jnp.float16)}), s2, p2)
    assert u["w"].tolist() == [0.0] * 4 and bool(s3.found_inf)
    assert sorted(s3.state_dict())[:2] == ["found_inf", "growth_tracker"]


def test_loss_scale_validation():
    for kwargs, name in [
        ({"init_scale": 0.0}, "init_scale"),
        ({"growth_factor": 1.0}, "growth_factor"),
        ({"backoff_factor": 1.0}, "backoff_factor"),
        ({"growth_interval": 0}, "growth_interval"),
    ]:
        with pytest.raises(ConfigError, match=name):
            optim.DynamicLossScale(optim.SGD(), **kwargs)
    with pytest.raises(ConfigError, match="opt"):
        optim.DynamicLossScale("sgd")


def test_all_finite():
    assert bool(optim.all_finite({"a": jnp.ones(2), "i": jnp.int32(1), "n": None}))
    assert not bool(optim.all_finite({"a": jnp.array([1.0, jnp.nan])}))
