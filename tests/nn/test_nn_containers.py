"""ParameterList / ParameterDict against torch.nn's: state-dict keys and order inside a module, loading
torch's state dict, gradients through ``torsh.grad``, and the immutable list/dict operations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _nn_reference import assert_close
from hypothesis import given
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError
from torsh.nn import IndexOutOfRangeError, MissingKeyError

SHAPES = st.lists(st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple), min_size=0, max_size=4)
NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True), min_size=0, max_size=4, unique=True)


class _TorchNet(torch.nn.Module):
    def __init__(self, shapes, names):
        super().__init__()
        self.proj = torch.nn.Linear(2, 2)
        self.scales = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(s)) for s in shapes])
        self.heads = torch.nn.ParameterDict({n: torch.nn.Parameter(torch.randn(2)) for n in names})


class _Net(nn.Module):
    def __init__(self, shapes, names):
        self.proj = nn.Linear(2, 2, key=0)
        self.scales = nn.ParameterList([jnp.zeros(s) for s in shapes])
        self.heads = nn.ParameterDict({n: jnp.zeros(2) for n in names})

    def forward(self, x):
        y = self.proj(x)
        for w in self.scales:
            y = y * jnp.sum(w)
        for name in self.heads:
            y = y + self.heads[name]
        return y


@given(shapes=SHAPES, names=NAMES)
def test_state_dict_keys_and_loading_equal_torch(shapes, names):
    t = _TorchNet(shapes, names)
    m = _Net(shapes, names)
    assert list(m.state_dict()) == list(t.state_dict())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]
    loaded = m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    for i, w in enumerate(t.scales):
        np.testing.assert_array_equal(np.asarray(loaded.scales[i]), w.detach().numpy())
    for k, w in t.heads.items():
        np.testing.assert_array_equal(np.asarray(loaded.heads[k]), w.detach().numpy())


def test_gradients_equal_torch():
    torch.manual_seed(0)
    shapes, names = [(2,), (3,)], ["b", "a"]
    t = _TorchNet(shapes, names)
    m = _Net(shapes, names).load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.array([[0.5, -1.0], [2.0, 0.25]], np.float32)

    def t_forward(x):
        y = t.proj(x)
        for w in t.scales:
            y = y * w.sum()
        for name in t.heads:
            y = y + t.heads[name]
        return y

    t_forward(torch.tensor(x)).square().sum().backward()
    grads = jax.jit(torsh.grad(lambda m, x: jnp.sum(m(x) ** 2)))(m, jnp.asarray(x))
    for i, w in enumerate(t.scales):
        assert_close(grads.scales[i], w.grad.numpy())
    for k, w in t.heads.items():
        assert_close(grads.heads[k], w.grad.numpy())
    assert_close(grads.proj.weight, t.proj.weight.grad.numpy())


def test_parameter_list_operations():
    a, b, c = jnp.ones(1), jnp.ones(2), jnp.ones(3)
    params = nn.ParameterList([a, nn.Parameter(b)])
    longer = params.append(c)
    assert len(params) == 2 and len(longer) == 3  # immutable: append returns a new list
    assert [p.shape for p in longer] == [(1,), (2,), (3,)]
    assert longer[-1] is c and longer[0] is a
    assert isinstance(longer[1:], nn.ParameterList) and list(longer[1:].state_dict()) == ["0", "1"]
    assert list(params.extend([c, c]).state_dict()) == ["0", "1", "2", "3"]
    assert len(nn.ParameterList()) == 0 and repr(nn.ParameterList()) == "ParameterList()"
    assert "(1): Parameter containing: [float32 of size [2]]" in repr(params)
    with pytest.raises(IndexOutOfRangeError, match="index 2 is out of range"):
        params[2]
    with pytest.raises(ConfigError, match="entry 2 must be an array"):
        params.append(3.0)
    with pytest.raises(ConfigError, match="is an nn.Module"):
        nn.ParameterList([nn.ReLU()])
    with pytest.raises(ConfigError, match="torch tensor"):
        nn.ParameterList([torch.ones(2)])
    with pytest.raises(ConfigError, match="not callable"):
        params(jnp.ones(1))


def test_parameter_dict_operations():
    params = nn.ParameterDict([("w", jnp.ones(2)), ("b", jnp.zeros(2))])  # pairs keep their order
    assert list(nn.ParameterDict({"w": jnp.ones(2), "b": jnp.zeros(2)})) == [
        "b",
        "w",
    ]  # a dict: sorted, as torch
    assert list(params) == list(params.keys()) == ["w", "b"] and len(params) == 2
    assert "w" in params and "x" not in params and params.get("x") is None
    updated = params.update({"w": jnp.zeros(2), "s": jnp.ones(1), "c": jnp.ones(1)})
    assert list(updated.keys()) == ["w", "b", "c", "s"] and list(params.keys()) == ["w", "b"]
    assert float(updated["w"].sum()) == 0.0 and float(params["w"].sum()) == 2.0
    assert [k for k, _ in updated.items()] == ["w", "b", "c", "s"] and len(list(updated.values())) == 4
    t = torch.nn.ParameterDict([("w", torch.ones(2)), ("b", torch.zeros(2))])
    t.update({"w": torch.zeros(2), "s": torch.ones(1), "c": torch.ones(1)})
    assert list(t.keys()) == list(updated.keys())
    with pytest.raises(MissingKeyError, match="no entry 'x'; keys are \\['w', 'b'\\]"):
        params["x"]
    with pytest.raises(ConfigError, match="without '.'"):
        nn.ParameterDict({"a.b": jnp.ones(1)})
    with pytest.raises(ConfigError, match="must be an array"):
        params.update({"n": "weights"})
