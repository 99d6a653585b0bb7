"""Samplers against torch.utils.data: same lengths, same batching, same sharding arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import torch.utils.data as tud
from hypothesis import given
from hypothesis import strategies as st

from torsh.data import (
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from torsh.errors import ConfigError


def test_sequential_matches_torch():
    assert list(SequentialSampler(range(7))) == list(tud.SequentialSampler(range(7)))
    assert len(SequentialSampler(5)) == 5


@given(n=st.integers(0, 40), batch_size=st.integers(1, 9), drop_last=st.booleans())
def test_batch_sampler_matches_torch(n, batch_size, drop_last):
    ours = BatchSampler(SequentialSampler(range(n)), batch_size, drop_last)
    theirs = tud.BatchSampler(tud.SequentialSampler(range(n)), batch_size, drop_last)
    assert list(ours) == list(theirs)
    assert len(ours) == len(theirs)


def test_random_sampler_is_seeded_per_epoch():
    s = RandomSampler(range(20), seed=3)
    first = list(s)
    assert sorted(first) == list(range(20)) and first == list(s)
    s.set_epoch(1)
    second = list(s)
    assert sorted(second) == list(range(20)) and second != first
    s.set_epoch(0)
    assert list(s) == first
    assert list(RandomSampler(range(20), seed=4)) != first
    # more samples than data without replacement: whole permutations back to back (as torch)
    long = list(RandomSampler(range(5), num_samples=12, seed=0))
    assert len(long) == 12 and sorted(long[:5]) == sorted(long[5:10]) == list(range(5))
    assert len(RandomSampler(range(5), num_samples=12)) == len(tud.RandomSampler(range(5), num_samples=12))
    draws = list(RandomSampler(range(3), replacement=True, num_samples=50, seed=0))
    assert len(draws) == 50 and set(draws) <= {0, 1, 2}


def test_subset_random_sampler():
    s = SubsetRandomSampler([4, 8, 15, 16, 23, 42], seed=0)
    assert sorted(s) == [4, 8, 15, 16, 23, 42] and len(s) == 6


def test_weighted_sampler_frequencies_match_weights_like_torch():
    weights = [0.1, 0.0, 0.6, 0.3]
    n = 20000
    ours = np.bincount(list(WeightedRandomSampler(weights, n, seed=0)), minlength=4) / n
    theirs = np.bincount(list(tud.WeightedRandomSampler(weights, n)), minlength=4) / n
    np.testing.assert_allclose(ours, weights, atol=0.015)
    np.testing.assert_allclose(ours, theirs, atol=0.025)
    assert ours[1] == 0
    no_repeat = list(WeightedRandomSampler([1, 1, 1, 0], 3, replacement=False, seed=1))
    assert sorted(no_repeat) == [0, 1, 2]


def test_sampler_errors():
    with pytest.raises(ConfigError, match=r"weights\[1\] = -1"):
        WeightedRandomSampler([1, -1], 2)
    with pytest.raises(ConfigError, match="sum to zero"):
        WeightedRandomSampler([0, 0], 2)
    with pytest.raises(ConfigError, match="cannot draw 3 samples without replacement from 2"):
        WeightedRandomSampler([1, 1, 0], 3, replacement=False)
    with pytest.raises(ConfigError, match="num_samples must be a positive int"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(ConfigError, match="seed must be a non-negative int"):
        RandomSampler(range(3), seed=-1)
    with pytest.raises(ConfigError, match="batch_size must be a positive int"):
        BatchSampler(range(3), 0)
    with pytest.raises(ConfigError, match=r"rank must be in \[0, 1\]"):
        DistributedSampler(10, num_replicas=2, rank=2)
    with pytest.raises(ConfigError, match="set_epoch"):
        RandomSampler(range(3)).set_epoch(-1)


@given(n=st.integers(1, 60), replicas=st.integers(1, 8), drop_last=st.booleans())
def test_distributed_sampler_matches_torch_without_shuffle(n, replicas, drop_last):
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = tud.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@given(n=st.integers(1, 80), replicas=st.integers(1, 8), drop_last=st.booleans(), epoch=st.integers(0, 3))
def test_distributed_shards_are_disjoint_and_cover(n, replicas, drop_last, epoch):
    shards = []
    for rank in range(replicas):
        s = DistributedSampler(n, num_replicas=replicas, rank=rank, shuffle=True, seed=5, drop_last=drop_last)
        s.set_epoch(epoch)
        shards.append(list(s))
    lengths = {len(s) for s in shards}
    assert len(lengths) == 1  # equal shares: no process waits on another at a collective
    flat = [i for s in shards for i in s]
    if drop_last:
        assert len(set(flat)) == len(flat) == (n // replicas) * replicas  # disjoint
    else:
        assert set(flat) == set(range(n))  # covering; padding repeats at most replicas - 1 samples
        assert len(flat) - n < replicas
        if n % replicas == 0:
            assert len(set(flat)) == len(flat)


def test_distributed_reshuffles_per_epoch_and_defaults_to_jax_process():
    s = DistributedSampler(100, shuffle=True, seed=0)  # jax.process_count() == 1 here
    assert s.num_replicas == 1 and s.rank == 0
    a = list(s)
    s.set_epoch(1)
    assert sorted(a) == sorted(s) == list(range(100)) and a != list(s)
