"""PyTorch-style modules: attributes assigned in ``__init__`` without class annotations are fields.

Before per-instance fields, such a module had no parameters (``num_parameters() == 0``) and the first
``jit``/``grad`` failed with ``AttributeError``; every test here failed then.
"""

from __future__ import annotations

import argparse
import copy
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import torsh
import torsh.nn.functional as F
from torsh import nn
from torsh.errors import ConfigError, FrozenInstanceError, TorshError, TreeError


class Net(nn.Module):
    """A PyTorch-style module: no annotations, super().__init__(), config and buffers as attributes."""

    def __init__(self, d_in=4, hidden=8, d_out=3, act="relu", *, key=None):
        super().__init__()
        k1, k2 = nn.split_key(key, 2)
        self.fc1 = nn.Linear(d_in, hidden, key=k1)
        self.act = act
        self.sizes = [d_in, hidden, d_out]  # unhashable static config (a list) is fine
        self.fc2 = nn.Linear(hidden, d_out, key=k2)
        self.scale = nn.Parameter(jnp.ones(d_out))
        self.register_buffer("shift", jnp.zeros(d_out))

    def forward(self, input):
        h = getattr(F, self.act)(self.fc1(input))
        return self.fc2(h) * self.scale + self.shift


class TorchNet(torch.nn.Module):
    def __init__(self, d_in=4, hidden=8, d_out=3):
        super().__init__()
        self.fc1 = torch.nn.Linear(d_in, hidden)
        self.act = "relu"
        self.fc2 = torch.nn.Linear(hidden, d_out)
        self.scale = torch.nn.Parameter(torch.ones(d_out))
        self.register_buffer("shift", torch.zeros(d_out))

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x))) * self.scale + self.shift


@pytest.fixture(scope="module")
def net():
    return Net(key=torsh.random.key(0))


X = jnp.asarray(np.random.default_rng(0).standard_normal((5, 4)), jnp.float32)


def test_attributes_become_parameters_buffers_and_static_config(net):
    ref = TorchNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [n for n, _ in net.named_buffers()] == [n for n, _ in ref.named_buffers()]
    assert list(net.state_dict()) == list(ref.state_dict())
    assert net.num_parameters() == sum(p.numel() for p in ref.parameters())
    assert [n for n, _ in net.named_children()] == ["fc1", "fc2"]
    # static config is in the tree structure, not in the leaves
    assert torsh.tree.paths(net) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "scale", "shift"]
    # load PyTorch's weights and compare the forward pass
    loaded = net.load_state_dict(ref.state_dict())
    want = ref(torch.from_numpy(np.array(X))).detach().numpy()
    np.testing.assert_allclose(np.asarray(loaded(input=X)), want, rtol=1e-5, atol=1e-6)


def test_jit_grad_and_unflatten_keep_every_attribute(net):
    out = jax.jit(lambda m, x: m(x))(net, X)
    np.testing.assert_allclose(np.asarray(out), np.asarray(net(X)), rtol=1e-6)
    grads = torsh.grad(lambda m: m(X).sum())(net)
    assert isinstance(grads, Net) and grads.act == "relu" and grads.sizes == [4, 8, 3]
    assert grads.shift is None and grads.scale.shape == (3,)  # buffers get no gradient
    leaves, spec = jax.tree_util.tree_flatten(net)
    back = jax.tree_util.tree_unflatten(spec, leaves)
    assert back.act == net.act and back.sizes == net.sizes and back(X).shape == (5, 3)
    assert back.__torsh_buffer_fields__ == net.__torsh_buffer_fields__


def test_train_eval_replace_freeze(net):
    ev = net.eval()
    assert not ev.training and not ev.fc1.training and ev.act == "relu"
    assert ev.train().fc2.training
    changed = net.replace(act="tanh")
    assert changed.act == "tanh" and net.act == "relu"
    np.testing.assert_allclose(
        np.asarray(changed(X)), np.asarray(changed.fc2(jnp.tanh(changed.fc1(X))) * changed.scale), rtol=1e-6
    )
    dotted = net.replace(**{"fc1.bias": jnp.ones(8)})
    assert dotted.fc1.bias.tolist() == [1.0] * 8
    frozen = net.freeze("fc1")
    assert frozen.num_parameters(trainable_only=True) == net.num_parameters() - (4 * 8 + 8)
    grads = torsh.grad(lambda m: m(X).sum())(frozen)
    assert grads.fc1.weight is None and grads.fc2.weight is not None
    with pytest.raises(FrozenInstanceError, match="replace"):
        net.act = "gelu"


