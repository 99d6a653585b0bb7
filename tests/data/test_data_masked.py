"""DataLoader(pad_last=True): MaskedBatch of always batch_size rows (issue 10, contract in docs/data.md).

The reference for every case is built independently from the unpadded loader's batches (or the
dataset itself): pad with copies of the last row, mask True on the real rows.
"""

from __future__ import annotations

import _data_testlib as lib
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import torsh
from torsh.data import (
    ArrayDataset,
    BatchSampler,
    DataLoader,
    DistributedSampler,
    MaskedBatch,
    SequentialSampler,
    WeightedRandomSampler,
)
from torsh.errors import ConfigError, DataError

X, Y = lib.images(23, size=4)
DS = ArrayDataset(X, Y)


def reference(unpadded_batches, batch_size):
    """Pad each unpadded batch (a pytree with batch axis 0 on every leaf) by repeating its last row."""
    out = []
    for batch in unpadded_batches:
        n = len(jax.tree.leaves(batch)[0])
        padded = jax.tree.map(lambda a, n=n: np.concatenate([a, np.repeat(a[-1:], batch_size - n, 0)]), batch)
        out.append((padded, np.arange(batch_size) < n))
    return out


def assert_matches(batches, expected):
    assert len(batches) == len(expected)
    for got, (data, mask) in zip(batches, expected, strict=True):
        assert isinstance(got, MaskedBatch)
        assert got.mask.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(got.mask), mask)
        for a, b in zip(jax.tree.leaves(got.data), jax.tree.leaves(data), strict=True):
            np.testing.assert_array_equal(np.asarray(a), b)


def test_contract_shapes_mask_len_and_padding_rows():
    loader = DataLoader(DS, batch_size=5, pad_last=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 5  # 23 samples: 4 full batches + 3 real rows
    for b in batches:
        assert b.data[0].shape == (5, 4, 4, 3) and b.data[1].shape == (5,) and b.mask.shape == (5,)
    last = batches[-1]
    assert last.mask.tolist() == [True, True, True, False, False] and last.num_valid == 3
    assert last.data[1].tolist() == [20, 21, 22, 22, 22]
    np.testing.assert_array_equal(last.data[0][3], X[22])
    assert all(b.mask.all() for b in batches[:-1])
    # a multiple of the batch size: nothing padded, still MaskedBatch
    assert all(b.mask.all() for b in DataLoader(ArrayDataset(X[:20], Y[:20]), batch_size=5, pad_last=True))


@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 8),
    shuffle=st.booleans(),
    mapped=st.booleans(),
)
def test_equals_padded_unpadded_loader(n, batch_size, shuffle, mapped):
    ds = ArrayDataset({"x": X[:n].astype(np.float32), "y": Y[:n]})
    if mapped:  # per-sample path (no one-gather fetch) with a random transform
        ds = ds.map(lambda s: {"x": s["x"] + np.float32(torsh.data.rng().random()), "y": s["y"]})
    plain = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=3)
    padded = DataLoader(ds, batch_size=batch_size, shuffle=shuffle, seed=3, pad_last=True)
    assert len(padded) == len(plain)
    expected = reference(list(plain), batch_size)
    if mapped:  # padded rows repeat the last *transformed* sample; real rows draw the same randomness
        got = list(padded)
        for g, (data, mask) in zip(got, expected, strict=True):
            k = int(mask.sum())
            np.testing.assert_array_equal(g.data["x"][:k], data["x"][:k])
            padding = np.repeat(g.data["x"][k - 1 : k], batch_size - k, 0)
            np.testing.assert_array_equal(g.data["x"][k:], padding)
            np.testing.assert_array_equal(g.mask, mask)
    else:
        assert_matches(list(padded), expected)


@pytest.mark.parametrize("num_workers,kind", [(2, "thread"), (2, "process")])
def test_workers_give_the_same_masked_batches(num_workers, kind):
    ds = DS.map(lib.augment)
    expected = list(DataLoader(ds, batch_size=6, shuffle=True, seed=1, pad_last=True))
    loader = DataLoader(
        ds, batch_size=6, shuffle=True, seed=1, pad_last=True, num_workers=num_workers, worker_type=kind
    )
    got = list(loader)
    assert_matches(got, [(e.data, e.mask) for e in expected])
    assert got[-1].mask.tolist() == [True] * 5 + [False]


