"""MSE, MAE, R2 against scikit-learn; Mean/Sum against numpy; Perplexity against sklearn's log_loss
and torch's cross_entropy; constant targets, single samples and empty masks."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.metrics as skm
import torch
from hypothesis import given
from hypothesis import strategies as st

from torsh import metrics
from torsh.errors import ConfigError, DTypeError, ShapeError

ROWS = 16


def close(ours, ref, rtol=2e-5):
    np.testing.assert_allclose(
        np.asarray(ours, np.float64), np.asarray(ref, np.float64), rtol=rtol, atol=1e-5, equal_nan=True
    )


@st.composite
def regression(draw, outputs=1):
    """Dyadic values (k/4): sums are exact in float32 and float64, so 'constant target' means
    exactly constant on both sides. Padded to ROWS with masked rows."""
    n = draw(st.integers(1, ROWS))
    constant = draw(st.booleans()) and draw(st.booleans())
    values = st.integers(-400, 400).map(lambda k: k / 4)
    shape = (n,) if outputs == 1 else (n, outputs)
    size = int(np.prod(shape))
    target = np.asarray(draw(st.lists(values, min_size=size, max_size=size)), np.float32).reshape(shape)
    if constant:
        target = np.full(shape, target.flat[0], np.float32)
    exact = draw(st.booleans()) and draw(st.booleans())
    preds = (
        target.copy()
        if exact
        else np.asarray(draw(st.lists(values, min_size=size, max_size=size)), np.float32).reshape(shape)
    )
    mask = (
        np.asarray(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        if draw(st.booleans())
        else np.ones(n, bool)
    )
    extra = ROWS - n
    pad = lambda a: np.concatenate([a, np.zeros((extra, *a.shape[1:]), a.dtype)])
    return pad(preds), pad(target), pad(mask)


def run(metric, preds, target, mask):
    return metric(jnp.asarray(preds), jnp.asarray(target), jnp.asarray(mask))


@given(regression())
def test_mse_rmse_mae_equal_sklearn(batch):
    p, t, mask = batch
    got = [
        run(m, p, t, mask)
        for m in (
            metrics.MeanSquaredError(),
            metrics.MeanSquaredError(squared=False),
            metrics.MeanAbsoluteError(),
        )
    ]
    if not mask.any():
        assert all(math.isnan(float(g)) for g in got)
        return
    ref = [
        skm.mean_squared_error(t[mask], p[mask]),
        skm.root_mean_squared_error(t[mask], p[mask]),
        skm.mean_absolute_error(t[mask], p[mask]),
    ]
    for g, r in zip(got, ref, strict=True):
        close(g, r)


@given(regression())
def test_r2_equals_sklearn_including_constant_targets(batch):
    p, t, mask = batch
    got = run(metrics.R2Score(), p, t, mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.r2_score(t[mask], p[mask]) if mask.sum() >= 2 else np.nan  # sklearn: NaN below 2 samples
    close(got, ref, rtol=1e-4)


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted", "raw_values"])
@given(batch=regression(outputs=3))
def test_r2_multioutput_equals_sklearn(multioutput, batch):
    p, t, mask = batch
    got = run(metrics.R2Score(num_outputs=3, multioutput=multioutput), p, t, mask)
    if mask.sum() < 2:
        assert np.isnan(np.asarray(got)).all()
        return
    close(got, skm.r2_score(t[mask], p[mask], multioutput=multioutput), rtol=1e-4)
    close(run(metrics.MeanSquaredError(), p, t, mask), skm.mean_squared_error(t[mask], p[mask]))


@given(regression(), st.integers(0, ROWS))
def test_r2_merge_is_exact_in_pieces(batch, cut):
    p, t, mask = batch
    m = metrics.R2Score()
    first = mask & (np.arange(ROWS) < cut)
    merged = m.merge(m.update(m.init(), p, t, first), m.update(m.init(), p, t, mask & ~first))
    close(m.compute(merged), m.compute(m.update(m.init(), p, t, mask)), rtol=1e-4)


def test_r2_keeps_precision_on_a_large_offset():
    rng = np.random.default_rng(0)
    t = (1e4 + rng.normal(size=64)).astype(np.float32)  # var 1 around 1e4: sum(y**2) would cancel
    p = (t + 0.1 * rng.normal(size=64)).astype(np.float32)
    m = metrics.R2Score()
    s = m.init()
    for i in range(0, 64, 16):
        s = m.update(s, p[i : i + 16], t[i : i + 16])
    close(m.compute(s), skm.r2_score(t.astype(np.float64), p.astype(np.float64)), rtol=1e-3)


@given(st.lists(st.integers(-100, 100).map(lambda k: k / 8), min_size=1, max_size=ROWS), st.data())
def test_mean_and_sum_equal_numpy(values, data):
    n = len(values)
    v = np.asarray(values + [0.0] * (ROWS - n), np.float32)
    w = np.asarray(data.draw(st.lists(st.integers(0, 4), min_size=ROWS, max_size=ROWS)), np.float32)
    mask = np.arange(ROWS) < n
    mean, total = metrics.Mean(), metrics.Sum()
    s = mean.update(mean.init(), v, weight=w, mask=mask)
    ref_w = w[mask].sum()
    close(mean.compute(s), np.average(v[mask], weights=w[mask]) if ref_w > 0 else np.nan)
    close(total.compute(total.update(total.init(), v, mask=mask)), v[mask].sum())
    assert math.isnan(float(mean.compute(mean.init()))) and float(total.compute(total.init())) == 0.0


def test_mean_takes_values_and_weights_by_keyword_only():
    m = metrics.Mean()
    with pytest.raises(TypeError):
        m.update(m.init(), jnp.ones(2), jnp.ones(2))  # a (preds, target) call must not pass silently
    with pytest.raises(ShapeError, match="weight of shape"):
        m.update(m.init(), jnp.ones(2), weight=jnp.ones(3))
    assert float(m(jnp.float32(3.0))) == 3.0  # a scalar (e.g. a batch loss) is one value


@given(st.integers(0, 2**31 - 1), st.booleans(), st.lists(st.booleans(), min_size=3, max_size=3))
def test_perplexity_equals_sklearn_log_loss_and_torch(seed, with_ignore, rows):
    rng = np.random.default_rng(seed)
    vocab, seq = 5, 4
    logits = (3 * rng.normal(size=(3, seq, vocab))).astype(np.float32)
    target = rng.integers(0, vocab, (3, seq)).astype(np.int32)
    if with_ignore:
        target[0, 0] = target[2, 1] = -100
    mask = np.asarray(rows)
    keep = (target != -100) & mask[:, None]
    m = metrics.Perplexity(ignore_index=-100 if with_ignore else None)
    got = m(jnp.asarray(logits), jnp.asarray(target), jnp.asarray(mask))
    if not keep.any():
        assert math.isnan(float(got))
        return
    lp = logits.astype(np.float64)
    probs = np.exp(lp - lp.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    close(got, math.exp(skm.log_loss(target[keep], probs[keep], labels=np.arange(vocab))))
    tt = torch.tensor(np.where(keep, target, -100), dtype=torch.long).reshape(-1)
    ce = torch.nn.functional.cross_entropy(torch.tensor(logits).reshape(-1, vocab), tt, ignore_index=-100)
    close(got, math.exp(float(ce)))


def test_perplexity_masks_rows_and_is_nan_when_empty():
    logits = jnp.log(jnp.array([[[0.5, 0.5]], [[0.9, 0.1]]]))
    target = jnp.array([[0], [1]])
    m = metrics.Perplexity()
    close(m(logits, target, jnp.array([True, False])), 2.0)
    assert math.isnan(float(m(logits, target, jnp.array([False, False]))))
    with pytest.raises(ShapeError, match="preds must be logits of shape"):
        m(jnp.zeros((2, 3)), jnp.zeros((2, 1), jnp.int32))
    with pytest.raises(ConfigError, match=r"target holds class id 7, outside \[0, 2\)"):
        m(logits, jnp.array([[0], [7]]))


def test_regression_errors():
    with pytest.raises(ShapeError, match="preds and target must have the same shape"):
        metrics.MeanSquaredError()(jnp.ones(3), jnp.ones(2))
    with pytest.raises(ShapeError, match="num_outputs is 1, the batch has 2 outputs"):
        metrics.R2Score()(jnp.ones((3, 2)), jnp.ones((3, 2)))
    with pytest.raises(ConfigError, match="multioutput must be"):
        metrics.R2Score(multioutput="mean")
    with pytest.raises(DTypeError, match="target must be numeric, got dtype <U1"):
        metrics.MeanAbsoluteError()(jnp.ones(2), np.array(["a", "b"]))
    with pytest.raises(ConfigError, match="squared must be a bool"):
        metrics.MeanSquaredError(squared=1)
    assert jax.jit(metrics.R2Score().compute)(metrics.R2Score().init()).shape == ()
