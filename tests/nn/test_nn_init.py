"""nn.init against torch.nn.init: fan computation and gains exactly, distributions statistically."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh.errors import ConfigError
from torsh.nn import init

SHAPES = [(3, 5), (64, 32), (8, 4, 3), (16, 8, 3, 3), (4, 2, 2, 3, 3)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_equal_torch(shape):
    assert init.calculate_fan_in_and_fan_out(shape) == torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(shape)
    )


@pytest.mark.parametrize(
    "name,param",
    [
        ("linear", None),
        ("conv2d", None),
        ("conv_transpose3d", None),
        ("sigmoid", None),
        ("tanh", None),
        ("relu", None),
        ("leaky_relu", None),
        ("leaky_relu", 0.2),
        ("leaky_relu", math.sqrt(5)),
        ("selu", None),
    ],
)
def test_gains_equal_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-15
    )


def test_bad_arguments():
    with pytest.raises(ConfigError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ConfigError, match="at least 2 dimensions"):
        init.xavier_uniform(torsh.random.key(0), (3,))
    with pytest.raises(ConfigError, match="fan_in"):
        init.kaiming_normal(torsh.random.key(0), (3, 3), mode="fan_avg")


def _torch_sample(fn, shape, **kw):
    torch.manual_seed(0)
    t = torch.empty(shape)
    fn(t, **kw)
    return t.numpy()


# Statistical comparison on 64k samples: the sample std of either library is within ~0.6% of the
# true value (std error of a std estimate ~ 1/sqrt(2n)); 3% keeps the test far from flaky.
BIG = (256, 256)


@pytest.mark.parametrize(
    "ours,theirs,kw",
    [
        (init.xavier_uniform, torch.nn.init.xavier_uniform_, {"gain": 2.0}),
        (init.xavier_normal, torch.nn.init.xavier_normal_, {"gain": 0.5}),
        (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"a": math.sqrt(5)}),
        (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, {"mode": "fan_out", "nonlinearity": "relu"}),
        (init.kaiming_normal, torch.nn.init.kaiming_normal_, {"nonlinearity": "tanh"}),
        (init.normal, torch.nn.init.normal_, {"mean": 1.0, "std": 0.3}),
        (init.uniform, torch.nn.init.uniform_, {"a": -2.0, "b": 1.0}),
        (init.trunc_normal, torch.nn.init.trunc_normal_, {"std": 0.02}),
        (init.trunc_normal, torch.nn.init.trunc_normal_, {"mean": 0.5, "std": 1.0, "a": -1.0, "b": 1.5}),
    ],
)
def test_distributions_match_torch(ours, theirs, kw):
    shape = (128, 64, 2, 2) if ours is init.kaiming_normal else BIG
    x = np.asarray(ours(torsh.random.key(0), shape, **kw))
    ref = _torch_sample(theirs, shape, **kw)
    assert x.shape == ref.shape and x.dtype == np.float32
    np.testing.assert_allclose(x.std(), ref.std(), rtol=0.03)
    np.testing.assert_allclose(x.mean(), ref.mean(), atol=0.03 * ref.std() + 1e-4)
    if ours in (init.uniform, init.kaiming_uniform, init.xavier_uniform):  # same bounded support
        np.testing.assert_allclose(
            [x.min(), x.max()], [ref.min(), ref.max()], rtol=0.02, atol=0.01 * ref.std()
        )
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(shape)
    if ours is init.kaiming_uniform:
        gain = init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0))
        fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
        assert np.abs(x).max() <= math.sqrt(3) * gain / math.sqrt(fan)
    if ours is init.xavier_uniform:
        assert np.abs(x).max() <= kw["gain"] * math.sqrt(6 / (fan_in + fan_out))
    if ours is init.uniform:
        assert x.min() >= kw["a"] and x.max() < kw["b"]
    if ours is init.trunc_normal:
        lo, hi = kw.get("a", -2.0), kw.get("b", 2.0)
        assert x.min() >= lo and x.max() <= hi


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (8, 2, 3, 3), (5, 5)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain):
    w = np.asarray(init.orthogonal(torsh.random.key(1), shape, gain=gain), np.float64)
    assert w.shape == shape
    flat = w.reshape(shape[0], -1)
    small = min(flat.shape)
    gram = flat @ flat.T if flat.shape[0] == small else flat.T @ flat
    np.testing.assert_allclose(gram, gain**2 * np.eye(small), atol=1e-5 * gain**2)
    ref = _torch_sample(torch.nn.init.orthogonal_, shape, gain=gain).reshape(shape[0], -1)
    np.testing.assert_allclose(
        np.linalg.svd(flat, compute_uv=False), np.linalg.svd(ref, compute_uv=False), rtol=1e-5
    )


def test_constant_zeros_ones_eye_and_dtype():
    assert np.all(np.asarray(init.zeros((2, 3))) == 0) and np.all(np.asarray(init.ones(4)) == 1)
    assert np.all(np.asarray(init.constant((2,), 0.25)) == 0.25)
    np.testing.assert_array_equal(init.eye((2, 3)), torch.nn.init.eye_(torch.empty(2, 3)).numpy())
    assert init.kaiming_uniform(torsh.random.key(0), (3, 3), dtype=jnp.bfloat16).dtype == jnp.bfloat16
    t = init.trunc_normal(torsh.random.key(0), (1000,), std=1.0, a=-0.5, b=0.5, dtype="float16")
    assert t.dtype == jnp.float16 and float(jnp.abs(t).max()) <= 0.5
    assert init.xavier_normal(torsh.random.key(0), (0, 3)).shape == (0, 3)  # zero-size: no-op as torch
    with pytest.raises(ConfigError, match="floating"):
        init.zeros((2,), dtype="int32")


# -- one compiled program for every shape (nn/_host_random.py) ------------------------------------------
DRAWS = [
    (init.uniform, {"a": -0.3, "b": 0.2}),
    (init.normal, {"mean": 0.1, "std": 0.5}),
    (init.trunc_normal, {"std": 0.02, "a": -0.04, "b": 0.04}),
    (init.kaiming_uniform, {"a": math.sqrt(5)}),
    (init.orthogonal, {"gain": 2.0}),
]


@pytest.mark.parametrize("fn,kw", DRAWS, ids=lambda v: getattr(v, "__name__", ""))
def test_draws_equal_eagerly_and_traced(fn, kw):
    # a layer built under jit holds the values an eager build holds; (300, 500) spans three chunks
    import jax

    key = torsh.random.key(3)
    for shape in [(7, 3), (300, 500)] if fn is init.uniform else [(7, 3)]:
        eager = fn(key, shape, **kw)
        traced = jax.jit(lambda k, fn=fn, shape=shape: fn(k, shape, **kw))(key)
        assert eager.shape == traced.shape == shape and eager.dtype == traced.dtype == jnp.float32
        np.testing.assert_allclose(np.asarray(eager), np.asarray(traced), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(fn(key, shape, **kw)), np.asarray(eager))  # deterministic
    assert not np.array_equal(
        np.asarray(fn(torsh.random.key(4), (7, 3), **kw)), np.asarray(fn(key, (7, 3), **kw))
    )


def test_new_shapes_compile_nothing():
    from torsh.nn import _host_random

    init.uniform(torsh.random.key(0), (2, 3))
    before = _host_random._compiled_chunk._cache_size()
    for i, shape in enumerate([(5,), (17, 4), (3, 3, 3, 3), (70_000,)]):
        init.uniform(torsh.random.key(i), shape)
    assert _host_random._compiled_chunk._cache_size() == before
