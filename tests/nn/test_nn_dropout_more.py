"""AlphaDropout, FeatureAlphaDropout, Dropout1d, Dropout3d (modules and functional forms) against PyTorch.

Masks come from different generators, so values are checked given the mask: the mask is recovered
from the output (every element must match exactly one of the kept/dropped formulas) and every value
must equal ATen's ``_dropout_impl`` formula. The formula is first checked on PyTorch's own outputs.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F

SAT = 1.7580993408473766  # ATen's alpha: SELU's scale * alpha
TOL = {"float32": 1e-6, "float64": 1e-14}


def _alpha_values(x: np.ndarray, p: float) -> tuple[np.ndarray, float]:
    """(kept value for every element, dropped value) of ATen's alpha dropout, in float64."""
    a = 1.0 / math.sqrt((SAT * SAT * p + 1) * (1 - p))
    return a * x.astype(np.float64) + SAT * a * p, SAT * a * (p - 1)


def _recover_alpha_mask(y: np.ndarray, x: np.ndarray, p: float, dtype: str) -> np.ndarray:
    """The keep mask behind ``y``; asserts every element is exactly one formula's value."""
    kept, dropped = _alpha_values(x, p)
    tol = TOL[dtype] * 10
    is_kept = np.isclose(y, kept, rtol=tol, atol=tol)
    is_dropped = np.isclose(y, dropped, rtol=tol, atol=tol)
    assert (is_kept ^ is_dropped).all(), "some values match neither (or both) of the alpha dropout formulas"
    return is_kept


def _random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("feature", [False, True])
def test_torch_alpha_dropout_follows_the_formula(feature):
    # validates the reference formula itself on PyTorch's outputs (f64, 2 values of p)
    x = _random((8, 16, 3), "float64")
    fn = torch.nn.functional.feature_alpha_dropout if feature else torch.nn.functional.alpha_dropout
    for p in (0.2, 0.7):
        y = fn(torch.tensor(x), p, True).numpy()
        mask = _recover_alpha_mask(y, x, p, "float64")
        if feature:
            assert (mask == mask[:, :, :1]).all()


def _check_alpha(fn, x, p, dtype, key, feature):
    y = np.asarray(fn(jnp.asarray(x), p, True, key=key))
    assert y.dtype == np.dtype(dtype) and y.shape == x.shape
    mask = _recover_alpha_mask(y, x, p, dtype)
    if feature:  # one draw per (sample, channel)
        assert (
            mask == mask.reshape(*x.shape[:2], -1)[:, :, :1].reshape(x.shape[:2] + (1,) * (x.ndim - 2))
        ).all()
    return mask


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_alpha_dropout_values_given_the_mask(dtype, request):
    if dtype == "float64":
        request.getfixturevalue("x64")
    x = _random((64, 32), dtype)
    key = torsh.random.key(0)
    mask = _check_alpha(F.alpha_dropout, x, 0.3, dtype, key, feature=False)
    assert abs(mask.mean() - 0.7) < 0.05, mask.mean()
    # the module in training mode is the functional form; eval mode is the identity
    np.testing.assert_array_equal(
        nn.AlphaDropout(0.3)(jnp.asarray(x), key=key), F.alpha_dropout(x, 0.3, True, key=key)
    )
    fx = _random((4, 16, 2, 3), dtype)
    fmask = _check_alpha(F.feature_alpha_dropout, fx, 0.5, dtype, key, feature=True)
    assert 0 < fmask.mean() < 1
    np.testing.assert_array_equal(
        nn.FeatureAlphaDropout(0.5)(jnp.asarray(fx), key=key), F.feature_alpha_dropout(fx, 0.5, True, key=key)
    )


def test_alpha_dropout_gradient_is_a_times_the_mask():
    x = _random((16, 8), "float32")
    key = torsh.random.key(3)
    p = 0.4
    mask = _recover_alpha_mask(np.asarray(F.alpha_dropout(x, p, True, key=key)), x, p, "float32")
    g = torsh.grad(lambda v: F.alpha_dropout(v, p, True, key=key).sum())(jnp.asarray(x))
    a = 1.0 / math.sqrt((SAT * SAT * p + 1) * (1 - p))
    np.testing.assert_allclose(g, a * mask, rtol=1e-6)


@settings(max_examples=examples(3))
@given(p=st.sampled_from([0.05, 0.3, 0.6]), selu=st.booleans(), seed=st.integers(0, 1000))
def test_alpha_dropout_keeps_zero_mean_unit_variance(p, selu, seed):
    # standard normal inputs, or SELU of them (the self-normalising fixed point): mean 0, variance 1
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(200_000).astype(np.float32)
    if selu:
        x = np.asarray(jax.nn.selu(x))
    y = np.asarray(F.alpha_dropout(x, p, True, key=torsh.random.key(seed)), np.float64)
    # 200k samples: the standard errors are ~0.003 (mean) and ~0.006 (variance)
    assert abs(y.mean() - x.mean()) < 0.02, (y.mean(), x.mean())
    assert abs(y.var() - x.var()) < 0.04, (y.var(), x.var())


