"""The module system: PyTorch names, state dicts, modes, freezing, axes, immutability, transforms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _nn_reference import assert_close, torch_state

import torsh
from torsh import nn
from torsh.errors import ConfigError, FrozenInstanceError, ShapeError
from torsh.nn import StateDictError


# -- the same architecture in PyTorch and torsh -------------------------------------------------
class TBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.fc2 = torch.nn.Linear(8, 4)

    def forward(self, x):
        return x + self.fc2(torch.relu(self.norm(self.fc1(x))))


class TNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, 4)
        self.layers = torch.nn.ModuleList([TBlock() for _ in range(2)])
        self.bn = torch.nn.BatchNorm1d(4)
        self.heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(4, 3), "box": torch.nn.Linear(4, 2)})

    def forward(self, idx):
        h = self.embed(idx)
        for layer in self.layers:
            h = layer(h)
        h = self.bn(h)
        return self.heads["cls"](h), self.heads["box"](h)


class Block(nn.Module):
    fc1: nn.Linear
    norm: nn.LayerNorm
    fc2: nn.Linear

    def __init__(self, *, key=None):
        k1, k2 = nn.split_key(key, 2)
        self.fc1 = nn.Linear(4, 8, key=k1)
        self.norm = nn.LayerNorm(8)
        self.fc2 = nn.Linear(8, 4, key=k2)

    def forward(self, x):
        return x + self.fc2(jax.nn.relu(self.norm(self.fc1(x))))


class Net(nn.Module):
    embed: nn.Embedding
    layers: nn.ModuleList
    bn: nn.BatchNorm1d
    heads: nn.ModuleDict

    def __init__(self, *, key=None):
        keys = nn.split_key(key, 5)
        self.embed = nn.Embedding(10, 4, key=keys[0])
        self.layers = nn.ModuleList([Block(key=k) for k in keys[1:3]])
        self.bn = nn.BatchNorm1d(4)
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 3, key=keys[3]), "box": nn.Linear(4, 2, key=keys[4])})

    def forward(self, idx):
        h = self.embed(idx)
        for layer in self.layers:
            h = layer(h)
        h = self.bn(h)
        return self.heads["cls"](h), self.heads["box"](h)


@pytest.fixture
def pair():
    torch.manual_seed(0)
    return TNet(), Net(key=torsh.random.key(0))


def test_names_equal_torch(pair):
    t, j = pair
    assert [n for n, _ in j.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in j.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(j.state_dict()) == list(t.state_dict())
    assert [n for n, _ in j.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in j.named_children()] == [n for n, _ in t.named_children()]
    assert j.num_parameters() == sum(p.numel() for p in t.parameters())
    for (_, a), (_, b) in zip(j.named_parameters(), t.named_parameters(), strict=True):
        assert tuple(a.shape) == tuple(b.shape)


def test_sequential_names_and_repr_equal_torch():
    torch.manual_seed(0)
    t = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        torch.nn.GELU(),
        torch.nn.Dropout(0.1),
        torch.nn.BatchNorm1d(4),
        torch.nn.LayerNorm(4),
        torch.nn.Embedding(5, 4),
    )
    j = nn.Sequential(
        nn.Linear(3, 4), nn.GELU(), nn.Dropout(0.1), nn.BatchNorm1d(4), nn.LayerNorm(4), nn.Embedding(5, 4)
    )
    assert list(j.state_dict()) == list(t.state_dict())
    assert repr(j) == repr(t)
    named = nn.Sequential({"fc": nn.Linear(2, 2), "act": nn.ReLU()})
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and isinstance(named["act"], nn.ReLU)


def test_state_dict_round_trip_with_torch(pair):
    t, j = pair
    j = j.load_state_dict(torch_state(t))
    idx = np.array([[1, 2, 3], [4, 5, 6]])
    t.eval()
    j = j.eval()
    with torch.no_grad():
        t_out = t(torch.tensor(idx).reshape(-1))
    j_out = jax.jit(lambda m, i: m(i))(j, idx.reshape(-1))
    for a, b in zip(j_out, t_out, strict=True):
        assert_close(a, b.numpy())
    # and back: torsh's state dict loads strictly into the torch module
    t2 = TNet()
    t2.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in j.state_dict().items()}, strict=True)
    for k, v in t2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), np.asarray(j.state_dict()[k]))


def test_load_state_dict_reports_all_problems_at_once(pair):
    _, j = pair
    sd = {k: np.asarray(v) for k, v in j.state_dict().items()}
    del sd["bn.running_var"]
    sd["heads.cls.weight"] = np.zeros((4, 4), np.float32)
    sd["decoder.weight"] = np.zeros(3, np.float32)
    with pytest.raises(StateDictError) as info:
        j.load_state_dict(sd)
    msg = str(info.value)
    assert "missing keys ['bn.running_var']" in msg
    assert "unexpected keys ['decoder.weight']" in msg
    assert "heads.cls.weight: expected [3, 4], got [4, 4]" in msg
    with pytest.raises(StateDictError, match="size mismatch"):  # mis-shaped stays an error when not strict
        j.load_state_dict(sd, strict=False)
    del sd["heads.cls.weight"]
    loose = j.load_state_dict(sd, strict=False)
    assert np.array_equal(loose.bn.running_var, j.bn.running_var)  # missing key: value kept
    assert isinstance(StateDictError("x"), ValueError)


def test_load_state_dict_casts_and_copies():
    lin = nn.Linear(2, 2, key=torsh.random.key(0))
    src = {"weight": np.ones((2, 2), np.float64), "bias": torch.zeros(2)}
    new = lin.load_state_dict(src)
    assert new.weight.dtype == jnp.float32
    src["weight"][:] = 5  # the module does not alias the source
    assert float(new.weight.sum()) == 4.0


def test_immutability_and_functional_updates(pair):
    _, j = pair
    with pytest.raises(FrozenInstanceError, match="replace"):
        j.bn = None
    ev = j.eval()
    assert j.training and j.layers[0].fc1.training
    assert not ev.training and all(not m.training for m in ev.modules())
    assert all(m.training for m in ev.train().modules())
    w = jnp.zeros((3, 4))
    r = j.replace(**{"heads.cls.weight": w})
    assert r.heads["cls"].weight is w and j.heads["cls"].weight is not w
    r2 = j.replace(**{"layers.1": Block(key=torsh.random.key(9))})
    assert r2.layers[1] is not j.layers[1]
    with pytest.raises(ConfigError, match="unknown"):
        j.replace(**{"layers.7.weight": w})
    zeroed = j.apply(lambda m: m.replace(bias=jnp.zeros_like(m.bias)) if isinstance(m, nn.Linear) else m)
    assert all(float(jnp.abs(m.bias).sum()) == 0 for m in zeroed.modules() if isinstance(m, nn.Linear))
    assert j.get_submodule("layers.1.fc2") is j.layers[1].fc2


def test_to_dtype_casts_floats_only(pair):
    _, j = pair
    h = j.to(torsh.bfloat16)
    assert h.layers[0].fc1.weight.dtype == jnp.bfloat16 and h.bn.running_mean.dtype == jnp.bfloat16
    assert h.bn.num_batches_tracked.dtype == jnp.int32
    assert j.to("float16").embed.weight.dtype == jnp.float16
    moved = j.to("cpu")
    assert moved.embed.weight.devices() == {jax.devices("cpu")[0]}
    with pytest.raises(ConfigError, match="floating"):
        j.to(dtype="int32")


def test_freezing_is_respected_by_trainable_mask_and_grad(pair):
    _, j = pair
    frozen = j.freeze("layers.0").freeze("*.bias")
    mask = dict(torsh.tree.flatten_with_path(torsh.tree.trainable_mask(frozen))[0])
    assert not mask["layers.0.fc1.weight"] and not mask["layers.1.fc2.bias"] and not mask["bn.running_mean"]
    assert mask["layers.1.fc1.weight"] and mask["embed.weight"]

    def loss(m, idx):
        a, b = nn.stateful(m)(idx)[0]
        return a.sum() + b.sum()

    grads = jax.jit(torsh.grad(loss))(frozen, jnp.arange(6))
    g = dict(torsh.tree.flatten_with_path(grads)[0])
    assert "layers.0.fc1.weight" not in g and "heads.cls.bias" not in g and "bn.running_mean" not in g
    assert g["layers.1.fc1.weight"].shape == (8, 4)
    expected = sum(
        int(np.prod(p.shape))
        for n, p in j.named_parameters()
        if not n.startswith("layers.0") and not n.endswith("bias")
    )
    assert frozen.num_parameters(trainable_only=True) == expected
    thawed = frozen.unfreeze()
    assert thawed.num_parameters(trainable_only=True) == j.num_parameters()
    assert "[frozen: bias, weight]" in repr(frozen.layers[0].fc1)
    with pytest.raises(ConfigError, match="match no parameter"):
        j.freeze("decoder.*")
    # an optimizer-style update through the mask leaves frozen leaves untouched
    updated = torsh.tree.map(lambda p, m: p - 1.0 if m else p, frozen, torsh.tree.trainable_mask(frozen))
    assert np.array_equal(updated.layers[0].fc1.weight, j.layers[0].fc1.weight)
    assert not np.array_equal(updated.layers[1].fc1.weight, j.layers[1].fc1.weight)


def test_jit_and_grad_take_modules_without_filtering():
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    x = jnp.ones((4, 3))
    traces = []

    @jax.jit
    def loss(m, x):
        traces.append(1)
        return (m(x) ** 2).mean()

    g = jax.grad(loss)(model, x)
    assert isinstance(g, nn.Sequential) and g[0].weight.shape == (8, 3)
    model2 = jax.tree.map(lambda p, d: p - 0.1 * d, model, g)
    loss(model, x)
    n = len(traces)
    loss(model2, x)  # new arrays, same structure: no retrace
    assert len(traces) == n
    loss(model2.eval(), x)  # the training flag is static: one more trace
    assert len(traces) == n + 1
    assert float(loss(model2, x)) < float(loss(model, x))
    vals, tg = torsh.value_and_grad(loss)(model, x)
    assert_close(tg[2].bias, g[2].bias)


def test_logical_axes_defaults_and_overrides():
    model = nn.Sequential(
        nn.Embedding(10, 4),
        nn.Linear(4, 16, axes=("mlp", "embed")),
        nn.LayerNorm(16, axes=("mlp",)),
        nn.Linear(16, 4),
        nn.BatchNorm1d(4),
    )
    axes = nn.logical_axes(model)
    assert axes["0.weight"] == ("vocab", "embed")
    assert axes["1.weight"] == ("mlp", "embed") and axes["1.bias"] == ("mlp",)
    assert axes["2.weight"] == ("mlp",) and axes["2.bias"] == ("mlp",)
    assert axes["3.weight"] == ("out", "in")
    assert axes["4.running_mean"] == ("channels",) and axes["4.num_batches_tracked"] == ()
    assert list(axes) == list(model.state_dict())
    renamed = model.with_axes({"3.weight": ("embed", "mlp"), "3.bias": ("embed",)})
    assert nn.logical_axes(renamed)["3.weight"] == ("embed", "mlp")
    assert nn.logical_axes(renamed.eval().to("bfloat16"))["3.weight"] == ("embed", "mlp")  # survives copies
    out = jax.jit(lambda m: m)(renamed)  # static metadata survives jit
    assert nn.logical_axes(out)["3.weight"] == ("embed", "mlp")
    with pytest.raises(ShapeError, match="2 axes"):
        model.with_axes({"3.weight": ("embed",)})
    with pytest.raises(ConfigError, match="neither a field"):
        model.with_axes({"9.weight": ("a", "b")})
    with pytest.raises(ConfigError, match="repeat"):
        nn.Linear(2, 2, axes=("a", "a"))


def test_struct_style_module_and_plain_list_fields():
    class Scale(nn.Module):
        w: jax.Array
        blocks: list
        label: str = nn.static("s")

        def __call__(self, x):
            if x.shape[-1] != self.w.shape[0]:
                raise ShapeError(f"expected [..., {self.w.shape[0]}], got {list(x.shape)}")
            for b in self.blocks:
                x = b(x)
            return x * self.w

    m = Scale(
        jnp.ones(2), [nn.Linear(2, 2, key=torsh.random.key(0)), nn.Linear(2, 2, key=torsh.random.key(1))]
    )
    assert [n for n, _ in m.named_parameters()] == [
        "w",
        "blocks.0.weight",
        "blocks.0.bias",
        "blocks.1.weight",
        "blocks.1.bias",
    ]
    assert m.training and m.label == "s"
    message = r'^blocks.1 \(Linear 3->2\): dim "in" is 2 in input \[2\], expected 3 \(in_features\)'
    with pytest.raises(ShapeError, match=message):
        m.replace(blocks=[m.blocks[0], nn.Linear(3, 2, key=torsh.random.key(2))])(jnp.ones(2))
    with pytest.raises(ShapeError, match=r"^Scale: expected \[..., 2\]"):
        m(jnp.ones(3))


def test_containers_behave_like_torch():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    seq2 = seq.append(nn.Linear(3, 1))
    assert len(seq) == 2 and len(seq2) == 3 and isinstance(seq2[-1], nn.Linear)
    assert isinstance(seq2[1:], nn.Sequential) and len(seq2[1:]) == 2
    ml = nn.ModuleList([nn.Linear(1, 1)]).append(nn.Linear(1, 2)).insert(0, nn.Identity())
    assert [type(m).__name__ for m in ml] == ["Identity", "Linear", "Linear"]
    md = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.Linear(1, 2)})
    assert (
        list(md.keys()) == ["b", "a"] and list(md.state_dict())[0] == "b.weight"
    )  # insertion order, as torch
    assert "a" in md and md["a"].out_features == 2
    with pytest.raises(ConfigError, match="nn.Lambda"):
        nn.Sequential(jnp.tanh)
    assert np.allclose(nn.Sequential(nn.Lambda(jnp.tanh))(jnp.ones(2)), np.tanh(1.0))
    with pytest.raises(ConfigError, match="not callable"):
        ml(1)


def test_module_list_under_jit_and_vmap():
    ml = nn.ModuleList([nn.Linear(2, 2, key=torsh.random.key(i)) for i in range(3)])
    f = jax.jit(jax.vmap(lambda m, x: sum(layer(x) for layer in m), in_axes=(None, 0)))
    assert f(ml, jnp.ones((5, 2))).shape == (5, 2)


def test_stateful_returns_same_module_when_nothing_updates():
    model = nn.Sequential(nn.Linear(2, 2))
    out, new = nn.stateful(model)(jnp.ones((1, 2)))
    assert new is model and out.shape == (1, 2)
