"""AUROC and AveragePrecision against scikit-learn's exact values (binary and one-vs-rest), with
ties, masks, one-class edge cases, merging, and the capacity limit."""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given
from hypothesis import strategies as st
from sklearn.preprocessing import label_binarize

from torsh import metrics
from torsh.errors import ConfigError, ShapeError
from torsh.metrics import CapacityError

ROWS = 32  # every example is padded to this many rows (masked out), so compiled code is reused
CAP = 64


def sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def close(ours, ref):
    np.testing.assert_allclose(
        np.asarray(ours, np.float64), np.asarray(ref, np.float64), rtol=2e-6, atol=1e-7, equal_nan=True
    )


@st.composite
def scored(draw, classes=None):
    """(scores, target, mask) padded to ROWS; scores are coarse (many ties) or fine."""
    n = draw(st.integers(1, ROWS))
    k = 2 if classes is None else classes
    target = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), np.int32)
    coarse = draw(st.booleans())
    shape = (n,) if classes is None else (n, classes)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scores = (rng.integers(0, 4, shape) / 4 if coarse else rng.random(shape)).astype(np.float32)
    mask = rng.random(n) < 0.8 if draw(st.booleans()) else np.ones(n, bool)
    extra = ROWS - n
    pad_scores = np.concatenate([scores, np.full((extra, *shape[1:]), 0.5, np.float32)])
    return (
        pad_scores,
        np.concatenate([target, np.zeros(extra, np.int32)]),
        np.concatenate([mask, np.zeros(extra, bool)]),
    )


def run(metric, scores, target, mask):
    return metric.compute(
        metric.update(metric.init(), jnp.asarray(scores), jnp.asarray(target), jnp.asarray(mask))
    )


BINARY_AUROC = metrics.AUROC(capacity=CAP)
BINARY_AP = metrics.AveragePrecision(capacity=CAP)


@given(scored())
def test_binary_auroc_equals_sklearn(batch):
    scores, target, mask = batch
    got = run(BINARY_AUROC, scores, target, mask)
    t, s = target[mask], scores[mask]
    if len(np.unique(t)) < 2:
        assert math.isnan(float(got))  # one class only: sklearn warns and returns NaN too
        if len(t):
            assert math.isnan(sk(skm.roc_auc_score, t, s))
        return
    close(got, skm.roc_auc_score(t, s))


@given(scored())
def test_binary_average_precision_equals_sklearn(batch):
    scores, target, mask = batch
    got = run(BINARY_AP, scores, target, mask)
    t, s = target[mask], scores[mask]
    if not len(t):
        assert math.isnan(float(got))  # nothing seen: NaN (sklearn refuses empty input)
        return
    close(got, sk(skm.average_precision_score, t, s))  # no positive: 0.0 in both


@given(batch=scored(classes=4))
def test_one_vs_rest_equals_sklearn(batch):
    scores, target, mask = batch
    t, s = target[mask], scores[mask]
    for average in ("macro", "weighted", None):
        auroc = run(metrics.AUROC(num_classes=4, average=average, capacity=CAP), scores, target, mask)
        ap = run(metrics.AveragePrecision(num_classes=4, average=average, capacity=CAP), scores, target, mask)
        if not len(t):
            assert np.isnan(np.asarray(auroc)).all() and np.isnan(np.asarray(ap)).all()
            continue
        onehot = label_binarize(t, classes=np.arange(4))
        close(ap, sk(skm.average_precision_score, onehot, s, average=average))
        per_class = [
            sk(skm.roc_auc_score, onehot[:, c], s[:, c]) if 0 < onehot[:, c].sum() < len(t) else np.nan
            for c in range(4)
        ]
        if average is None:
            close(auroc, per_class)
        elif np.isnan(per_class).any():
            assert math.isnan(float(auroc))  # a class without positives (or negatives): documented NaN
        else:  # every class present: sklearn's own multiclass path (it needs probabilities)
            probs = (s + 1e-3) / (s + 1e-3).sum(1, keepdims=True)
            ref = skm.roc_auc_score(t, probs, multi_class="ovr", average=average, labels=np.arange(4))
            padded = np.full((ROWS, 4), 0.25, np.float32)
            padded[: len(t)] = probs
            m = metrics.AUROC(num_classes=4, average=average, capacity=CAP)
            close(run(m, padded, np.resize(t, ROWS), np.arange(ROWS) < len(t)), ref)


