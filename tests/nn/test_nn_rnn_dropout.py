"""Dropout masks: reproducible per key (eagerly, under jit, for typed and raw keys), with the right keep rate.

The masks come from Philox-4x32 keyed by the key's data (docs/nn_sequence.md, "Dropout randomness");
the statistics are checked against the binomial distribution, the reproducibility by recomputation.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from test_nn_attention import fast_jit

import torsh
from torsh import nn
from torsh.nn import functional as F
from torsh.nn.functional import _dropout

_mask = fast_jit(lambda key, x: F.dropout(x, 0.5, key=key) != 0)


def test_same_key_same_mask_eager_jit_typed_and_raw():
    x = jnp.ones((64, 33))
    key = torsh.random.key(0)
    eager = np.asarray(F.dropout(x, 0.5, key=key) != 0)
    assert np.array_equal(np.asarray(_mask(key, x)), eager)
    assert np.array_equal(np.asarray(_mask(jax.random.PRNGKey(0), x)), eager)  # legacy uint32[2] key
    assert not np.array_equal(np.asarray(_mask(torsh.random.key(1), x)), eager)
    # Pinned: a change of generator changes every user's masks for a given seed (documented when done).
    first = "".join("1" if b else "0" for b in _dropout._keep_mask(key, 0.5, (32,)).tolist())
    assert first == "00100110000011110111010101001101"


def test_keys_of_another_implementation_use_their_own_bits():
    key = jax.random.key(3, impl="rbg")
    got = _dropout._keep_mask(key, 0.25, (1000,))
    want = jax.random.bits(key, (1000,), jnp.uint32) < jnp.uint32(round(0.75 * 2**32))
    assert np.array_equal(np.asarray(got), np.asarray(want))


@given(p=st.sampled_from([0.05, 0.2, 0.5, 0.9]), seed=st.integers(0, 2**31 - 1))
def test_keep_rate_and_mean_are_binomial(p, seed):
    n = 200_000
    kept = np.asarray(_dropout._keep_mask(torsh.random.key(seed), p, (n,)))
    sd = math.sqrt(n * p * (1 - p))
    assert abs(kept.sum() - n * (1 - p)) < 6 * sd  # binomial(n, 1 - p), 6 standard deviations
    # Neighbouring elements are independent: the pair (kept[i], kept[i+1]) is kept with prob (1-p)^2.
    both = (kept[:-1] & kept[1:]).sum()
    q = (1 - p) ** 2
    assert abs(both - (n - 1) * q) < 6 * math.sqrt(n * q * (1 - q)) * 2


def test_dropout_is_unbiased_and_dropout2d_drops_channels():
    x = jnp.full((400, 500), 3.0)
    y = F.dropout(x, 0.3, key=torsh.random.key(5))
    values = np.unique(np.asarray(y))
    assert values.size == 2 and values[0] == 0.0 and np.isclose(values[1], 3.0 / 0.7, rtol=1e-6)
    assert abs(float(y.mean()) - 3.0) < 6 * 3.0 * math.sqrt(0.3 / 0.7 / x.size)
    z = F.dropout2d(jnp.ones((8, 64, 5, 5)), 0.5, key=torsh.random.key(6))
    per_channel = np.asarray(z).reshape(8, 64, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels kept or dropped
    layer = nn.Dropout(0.5)
    assert np.array_equal(
        np.asarray(layer(x, key=torsh.random.key(7))), np.asarray(F.dropout(x, 0.5, key=torsh.random.key(7)))
    )
