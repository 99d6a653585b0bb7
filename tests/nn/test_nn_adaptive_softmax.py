"""AdaptiveLogSoftmaxWithLoss against torch.nn's with copied weights: state-dict keys, (output, loss),
gradients of every parameter and the input, log_prob, predict, and torch's errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import IndexOutOfRangeError

CONFIGS = [  # (in_features, n_classes, cutoffs, div_value, head_bias)
    (8, 10, [3], 4.0, False),
    (12, 20, [4, 9, 15], 2.0, True),
]


def _pair(config, seed: int, dtype=torch.float32):
    in_features, n_classes, cutoffs, div, bias = config
    torch.manual_seed(seed)
    t = torch.nn.AdaptiveLogSoftmaxWithLoss(
        in_features, n_classes, cutoffs, div_value=div, head_bias=bias
    ).to(dtype)
    with torch.no_grad():  # a sharper head: some rows predict a cluster, so predict's both branches run
        t.head.weight.mul_(4.0)
    m = nn.AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=div, head_bias=bias, key=0)
    assert list(m.state_dict()) == list(t.state_dict())
    state = {k: v.detach().numpy() for k, v in t.state_dict().items()}
    return t, m.load_state_dict(state) if dtype == torch.float32 else m.to(jnp.float64).load_state_dict(state)


@functools.cache
def _compiled():
    def run(m, x, y):
        def loss(m, x):
            out = m(x, y)
            return out.loss, out.output

        (loss_value, output), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(m, x)
        return output, loss_value, grads, m.log_prob(x), m.predict(x)

    return jax.jit(run)


def _check(config, seed, dtype, rtol):
    t, m = _pair(config, seed, dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((9, config[0])).astype(np.float32 if dtype == torch.float32 else np.float64)
    y = rng.integers(0, config[1], 9)
    y[:3] = [0, config[2][0], config[1] - 1]  # the first class, a cluster's first class, the last class
    tx = torch.tensor(x, requires_grad=True)
    t_out = t(tx, torch.tensor(y))
    t_out.loss.backward()
    output, loss, (g_model, g_x), log_prob, predict = _compiled()(
        m, jnp.asarray(x), jnp.asarray(y, jnp.int32)
    )
    assert_close(output, t_out.output.detach().numpy(), rtol=rtol, what="output")
    assert_close(loss, t_out.loss.item(), rtol=rtol, what="loss")
    assert_close(g_x, tx.grad.numpy(), rtol=rtol, what="input gradient")
    grads = dict(g_model.named_parameters())
    for name, p in t.named_parameters():
        # a cluster no target falls in: torch never runs it (grad None), here its gradient is zero
        expected = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        assert_close(grads[name], expected, rtol=rtol, what=f"gradient of {name}")
    assert_close(log_prob, t.log_prob(torch.tensor(x)).detach().numpy(), rtol=rtol, what="log_prob")
    np.testing.assert_array_equal(np.asarray(predict), t.predict(torch.tensor(x)).numpy())


@pytest.mark.parametrize("config", CONFIGS, ids=["one-cluster", "three-clusters"])
@settings(max_examples=examples(4))
@given(seed=st.integers(0, 2**16))
def test_equals_torch_float32(config, seed):
    _check(config, seed, torch.float32, 1e-5)


def test_equals_torch_float64(x64):
    _check(CONFIGS[1], 3, torch.float64, 1e-10)


def test_unbatched_and_named_output():
    t, m = _pair(CONFIGS[0], 0)
    x = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    t_out = t(torch.tensor(x), torch.tensor(7))
    out = m(jnp.asarray(x), jnp.asarray(7))
    assert out.output.shape == () and out._fields == ("output", "loss")
    assert_close(out.output, t_out.output.item())
    assert_close(out.loss, t_out.loss.item())


def test_errors():
    with pytest.raises(ConfigError, match="length larger than 0"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [])
    for bad in ([5, 3], [0, 4], [4, 10], [3, 3], [2.5]):
        with pytest.raises(ConfigError, match="unique, positive integers sorted"):
            nn.AdaptiveLogSoftmaxWithLoss(8, 10, bad)
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4], key=0)
    x = jnp.ones((3, 8))
    with pytest.raises(IndexOutOfRangeError, match="target 10 is out of range"):
        m(x, jnp.array([0, 10, 1]))
    with pytest.raises(IndexOutOfRangeError, match="target -1"):
        m(x, jnp.array([0, -1, 1]))
    with pytest.raises(ShapeError, match="same size in the batch dimension"):
        m(x, jnp.array([0, 1]))
    with pytest.raises(ShapeError, match="1D target tensor expects 2D input"):
        m(jnp.ones(8), jnp.array([0]))
    with pytest.raises(ShapeError, match="0D target tensor expects 1D input"):
        m(x, jnp.array(0))
    with pytest.raises(ShapeError, match="multi-target not supported"):
        m(x, jnp.zeros((3, 2), jnp.int32))
    with pytest.raises(ShapeError, match="in_features=8"):
        m(jnp.ones((3, 7)), jnp.array([0, 1, 2]))
    with pytest.raises(DTypeError, match="integer class indices"):
        m(x, jnp.zeros(3))
    with pytest.raises(ShapeError, match=r"log_prob: expected input \(N, in_features\)"):
        m.log_prob(jnp.ones(8))
