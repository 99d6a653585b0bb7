"""default_collate: stacking pytrees of arrays, checked against torch's default_collate."""

from __future__ import annotations

import collections
import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import default_collate as torch_collate

import torsh
from torsh.data import CollateError, DataLoader, default_collate
from torsh.errors import DataError


def _to_numpy(tree):
    return torsh.tree.map(lambda t: t.numpy() if isinstance(t, torch.Tensor) else t, tree)


Point = collections.namedtuple("Point", ["xy", "label"])


@dataclasses.dataclass
class Plain:
    image: np.ndarray
    label: int


class Record(torsh.tree.Struct):
    image: np.ndarray
    label: np.ndarray
    tag: str = torsh.tree.static("r")


def _samples(n, seed=0):
    g = np.random.default_rng(seed)
    return [
        {
            "image": g.normal(size=(3, 4, 4)).astype(np.float32),
            "label": int(g.integers(10)),
            "pair": (g.normal(size=2), np.int32(i)),
            "list": [np.float32(i), np.ones(2, np.int64) * i],
        }
        for i in range(n)
    ]


def test_matches_torch_default_collate_on_nested_containers():
    samples = _samples(5)
    ours = default_collate(samples)
    theirs = _to_numpy(torch_collate(samples))
    assert set(ours) == set(theirs)
    np.testing.assert_array_equal(ours["image"], theirs["image"])
    np.testing.assert_array_equal(ours["label"], theirs["label"])
    assert ours["label"].dtype == np.int64 == theirs["label"].dtype
    np.testing.assert_array_equal(ours["pair"][0], theirs["pair"][0])
    np.testing.assert_array_equal(ours["pair"][1], theirs["pair"][1])
    assert ours["pair"][1].dtype == np.int32
    assert isinstance(ours["list"], list) and len(ours["list"]) == 2
    np.testing.assert_array_equal(ours["list"][1], theirs["list"][1])


@given(
    n=st.integers(1, 6),
    shape=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    dtype=st.sampled_from([np.float32, np.int64, np.uint8, np.bool_]),
)
def test_stacking_property_matches_torch(n, shape, dtype):
    g = np.random.default_rng(n)
    arrays = [(g.normal(size=shape) * 10).astype(dtype) for _ in range(n)]
    ours = default_collate([(a, i) for i, a in enumerate(arrays)])
    theirs = _to_numpy(torch_collate([(torch.from_numpy(np.array(a)), i) for i, a in enumerate(arrays)]))
    assert ours[0].shape == (n, *shape) and ours[0].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


def test_namedtuple_dataclass_struct_and_jax_leaves_keep_their_types():
    batch = default_collate([Point(np.ones(2) * i, i) for i in range(3)])
    assert isinstance(batch, Point) and batch.xy.shape == (3, 2)
    batch = default_collate([Plain(np.full(2, i, np.float32), i) for i in range(3)])
    assert isinstance(batch, Plain)
    np.testing.assert_array_equal(batch.label, [0, 1, 2])
    batch = default_collate([Record(np.zeros((2, 2)), np.int32(i)) for i in range(4)])
    assert isinstance(batch, Record) and batch.image.shape == (4, 2, 2) and batch.tag == "r"
    batch = default_collate([jnp.ones(3) * i for i in range(2)])
    assert isinstance(batch, np.ndarray) and batch.shape == (2, 3)


def test_python_scalars_strings_and_none():
    batch = default_collate([(1.5, True, "a", None, 2j), (2.5, False, "b", None, 1j)])
    assert batch[0].dtype == np.float32 and batch[1].dtype == np.bool_
    assert batch[2] == ["a", "b"] and batch[3] is None
    assert batch[4].dtype == np.complex64


def test_shape_mismatch_names_sample_index_and_field_path_through_the_loader():
    samples = [{"image": np.zeros((3, 32, 32), np.float32), "label": i} for i in range(20)]
    samples[17] = {"image": np.zeros((3, 32, 31), np.float32), "label": 17}
    with pytest.raises(CollateError) as info:
        list(DataLoader(samples, batch_size=8))
    msg = str(info.value)
    assert "sample 17" in msg and "field `image`" in msg
    assert "expected shape (3, 32, 32), got (3, 32, 31)" in msg
    assert info.value.sample_index == 17 and info.value.path == "image"
    assert isinstance(info.value, DataError)


def test_nested_and_dataclass_paths_in_errors():
    samples = [{"a": {"b": [np.zeros(2), np.zeros(3)]}} for _ in range(3)]
    samples[2]["a"]["b"][1] = np.zeros(4)
    with pytest.raises(CollateError, match=r"field `a\.b\.1`: expected shape \(3,\), got \(4,\)") as info:
        default_collate(samples)
    assert info.value.position == 2
    with pytest.raises(CollateError, match=r"field `0\.image`: expected shape"):
        default_collate([(Plain(np.zeros(2), 0),), (Plain(np.zeros(3), 1),)])


def test_structure_dtype_and_type_mismatches():
    with pytest.raises(CollateError, match=r"structure differs.*missing \['y'\]") as info:
        default_collate([{"x": 1, "y": 2}, {"x": 1}])
    assert info.value.position == 1
    with pytest.raises(CollateError, match=r"field `x`: expected dtype float32, got float64"):
        default_collate([{"x": np.zeros(2, np.float32)}, {"x": np.zeros(2)}])
    with pytest.raises(CollateError, match=r"field `1`: expected int, got float"):
        default_collate([(np.zeros(1), 1), (np.zeros(1), 1.0)])
    with pytest.raises(CollateError, match=r"expected an array, got int"):
        default_collate([np.zeros(1), 3])
    with pytest.raises(CollateError, match="cannot batch object"):
        default_collate([object(), object()])
    with pytest.raises(CollateError, match="empty list"):
        default_collate([])
    with pytest.raises(CollateError, match="expected a list of samples"):
        default_collate("abc")