def test_changing_static_config_retraces_and_kinds_can_change(net):
    traces = []

    @jax.jit
    def f(m, x):
        traces.append(m.act)
        return m(x)

    f(net, X)
    f(net.replace(fc1=net.fc1), X)
    assert traces == ["relu"]
    f(net.replace(act="tanh"), X)
    assert traces == ["relu", "tanh"]
    # an attribute may change kind through replace (array -> None -> array)
    no_scale = net.replace(scale=None)
    assert "scale" not in no_scale.state_dict()
    assert "scale" in no_scale.replace(scale=jnp.ones(3)).state_dict()


def test_save_load_pickle_deepcopy_round_trip(net, tmp_path):
    path = tmp_path / "net.safetensors"
    torsh.save(path, net)
    other = Net(key=torsh.random.key(1))
    back = torsh.load(path, like=other)
    assert torsh.tree.allclose(back, net) and back.act == "relu"
    for clone in (pickle.loads(pickle.dumps(net)), copy.deepcopy(net), copy.copy(net)):
        assert torsh.tree.structure(clone) == torsh.tree.structure(net)
        assert torsh.tree.allclose(clone, net)


def test_instances_of_one_class_may_hold_different_attributes():
    class Block(nn.Module):
        def __init__(self, d, norm, bias_kind):
            super().__init__()
            self.fc = nn.Linear(d, d, bias=False)
            if norm:
                self.norm = nn.LayerNorm(d)
            # a value that is an array in one instance and static in the other
            self.offset = jnp.ones(d) if bias_kind == "array" else 0.5

        def forward(self, x):
            x = self.fc(x)
            if hasattr(self, "norm"):
                x = self.norm(x)
            return x + self.offset

    a, b = Block(4, True, "array"), Block(4, False, "scalar")
    assert list(a.state_dict()) == [
        "offset",
        "fc.weight",
        "norm.weight",
        "norm.bias",
    ]  # own first, as PyTorch
    assert list(b.state_dict()) == ["fc.weight"]
    step = jax.jit(lambda m, x: m(x).sum())
    x = jnp.ones((2, 4))
    assert np.isfinite(float(step(a, x))) and np.isfinite(float(step(b, x)))
    assert torsh.tree.structure(a) != torsh.tree.structure(b)
    with pytest.raises(TreeError, match="only in the first"):
        torsh.tree.map(lambda p, q: p + q, a, b)
    # identical construction gives identical structures (jit cache hits, tree.map works)
    c = Block(4, True, "array")
    assert torsh.tree.structure(c) == torsh.tree.structure(a)
    assert torsh.tree.map(lambda p, q: p - q, a, c).fc.weight.shape == (4, 4)


def test_containers_lists_and_dicts_of_modules_as_attributes():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
            self.mlist = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.mdict = nn.ModuleDict({"a": nn.Linear(2, 1)})
            self.plain = [nn.Linear(2, 2), nn.Linear(2, 2)]  # supported; nn.ModuleList is PyTorch's spelling
            self.heads = {"x": nn.Linear(2, 1)}
            self.kernel = (3, 3)
            self.names = ("a", "b")

        def forward(self, x):
            for m in [*self.mlist, *self.plain]:
                x = m(x)
            return self.seq(x).sum() + self.mdict["a"](x).sum() + self.heads["x"](x).sum()

    m = Model()
    assert list(m.state_dict()) == [
        "seq.0.weight", "seq.0.bias", "seq.2.weight", "seq.2.bias",
        "mlist.0.weight", "mlist.0.bias", "mlist.1.weight", "mlist.1.bias",
        "mdict.a.weight", "mdict.a.bias",
        "plain.0.weight", "plain.0.bias", "plain.1.weight", "plain.1.bias",
        "heads.x.weight", "heads.x.bias",
    ]  # fmt: skip
    grads = torsh.grad(lambda m: m(jnp.ones((1, 2))))(m)
    assert grads.plain[1].weight.shape == (2, 2) and grads.kernel == (3, 3)
    assert "plain.0" in dict(m.named_modules()) and len(list(m.eval().modules())) == 13
    assert not m.eval().plain[0].training


