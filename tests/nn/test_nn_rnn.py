"""RNN/LSTM/GRU and their cells against PyTorch (weights copied by state-dict key, no renaming)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import assert_close, torch_state
from hypothesis import given, settings
from hypothesis import strategies as st
from test_nn_attention import compare_with_torch, fast_jit

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F
from torsh.nn.rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell

# torch's notice that oneDNN has no projected LSTM
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

_KINDS = {
    "rnn_tanh": (RNN, torch.nn.RNN, {}),
    "rnn_relu": (RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, torch.nn.LSTM, {}),
    "lstm_proj": (LSTM, torch.nn.LSTM, {"proj_size": 2}),
    "gru": (GRU, torch.nn.GRU, {}),
}


@settings(max_examples=examples(8))
@given(
    kind=st.sampled_from(sorted(_KINDS)),
    input_size=st.integers(1, 4),
    hidden=st.integers(3, 5),
    num_layers=st.integers(1, 2),
    bidirectional=st.booleans(),
    batch_first=st.booleans(),
    batched=st.booleans(),
    bias=st.booleans(),
    with_state=st.booleans(),
    n=st.integers(1, 3),
    length=st.integers(1, 5),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_recurrent_layers_match_torch(
    kind,
    input_size,
    hidden,
    num_layers,
    bidirectional,
    batch_first,
    batched,
    bias,
    with_state,
    n,
    length,
    train,
    seed,
):
    j_cls, t_cls, extra = _KINDS[kind]
    opts = dict(
        num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, bias=bias, **extra
    )
    torch.manual_seed(seed)
    t_mod = t_cls(input_size, hidden, **opts)
    j_mod = j_cls(input_size, hidden, **opts, key=torsh.random.key(seed))
    rng = np.random.default_rng(seed)
    shape = ((n, length) if batch_first else (length, n)) if batched else (length,)
    inputs = {"x": rng.standard_normal((*shape, input_size)).astype(np.float32)}
    layers = num_layers * (2 if bidirectional else 1)
    state_shape = (layers, n) if batched else (layers,)
    is_lstm = kind.startswith("lstm")
    if with_state:
        inputs["h0"] = rng.standard_normal((*state_shape, extra.get("proj_size") or hidden)).astype(
            np.float32
        )
        if is_lstm:
            inputs["c0"] = rng.standard_normal((*state_shape, hidden)).astype(np.float32)

    def call(m, t):
        if not with_state:
            return m(t["x"])
        return m(t["x"], (t["h0"], t["c0"]) if is_lstm else t["h0"])

    compare_with_torch(t_mod, j_mod, inputs, call, call, train=train, seed=seed)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cells_match_torch(kind):
    j_cls, t_cls = {
        "rnn": (RNNCell, torch.nn.RNNCell),
        "lstm": (LSTMCell, torch.nn.LSTMCell),
        "gru": (GRUCell, torch.nn.GRUCell),
    }[kind]
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    t_mod, j_mod = t_cls(3, 4), j_cls(3, 4, key=torsh.random.key(0))
    inputs = {
        "x": rng.standard_normal((2, 3)).astype(np.float32),
        "h": rng.standard_normal((2, 4)).astype(np.float32),
    }
    if kind == "lstm":
        inputs["c"] = rng.standard_normal((2, 4)).astype(np.float32)

    def call(m, t):
        return m(t["x"], (t["h"], t["c"]) if kind == "lstm" else t["h"])

    compare_with_torch(t_mod, j_mod, inputs, call, call)
    # Unbatched input and the default zero state.
    x1 = inputs["x"][0]
    out_t, out_j = t_mod(torch.tensor(x1)), j_mod.load_state_dict(torch_state(t_mod))(jnp.asarray(x1))
    for a, b in zip(
        out_t if kind == "lstm" else (out_t,), out_j if kind == "lstm" else (out_j,), strict=True
    ):
        assert_close(b, a.detach().numpy())


def test_rnn_relu_cell_and_no_bias_cell_match_torch():
    torch.manual_seed(3)
    t_mod = torch.nn.RNNCell(3, 4, bias=False, nonlinearity="relu")
    j_mod = RNNCell(3, 4, bias=False, nonlinearity="relu", key=torsh.random.key(0))
    x = {"x": np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)}
    compare_with_torch(t_mod, j_mod, x, lambda m, t: m(t["x"]), lambda m, t: m(t["x"]))


def test_parameter_names_order_and_init_match_torch(key):
    lstm = LSTM(6, 16, num_layers=2, bidirectional=True, proj_size=4, key=key)
    t = torch.nn.LSTM(6, 16, num_layers=2, bidirectional=True, proj_size=4)
    assert [n for n, _ in lstm.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert {k: tuple(v.shape) for k, v in lstm.state_dict().items()} == {
        k: tuple(v.shape) for k, v in t.state_dict().items()
    }
    bound = 1 / math.sqrt(16)
    big = GRU(32, 64, key=key)
    w = np.asarray(big.weight_hh_l0)
    assert np.abs(w).max() <= 1 / 8 and abs(w.std() - (1 / 8) / math.sqrt(3)) < 0.005
    assert all(np.abs(np.asarray(p)).max() <= bound for p in lstm.parameters())
    assert repr(lstm) == repr(t)
    assert isinstance(lstm, LSTM) and type(lstm).__name__ == "LSTM"
    assert nn.logical_axes(lstm)["weight_ih_l1_reverse"] == ("gates", "in")
    assert nn.logical_axes(lstm)["weight_hr_l0"] == ("proj", "hidden")


def test_per_parameter_freeze_replace_and_reconstruction(key):
    lstm = LSTM(3, 4, num_layers=2, key=key)
    frozen = lstm.freeze("weight_ih_l0")
    assert frozen.num_parameters(trainable_only=True) == lstm.num_parameters() - 16 * 3
    g = fast_jit(torsh.grad(lambda m: m(jnp.ones((2, 1, 3)))[0].sum()))(frozen)
    assert g.weight_ih_l0 is None and g.weight_hh_l0 is not None
    new = lstm.replace(weight_hh_l1=jnp.zeros((16, 4)))
    assert not np.any(np.asarray(new.weight_hh_l1)) and type(new) is type(lstm)
    other = type(lstm)(3, 4, num_layers=3, key=key)  # type(m)(...) with another configuration
    assert isinstance(other, LSTM) and "weight_ih_l2" in other.state_dict()
    assert type(LSTM(3, 4, num_layers=2, key=key)) is type(lstm)  # one class per configuration
    with pytest.raises(ConfigError, match="abstract"):
        RNNBase(3, 4)


def test_dropout_between_layers_uses_the_layer_key(key):
    lstm = LSTM(3, 5, num_layers=2, dropout=0.4, key=key)
    x = jax.random.normal(key, (6, 2, 3))
    k = jax.random.key(7)
    run = fast_jit(lambda m, x, k: m(x, key=k))
    out, (h, c) = run(lstm, x, k)
    # The same computation by hand: layer 0, dropout with fold_in(key, 1), layer 1.
    l0 = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    first = LSTM(3, 5, key=key).replace(**{n: getattr(lstm, n) for n in l0})
    second = LSTM(5, 5, key=key).replace(**{n: getattr(lstm, n.replace("l0", "l1")) for n in l0})
    y0, (h0, _) = run(first, x, None)
    dropped = F.dropout(y0, 0.4, True, key=jax.random.fold_in(k, 1))
    assert 0.25 < float((dropped == 0).mean()) < 0.55
    y1, (h1, _) = run(second, dropped, None)
    assert_close(out, y1)
    assert_close(h, jnp.concatenate([h0, h1]))
    # eval: no dropout, no key; training without a key: a clear error.
    y_eval, _ = run(lstm.eval(), x, None)
    assert_close(y_eval, run(second, y0, None)[0])
    with pytest.raises(ConfigError, match="PRNG key"):
        lstm(x)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        GRU(3, 4, dropout=0.5, key=key)


def test_jit_scan_and_grad(key):
    gru = GRU(4, 8, num_layers=2, bidirectional=True, batch_first=True, key=key)
    x = jax.random.normal(key, (3, 50, 4))

    def loss(m, x):
        out, h = m(x)
        return (out**2).mean() + (h**2).mean()

    g = fast_jit(jax.grad(loss))(gru, x)
    assert g.weight_hh_l1_reverse.shape == (24, 8)
    assert "while" in jax.jit(loss).lower(gru, x).as_text()  # a loop (scan), not 50 unrolled steps


def test_gradient_matches_finite_differences(x64):
    gru = GRU(2, 3, bidirectional=True, key=torsh.random.key(0), dtype="float64")
    x = jax.random.normal(jax.random.key(1), (4, 1, 2), jnp.float64)

    def f(m, x):
        out, h = m(x)
        return jnp.sum(jnp.sin(out)) + jnp.sum(h**2)

    g_model, g_x = fast_jit(jax.grad(f, argnums=(0, 1)))(gru, x)
    f = fast_jit(f)
    eps = 1e-6
    for i, name in enumerate(["weight_hh_l0_reverse", "bias_hh_l0", "weight_ih_l0"]):
        w = getattr(gru, name)
        d = jax.random.normal(jax.random.key(10 + i), w.shape, jnp.float64)
        numeric = (f(gru.replace(**{name: w + eps * d}), x) - f(gru.replace(**{name: w - eps * d}), x)) / (
            2 * eps
        )
        np.testing.assert_allclose(jnp.vdot(getattr(g_model, name), d), numeric, rtol=1e-7, err_msg=name)
    d = jax.random.normal(jax.random.key(20), x.shape, jnp.float64)
    numeric = (f(gru, x + eps * d) - f(gru, x - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g_x, d), numeric, rtol=1e-7, err_msg="input")


def test_bfloat16_forward_close_to_float32(key):
    lstm = LSTM(4, 8, num_layers=2, key=key)
    x = jax.random.normal(key, (10, 2, 4))
    run = fast_jit(lambda m, x: m(x))
    ref, (h, c) = run(lstm, x)
    low, (hl, cl) = run(lstm.to(jnp.bfloat16), x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16 and cl.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low, np.float32), ref, atol=0.03)
    np.testing.assert_allclose(np.asarray(cl, np.float32), c, atol=0.05)


def test_shape_and_dtype_errors_name_the_module(key):
    class Tagger(nn.Module):  # a GRU two levels down, called under jit
        body: nn.ModuleList

        def __init__(self):
            self.body = nn.ModuleList([GRU(4, 8, batch_first=True, key=key)])

        def forward(self, x, h=None):
            return self.body[0](x, h)[0]

    tagger = Tagger()
    with pytest.raises(
        ShapeError,
        match=r'^body\.0 \(GRU 4->8 layers=1\): dim "in" is 3 in input \[2, 5, 3\], expected 4 \(input_size',
    ) as e:
        jax.jit(lambda m, x: m(x))(tagger, jnp.ones((2, 5, 3)))
    assert e.value.module_path == "body.0"
    with pytest.raises(ShapeError, match=r"expected hx \[1, 2, 8\].*got \[2, 8\]"):
        tagger(jnp.ones((2, 5, 4)), jnp.ones((2, 8)))
    with pytest.raises(DTypeError, match="float32"):
        tagger(jnp.ones((2, 5, 4), jnp.bfloat16))
    lstm = LSTM(4, 8, key=key)
    with pytest.raises(ShapeError, match=r"expected c_0 \[1, 5, 8\]"):
        lstm(jnp.ones((3, 5, 4)), (jnp.zeros((1, 5, 8)), jnp.zeros((1, 5, 7))))
    with pytest.raises(ConfigError, match="tuple"):
        lstm(jnp.ones((3, 5, 4)), jnp.zeros((1, 5, 8)))
    with pytest.raises(ShapeError, match=r"expected input \[batch, 3\]"):
        LSTMCell(3, 4, key=key)(jnp.ones((2, 5)))


def test_config_errors(key):
    with pytest.raises(ConfigError, match="proj_size"):
        LSTM(3, 4, proj_size=4, key=key)
    with pytest.raises(ConfigError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid", key=key)
    with pytest.raises(ConfigError, match="num_layers"):
        GRU(3, 4, num_layers=0, key=key)
    with pytest.raises(ConfigError, match="dropout"):
        GRU(3, 4, num_layers=2, dropout=2.0, key=key)
    with pytest.raises(ConfigError, match="bidirectional"):
        GRU(3, 4, bidirectional=1, key=key)


def test_forward_mode_autodiff_needs_the_plain_scan(key):
    gru = GRU(2, 3, bidirectional=True, key=key)
    x, t = jax.random.normal(key, (4, 2)), jax.random.normal(jax.random.key(1), (4, 2))

    def f(m, x):
        return (m(x)[0] ** 2).sum()

    g = fast_jit(jax.grad(f, argnums=1))(gru, x)  # reverse mode through the hand-written backward pass
    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(lambda x: f(gru, x), (x,), (t,))
    plain = gru.replace(fused_backward=False)  # a setting of the layer, not of the process
    _, directional = fast_jit(lambda m, x, t: jax.jvp(lambda x: f(m, x), (x,), (t,)))(plain, x, t)
    np.testing.assert_allclose(directional, jnp.vdot(g, t), rtol=1e-5)