@pytest.mark.parametrize(
    "fn,module,shape,mask_shape",
    [
        (F.dropout1d, nn.Dropout1d, (6, 16, 5), (6, 16, 1)),
        (F.dropout1d, nn.Dropout1d, (16, 5), (16, 1)),  # unbatched (C, L)
        (F.dropout3d, nn.Dropout3d, (3, 16, 2, 3, 2), (3, 16, 1, 1, 1)),
        (F.dropout3d, nn.Dropout3d, (16, 2, 3, 2), (16, 1, 1, 1)),  # unbatched (C, D, H, W)
    ],
)
def test_channel_dropout_masks_whole_channels(fn, module, shape, mask_shape):
    x = _random(shape, "float32") + 5.0  # no zeros in the input
    key = torsh.random.key(1)
    p = 0.4
    y = np.asarray(fn(jnp.asarray(x), p, key=key))
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    flat = kept.reshape(math.prod(mask_shape), -1)  # one row per mask entry (the 1s are trailing)
    assert (flat.all(axis=1) | ~flat.any(axis=1)).all(), "a channel is partly dropped"
    assert 0 < flat[:, 0].mean() < 1
    np.testing.assert_array_equal(module(p)(jnp.asarray(x), key=key), y)
    np.testing.assert_array_equal(module(p).eval()(jnp.asarray(x)), x)  # eval: identity, no key
    np.testing.assert_array_equal(fn(jnp.asarray(x), p, training=False), x)
    # same key, same mask, under jit too
    np.testing.assert_array_equal(jax.jit(lambda v, k: fn(v, p, key=k))(jnp.asarray(x), key), y)


def test_edge_cases_p_0_and_p_1_as_torch():
    x = _random((2, 4, 3, 3, 2), "float32")
    key = torsh.random.key(0)
    for name in ("alpha_dropout", "feature_alpha_dropout", "dropout1d", "dropout3d"):
        ours = getattr(F, name)
        theirs = getattr(torch.nn.functional, name)
        xi = x[:, :, 0, 0] if name == "dropout1d" else x
        for p in (0.0, 1.0):
            want = theirs(torch.tensor(xi), p, True).numpy()
            got = ours(jnp.asarray(xi), p, True, key=key)
            np.testing.assert_array_equal(got, want, err_msg=f"{name} p={p}")
        np.testing.assert_array_equal(ours(jnp.asarray(xi), 0.0, True), xi)  # p=0 needs no key
    # PyTorch's alpha forms default to training=False: the identity, no key needed
    np.testing.assert_array_equal(F.alpha_dropout(jnp.asarray(x)), x)
    np.testing.assert_array_equal(F.feature_alpha_dropout(jnp.asarray(x)), x)
    np.testing.assert_array_equal(nn.AlphaDropout().eval()(jnp.asarray(x)), x)
    np.testing.assert_array_equal(nn.FeatureAlphaDropout().eval()(jnp.asarray(x)), x)
    empty = jnp.zeros((0, 3))
    assert F.alpha_dropout(empty, 0.5, True).shape == (0, 3)  # nothing to drop: no key needed, as PyTorch


def test_errors_as_torch():
    for cls in (nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Dropout1d, nn.Dropout3d):
        with pytest.raises(ConfigError, match=r"dropout probability has to be between 0 and 1, but got 1.5"):
            cls(1.5)
        assert repr(cls(0.2)) == repr(getattr(torch.nn, cls.__name__)(0.2))
        with pytest.raises(ConfigError, match="needs a PRNG key"):
            cls(0.5)(jnp.ones((2, 3, 2, 2, 2)) if cls is nn.Dropout3d else jnp.ones((2, 3, 4)))
    for name in ("alpha_dropout", "feature_alpha_dropout", "dropout1d", "dropout3d"):
        with pytest.raises(ConfigError, match="but got -0.1"):
            getattr(F, name)(jnp.ones((2, 3, 4, 4)), -0.1)
    with pytest.raises(ShapeError, match="dropout1d: expected 2D or 3D input"):
        F.dropout1d(jnp.ones((2, 3, 4, 4)), 0.5, key=torsh.random.key(0))
    with pytest.raises(ShapeError, match="dropout3d: expected 4D or 5D input"):
        nn.Dropout3d()(jnp.ones((2, 3, 4)), key=torsh.random.key(0))
    with pytest.raises(ShapeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(jnp.ones(4), 0.5, True, key=torsh.random.key(0))
    np.testing.assert_array_equal(nn.FeatureAlphaDropout().eval()(jnp.ones(4)), np.ones(4))  # eval: as torch
    with pytest.raises(DTypeError):
        F.alpha_dropout(jnp.ones(4, jnp.int32), 0.5, True, key=torsh.random.key(0))
