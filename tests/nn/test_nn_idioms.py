"""The idioms the guides teach: the plain SGD update, keys in eval mode, weight tying, xavier init."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
import torsh.nn.functional as F
from torsh import nn
from torsh.errors import ConfigError


class WithBuffers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)  # running stats + an int64/int32 num_batches_tracked
        self.head = nn.Linear(4, 2)
        self.register_buffer("scale", jnp.full((2,), 2.0))

    def forward(self, x):
        return self.head(jax.nn.relu(self.bn(self.fc(x)))) * self.scale


def test_tree_map_sgd_update_works_with_buffers_and_frozen_parameters():
    model = WithBuffers().freeze("head.bias")
    x = jnp.asarray(np.random.default_rng(0).standard_normal((5, 3)), jnp.float32)

    def loss_fn(m):
        out, m = nn.stateful(m)(x)
        return (out**2).mean(), m

    (_, updated), grads = torsh.value_and_grad(loss_fn, has_aux=True)(model)
    # torsh.grad: None for buffers, integer leaves and frozen parameters
    assert grads.bn.running_mean is None and grads.bn.num_batches_tracked is None
    assert grads.scale is None and grads.head.bias is None and grads.fc.weight is not None

    lr = 0.1
    new = torsh.tree.map(lambda p, g: p - lr * g, updated, grads)  # the README's update step
    for name, value in new.state_dict().items():
        g = grads.state_dict().get(name)
        want = updated.state_dict()[name] if g is None else updated.state_dict()[name] - lr * g
        np.testing.assert_allclose(np.asarray(value), np.asarray(want), rtol=1e-6)
    assert jax.jit(lambda m, g: torsh.tree.map(lambda p, g: p - lr * g, m, g))(updated, grads).bn.training


def test_split_key_gives_nones_when_tracing_with_no_key():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.drop1 = nn.Dropout(0.5)
            self.drop2 = nn.Dropout(0.5)

        def forward(self, x, key=None):
            k1, k2 = nn.split_key(key, 2)
            return self.drop2(self.fc(self.drop1(x, key=k1)), key=k2)

    model = Net().eval()
    x = jnp.ones((2, 4))
    out = jax.jit(lambda m, x: m(x))(model, x)  # raised TraceError before
    np.testing.assert_allclose(np.asarray(out), np.asarray(model.fc(x)), rtol=1e-6)
    assert bool(jax.jit(lambda: nn.split_key(None, 3) == [None] * 3)())
    with_key = jax.jit(lambda m, x, k: m(x, key=k))(model.train(), x, torsh.random.key(0))
    assert with_key.shape == (2, 4)
    assert len(nn.split_key(None, 2)) == 2 and nn.split_key(torsh.random.key(0), np.int64(3))[2] is not None
    with pytest.raises(ConfigError, match="non-negative int"):
        nn.split_key(torsh.random.key(0), -1)


class TiedLM(nn.Module):
    """Weight tying: one array (encoder.weight) used twice; the decoder has none of its own."""

    def __init__(self, vocab, dim):
        super().__init__()
        self.encoder = nn.Embedding(vocab, dim)
        self.decoder = nn.Linear(dim, vocab).replace(weight=None)

    @property
    def tied_decoder(self):  # a property works as well as building it inline in forward
        return self.decoder.replace(weight=self.encoder.weight)

    def forward(self, tokens):
        return self.tied_decoder(jnp.tanh(self.encoder(tokens)))


def test_weight_tying_keeps_one_array_and_sums_its_gradients():
    vocab, dim = 7, 3
    model = TiedLM(vocab, dim)
    assert list(model.state_dict()) == ["encoder.weight", "decoder.bias"]

    enc = torch.nn.Embedding(vocab, dim)
    dec = torch.nn.Linear(dim, vocab)
    dec.weight = enc.weight  # PyTorch's tying
    with torch.no_grad():
        enc.weight.copy_(torch.from_numpy(np.array(model.encoder.weight)))
        dec.bias.copy_(torch.from_numpy(np.array(model.decoder.bias)))
    tokens = np.array([[1, 5, 6], [0, 2, 2]])
    target = np.array([3, 4, 0, 1, 6, 2])
    logits = dec(torch.tanh(enc(torch.from_numpy(tokens))))
    torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), torch.from_numpy(target)).backward()

    grads = torsh.grad(
        lambda m: F.cross_entropy(m(jnp.asarray(tokens)).reshape(-1, vocab), jnp.asarray(target))
    )(model)
    np.testing.assert_allclose(
        np.asarray(grads.encoder.weight), enc.weight.grad.numpy(), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(np.asarray(grads.decoder.bias), dec.bias.grad.numpy(), rtol=1e-5, atol=1e-7)
    stepped = torsh.tree.map(lambda p, g: p - 0.5 * g, model, grads)
    assert stepped.decoder.weight is None  # still tied after an update


def test_reset_xavier_uniform_reaches_encoder_only_models():
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, key=torsh.random.key(0))
    encoder = nn.TransformerEncoder(layer, 2)
    reset = nn.init.reset_xavier_uniform(encoder, torsh.random.key(1))
    before, after = encoder.state_dict(), reset.state_dict()
    assert list(before) == list(after)
    for name, value in after.items():
        if value.ndim < 2:
            np.testing.assert_array_equal(np.asarray(value), np.asarray(before[name]))  # biases, norms kept
            continue
        fan_out, fan_in = value.shape
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert float(jnp.abs(value).max()) <= bound and float(jnp.abs(value).max()) > 0.9 * bound, name
    # the clones share initial weights; after the reset every layer has its own draw (as nn.Transformer)
    assert not np.allclose(
        np.asarray(after["layers.0.linear1.weight"]), np.asarray(after["layers.1.linear1.weight"])
    )
    # nn.Transformer's own init is this function applied to encoder and decoder
    k = torsh.random.key(3)
    model = nn.Transformer(16, 2, 1, 1, 32, key=k)
    k_init = jax.random.split(k, 3)[2]
    again = nn.init.reset_xavier_uniform(model.encoder, jax.random.fold_in(k_init, 0))
    assert torsh.tree.allclose(again, model.encoder)
