"""Embedding, Flatten/Unflatten, Dropout/Dropout2d."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import assert_close, compare_module
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F


@settings(max_examples=examples(4))
@given(
    num=st.integers(2, 8),
    dim=st.integers(1, 4),
    pad=st.sampled_from([None, 0, 1, -1]),
    shape=st.sampled_from([(3,), (2, 3)]),
    seed=st.integers(0, 1000),
)
def test_embedding_matches_torch_including_padding_grad(num, dim, pad, shape, seed):
    torch.manual_seed(seed)
    t_mod = torch.nn.Embedding(num, dim, padding_idx=pad)
    with torch.no_grad():  # a non-zero padding row shows that the output is the row, the grad is zero
        t_mod.weight.add_(0.5)
    idx = np.random.default_rng(seed).integers(0, num, shape)
    if pad is not None:
        idx.flat[0] = pad % num
    compare_module(t_mod, nn.Embedding(num, dim, padding_idx=pad), [idx.astype(np.int32)])


def test_embedding_init_and_from_pretrained():
    emb = nn.Embedding(1000, 16, padding_idx=3, key=torsh.random.key(0))
    w = np.asarray(emb.weight)
    assert np.all(w[3] == 0)
    assert abs(w.std() - 1.0) < 0.05 and abs(w.mean()) < 0.05  # N(0, 1) like PyTorch
    table = np.arange(6, dtype=np.float32).reshape(3, 2)
    frozen = nn.Embedding.from_pretrained(table)
    assert frozen.num_parameters(trainable_only=True) == 0 and frozen.num_parameters() == 6
    grads = torsh.grad(lambda m: m(jnp.array([1])).sum())(frozen)
    assert grads.weight is None
    assert nn.Embedding.from_pretrained(table, freeze=False).num_parameters(trainable_only=True) == 6
    with pytest.raises(DTypeError, match="expected an integer array"):
        emb(np.ones(2, np.float32))
    with pytest.raises(ConfigError, match="max_norm"):
        nn.Embedding(3, 2, max_norm=1.0)
    assert nn.logical_axes(emb) == {"weight": ("vocab", "embed")}


@pytest.mark.parametrize(
    "args,shape",
    [((), (2, 3, 4, 5)), ((0,), (2, 3, 4)), ((1, 2), (2, 3, 4, 5)), ((-3, -2), (2, 3, 4, 5)), ((0,), (2,))],
)
def test_flatten_matches_torch(args, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert_close(nn.Flatten(*args)(x), torch.nn.Flatten(*args)(torch.tensor(x)).numpy())


@pytest.mark.parametrize(
    "dim,size,shape", [(1, (3, 4), (2, 12)), (-1, (2, -1), (2, 3, 8)), (0, (1, 2), (2, 5))]
)
def test_unflatten_matches_torch(dim, size, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert_close(nn.Unflatten(dim, size)(x), torch.nn.Unflatten(dim, size)(torch.tensor(x)).numpy())


def test_flatten_errors():
    with pytest.raises(ShapeError, match="out of range"):
        nn.Flatten(3)(np.zeros((2, 3), np.float32))
    with pytest.raises(ShapeError, match="size 12"):
        nn.Unflatten(1, (3, 4))(np.zeros((2, 10), np.float32))


def test_dropout_train_eval_and_key_rules():
    x = jnp.ones((200, 50))
    drop = nn.Dropout(0.3)
    y = drop(x, key=torsh.random.key(0))
    kept = np.asarray(y) != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.7, rtol=1e-6)
    # gradient is the same mask and scale (as PyTorch's)
    g = jax.grad(lambda x: (drop(x, key=torsh.random.key(0)) * 3).sum())(x)
    np.testing.assert_allclose(np.asarray(g), np.where(kept, 3 / 0.7, 0.0), rtol=1e-6)
    assert not np.array_equal(drop(x, key=torsh.random.key(1)), y)
    assert np.array_equal(drop.eval()(x), x)  # eval: identity, no key needed
    assert np.array_equal(nn.Dropout(0.0)(x), x)
    assert np.all(np.asarray(nn.Dropout(1.0)(x, key=torsh.random.key(0))) == 0)  # as torch: all zeros
    with pytest.raises(ConfigError, match="needs a PRNG key"):
        drop(x)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout2d_drops_whole_channels():
    x = jnp.ones((8, 16, 3, 3))
    y = np.asarray(nn.Dropout2d(0.5)(x, key=torsh.random.key(0)))
    per_channel = y.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    assert 0.3 < (per_channel == 0).all(-1).mean() < 0.7
    y3 = np.asarray(nn.Dropout2d(0.5)(jnp.ones((4, 6, 5)), key=torsh.random.key(1)))  # (N, C, L) as PyTorch
    assert np.all((y3 == 0).all(-1) | (y3 == 2.0).all(-1))
    with pytest.raises(ShapeError, match="3D or 4D"):
        nn.Dropout2d()(jnp.ones((2, 3)), key=torsh.random.key(0))


def test_sequential_hands_dropout_distinct_keys():
    model = nn.Sequential(nn.Dropout(0.5), nn.Identity(), nn.Dropout(0.5))
    out = jax.jit(lambda m, x, k: m(x, key=k))(model, jnp.ones((1000,)), torsh.random.key(0))
    values = set(np.unique(np.asarray(out)).tolist())
    assert values <= {0.0, 4.0} and 4.0 in values  # two independent masks: kept with p=1/4, scaled by 4
    assert abs((np.asarray(out) != 0).mean() - 0.25) < 0.05
    with pytest.raises(ConfigError, match=r"^0 \(Dropout p=0.5\): dropout in training mode needs a PRNG key"):
        model(jnp.ones(3))


def test_key_is_accepted_by_every_model():
    # A training loop can always call model(x, key=key); layers without randomness ignore it.
    lin = nn.Linear(3, 2, key=torsh.random.key(0))
    x = jnp.ones((1, 3))
    assert np.array_equal(lin(x, key=torsh.random.key(1)), lin(x))
    model = nn.Sequential(nn.Linear(3, 3), nn.Sequential(nn.ReLU(), nn.Dropout(0.5)))
    assert model(x, key=torsh.random.key(1)).shape == (1, 3)


def test_functional_dropout_matches_module():
    x = jnp.arange(10.0)
    k = torsh.random.key(3)
    assert np.array_equal(F.dropout(x, 0.4, key=k), nn.Dropout(0.4)(x, key=k))
    assert np.array_equal(F.dropout(x, 0.4, training=False), x)
