"""train.scan_steps: k steps in one call follow the same trajectory as k single steps."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import torsh
from torsh import nn, optim, train
from torsh.errors import ConfigError, ShapeError
from torsh.nn import functional as F


def _step(state, batch):
    x, y = batch
    loss, grads = torsh.value_and_grad(lambda m: F.cross_entropy(m(x, key=state.key), y))(state.model)
    return state.apply_gradients(grads), {"loss": loss}


SINGLE = torsh.jit(_step)
MULTI = train.scan_steps(_step, 4, donate=False)


def _make_state():
    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 3))
    return train.TrainState.create(model=model, opt=optim.AdamW(lr=1e-2), key=torsh.random.key(1))


INITIAL = _make_state()  # nothing is donated: every example starts from the same arrays


def _state():
    return INITIAL


@given(seed=st.integers(0, 2**31 - 1))
def test_scan_steps_matches_single_steps(seed):
    rng = np.random.default_rng(seed)
    batches = [
        (rng.normal(size=(5, 6)).astype(np.float32), rng.integers(0, 3, 5).astype(np.int32)) for _ in range(8)
    ]
    single, losses = _state(), []
    for b in batches:
        single, logs = SINGLE(single, b)
        losses.append(float(logs["loss"]))
    multi, multi_losses = _state(), []
    for group in train.chunked(batches, 4):
        multi, logs = MULTI(multi, group)
        multi_losses.extend(np.asarray(logs["loss"]).tolist())
    assert int(multi.step) == int(single.step) == 8
    np.testing.assert_array_equal(jax.random.key_data(multi.key), jax.random.key_data(single.key))
    for a, b in zip(
        jax.tree.leaves((multi.model, multi.opt_state)),
        jax.tree.leaves((single.model, single.opt_state)),
        strict=True,
    ):
        np.testing.assert_allclose(
            a, b, rtol=2e-6, atol=1e-7
        )  # one program vs eight: fusion may differ by ulps
    np.testing.assert_allclose(multi_losses, losses, rtol=2e-6)


def test_scan_steps_errors_and_helpers():
    with pytest.raises(ConfigError, match="k must be an int >= 1"):
        train.scan_steps(_step, 0)
    with (
        pytest.raises(ShapeError, match=r"leading axis of 4 .* shape \(3, 5, 6\)"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", torsh.transforms.RecompileWarning)  # the new shape is traced first
        MULTI(_state(), (jnp.zeros((3, 5, 6)), jnp.zeros((3, 5), jnp.int32)))
    with pytest.raises(ShapeError, match="differ"):
        train.stack_batches([np.zeros(2), np.zeros(3)])
    groups = list(train.chunked([np.full(2, i) for i in range(7)], 3))  # the last short group dropped
    assert [g[:, 0].tolist() for g in groups] == [[0, 1, 2], [3, 4, 5]]


def test_fit_runs_a_scanned_step_over_chunked_batches():
    rng = np.random.default_rng(0)
    batches = [
        (rng.normal(size=(5, 6)).astype(np.float32), rng.integers(0, 3, 5).astype(np.int32)) for _ in range(8)
    ]
    state, history = train.fit(
        MULTI, _state(), list(train.chunked(batches, 4)), epochs=1, progress=False, log=None
    )
    single, losses = _state(), []
    for b in batches:
        single, logs = SINGLE(single, b)
        losses.append(float(logs["loss"]))
    assert int(state.step) == 8 and history.steps("loss") == [2]  # fit counts calls: 2 calls of 4 steps
    assert history["loss"][0] == pytest.approx(np.mean(losses), rel=1e-5)  # stacked logs are averaged
