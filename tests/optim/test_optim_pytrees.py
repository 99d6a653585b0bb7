"""Optimizers on real pytrees: torsh modules and structs with buffers, frozen fields, integer leaves,
``None`` gradients, complex and half-precision parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _optim_reference import assert_trajectories_close, torch_trajectory

import torsh
from torsh import optim
from torsh.tree import Struct, field


class Block(Struct):
    weight: jax.Array
    bias: jax.Array
    running_mean: jax.Array = field(buffer=True)
    calls: jax.Array = None


class FrozenHead(Struct):
    weight: jax.Array
    scale: jax.Array

    def _torsh_frozen_fields(self):
        return ("scale",)


def make_tree():
    return {
        "block": Block(jnp.ones((2, 3)), jnp.zeros(3), jnp.full(3, 5.0), jnp.int32(7)),
        "head": FrozenHead(jnp.ones(2), jnp.full(2, 2.0)),
        "ids": jnp.arange(4),
    }


def grads_for(tree, value=1.0):
    """What torsh.grad returns: arrays at trainable leaves, None elsewhere."""
    mask = torsh.tree.trainable_mask(tree)
    return torsh.tree.map(lambda x, m: jnp.full_like(x, value) if m else None, tree, mask)


ALL = [
    optim.SGD(lr=0.1, momentum=0.9),
    optim.Adam(lr=0.1, amsgrad=True),
    optim.AdamW(lr=0.1),
    optim.NAdam(lr=0.1),
    optim.RAdam(lr=0.1),
    optim.Adamax(lr=0.1),
    optim.Adagrad(lr=0.1),
    optim.RMSprop(lr=0.1, centered=True, momentum=0.5),
    optim.Adadelta(),
    optim.LAMB(lr=0.1),
    optim.Lion(lr=0.1),
]


@pytest.mark.parametrize("opt", ALL, ids=lambda o: type(o).__name__)
def test_only_trainable_leaves_change(opt):
    tree = make_tree()
    state = opt.init(tree)
    new, state = jax.jit(opt.step)(tree, grads_for(tree), state)
    assert not np.allclose(new["block"].weight, tree["block"].weight)
    assert not np.allclose(new["head"].weight, tree["head"].weight)
    np.testing.assert_array_equal(new["block"].running_mean, tree["block"].running_mean)  # buffer
    np.testing.assert_array_equal(new["head"].scale, tree["head"].scale)  # frozen
    assert new["block"].calls.dtype == jnp.int32 and int(new["block"].calls) == 7
    np.testing.assert_array_equal(new["ids"], tree["ids"])
    # the state holds slots only for trainable leaves
    names = set(state.state_dict())
    assert not any("running_mean" in n or "scale" in n or "ids" in n or "calls" in n for n in names)
    assert any(n.endswith("block.weight") for n in names)


def test_gradients_at_non_trainable_leaves_are_ignored():
    tree = make_tree()
    opt = optim.SGD(lr=0.1)
    full = torsh.tree.map(lambda x: jnp.ones_like(x) if torsh.tree.is_inexact(x) else x, tree)
    a, _ = opt.step(tree, full, opt.init(tree))
    b, _ = opt.step(tree, grads_for(tree), opt.init(tree))
    assert torsh.tree.allclose(a, b)
    np.testing.assert_array_equal(a["block"].running_mean, tree["block"].running_mean)


def test_torsh_grad_output_plugs_in():
    tree = make_tree()

    def loss(t):
        return (
            jnp.sum(t["block"].weight ** 2)
            + jnp.sum(t["block"].bias)
            + jnp.sum(t["head"].weight * t["head"].scale)
        )

    grads = torsh.grad(loss)(tree)
    opt = optim.Adam(lr=0.1)
    new, state = opt.step(tree, grads, opt.init(tree))
    assert int(state.step) == 1
    assert not np.allclose(new["block"].bias, tree["block"].bias)


def test_none_gradient_at_trainable_leaf_skips_that_leaf():
    tree = {"a": jnp.ones(2), "b": jnp.ones(2)}
    opt = optim.Adam(lr=0.1)
    state = opt.init(tree)
    new, state2 = opt.step(tree, {"a": jnp.ones(2), "b": None}, state)
    np.testing.assert_array_equal(new["b"], tree["b"])
    np.testing.assert_array_equal(state2.exp_avg["b"], state.exp_avg["b"])
    assert not np.allclose(new["a"], tree["a"])


def test_update_and_apply_updates_equal_step():
    tree = make_tree()
    opt = optim.AdamW(lr=0.1, weight_decay=0.1)
    state = opt.init(tree)
    g = grads_for(tree, 0.3)
    stepped, s1 = opt.step(tree, g, state)
    updates, s2 = opt.update(g, state, tree)
    assert updates["block"].running_mean is None and updates["ids"] is None
    applied = optim.apply_updates(tree, updates)
    assert torsh.tree.allclose(stepped, applied, rtol=1e-6, atol=1e-7)
    assert torsh.tree.allclose(s1, s2)


def test_nn_module_state_names():
    nn = pytest.importorskip("torsh.nn")
    model = nn.Sequential(
        nn.Linear(3, 4, key=torsh.random.key(0)), nn.BatchNorm1d(4), nn.Linear(4, 2, key=torsh.random.key(1))
    )
    opt = optim.Adam(lr=1e-3)
    state = opt.init(model)
    names = list(state.state_dict())
    assert "exp_avg.0.weight" in names and "exp_avg_sq.2.bias" in names and "exp_avg.1.weight" in names
    assert not any("running_mean" in n or "num_batches_tracked" in n for n in names)
    x = jnp.ones((5, 3))
    grads = torsh.grad(lambda m: jnp.sum(m.eval()(x) ** 2))(model)
    new, state = jax.jit(opt.step)(model, grads, state)
    assert type(new) is type(model)
    np.testing.assert_array_equal(new[1].running_var, model[1].running_var)


def test_frozen_module_parts_are_not_updated():
    nn = pytest.importorskip("torsh.nn")
    model = nn.Sequential(nn.Linear(3, 4, key=torsh.random.key(0)), nn.Linear(4, 2, key=torsh.random.key(1)))
    frozen = model.freeze("0")
    opt = optim.SGD(lr=0.1)
    state = opt.init(frozen)
    assert not any(".0." in k for k in state.state_dict())
    full = torsh.tree.map(lambda x: jnp.ones_like(x), frozen)
    new, _ = opt.step(frozen, full, state)
    np.testing.assert_array_equal(new[0].weight, frozen[0].weight)
    assert not np.allclose(new[1].weight, frozen[1].weight)


# -- complex parameters: PyTorch updates them as pairs of reals (view_as_real) ----------------------
COMPLEX = [
    ("sgd", optim.SGD(lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    (
        "adam",
        optim.Adam(lr=1e-2, amsgrad=True, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=1e-2, amsgrad=True, weight_decay=0.1),
    ),
    ("adamax", optim.Adamax(lr=1e-2), lambda p: torch.optim.Adamax(p, lr=1e-2)),
    (
        "adagrad",
        optim.Adagrad(lr=0.1, initial_accumulator_value=0.1),
        lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1),
    ),
    (
        "rmsprop",
        optim.RMSprop(lr=1e-2, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=1e-2, centered=True),
    ),
    ("nadam", optim.NAdam(lr=1e-2), lambda p: torch.optim.NAdam(p, lr=1e-2)),
    ("radam", optim.RAdam(lr=1e-2), lambda p: torch.optim.RAdam(p, lr=1e-2)),
    ("adadelta", optim.Adadelta(), lambda p: torch.optim.Adadelta(p)),
]


@pytest.mark.parametrize("case", COMPLEX, ids=[c[0] for c in COMPLEX])
def test_complex_parameters_match_torch(case):
    _, ours, theirs = case
    rng = np.random.default_rng(0)
    steps = 50
    params = {"z": (rng.normal(size=(3, 2)) + 1j * rng.normal(size=(3, 2))).astype(np.complex64)}
    grads = {"z": (rng.normal(size=(steps, 3, 2)) + 1j * rng.normal(size=(steps, 3, 2))).astype(np.complex64)}
    p = {"z": jnp.asarray(params["z"])}
    state = ours.init(p)
    step = jax.jit(ours.step)
    out = []
    for i in range(steps):
        p, state = step(p, {"z": jnp.asarray(grads["z"][i])}, state)
        out.append(np.asarray(p["z"]))
    mine = np.stack(out)
    ref = torch_trajectory(theirs, params, grads)["z"]
    assert_trajectories_close({"re": mine.real, "im": mine.imag}, {"re": ref.real, "im": ref.imag})


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_keeps_dtypes_and_tracks_float32(dtype):
    rng = np.random.default_rng(0)
    p32 = {"w": jnp.asarray(rng.normal(size=(8,)).astype(np.float32))}
    p16 = {"w": p32["w"].astype(dtype)}
    opt = optim.Adam(lr=1e-2)
    s32, s16 = opt.init(p32), opt.init(p16)
    assert s16.exp_avg["w"].dtype == dtype and s16.lr["default"].dtype == jnp.float32
    for _ in range(20):
        g = jnp.asarray(rng.normal(size=(8,)).astype(np.float32))
        p32, s32 = opt.step(p32, {"w": g}, s32)
        p16, s16 = opt.step(p16, {"w": g.astype(dtype)}, s16)
    assert p16["w"].dtype == dtype and s16.exp_avg_sq["w"].dtype == dtype
    np.testing.assert_allclose(np.asarray(p16["w"], np.float32), np.asarray(p32["w"]), atol=0.05)


def test_python_float_leaf_is_trained():
    opt = optim.SGD(lr=0.5)
    params = {"x": 2.0, "n": 3}
    new, _ = opt.step(params, {"x": 1.0, "n": None}, opt.init(params))
    assert float(new["x"]) == 1.5 and new["n"] == 3
