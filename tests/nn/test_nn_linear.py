"""Linear and Identity against PyTorch."""

from __future__ import annotations

import math

import numpy as np
import torch
from _hypothesis_budget import examples
from _nn_reference import compare_module
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn


@settings(max_examples=examples(6))
@given(
    batch=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    d_in=st.integers(1, 9),
    d_out=st.integers(1, 9),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_linear_matches_torch(batch, d_in, d_out, bias, seed):
    torch.manual_seed(seed)
    x = np.random.default_rng(seed).standard_normal((*batch, d_in)).astype(np.float32)
    compare_module(
        torch.nn.Linear(d_in, d_out, bias=bias),
        nn.Linear(d_in, d_out, bias=bias, key=torsh.random.key(seed)),
        [x],
    )


def test_linear_default_init_matches_torch_distribution():
    # Same bounds as PyTorch (kaiming_uniform a=sqrt(5) -> 1/sqrt(fan_in)) and a uniform spread.
    layer = nn.Linear(256, 512, key=torsh.random.key(0))
    bound = 1 / math.sqrt(256)
    w, b = np.asarray(layer.weight), np.asarray(layer.bias)
    assert layer.weight.shape == (512, 256) and layer.bias.shape == (512,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    ref = torch.nn.Linear(256, 512).weight.detach().numpy()
    np.testing.assert_allclose(w.std(), ref.std(), rtol=0.02)  # both U(-b, b): std b/sqrt(3)
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)


def test_linear_construction_is_keyed_and_reproducible():
    a = nn.Linear(3, 4, key=torsh.random.key(1))
    b = nn.Linear(3, 4, key=torsh.random.key(1))
    c = nn.Linear(3, 4, key=torsh.random.key(2))
    assert np.array_equal(a.weight, b.weight) and not np.array_equal(a.weight, c.weight)
    torsh.manual_seed(5)
    d = nn.Linear(3, 4)
    torsh.manual_seed(5)
    e = nn.Linear(3, 4)
    assert np.array_equal(d.weight, e.weight)


def test_linear_dtype_argument():
    layer = nn.Linear(3, 4, dtype="bfloat16", key=torsh.random.key(0))
    assert layer.weight.dtype == torsh.bfloat16 and layer.bias.dtype == torsh.bfloat16


def test_identity_passes_through():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(nn.Identity(54, unused="x")(x), x)
    assert nn.Identity().num_parameters() == 0
