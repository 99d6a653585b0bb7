"""Inputs PyTorch rejects raise torsh errors outside jit (they gave NaN, wrapped or zero rows before)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import torsh.nn.functional as F
from torsh import nn
from torsh.errors import DTypeError, TorshError

C = 4


@given(st.lists(st.integers(-3, C + 2), min_size=1, max_size=6), st.sampled_from([-100, 1, -1]))
def test_class_targets_raise_exactly_when_pytorch_does(targets, ignore_index):
    logits = np.linspace(-1, 1, len(targets) * C, dtype=np.float32).reshape(len(targets), C)
    y = np.array(targets)
    for name in ("cross_entropy", "nll_loss"):
        try:
            want = getattr(torch.nn.functional, name)(
                torch.from_numpy(logits), torch.from_numpy(y), ignore_index=ignore_index
            ).item()
        except (IndexError, RuntimeError):
            with pytest.raises(nn.IndexOutOfRangeError, match=rf"{name}: target -?\d+ is out of range"):
                getattr(F, name)(jnp.asarray(logits), jnp.asarray(y), ignore_index=ignore_index)
            continue
        got = float(getattr(F, name)(jnp.asarray(logits), jnp.asarray(y), ignore_index=ignore_index))
        np.testing.assert_allclose(got, want, rtol=1e-5, equal_nan=True)


def test_embedding_and_one_hot_indices():
    emb = nn.Embedding(3, 2)
    for bad in (3, -1):
        with pytest.raises(
            nn.IndexOutOfRangeError, match=rf"index {bad} is out of range: expected 0 <= index < 3"
        ):
            emb(jnp.array([0, bad]))
        with pytest.raises(IndexError):  # also the builtin class PyTorch raises
            F.embedding(jnp.array([bad]), emb.weight)
        with pytest.raises(nn.IndexOutOfRangeError, match=rf"one_hot: class value {bad} is out of range"):
            F.one_hot(jnp.array([bad, 0]), 3)
    # the module path is added when raised inside a model
    model = nn.Sequential(nn.Embedding(3, 2))
    with pytest.raises(nn.IndexOutOfRangeError, match=r"^0 \(Embedding 3x2\): embedding: index 7"):
        model(jnp.array([7]))
    assert F.one_hot(jnp.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_binary_cross_entropy_input_outside_unit_interval():
    t = jnp.array([1.0, 0.0])
    for bad in (1.5, -0.25, float("nan")):
        with pytest.raises(nn.ValueRangeError, match="all elements of input should be between 0 and 1"):
            F.binary_cross_entropy(jnp.array([0.5, bad]), t)
        with pytest.raises(RuntimeError):
            torch.nn.functional.binary_cross_entropy(torch.tensor([0.5, bad]), torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError):
        nn.BCELoss()(jnp.array([2.0]), jnp.array([1.0]))


def test_float_class_labels_say_to_use_an_integer_dtype():
    with pytest.raises(DTypeError, match=r"use `y\.astype\(jnp\.int32\)`"):
        F.cross_entropy(jnp.zeros((2, 3)), jnp.array([0.0, 1.0]))
    with pytest.raises(DTypeError, match=r"target\.astype\(jnp\.int32\)"):
        F.nll_loss(jnp.zeros((2, 3)), jnp.array([0.0, 1.0]))
    with pytest.raises(DTypeError, match=r"astype\(jnp\.int32\)"):
        nn.CrossEntropyLoss()(jnp.zeros((2, 3)), jnp.array([0.0, 1.0]))
    # floating targets of the input's shape are class probabilities (as PyTorch)
    probs = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert np.isfinite(float(F.cross_entropy(jnp.zeros((2, 3)), probs)))


def test_checks_cost_nothing_under_plain_jit():
    # documented behaviour without torsh.debug.checks: no error, XLA's answer
    out = jax.jit(lambda x, y: F.cross_entropy(x, y))(jnp.zeros((2, 3)), jnp.array([0, 5]))
    assert np.isnan(float(out))
    jaxpr = str(jax.make_jaxpr(lambda x, y: F.cross_entropy(x, y))(jnp.zeros((2, 3)), jnp.array([0, 1])))
    assert "check" not in jaxpr and "argmax" not in jaxpr  # nothing of the check is traced


@pytest.mark.parametrize(
    "cls,shape", [(nn.BatchNorm1d, (0, 3)), (nn.BatchNorm2d, (0, 3, 2, 2)), (nn.BatchNorm2d, (2, 3, 0, 2))]
)
def test_batchnorm_on_an_empty_batch_keeps_running_statistics(cls, shape):
    ref = getattr(torch.nn, cls.__name__)(3, momentum=0.3)
    bn = cls(3, momentum=0.3)
    x = (
        np.random.default_rng(0)
        .standard_normal((4, *shape[1:]) if shape[0] == 0 else (4, 3, 2, 2))
        .astype(np.float32)
    )
    ref(torch.from_numpy(x))  # one real batch first, so the statistics are not the defaults
    _, bn = nn.stateful(bn)(jnp.asarray(x))
    y_ref = ref(torch.zeros(shape))
    y, bn = jax.jit(lambda m, x: nn.stateful(m)(x))(bn, jnp.zeros(shape))
    assert y.shape == tuple(y_ref.shape)
    for name, value in ref.state_dict().items():
        np.testing.assert_allclose(np.asarray(bn.state_dict()[name]), value.numpy(), rtol=1e-5, atol=1e-6)
    assert int(bn.num_batches_tracked) == 2
    assert issubclass(nn.IndexOutOfRangeError, TorshError)
