"""Accuracy, ConfusionMatrix, Precision/Recall/F1 against scikit-learn on hypothesis-generated
batches, masks and edge cases (classes never predicted, one class only, everything masked)."""

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

from torsh import metrics
from torsh.errors import ConfigError, DTypeError, ShapeError


@st.composite
def batches(draw, max_classes=5, max_rows=24, scores=False, distinct=False, min_classes=2):
    """(num_classes, preds, target, mask): preds are labels, or scores ``[n, C]`` when ``scores``."""
    c = draw(st.integers(min_classes, max_classes))
    n = draw(st.integers(1, max_rows))
    # targets often use only a few classes: classes never seen / never predicted are common
    used = draw(st.integers(1, c))
    target = np.asarray(draw(st.lists(st.integers(0, used - 1), min_size=n, max_size=n)), np.int32)
    mask = np.asarray(
        draw(st.lists(st.booleans(), min_size=n, max_size=n)) if draw(st.booleans()) else [True] * n
    )
    if scores:
        if distinct:  # a random ranking of the classes per row (no ties)
            seed = draw(st.integers(0, 2**31 - 1))
            preds = np.random.default_rng(seed).permuted(
                np.tile(np.arange(c, dtype=np.float32), (n, 1)), axis=1
            )
        else:  # small integers: ties are frequent
            flat = draw(st.lists(st.integers(0, 3), min_size=n * c, max_size=n * c))
            preds = np.asarray(flat, np.float32).reshape(n, c)
    else:
        preds = np.asarray(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)), np.int32)
    return pad(c, preds, target, mask, max_rows)


def pad(c, preds, target, mask, rows):
    """Pad to a fixed number of rows with masked-out rows (as DataLoader(pad_last=True) does): one
    shape per class count keeps JAX's compile caches warm across examples."""
    extra = rows - len(target)
    preds = np.concatenate([preds, np.zeros((extra, *preds.shape[1:]), preds.dtype)])
    target = np.concatenate([target, np.zeros(extra, target.dtype)])
    return c, preds, target, np.concatenate([mask, np.zeros(extra, bool)])


def close(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7, equal_nan=True)


def sk(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@given(batches(scores=True))
def test_accuracy_top1_with_ties_equals_sklearn_on_argmax(batch):
    c, scores, target, mask = batch
    m = metrics.Accuracy()
    got = m(jnp.asarray(scores), jnp.asarray(target), jnp.asarray(mask))
    if not mask.any():
        assert math.isnan(float(got))  # documented: nothing seen -> NaN (sklearn refuses empty input)
        return
    close(got, skm.accuracy_score(target[mask], scores[mask].argmax(1)))


# sklearn reads 2-column scores of a binary target as an error: from 3 classes on
@given(batches(scores=True, distinct=True, max_classes=6, min_classes=3), st.integers(1, 6))
def test_top_k_accuracy_equals_sklearn(batch, k):
    c, scores, target, mask = batch
    k = min(k, c)
    got = metrics.Accuracy(top_k=k)(jnp.asarray(scores), jnp.asarray(target), jnp.asarray(mask))
    if mask.any():
        ref = sk(skm.top_k_accuracy_score, target[mask], scores[mask], k=k, labels=np.arange(c))
        close(got, ref)


@given(batches(scores=True))
def test_top_k_ties_rank_the_lower_class_first(batch):
    c, scores, target, mask = batch
    k = max(1, c - 1)
    got = metrics.Accuracy(top_k=k)(jnp.asarray(scores), jnp.asarray(target), jnp.asarray(mask))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # stable: lower index first on ties
    hits = [t in row for t, row, keep in zip(target, order, mask, strict=True) if keep]
    close(got, np.mean(hits) if hits else np.nan)


@given(batches(), st.sampled_from([None, "true", "pred", "all"]))
def test_confusion_matrix_equals_sklearn(batch, normalize):
    c, preds, target, mask = batch
    got = metrics.ConfusionMatrix(c, normalize=normalize)(
        jnp.asarray(preds), jnp.asarray(target), jnp.asarray(mask)
    )
    if mask.any():
        ref = sk(skm.confusion_matrix, target[mask], preds[mask], labels=np.arange(c), normalize=normalize)
    else:
        ref = np.zeros((c, c))
    close(got, ref)
    if normalize is None:
        assert got.dtype == jnp.int32


SK = {metrics.Precision: skm.precision_score, metrics.Recall: skm.recall_score, metrics.F1Score: skm.f1_score}


@given(
    batch=batches(),
    average=st.sampled_from(["micro", "macro", "weighted", None]),
    zero_division=st.sampled_from([0.0, 1.0, float("nan")]),
)
def test_multiclass_prf_equals_sklearn(batch, average, zero_division):
    c, preds, target, mask = batch
    for cls, ref_fn in SK.items():
        m = cls(num_classes=c, average=average, zero_division=zero_division)
        got = m(jnp.asarray(preds), jnp.asarray(target), jnp.asarray(mask))
        if not mask.any():
            assert np.isnan(np.asarray(got)).all()
            continue
        # average=None reports every class; averages use the classes present (sklearn's default labels)
        labels = np.arange(c) if average is None else None
        ref = sk(
            ref_fn, target[mask], preds[mask], average=average, labels=labels, zero_division=zero_division
        )
        close(got, ref)


@given(
    n=st.integers(1, 20),
    data=st.data(),
    zero_division=st.sampled_from([0.0, 1.0, float("nan")]),
    threshold=st.sampled_from([0.5, 0.0, 0.25]),
)
def test_binary_prf_from_scores_equals_sklearn(n, data, zero_division, threshold):
    target = np.asarray(data.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)), np.int32)
    values = st.sampled_from([-1.0, 0.0, 0.25, 0.5, 0.75, 1.0])
    scores = np.asarray(data.draw(st.lists(values, min_size=n, max_size=n)), np.float32)
    _, padded, padded_target, mask = pad(2, scores, target, np.ones(n, bool), 20)
    for cls, ref_fn in SK.items():
        m = cls(zero_division=zero_division, threshold=threshold)
        got = m(jnp.asarray(padded), jnp.asarray(padded_target), jnp.asarray(mask))
        close(got, sk(ref_fn, target, (scores > threshold).astype(int), zero_division=zero_division))


