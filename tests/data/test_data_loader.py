"""DataLoader: order and augmentation determinism across worker counts/kinds, exact resume, options."""

from __future__ import annotations

import io
import itertools
import json

import _data_testlib as lib
import numpy as np
import pytest
import torch.utils.data as tud
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

import torsh
from torsh.data import (
    ArrayDataset,
    BatchSampler,
    DataLoader,
    NotSizedError,
    SequentialSampler,
    WeightedRandomSampler,
    get_worker_info,
)
from torsh.errors import ConfigError, DataError

IMAGES, LABELS = lib.images(48)
AUGMENTED = ArrayDataset(IMAGES, LABELS).map(lib.augment)

# (num_workers, worker_type): every configuration must give the same batches
CONFIGS = [(0, "process"), (2, "thread"), (2, "process"), (1, "process")]


def _batches(loader, limit=None):
    """Host copies of the batches (stops after ``limit`` without pulling one more)."""
    return [torsh.tree.map(np.asarray, b) for b in itertools.islice(iter(loader), limit)]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torsh.tree.structure(x) == torsh.tree.structure(y)
        for u, v in zip(torsh.tree.leaves(x), torsh.tree.leaves(y), strict=True):
            np.testing.assert_array_equal(u, v)


def test_in_process_order_matches_torch_for_sequential_batches():
    ds = ArrayDataset(IMAGES, LABELS)
    ours = _batches(DataLoader(ds, batch_size=5, drop_last=False))
    theirs = list(
        tud.DataLoader(
            tud.TensorDataset(*map(__import__("torch").from_numpy, (IMAGES, LABELS))), batch_size=5
        )
    )
    assert len(ours) == len(theirs) == 10
    for (x, y), (tx, ty) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(x, tx.numpy())
        np.testing.assert_array_equal(y, ty.numpy())


def test_batches_identical_for_any_num_workers_and_worker_kind():
    results = {}
    for num_workers, kind in CONFIGS:
        loader = DataLoader(
            AUGMENTED, batch_size=8, shuffle=True, seed=7, num_workers=num_workers, worker_type=kind
        )
        results[(num_workers, kind)] = [_batches(loader), _batches(loader)]  # epochs 0 and 1
    reference = results[CONFIGS[0]]
    assert not np.array_equal(reference[0][0][1], reference[1][0][1])  # reshuffled in epoch 1
    for epochs in results.values():
        for e in range(2):
            _assert_same(reference[e], epochs[e])
    # augmentation randomness is really random across batches and seeds
    other_seed = _batches(DataLoader(AUGMENTED, batch_size=8, shuffle=True, seed=8))
    assert not np.array_equal(other_seed[0][1], reference[0][0][1])


def test_global_numpy_and_python_random_are_seeded_per_batch_in_processes_and_in_process():
    ds = ArrayDataset(IMAGES[:16], LABELS[:16]).map(lib.augment_global)
    state = np.random.get_state()
    a = _batches(DataLoader(ds, batch_size=4, seed=1))
    assert np.array_equal(np.random.get_state()[1], state[1])  # the caller's global stream is untouched
    b = _batches(DataLoader(ds, batch_size=4, seed=1, num_workers=2))
    _assert_same(a, b)
    assert len({float(x[0].ravel()[0]) for x in a}) == len(a)  # a different draw per batch


def test_dict_samples_with_strings_and_worker_info():
    ds = ArrayDataset(IMAGES[:10], LABELS[:10]).map(lib.to_dict)
    for num_workers, kind in [(0, "process"), (2, "process")]:
        batches = list(DataLoader(ds, batch_size=4, num_workers=num_workers, worker_type=kind))
        assert batches[0]["image"].shape == (4, 8, 8, 3)
        assert batches[0]["meta"]["name"] == ["s0", "s1", "s2", "s3"]
        np.testing.assert_array_equal(batches[2]["meta"]["index"], [8, 9])
    assert get_worker_info() is None


def test_worker_init_fn_and_worker_info_in_threads():
    seen = []

    def record(sample):
        info = get_worker_info()
        seen.append((info.id, info.num_workers, info.kind, info.seed))
        return sample

    list(
        DataLoader(
            ArrayDataset(LABELS[:8]).map(record), batch_size=2, num_workers=2, worker_type="thread", seed=3
        )
    )
    assert {s[1:] for s in seen} == {(2, "thread", 3)} and {s[0] for s in seen} <= {0, 1}
    ds = ArrayDataset(LABELS[:6]).map(lib.read_marked_env)
    got = np.concatenate(list(DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=lib.init_marks_env)))
    assert set(got.tolist()) <= {0, 1} and len(got) == 6


