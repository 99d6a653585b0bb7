"""Metric states across devices and transforms: psum/reduce under a named axis (jax.vmap with
axis_name stands in for devices: the same collectives as shard_map/pmap), jax.jit and torsh.jit."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import sklearn.metrics as skm

import torsh
from torsh import metrics

SHARDS, ROWS, C = 4, 6, 3

rng = np.random.default_rng(0)
SCORES = rng.random((SHARDS, ROWS, C)).astype(np.float32)
LABELS = rng.integers(0, C, (SHARDS, ROWS)).astype(np.int32)
MASK = rng.random((SHARDS, ROWS)) < 0.8  # padded rows differ per shard
VALUES = rng.normal(size=(SHARDS, ROWS)).astype(np.float32)
TARGETS = (VALUES + 0.3 * rng.normal(size=(SHARDS, ROWS))).astype(np.float32)

CLASSIFICATION = [
    metrics.Accuracy(),
    metrics.Accuracy(top_k=2),
    metrics.ConfusionMatrix(C),
    metrics.Precision(num_classes=C, average="macro"),
    metrics.Recall(num_classes=C, average="weighted"),
    metrics.F1Score(num_classes=C, average=None),
    metrics.AUROC(num_classes=C, capacity=SHARDS * ROWS),
    metrics.AveragePrecision(num_classes=C, average="weighted", capacity=SHARDS * ROWS),
    metrics.Perplexity(),
]
REGRESSION = [metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), metrics.R2Score()]


def inputs(m):
    if isinstance(m, (metrics.MeanSquaredError, metrics.MeanAbsoluteError, metrics.R2Score)):
        return VALUES, TARGETS
    return SCORES, LABELS


@pytest.mark.parametrize("m", CLASSIFICATION + REGRESSION, ids=lambda m: type(m).__name__)
def test_reduce_over_a_named_axis_equals_one_state_over_all_rows(m):
    preds, target = inputs(m)

    def per_shard(p, t, mask):
        state = m.update(m.init(), p, t, mask)
        return m.compute(m.reduce(state, "shards"))

    got = jax.jit(jax.vmap(per_shard, axis_name="shards"))(preds, target, MASK)
    flat = lambda a: a.reshape(SHARDS * ROWS, *a.shape[2:])
    ref = m.compute(m.update(m.init(), flat(preds), flat(target), MASK.reshape(-1)))
    for shard in range(SHARDS):  # every shard ends with the global value
        np.testing.assert_allclose(got[shard], ref, rtol=2e-6, atol=1e-6)


def test_count_states_merge_with_a_plain_psum():
    m = metrics.F1Score(num_classes=C, average="macro")

    def per_shard(p, t, mask):
        return jax.lax.psum(m.update(m.init(), p, t, mask), "shards")  # the state is a sum

    state = jax.tree_util.tree_map(
        lambda x: x[0], jax.vmap(per_shard, axis_name="shards")(SCORES, LABELS, MASK)
    )
    keep = MASK.reshape(-1)
    ref = skm.f1_score(LABELS.reshape(-1)[keep], SCORES.reshape(-1, C).argmax(1)[keep], average="macro")
    np.testing.assert_allclose(m.compute(state), ref, rtol=1e-6)


def test_metrics_work_under_torsh_jit_with_the_metric_as_an_argument():
    for m in (metrics.Accuracy(), metrics.AUROC(num_classes=C, capacity=64), metrics.R2Score()):

        @torsh.jit
        def evaluate(metric, state, preds, target, mask):
            return metric.update(state, preds, target, mask)

        preds, target = inputs(m)
        state = m.init()
        for shard in range(SHARDS):
            state = evaluate(m, state, preds[shard], target[shard], MASK[shard])
        flat = lambda a: a.reshape(SHARDS * ROWS, *a.shape[2:])
        ref = m.compute(m.update(m.init(), flat(preds), flat(target), MASK.reshape(-1)))
        np.testing.assert_allclose(torsh.jit(m.compute)(state), ref, rtol=2e-6)


def test_states_are_pytrees_of_arrays():
    for m in CLASSIFICATION + REGRESSION + [metrics.Mean(), metrics.Sum()]:
        state = m.init()
        assert isinstance(state, dict) and all(
            isinstance(x, jax.Array) for x in jax.tree_util.tree_leaves(state)
        )
        assert jax.tree_util.tree_leaves(m) == []  # a metric object is configuration only


def test_metrics_compare_and_hash_by_configuration():
    assert metrics.F1Score(num_classes=3, average="macro") == metrics.F1Score(num_classes=3, average="macro")
    assert metrics.F1Score(num_classes=3, average="macro") != metrics.F1Score(num_classes=3, average="micro")
    assert metrics.Precision(zero_division=float("nan")) == metrics.Precision(zero_division=float("nan"))
    assert metrics.Precision() != metrics.Recall()
    assert len({metrics.Accuracy(), metrics.Accuracy(), metrics.Accuracy(top_k=2)}) == 2
    assert "top_k=2" in repr(metrics.Accuracy(top_k=2))
