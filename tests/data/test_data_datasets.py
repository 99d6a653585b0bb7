"""Datasets: ArrayDataset, Subset, ConcatDataset, random_split, .map, against torch.utils.data."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.utils.data as tud

import torsh
from torsh.data import (
    ArrayDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    SampleIndexError,
    Subset,
    random_split,
)
from torsh.errors import ConfigError, ShapeError


def test_array_dataset_matches_tensor_dataset():
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.arange(6)
    ours = ArrayDataset(x, y)
    theirs = tud.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(theirs) == 6
    for i in [0, 3, 5, -1, -6]:
        a, b = ours[i], theirs[i]
        np.testing.assert_array_equal(a[0], b[0].numpy())
        assert int(a[1]) == int(b[1])
    single = ArrayDataset(x)
    assert isinstance(single[0], tuple) and len(single[0]) == 1  # like TensorDataset


def test_array_dataset_over_a_pytree_and_jax_arrays():
    ds = ArrayDataset({"image": jnp.ones((5, 2, 2)), "label": np.arange(5), "extra": [np.zeros((5, 1))]})
    s = ds[2]
    assert set(s) == {"image", "label", "extra"} and isinstance(s["image"], np.ndarray)
    assert s["extra"][0].shape == (1,)
    batch = ds._torsh_get_batch([4, 0])
    np.testing.assert_array_equal(batch["label"], [4, 0])
    assert torsh.tree.paths(ds.arrays) == ["extra.0", "image", "label"]


def test_array_dataset_errors():
    with pytest.raises(ShapeError, match=r"`0` has 4, `1` has 3"):
        ArrayDataset(np.zeros((4, 2)), np.zeros(3))
    with pytest.raises(ShapeError, match=r"leaf `b` is a scalar"):
        ArrayDataset({"a": np.zeros(3), "b": np.zeros(())})
    with pytest.raises(ConfigError, match=r"leaf `b` is str; expected a NumPy or JAX array"):
        ArrayDataset({"a": np.zeros(2), "b": "text"})
    with pytest.raises(SampleIndexError, match="index 6 is out of range for 6 samples"):
        ArrayDataset(np.zeros(6))[6]
    with pytest.raises(IndexError):
        ArrayDataset(np.zeros(6))[-7]
    with pytest.raises(SampleIndexError, match="expected an integer sample index, got str"):
        ArrayDataset(np.zeros(6))["1"]
    with pytest.raises(SampleIndexError, match="out of range"):
        ArrayDataset(np.zeros(6))._torsh_get_batch([0, 9])
    with pytest.raises(ConfigError, match="at least one array"):
        ArrayDataset()


def test_subset_concat_and_map_match_torch():
    base = list(range(10))
    sub = Subset(base, [9, 2, -1])
    assert [sub[i] for i in range(len(sub))] == [tud.Subset(base, [9, 2, 9])[i] for i in range(3)]
    cat = ConcatDataset([[0, 1], [2, 3, 4], [5]])
    tcat = tud.ConcatDataset([[0, 1], [2, 3, 4], [5]])
    assert [cat[i] for i in range(-6, 6)] == [tcat[i] for i in range(-6, 6)]
    assert len(cat) == 6
    with pytest.raises(SampleIndexError):
        cat[6]
    with pytest.raises(SampleIndexError, match=r"indices\[1\] = 10 is out of range"):
        Subset(base, [0, 10])
    with pytest.raises(ConfigError, match="iterable dataset"):
        ConcatDataset([[1], _Stream()])

    class Double(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return 2 * i

    mapped = Double().map(lambda v: v + 1).map(str)
    assert [mapped[i] for i in range(3)] == ["1", "3", "5"]
    assert [(Double() + [7])[i] for i in range(4)] == [0, 2, 4, 7]
    with pytest.raises(ConfigError, match="must be callable"):
        Double().map(3)


def test_subset_batch_path_maps_indices():
    ds = ArrayDataset(np.arange(10) * 10)
    sub = Subset(ds, [5, 1, 3])
    np.testing.assert_array_equal(sub._torsh_get_batch([2, 0])[0], [30, 50])
    assert [int(s[0]) for s in sub.__getitems__([0, 1])] == [50, 10]


class _Stream(IterableDataset):
    def __iter__(self):
        return iter(range(3))


def test_random_split_lengths_fractions_seed_and_errors():
    parts = random_split(range(10), [3, 7], seed=1)
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(list(parts[0]) + list(parts[1])) == list(range(10))
    again = random_split(range(10), [3, 7], seed=1)
    assert list(parts[0]) == list(again[0])
    assert list(parts[0]) != list(random_split(range(10), [3, 7], seed=2)[0])
    # fractions: same length rule as torch
    for fracs in ([0.3, 0.3, 0.4], [0.5, 0.5], [0.1, 0.2, 0.7], [1 / 3] * 3):
        ours = [len(p) for p in random_split(range(11), fracs)]
        theirs = [len(p) for p in tud.random_split(range(11), fracs)]
        assert ours == theirs
    with pytest.raises(ConfigError, match="add up to 9"):
        random_split(range(10), [4, 5])
    with pytest.raises(ConfigError, match="non-negative"):
        random_split(range(10), [-1, 11])
    with pytest.raises(ConfigError, match="fractions summing to 1"):
        random_split(range(10), [0.5, 0.2])


def test_iterable_dataset_map():
    assert list(_Stream().map(lambda v: v * 3)) == [0, 3, 6]