def test_resume_mid_epoch_yields_the_same_masked_batches():
    loader = DataLoader(DS, batch_size=4, shuffle=True, seed=7, pad_last=True)
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    rest = list(it)
    resumed = DataLoader(DS, batch_size=4, shuffle=True, seed=7, pad_last=True)
    resumed.load_state_dict(state)
    assert_matches(list(resumed), [(r.data, r.mask) for r in rest])


def test_samplers_and_distributed_shards():
    weights = np.linspace(0.1, 1.0, len(DS))
    sampler = WeightedRandomSampler(weights, num_samples=11, seed=2)
    plain = DataLoader(DS, batch_size=4, sampler=sampler)
    padded = DataLoader(DS, batch_size=4, sampler=sampler, pad_last=True)
    assert_matches(list(padded), reference(list(plain), 4))
    for rank in range(3):  # 23 samples over 3 processes: 8 each (sampler pads), batches 3+3+2
        shard = DistributedSampler(DS, num_replicas=3, rank=rank, shuffle=True, seed=0)
        plain = list(DataLoader(DS, batch_size=3, sampler=shard))
        padded = list(DataLoader(DS, batch_size=3, sampler=shard, pad_last=True))
        assert_matches(padded, reference(plain, 3))
        assert padded[-1].mask.tolist() == [True, True, False]
    batches = BatchSampler(SequentialSampler(DS), 10)
    padded = list(DataLoader(DS, batch_sampler=batches, pad_last=True))
    assert [b.num_valid for b in padded] == [10, 10, 3] and padded[-1].data[0].shape[0] == 10


def test_iterable_dataset_custom_collate_and_device():
    stream = lib.Stream(7)
    plain = list(DataLoader(stream, batch_size=3))
    padded = list(DataLoader(stream, batch_size=3, pad_last=True))
    assert_matches(padded, reference(plain, 3))

    def collate(samples):  # a custom collate_fn sees the padded list of samples
        return {"ids": [int(y) for _, y in samples]}

    got = list(DataLoader(DS, batch_size=10, collate_fn=collate, pad_last=True))
    assert got[-1].data["ids"] == [20, 21, 22] + [22] * 7
    placed = list(DataLoader(DS, batch_size=10, pad_last=True, device="cpu"))
    assert isinstance(placed[-1].mask, jax.Array) and isinstance(placed[-1].data[0], jax.Array)
    assert placed[-1].mask.tolist() == [True] * 3 + [False] * 7


def test_one_compilation_and_masked_mean_over_the_epoch():
    traces = []

    @jax.jit
    def masked_sum(batch):
        traces.append(1)
        x = batch.data[0].astype(jnp.float32).mean(axis=(1, 2, 3))
        return jnp.sum(jnp.where(batch.mask, x, 0.0)), jnp.sum(batch.mask)

    totals = [masked_sum(b) for b in DataLoader(DS, batch_size=5, pad_last=True)]
    assert len(traces) == 1
    total = sum(float(t) for t, _ in totals) / sum(int(c) for _, c in totals)
    np.testing.assert_allclose(total, X.astype(np.float32).mean(axis=(1, 2, 3)).mean(), rtol=1e-5)


def test_bad_configurations():
    with pytest.raises(ConfigError, match="choose one"):
        DataLoader(DS, batch_size=4, drop_last=True, pad_last=True)
    with pytest.raises(ConfigError, match="needs a batch_size"):
        DataLoader(DS, batch_size=None, pad_last=True)
    with pytest.raises(ConfigError, match="pad_last must be a bool"):
        DataLoader(DS, batch_size=4, pad_last=1)
    with pytest.raises(ConfigError, match="no positive int attribute `batch_size`"):
        DataLoader(DS, batch_sampler=[[0, 1], [2]], pad_last=True)

    class Uneven:
        batch_size = 2

        def __iter__(self):
            return iter([[0, 1], [2, 3, 4]])

        def __len__(self):
            return 2

    loader = DataLoader(DS, batch_sampler=Uneven(), pad_last=True)
    with pytest.raises(DataError, match="batch 1 with 3 samples"):
        list(loader)
