"""Per-layer run settings of RNN layers (``unroll``, ``fused_backward``) and the functional cells.

The settings are static fields of each layer: one compiled function given two layers with different
settings runs each as configured (and equals PyTorch), and the former process-wide class switches
raise an error saying what to write instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _nn_reference import assert_close, torch_state
from test_nn_attention import fast_jit

import torsh
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F
from torsh.nn.rnn import GRU, LSTM, RNN, RNNBase


def _loss(m, x, cot):
    out, _ = m(x)
    return (out * cot).sum()


def test_two_layers_with_different_settings_in_one_compiled_function():
    torch.manual_seed(0)
    t_mod = torch.nn.LSTM(3, 5, num_layers=2)
    rng = np.random.default_rng(0)
    x, cot = rng.standard_normal((6, 2, 3), np.float32), rng.standard_normal((6, 2, 5), np.float32)
    xt = torch.tensor(x, requires_grad=True)
    (t_mod(xt)[0] * torch.tensor(cot)).sum().backward()

    fused = LSTM(3, 5, num_layers=2, key=torsh.random.key(0)).load_state_dict(torch_state(t_mod))
    plain = LSTM(3, 5, num_layers=2, unroll=2, fused_backward=False, key=torsh.random.key(0))
    plain = plain.load_state_dict(torch_state(t_mod))
    assert (fused.unroll, fused.fused_backward) == (1, True)  # the documented defaults
    assert (plain.unroll, plain.fused_backward) == (2, False)

    step = fast_jit(torsh.value_and_grad(_loss, argnums=(0, 1)))
    # Interleaved calls of ONE jitted function: each layer is traced with its own settings.
    for m in (fused, plain, fused):
        _, (g_mod, g_x) = step(m, jnp.asarray(x), jnp.asarray(cot))
        assert_close(g_x, xt.grad.numpy(), what="grad of input")
        for name, p in t_mod.named_parameters():
            assert_close(getattr(g_mod, name), p.grad.numpy(), what=name)

    # The settings reach the program: the custom backward pass only in the fused layer's program,
    # forward-mode autodiff only through the plain one (no global was flipped in between).
    assert "custom_vjp" in str(jax.make_jaxpr(lambda m: _loss(m, x, cot))(fused))
    assert "custom_vjp" not in str(jax.make_jaxpr(lambda m: _loss(m, x, cot))(plain))
    tangent = jnp.ones_like(jnp.asarray(x))
    jvp = fast_jit(lambda m, x: jax.jvp(lambda x: _loss(m, x, cot), (x,), (tangent,))[1])
    assert_close(jvp(plain, jnp.asarray(x)), (xt.grad.numpy() * np.ones_like(x)).sum(), rtol=1e-4)
    with pytest.raises(TypeError, match="custom_vjp"):
        jvp(fused, jnp.asarray(x))
    # replace() derives a copy with another setting; the original is unchanged.
    assert fused.replace(fused_backward=False).fused_backward is False and fused.fused_backward is True


@pytest.mark.parametrize("owner", [RNNBase, LSTM, GRU, "concrete"])
@pytest.mark.parametrize("name", ["unroll", "fused_backward"])
def test_class_wide_switches_are_gone(owner, name):
    cls = type(GRU(2, 3, key=torsh.random.key(0))) if owner == "concrete" else owner
    before = cls.__dict__.get(name)
    with pytest.raises(ConfigError, match=rf"no longer a class-wide switch.*{name}=") as e:
        setattr(cls, name, 2 if name == "unroll" else False)
    assert "replace(" in str(e.value)
    assert cls.__dict__.get(name) == before
    assert GRU(2, 3, key=torsh.random.key(0)).unroll == 1


def test_settings_are_validated_and_shown_in_repr():
    key = torsh.random.key(0)
    with pytest.raises(ConfigError, match="unroll must be a positive int"):
        GRU(2, 3, unroll=0, key=key)
    with pytest.raises(ConfigError, match="fused_backward should be a bool"):
        RNN(2, 3, fused_backward="yes", key=key)
    assert repr(LSTM(2, 3, unroll=4, fused_backward=False, key=key)) == (
        "LSTM(2, 3, unroll=4, fused_backward=False)"
    )
    assert repr(LSTM(2, 3, key=key)) == repr(torch.nn.LSTM(2, 3))


@pytest.mark.parametrize("name", ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"])
@pytest.mark.parametrize("batched", [True, False])
def test_functional_cells_match_torch(name, batched):
    gates = {"lstm_cell": 4, "gru_cell": 3}.get(name, 1)
    rng = np.random.default_rng(1)
    shape = (2,) if batched else ()
    a = {
        "x": rng.standard_normal((*shape, 3)),
        "h": rng.standard_normal((*shape, 4)),
        "c": rng.standard_normal((*shape, 4)),
        "w_ih": rng.standard_normal((gates * 4, 3)),
        "w_hh": rng.standard_normal((gates * 4, 4)),
        "b_ih": rng.standard_normal(gates * 4),
        "b_hh": rng.standard_normal(gates * 4),
    }
    a = {k: v.astype(np.float32) for k, v in a.items()}
    t = {k: torch.tensor(v) for k, v in a.items()}
    if not batched:  # torch's functional cells take batches only: compare against a batch of one
        t = {k: v[None] if k in "xhc" else v for k, v in t.items()}
    hx_t, hx = ((t["h"], t["c"]), (a["h"], a["c"])) if name == "lstm_cell" else (t["h"], a["h"])
    want = getattr(torch, name)(t["x"], hx_t, t["w_ih"], t["w_hh"], t["b_ih"], t["b_hh"])
    got = getattr(F, name)(a["x"], hx, a["w_ih"], a["w_hh"], a["b_ih"], a["b_hh"])
    want, got = (want, got) if name == "lstm_cell" else ((want,), (got,))
    for g, w in zip(got, want, strict=True):
        assert_close(g, w.numpy() if batched else w.numpy()[0])


def test_functional_cell_errors():
    x, h = jnp.ones((2, 3)), jnp.zeros((2, 4))
    with pytest.raises(ShapeError, match=r"gru_cell: expected w_hh \[12, 4\], got \[12, 5\]"):
        F.gru_cell(x, h, jnp.zeros((12, 3)), jnp.zeros((12, 5)))
    with pytest.raises(ShapeError, match=r"expected hx\[0\] \[2, 4\], got \[3, 4\]"):
        F.rnn_tanh_cell(x, jnp.zeros((3, 4)), jnp.zeros((4, 3)), jnp.zeros((4, 4)))
    with pytest.raises(ShapeError, match=r"expected input \[batch, 3\]"):
        F.lstm_cell(jnp.ones((2, 5)), (h, h), jnp.zeros((16, 3)), jnp.zeros((16, 4)))
    with pytest.raises(ShapeError, match="pair"):
        F.lstm_cell(x, h, jnp.zeros((16, 3)), jnp.zeros((16, 4)))
    with pytest.raises(ShapeError, match=r"expected b_ih \[4\]"):
        F.rnn_relu_cell(x, h, jnp.zeros((4, 3)), jnp.zeros((4, 4)), jnp.zeros(5))
    with pytest.raises(DTypeError, match="hx of dtype float32"):
        F.rnn_tanh_cell(x, h.astype(jnp.bfloat16), jnp.zeros((4, 3)), jnp.zeros((4, 4)))