@given(scored(), st.integers(0, ROWS))
def test_merge_and_chained_updates_equal_one_update(batch, cut):
    scores, target, mask = batch
    m = BINARY_AUROC
    first = mask & (np.arange(ROWS) < cut)
    a = m.update(m.init(), scores, target, first)
    b = m.update(m.init(), scores, target, mask & ~first)
    whole = m.update(m.init(), scores, target, mask)
    for state in (m.merge(a, b), m.update(a, scores, target, mask & ~first)):
        assert int(state["count"]) == int(mask.sum())
        np.testing.assert_array_equal(m.compute(state), m.compute(whole))
    # the buffer holds the samples in arrival order
    n = int(mask.sum())
    np.testing.assert_array_equal(
        m.merge(a, b)["scores"][:n], np.concatenate([scores[first], scores[mask & ~first]])
    )


def test_capacity_overflow_raises_eagerly_and_gives_nan_under_jit():
    m = metrics.AUROC(capacity=4)
    s = m.update(m.init(), jnp.array([0.1, 0.9, 0.4]), jnp.array([0, 1, 1]))
    with pytest.raises(
        CapacityError, match=r"metrics.AUROC: 5 samples do not fit the state's capacity=4; .*capacity=8"
    ):
        m.update(s, jnp.array([0.2, 0.3]), jnp.array([0, 1]))
    with pytest.raises(CapacityError, match="capacity=4"):
        m.merge(s, s)
    # masked rows take no room
    full = m.update(s, jnp.array([0.2, 0.3]), jnp.array([0, 1]), jnp.array([True, False]))
    assert int(full["count"]) == 4
    over = jax.jit(m.update)(full, jnp.array([0.5]), jnp.array([0]))  # traced: no exception possible
    assert int(over["count"]) == 5
    assert math.isnan(float(jax.jit(m.compute)(over)))
    with pytest.raises(CapacityError):
        m.compute(over)
    assert issubclass(CapacityError, ConfigError)


def test_jit_scan_over_batches_equals_sklearn():
    rng = np.random.default_rng(3)
    scores = rng.random((5, 8, 3)).astype(np.float32)
    target = rng.integers(0, 3, (5, 8)).astype(np.int32)
    m = metrics.AveragePrecision(num_classes=3, capacity=40)

    @jax.jit
    def evaluate(scores, target):
        state, _ = jax.lax.scan(lambda s, b: (m.update(s, *b), None), m.init(), (scores, target))
        return m.compute(state)

    ref = skm.average_precision_score(
        label_binarize(target.ravel(), classes=[0, 1, 2]), scores.reshape(-1, 3)
    )
    close(evaluate(scores, target), ref)


def test_argument_and_input_errors():
    with pytest.raises(ConfigError, match="capacity must be an int >= 1"):
        metrics.AUROC(capacity=0)
    with pytest.raises(ConfigError, match="num_classes must be None"):
        metrics.AUROC(num_classes=1)
    with pytest.raises(ConfigError, match="average must be"):
        metrics.AveragePrecision(average="micro")
    with pytest.raises(ShapeError, match=r"preds of shape \['batch', 3\]"):
        metrics.AUROC(num_classes=3, capacity=8)(jnp.zeros(4), jnp.zeros(4, jnp.int32))
    with pytest.raises(ConfigError, match=r"target holds class id 2, outside \[0, 2\)"):
        metrics.AUROC(capacity=8)(jnp.zeros(2), jnp.array([0, 2]))
    with pytest.raises(ConfigError, match="preds must be finite scores"):
        metrics.AUROC(capacity=8)(jnp.array([0.1, jnp.nan]), jnp.array([0, 1]))