def test_len_drop_last_batch_size_none_and_custom_collate():
    ds = ArrayDataset(LABELS[:10])
    assert len(DataLoader(ds, batch_size=3)) == 4 == len(list(DataLoader(ds, batch_size=3)))
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 3
    singles = list(DataLoader(ds, batch_size=None))
    assert len(singles) == 10 and singles[3][0] == 3
    summed = list(DataLoader(ds, batch_size=5, collate_fn=lambda s: sum(int(x[0]) for x in s)))
    assert summed == [10, 35]
    bs = BatchSampler(SequentialSampler(ds), 4, drop_last=True)
    assert [b[0].tolist() for b in DataLoader(ds, batch_sampler=bs)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    weighted = DataLoader(ds, sampler=WeightedRandomSampler(np.eye(10)[3], 6), batch_size=3)
    assert [b[0].tolist() for b in weighted] == [[3, 3, 3], [3, 3, 3]]


def test_plain_python_list_dataset_and_getitems_protocol():
    class Batched(tud.Dataset):
        calls = 0

        def __len__(self):
            return 6

        def __getitem__(self, i):
            raise AssertionError("the loader should use __getitems__")

        def __getitems__(self, indices):
            Batched.calls += 1
            return [np.float32(i) for i in indices]

    assert [b.tolist() for b in DataLoader(Batched(), batch_size=4)] == [[0, 1, 2, 3], [4, 5]]
    assert Batched.calls == 2
    assert [b.tolist() for b in DataLoader([1, 2, 3], batch_size=2)] == [[1, 2], [3]]


def test_iterable_dataset_order_workers_epochs_and_len():
    stream = lib.Stream(10).map(lib.noisy)
    ref = _batches(DataLoader(stream, batch_size=4, seed=2))
    assert [len(b[1]) for b in ref] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1] for b in ref]), np.arange(10))
    for workers, kind in [(2, "thread"), (2, "process")]:
        _assert_same(
            ref, _batches(DataLoader(stream, batch_size=4, seed=2, num_workers=workers, worker_type=kind))
        )
    loader = DataLoader(lib.Stream(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and len(_batches(loader)) == 2
    second = _batches(loader)  # epoch 1: the stream's set_epoch was called
    assert second[0][0][0, 0] == 1000
    with pytest.raises(NotSizedError, match="has no __len__"):
        len(DataLoader(lib.Stream(3, sized=False), batch_size=2))
    assert [int(s[1]) for s in DataLoader(lib.Stream(3), batch_size=None)] == [0, 1, 2]


@pytest.mark.parametrize("num_workers,kind", [(0, "process"), (2, "thread"), (2, "process")])
def test_mid_epoch_resume_yields_exactly_the_remaining_batches(num_workers, kind, tmp_path):
    def make():
        return DataLoader(
            AUGMENTED, batch_size=5, shuffle=True, seed=11, num_workers=num_workers, worker_type=kind
        )

    full = make()
    epoch0 = _batches(full)
    epoch1 = _batches(full)
    interrupted = make()
    _batches(interrupted)  # epoch 0
    it = iter(interrupted)
    head = [next(it) for _ in range(4)]
    state = interrupted.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 4
    del it
    # the state goes through safetensors metadata (str -> str) and back
    path = str(tmp_path / "state.safetensors")
    save_file({"dummy": np.zeros(1)}, path, metadata={k: str(v) for k, v in state.items()})
    from safetensors import safe_open

    with safe_open(path, "np") as f:
        restored_state = dict(f.metadata())
    resumed = make()
    resumed.load_state_dict(restored_state)
    assert resumed.epoch == 1
    tail = _batches(resumed)
    _assert_same(epoch1, [torsh.tree.map(np.asarray, b) for b in head] + tail)
    # afterwards the resumed loader continues with epoch 2 like the uninterrupted one
    _assert_same(_batches(full), _batches(resumed))
    assert load_file(path)["dummy"].shape == (1,)
    assert epoch0


@settings(max_examples=examples(15))
@given(
    n=st.integers(1, 30),
    batch_size=st.integers(1, 7),
    stop=st.integers(0, 8),
    drop_last=st.booleans(),
    epoch=st.integers(0, 2),
)
def test_resume_property_in_process(n, batch_size, stop, drop_last, epoch):
    ds = ArrayDataset(np.arange(n)).map(lib.noisy_scalar)
    make = lambda: DataLoader(ds, batch_size=batch_size, shuffle=True, seed=n, drop_last=drop_last)
    full = make()
    full.set_epoch(epoch)
    expected = _batches(full)
    partial = make()
    partial.set_epoch(epoch)
    head = _batches(partial, limit=stop)
    state = json.loads(json.dumps(partial.state_dict()))
    assert state["batch"] == len(head) or (len(head) == len(expected) and state["batch"] == 0)
    resumed = make()
    resumed.load_state_dict(state)
    rest = _batches(resumed) if len(head) < len(expected) else []
    _assert_same(expected, head + rest)


def test_state_dict_positions_and_mismatch_errors():
    ds = ArrayDataset(np.arange(10))
    loader = DataLoader(ds, batch_size=3, shuffle=True, seed=1)
    assert loader.state_dict()["epoch"] == 0 and loader.state_dict()["batch"] == 0
    list(loader)
    assert (loader.state_dict()["epoch"], loader.state_dict()["batch"]) == (1, 0)
    assert all(isinstance(v, (int, str)) for v in loader.state_dict().values())
    other = DataLoader(ArrayDataset(np.arange(11)), batch_size=3, shuffle=True, seed=1)
    with pytest.raises(DataError, match="dataset_size=10, this loader has dataset_size=11"):
        other.load_state_dict(loader.state_dict())
    with pytest.raises(DataError, match="batch_size=3, this loader has batch_size=4"):
        DataLoader(ds, batch_size=4).load_state_dict(loader.state_dict())
    with pytest.raises(DataError, match="expected format"):
        loader.load_state_dict({"epoch": 1})
    bad = dict(loader.state_dict(), batch="x")
    with pytest.raises(DataError, match="'batch' must be an int"):
        loader.load_state_dict(bad)
    # the saved seed wins: resuming must reproduce the saved run's order
    state = DataLoader(ds, batch_size=3, shuffle=True, seed=5).state_dict()
    reseeded = DataLoader(ds, batch_size=3, shuffle=True, seed=9)
    reseeded.load_state_dict(state)
    _assert_same(_batches(DataLoader(ds, batch_size=3, shuffle=True, seed=5)), _batches(reseeded))


def test_set_epoch_and_epoch_counter():
    ds = ArrayDataset(np.arange(12))
    loader = DataLoader(ds, batch_size=12, shuffle=True, seed=0)
    orders = [next(iter(loader))[0].tolist() for _ in range(3)]  # each iter() is a new epoch, like torch
    assert orders[0] != orders[1] != orders[2]
    loader.set_epoch(1)
    assert next(iter(loader))[0].tolist() == orders[1]
    assert loader.epoch == 2
    with pytest.raises(ConfigError):
        loader.set_epoch(-1)
    # a pending resume survives set_epoch(the same epoch), as in `for e in range(start, n): set_epoch(e)`
    partial = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    it = iter(partial)
    next(it)
    state = partial.state_dict()
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    resumed.load_state_dict(state)
    resumed.set_epoch(0)
    assert len(_batches(resumed)) == 2


def test_iterators_keep_their_own_epoch_order():
    ds = ArrayDataset(np.arange(16))
    loader = DataLoader(ds, batch_size=16, shuffle=True, seed=0)
    reference = DataLoader(ds, batch_size=16, shuffle=True, seed=0)
    expected = [next(iter(reference))[0].tolist() for _ in range(2)]
    first, second = iter(loader), iter(loader)  # both created before either is read
    assert next(second)[0].tolist() == expected[1]
    assert next(first)[0].tolist() == expected[0]


def test_default_seed_follows_manual_seed():
    torsh.manual_seed(123)
    try:
        assert DataLoader([1], batch_size=1).seed == 123
    finally:
        torsh.manual_seed(0)


def test_progress_bar_reports_batches_per_second():
    out = io.StringIO()
    list(DataLoader(ArrayDataset(np.arange(20)), batch_size=4, progress={"file": out, "mininterval": 0}))
    text = out.getvalue()
    assert "5/5" in text and "batch/s" in text


def test_option_validation():
    ds = ArrayDataset(np.arange(4))
    cases = [
        (dict(batch_size=0), "batch_size must be a positive int"),
        (dict(shuffle=1), "shuffle must be a bool"),
        (dict(sampler=SequentialSampler(ds), shuffle=True), "excludes shuffle"),
        (dict(batch_sampler=[[0]], batch_size=2), "batch_sampler decides"),
        (dict(num_workers=-1), "num_workers must be an int >= 0"),
        (dict(timeout=-1), "timeout must be a number >= 0"),
        (dict(worker_type="gpu"), "worker_type must be 'process' or 'thread'"),
        (dict(num_workers=1, multiprocessing_context="fork"), "jax#3382"),
        (dict(num_workers=1, multiprocessing_context="magic"), "multiprocessing_context must be one of"),
        (dict(prefetch_factor=2), "prefetch_factor needs num_workers > 0"),
        (dict(persistent_workers=True), "persistent_workers=True needs num_workers > 0"),
        (dict(seed=-3), "seed must be a non-negative int"),
        (dict(device_prefetch=0), "device_prefetch must be a positive int"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ConfigError, match=message):
            DataLoader(ds, **kwargs)
    with pytest.raises(ConfigError, match="iterable dataset is read in stream order"):
        DataLoader(lib.Stream(3), shuffle=True)
