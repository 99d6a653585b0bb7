"""A second reference: torchmetrics (a test-only dependency) on one fixed batch per metric."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from torsh import metrics


def _load_torchvision_shim() -> None:
    """torchmetrics imports torchvision, which here needs tests/vision/_vision_torchvision.py first."""
    if "_vision_torchvision" in sys.modules:
        return
    path = pathlib.Path(__file__).resolve().parents[1] / "vision" / "_vision_torchvision.py"
    spec = importlib.util.spec_from_file_location("_vision_torchvision", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_vision_torchvision"] = module
    spec.loader.exec_module(module)


_load_torchvision_shim()
tm = pytest.importorskip("torchmetrics")  # optional second reference; scikit-learn is the primary one

rng = np.random.default_rng(7)
N, C = 40, 4
LOGITS = rng.normal(size=(N, C)).astype(np.float32)
TARGET = np.concatenate([np.arange(C), rng.integers(0, C, N - C)]).astype(np.int64)  # every class present
SCORES = rng.random(N).astype(np.float32)
BINARY = (rng.random(N) < 0.4).astype(np.int64)
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(1, keepdims=True)
Y = rng.normal(size=N).astype(np.float32)
YHAT = (Y + 0.5 * rng.normal(size=N)).astype(np.float32)


def t(x):
    return torch.tensor(x)


CASES = [
    (
        metrics.Accuracy(top_k=2),
        tm.classification.MulticlassAccuracy(C, top_k=2, average="micro"),
        LOGITS,
        TARGET,
    ),
    (
        metrics.F1Score(num_classes=C, average="macro"),
        tm.classification.MulticlassF1Score(C, average="macro"),
        LOGITS,
        TARGET,
    ),
    (
        metrics.Precision(num_classes=C, average="weighted"),
        tm.classification.MulticlassPrecision(C, average="weighted"),
        LOGITS,
        TARGET,
    ),
    (
        metrics.Recall(num_classes=C, average=None),
        tm.classification.MulticlassRecall(C, average=None),
        LOGITS,
        TARGET,
    ),
    (metrics.ConfusionMatrix(C), tm.classification.MulticlassConfusionMatrix(C), LOGITS, TARGET),
    (
        metrics.AUROC(num_classes=C, capacity=64),
        tm.classification.MulticlassAUROC(C, average="macro"),
        PROBS,
        TARGET,
    ),
    (metrics.AUROC(capacity=64), tm.classification.BinaryAUROC(), SCORES, BINARY),
    (metrics.AveragePrecision(capacity=64), tm.classification.BinaryAveragePrecision(), SCORES, BINARY),
    (metrics.F1Score(), tm.classification.BinaryF1Score(), SCORES, BINARY),
    (metrics.MeanSquaredError(), tm.MeanSquaredError(), YHAT, Y),
    (metrics.MeanAbsoluteError(), tm.MeanAbsoluteError(), YHAT, Y),
    (metrics.R2Score(), tm.R2Score(), YHAT, Y),
]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{type(c[0]).__name__}" if isinstance(c, tuple) else ""
)
def test_equals_torchmetrics(case):
    ours, ref, preds, target = case
    # two updates, as in an evaluation loop
    state = ours.update(ours.init(), jnp.asarray(preds[:25]), jnp.asarray(target[:25]))
    state = ours.update(state, jnp.asarray(preds[25:]), jnp.asarray(target[25:]))
    ref.update(t(preds[:25]), t(target[:25]))
    ref.update(t(preds[25:]), t(target[25:]))
    np.testing.assert_allclose(np.asarray(ours.compute(state)), ref.compute().numpy(), rtol=2e-5, atol=1e-6)


def test_perplexity_equals_torchmetrics():
    logits = rng.normal(size=(3, 5, 7)).astype(np.float32)
    target = rng.integers(0, 7, (3, 5))
    target[1, 2] = -100
    ref = tm.text.Perplexity(ignore_index=-100)
    ref.update(t(logits), t(target))
    got = metrics.Perplexity(ignore_index=-100)(jnp.asarray(logits), jnp.asarray(target))
    np.testing.assert_allclose(float(got), float(ref.compute()), rtol=1e-5)