def test_edge_cases_named_in_the_issue():
    # a class never predicted, and a class never present at all (C=4: class 3 absent everywhere)
    target = jnp.array([0, 0, 1, 2, 2])
    preds = jnp.array([0, 0, 0, 2, 2])
    for cls in SK:
        for avg in ("macro", "weighted", "micro"):
            close(cls(num_classes=4, average=avg)(preds, target), sk(SK[cls], target, preds, average=avg))
    # all one class
    ones = jnp.ones(6, jnp.int32)
    assert float(metrics.Accuracy()(ones, ones)) == 1.0
    close(metrics.F1Score()(ones, ones), 1.0)
    close(
        metrics.Precision()(jnp.zeros(6, jnp.int32), jnp.zeros(6, jnp.int32)), 0.0
    )  # no positive: zero_division
    close(metrics.Precision(zero_division=1.0)(jnp.zeros(6, jnp.int32), jnp.zeros(6, jnp.int32)), 1.0)
    # an all-False mask and a fresh state: NaN, documented
    m = metrics.Recall(num_classes=3, average="macro")
    assert math.isnan(float(m.compute(m.init())))
    assert math.isnan(
        float(metrics.Accuracy()(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), jnp.zeros(2, bool)))
    )


@given(batches(), st.integers(0, 24))
def test_updates_in_pieces_and_merges_equal_one_update(batch, cut):
    c, preds, target, mask = batch
    m = metrics.F1Score(num_classes=c, average="weighted")
    whole = m.update(m.init(), preds, target, mask)
    first = mask & (np.arange(len(mask)) < cut)  # two shards of the same rows, split by masks
    a = m.update(m.init(), preds, target, first)
    b = m.update(m.init(), preds, target, mask & ~first)
    chained = m.update(a, preds, target, mask & ~first)
    for state in (m.merge(a, b), chained):
        np.testing.assert_array_equal(state["confmat"], whole["confmat"])
    np.testing.assert_array_equal(m.compute(m.merge(a, b)), m.compute(whole))


def test_jit_compiles_once_and_accepts_metric_objects_as_arguments():
    m = metrics.Precision(num_classes=3, average="macro")
    traces = []

    @jax.jit
    def step(metric, state, preds, target, mask):
        traces.append(1)
        return metric.update(state, preds, target, mask)

    s = m.init()
    rng = np.random.default_rng(0)
    for _ in range(3):
        s = step(
            m,
            s,
            jnp.asarray(rng.normal(size=(8, 3)), jnp.float32),
            jnp.asarray(rng.integers(0, 3, 8)),
            jnp.ones(8, bool),
        )
    assert len(traces) == 1
    assert float(jax.jit(m.compute)(s)) == pytest.approx(float(m.compute(s)))


def test_argument_and_input_errors():
    with pytest.raises(ConfigError, match="metrics.Precision: num_classes must be given"):
        metrics.Precision(average="macro")
    with pytest.raises(ConfigError, match="average must be"):
        metrics.Recall(num_classes=3, average="samples")
    with pytest.raises(ConfigError, match="zero_division must be"):
        metrics.F1Score(zero_division="warn")
    with pytest.raises(ConfigError, match="top_k must be an int >= 1"):
        metrics.Accuracy(top_k=0)
    with pytest.raises(ConfigError, match="top_k must be <= the number of classes"):
        metrics.Accuracy(top_k=4)(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32))
    with pytest.raises(ShapeError, match="preds has 4 class scores per row, num_classes is 3"):
        metrics.ConfusionMatrix(3)(jnp.zeros((2, 4)), jnp.zeros(2, jnp.int32))
    with pytest.raises(ShapeError, match="mask must have shape"):
        metrics.Accuracy()(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), jnp.ones(3, bool))
    with pytest.raises(DTypeError, match="target must hold integer class ids, got dtype float32"):
        metrics.Accuracy()(jnp.zeros((2, 3)), jnp.zeros(2))
    with pytest.raises(ConfigError, match=r"target holds class id 5, outside \[0, 3\)"):
        metrics.ConfusionMatrix(3)(jnp.zeros(2, jnp.int32), jnp.array([0, 5]))
    with pytest.raises(DTypeError, match="mask must be a bool array"):
        metrics.Accuracy()(jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), jnp.ones(2))