def test_registration_methods_and_their_errors():
    class Reg(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("bias", None)
            self.add_module("inner", nn.Linear(2, 2))
            self.register_buffer("steps", jnp.zeros((), jnp.int32))

        def forward(self, x):
            return self.inner(x)

    r = Reg()
    assert r.bias is None and [n for n, _ in r.named_buffers()] == ["steps"]
    assert list(r.state_dict()) == ["steps", "inner.weight", "inner.bias"]
    with pytest.raises(ConfigError, match="only be called inside __init__"):
        r.register_buffer("other", jnp.zeros(2))

    class NonPersistent(nn.Module):
        def __init__(self):
            self.register_buffer("mask", jnp.ones(2), persistent=False)

    with pytest.raises(ConfigError, match="persistent=False"):
        NonPersistent()
    with pytest.raises(ConfigError, match="register_buffer"):
        nn.Parameter(jnp.ones(2), requires_grad=False)


def test_bad_attributes_are_named_at_construction():
    class Mixed(nn.Module):
        def __init__(self):
            self.parts = [nn.Linear(2, 2), "relu"]

    with pytest.raises(ConfigError, match=r"Mixed\.parts mixes arrays/modules"):
        Mixed()

    class TorchTensor(nn.Module):
        def __init__(self):
            self.w = torch.ones(2)

    with pytest.raises(ConfigError, match=r"TorchTensor\.w is a torch tensor"):
        TorchTensor()
    assert issubclass(ConfigError, TorshError)


def test_super_init_anywhere_and_subclassing_a_layer():
    class Late(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
            super().__init__()  # PyTorch would fail here; torsh: harmless

        def forward(self, x):
            return self.fc(x)

    assert Late().num_parameters() == 6

    class Gated(nn.Linear):
        def __init__(self, n):
            super().__init__(n, n)
            self.gate = nn.Linear(n, n)

        def forward(self, input):
            return super().forward(input) * jax.nn.sigmoid(self.gate(input))

    g = Gated(3)
    assert list(g.state_dict()) == ["weight", "bias", "gate.weight", "gate.bias"]
    assert jax.jit(lambda m, x: m(x))(g, jnp.ones((1, 3))).shape == (1, 3)


def test_config_objects_are_static_and_compared_by_value():
    class WithConfig(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.proj = nn.Linear(config.d, config.d)

        def forward(self, x):
            return self.proj(x) * self.config.scale

    a = WithConfig(argparse.Namespace(d=2, scale=2.0))
    b = WithConfig(argparse.Namespace(d=2, scale=2.0))
    assert torsh.tree.structure(a) == torsh.tree.structure(b)  # equal configs: one compiled function
    c = WithConfig(argparse.Namespace(d=2, scale=3.0))
    assert torsh.tree.structure(a) != torsh.tree.structure(c)
    assert jax.jit(lambda m: m(jnp.ones(2)))(c).shape == (2,)


_static_values = st.one_of(
    st.integers(-5, 5), st.floats(-2, 2, allow_nan=False), st.text(max_size=3), st.none(),
    st.lists(st.integers(0, 3), max_size=3), st.tuples(st.booleans(), st.integers(0, 2)),
)  # fmt: skip
_values = st.one_of(_static_values, st.integers(1, 3).map(lambda n: jnp.arange(n, dtype=jnp.float32)))


@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), _values, max_size=5))
def test_flatten_unflatten_round_trip_for_any_attributes(attrs):
    class Anything(nn.Module):
        def __init__(self, attrs):
            super().__init__()
            for k, v in attrs.items():
                setattr(self, k, v)

    m = Anything(attrs)
    leaves, spec = jax.tree_util.tree_flatten(m)
    back = jax.tree_util.tree_unflatten(spec, leaves)
    for k, v in attrs.items():
        got = getattr(back, k)
        if isinstance(v, jax.Array):
            np.testing.assert_array_equal(np.asarray(got), np.asarray(v))
        else:
            assert got == v and type(got) is type(v)
    assert len(leaves) == sum(isinstance(v, jax.Array) for v in attrs.values())
    assert torsh.tree.structure(Anything(dict(attrs))) == torsh.tree.structure(m)
