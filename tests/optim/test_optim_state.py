"""Named, inspectable states: state_dict names, load_state_dict validation, jit behaviour, saving."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import optim
from torsh.errors import ConfigError, DTypeError, ShapeError, TreeError
from torsh.tree import Struct, field


class Seq(Struct):
    """Like nn.Sequential: layers named 0, 1, ... (an inline field)."""

    layers: tuple = field(inline=True)


class Lin(Struct):
    weight: jax.Array
    bias: jax.Array


def model():
    return Seq((Lin(jnp.ones((3, 2)), jnp.zeros(3)), Lin(jnp.ones((1, 3)), jnp.zeros(1))))


def grads(m, v=0.5):
    return torsh.tree.map(lambda x: jnp.full_like(x, v), m)


def test_state_dict_names_follow_parameter_names():
    state = optim.Adam(lr=1e-3, amsgrad=True).init(model())
    assert list(state.state_dict()) == [
        "step",
        "lr.default",
        "exp_avg.0.weight",
        "exp_avg.0.bias",
        "exp_avg.1.weight",
        "exp_avg.1.bias",
        "exp_avg_sq.0.weight",
        "exp_avg_sq.0.bias",
        "exp_avg_sq.1.weight",
        "exp_avg_sq.1.bias",
        "max_exp_avg_sq.0.weight",
        "max_exp_avg_sq.0.bias",
        "max_exp_avg_sq.1.weight",
        "max_exp_avg_sq.1.bias",
    ]
    assert list(optim.SGD(lr=0.1).init(model()).state_dict()) == ["step", "lr.default"]  # no momentum buffer


def test_state_is_inspectable():
    opt = optim.NAdam(lr=2e-3, weight_decay=0.1)
    state = opt.init(model())
    assert isinstance(state, optim.NAdamState) and isinstance(state, torsh.tree.Struct)
    assert float(state.lr["default"]) == pytest.approx(2e-3)
    hp = state.hyperparams["default"]
    assert hp["weight_decay"] == 0.1 and hp["betas"] == (0.9, 0.999) and "lr" not in hp
    text = repr(state)
    assert "NAdamState(" in text and "exp_avg=" in text and "f32[3,2]" in text and "step=i32[](0)" in text
    assert "hyperparams=" in text
    # a scheduled lr shows its schedule among the hyperparameters
    sched = optim.schedules.cosine_annealing(0.1, T_max=10)
    assert optim.SGD(lr=sched).init(model()).hyperparams["default"]["lr"] == sched


def test_round_trip_continues_identically():
    opt = optim.Adam(lr=1e-2, amsgrad=True)
    m = model()
    state = opt.init(m)
    step = jax.jit(opt.step)
    for i in range(3):
        m, state = step(m, grads(m, 0.1 * (i + 1)), state)
    saved = {k: np.asarray(v) for k, v in state.state_dict().items()}  # as numpy, like a file would give
    restored = opt.init(model()).load_state_dict(saved)
    assert torsh.tree.structure(restored) == torsh.tree.structure(state)
    assert torsh.tree.allclose(restored, state, rtol=0, atol=0)
    a, _ = step(m, grads(m), state)
    b, _ = step(m, grads(m), restored)
    assert torsh.tree.allclose(a, b, rtol=0, atol=0)


def test_safetensors_round_trip(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    opt = optim.chain(optim.clip_by_global_norm(1.0), optim.AdamW(lr=1e-3))
    m = model()
    state = opt.init(m)
    m, state = opt.step(m, grads(m), state)
    path = tmp_path / "opt.safetensors"
    safetensors.save_file({k: np.asarray(v) for k, v in optim.state_dict(state).items()}, str(path))
    restored = optim.load_state_dict(opt.init(model()), safetensors.load_file(str(path)))
    assert torsh.tree.allclose(restored, state, rtol=0, atol=0)
    assert int(restored[1].step) == 1


def test_load_state_dict_reports_missing_and_unexpected_keys():
    state = optim.Adam().init(model())
    sd = dict(state.state_dict())
    del sd["exp_avg.0.bias"]
    sd["exp_avg.2.weight"] = np.zeros(3, np.float32)
    with pytest.raises(TreeError) as e:
        state.load_state_dict(sd)
    assert "missing keys: exp_avg.0.bias" in str(e.value) and "unexpected keys: exp_avg.2.weight" in str(
        e.value
    )


def test_load_state_dict_reports_shapes_and_dtypes():
    state = optim.Adam().init(model())
    sd = dict(state.state_dict())
    sd["exp_avg.0.weight"] = np.zeros((2, 3), np.float32)
    sd["exp_avg_sq.1.bias"] = np.zeros((2,), np.float32)
    with pytest.raises(ShapeError) as e:
        state.load_state_dict(sd)
    msg = str(e.value)
    assert "'exp_avg.0.weight': expected [3, 2], got [2, 3]" in msg and "'exp_avg_sq.1.bias'" in msg
    sd = dict(state.state_dict(), step=np.zeros((), np.float32))
    with pytest.raises(DTypeError, match=r"'step': expected int32, got float32"):
        state.load_state_dict(sd)
    with pytest.raises(DTypeError, match="'step'"):
        state.load_state_dict(dict(state.state_dict(), step=1.5))
    with pytest.raises(DTypeError, match="'lr.default'"):
        state.load_state_dict(dict(state.state_dict(), **{"lr.default": "0.1"}))
    with pytest.raises(TreeError, match="mapping"):
        state.load_state_dict([1, 2])
    # Python numbers are accepted for scalar entries of a compatible kind
    loaded = state.load_state_dict(dict(state.state_dict(), step=5, **{"lr.default": 0.5}))
    assert int(loaded.step) == 5 and loaded.step.dtype == jnp.int32 and float(loaded.lr["default"]) == 0.5


def test_state_from_another_configuration_is_rejected():
    m = model()
    state = optim.SGD(lr=0.1, momentum=0.9).init(m)
    with pytest.raises(TreeError, match="SGDState"):
        optim.Adam().step(m, grads(m), state)
    grouped = optim.SGD(lr=0.1, param_groups=[optim.ParamGroup("0", name="first")])
    with pytest.raises(TreeError, match="groups"):
        grouped.step(m, grads(m), optim.SGD(lr=0.1).init(m))
    other = {"a": jnp.ones(2)}
    with pytest.raises(TreeError, match="state.momentum_buffer"):
        optim.SGD(lr=0.1, momentum=0.9).step(other, {"a": jnp.ones(2)}, state)


def test_gradient_errors_name_the_parameter():
    m = model()
    opt = optim.Adam()
    state = opt.init(m)
    bad = grads(m)
    bad = Seq((Lin(jnp.ones((2, 3)), bad.layers[0].bias), bad.layers[1]))
    with pytest.raises(
        ShapeError, match=r"gradient of '0.weight' has shape \[2, 3\], the parameter has \[3, 2\]"
    ):
        opt.step(m, bad, state)
    with pytest.raises(TreeError, match="structure of the parameters"):
        opt.step(m, {"w": jnp.ones(2)}, state)
    with pytest.raises(ConfigError, match="params are required"):
        opt.update(grads(m), state)
    with pytest.raises(DTypeError, match="complex"):
        opt.step({"w": jnp.ones(2)}, {"w": jnp.ones(2, jnp.complex64)}, opt.init({"w": jnp.ones(2)}))


def test_jitted_step_compiles_once_and_lr_changes_do_not_recompile():
    m = model()
    opt = optim.Adam(lr=1e-2)
    traces = []

    @jax.jit
    def step(m, state):
        traces.append(1)
        return opt.step(m, grads(m), state)

    state = opt.init(m)
    m, state = step(m, state)
    m, state = step(m, state)
    state = optim.set_lr(state, 1e-4)
    m2, state2 = step(m, state)
    assert len(traces) == 1
    assert float(state2.lr["default"]) == pytest.approx(1e-4)
    # the new lr took effect: the step is 100x smaller than with 1e-2
    m3, _ = step(m, optim.set_lr(state, 1e-2))
    d_small = float(jnp.abs(m2.layers[0].weight - m.layers[0].weight).max())
    d_big = float(jnp.abs(m3.layers[0].weight - m.layers[0].weight).max())
    assert d_big == pytest.approx(100 * d_small, rel=1e-3)


def test_donated_state_works():
    m = model()
    opt = optim.AdamW(lr=1e-2)
    step = jax.jit(opt.step, donate_argnums=(0, 2))
    state = opt.init(m)
    for _ in range(3):
        m, state = step(m, grads(m), state)
    assert int(state.step) == 3


def test_chain_state_names_and_lr_helpers():
    opt = optim.chain(clip=optim.clip_by_global_norm(1.0), sgd=optim.SGD(lr=0.1, momentum=0.9))
    state = opt.init(model())
    assert list(state.state_dict())[:3] == ["clip.norm", "sgd.step", "sgd.lr.default"]
    assert list(optim.get_lr(state)) == ["sgd.default"]
    state = optim.set_lr(state, lambda name, lr: lr / 10)
    assert float(state["sgd"].lr["default"]) == pytest.approx(0.01)
    # a scheduled lr is rescaled (PyTorch's chaining), not refused; LBFGS has no room for the factor
    scheduled = optim.Adam(lr=optim.schedules.exponential_decay(0.1, 0.9)).init(model())
    assert float(optim.set_lr(scheduled, 0.5).lr_scale["default"]) == pytest.approx(5.0)
    lbfgs = optim.LBFGS(lr=optim.schedules.exponential_decay(0.1, 0.9)).init({"w": jnp.zeros(2)})
    with pytest.raises(ConfigError, match="cannot rescale it"):
        optim.set_lr(lbfgs, 0.5)
    with pytest.raises(TreeError, match="no optimizer state"):
        optim.get_lr(optim.clip_by_value(1.0).init(None))


def test_chain_errors():
    with pytest.raises(ConfigError, match="at least one"):
        optim.chain()
    with pytest.raises(ConfigError, match="not both"):
        optim.chain(optim.SGD(), sgd=optim.SGD())
    with pytest.raises(ConfigError, match="LBFGS"):
        optim.chain(optim.LBFGS())
    with pytest.raises(ConfigError, match="element 1"):
        optim.chain(optim.SGD(), "adam")
    opt = optim.chain(optim.SGD())
    with pytest.raises(TreeError, match="ChainState"):
        opt.step(model(), grads(model()), optim.SGD().init(model()))


def test_optimizers_are_immutable_hashable_values():
    a, b = optim.Adam(lr=1e-3), optim.Adam(lr=1e-3)
    assert a == b and hash(a) == hash(b) and a != optim.Adam(lr=2e-3) and a != optim.AdamW(lr=1e-3)
    with pytest.raises(torsh.errors.FrozenInstanceError):
        a.lr = 0.1
    assert "Adam(lr=0.001, betas=(0.9, 0.999)" in repr(a)
    assert a.defaults["eps"] == 1e-8
    # usable as a static argument
    f = jax.jit(lambda opt, p: opt.init(p).step, static_argnums=0)
    assert int(f(a, {"w": jnp.ones(1)})) == 0


def test_torsh_serialize_round_trip(tmp_path):
    from torsh import serialize

    opt = optim.chain(
        optim.clip_by_global_norm(1.0), optim.Adam(lr=optim.schedules.cosine_annealing(1e-2, 10))
    )
    m = model()
    state = opt.init(m)
    m, state = opt.step(m, grads(m), state)
    serialize.save(tmp_path / "opt.safetensors", state)
    restored = serialize.load(tmp_path / "opt.safetensors", like=opt.init(model()))
    assert torsh.tree.structure(restored) == torsh.tree.structure(state)
    assert torsh.tree.allclose(restored, state, rtol=0, atol=0)
    lb = optim.LBFGS(history_size=2)
    lstate = lb.init({"x": jnp.ones(3)})
    serialize.save(tmp_path / "lbfgs.safetensors", lstate)
    back = serialize.load(tmp_path / "lbfgs.safetensors", like=lb.init({"x": jnp.ones(3)}))
    assert torsh.tree.allclose(back, lstate, rtol=0, atol=0, equal_nan=True)
