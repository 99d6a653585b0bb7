"""Bad positions, non-datasets, out-of-range ints and the snapshot rule (issue 17)."""

from __future__ import annotations

import warnings

import _data_testlib as lib
import numpy as np
import pytest

from torsh.data import ArrayDataset, CollateError, DataLoader, DatasetChangedWarning, default_collate
from torsh.errors import ConfigError, DataError


def test_load_state_dict_refuses_a_position_past_the_end_of_the_epoch():
    loader = DataLoader(ArrayDataset(np.arange(20)), batch_size=2)
    state = loader.state_dict()
    state["batch"] = 999
    with pytest.raises(DataError, match="batch 999 of epoch 0, but an epoch of this loader has 10 batches"):
        loader.load_state_dict(state)
    assert [b[0].tolist() for b in loader][0] == [0, 1]  # the refused state changed nothing
    state["batch"] = 10  # saved right after the last batch: legitimate, the epoch is over
    loader.load_state_dict(state)
    assert list(loader) == [] and loader.epoch == 1


@pytest.mark.parametrize("bad", [5, None, 3.5, object()])
def test_a_non_dataset_is_refused_at_construction(bad):
    with pytest.raises(ConfigError, match="dataset must be a map-style dataset .* got"):
        DataLoader(bad)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"sampler": 5}, "sampler must be iterable"),
        ({"batch_sampler": 5}, "batch_sampler must be iterable"),
        ({"collate_fn": 5}, "collate_fn must be callable"),
        ({"worker_init_fn": "init", "num_workers": 1}, "worker_init_fn must be callable"),
        ({"progress": "yes"}, "progress must be a bool or a dict"),
    ],
)
def test_bad_arguments_are_refused_at_construction(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DataLoader(ArrayDataset(np.arange(4)), **kwargs)


def test_python_int_too_large_names_sample_and_field():
    with pytest.raises(CollateError, match=r"field `meta.id`: Python ints are collated as int64") as info:
        default_collate([{"meta": {"id": 1}}, {"meta": {"id": -(2**63) - 1}}])
    assert info.value.position == 1 and info.value.path == "meta.id"
    ok = default_collate([{"id": 2**63 - 1}, {"id": -(2**63)}])
    assert ok["id"].tolist() == [2**63 - 1, -(2**63)]
    with pytest.raises(CollateError, match=r"sample 6 \(batch 1, position 2\), field `meta.id`") as info:
        list(DataLoader(lib.Huge(8, bad=6), batch_size=4))
    assert info.value.sample_index == 6 and isinstance(info.value, DataError)


@pytest.mark.slow
def test_python_int_too_large_in_a_worker_process():
    with pytest.raises(CollateError, match=r"sample 5 .*field `meta.id`.*2\*\*64|sample 5 .*field `meta.id`"):
        list(DataLoader(lib.Huge(8, bad=5), batch_size=4, num_workers=1))


# -- the snapshot rule --------------------------------------------------------------------------------


def _values(loader):
    return [int(v) for b in loader for v in np.asarray(b)]


@pytest.mark.slow
def test_persistent_workers_restart_when_the_dataset_changed_between_epochs():
    ds = lib.Items(range(6))
    loader = DataLoader(ds, batch_size=3, num_workers=1, persistent_workers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetChangedWarning)
        assert _values(loader) == list(range(6))
        assert _values(loader) == list(range(6))  # unchanged: no warning, same workers
        pids = loader._pool.pids
    ds.items = [v * 10 for v in range(8)]
    with pytest.warns(DatasetChangedWarning, match="restarting them so that this epoch reads the current"):
        assert _values(loader) == [v * 10 for v in range(8)]
    assert loader._pool.pids != pids
    loader.close()


@pytest.mark.slow
def test_change_during_an_epoch_warns_at_its_end():
    ds = lib.Items(range(12))
    loader = DataLoader(ds, batch_size=2, num_workers=1, prefetch_factor=1)
    it = iter(loader)
    first = [int(v) for v in next(it)]
    ds.items.append(99)  # the workers keep the copy they got at iter()
    with pytest.warns(DatasetChangedWarning, match="while this epoch was loading"):
        rest = [int(v) for b in it for v in b]
    assert first + rest == list(range(12))


def test_thread_workers_share_the_dataset_and_never_warn():
    ds = lib.Items(range(6))
    loader = DataLoader(ds, batch_size=3, num_workers=2, worker_type="thread", persistent_workers=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetChangedWarning)
        assert _values(loader) == list(range(6))
        pool = loader._pool
        ds.items = [7] * 4
        assert _values(loader) == [7] * 4 and loader._pool is pool  # same threads, current dataset
    loader.close()


@pytest.mark.slow
def test_no_false_warning_for_shared_array_datasets_across_epochs():
    """Pickling an ArrayDataset for workers switches it to its shared copy: not a change."""
    ds = ArrayDataset(np.zeros((300, 1024), np.float32), np.arange(300))  # 1.2 MB: shared memory
    loader = DataLoader(ds, batch_size=100, num_workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetChangedWarning)
        for _ in range(2):
            assert sum(len(y) for _, y in loader) == 300


def test_fingerprint_sees_nested_datasets_not_foreign_internals():
    from torsh.data import ConcatDataset, Subset
    from torsh.data._snapshot import fingerprint

    base = ArrayDataset(np.zeros(10))
    ds = Subset(ConcatDataset([base.map(np.negative), base]), [1, 2])
    before = fingerprint(ds)
    assert fingerprint(ds) == before
    base._leaves = [np.ones(10)]  # replaced deep inside the wrappers
    assert fingerprint(ds) != before

    class Cached:  # e.g. a DataFrame: internal caches change on mere access
        def __init__(self):
            self.cache = {}

    class Holder:
        def __init__(self):
            self.table = Cached()

        def __len__(self):
            return 1

        def __getitem__(self, i):
            return i

    holder = Holder()
    before = fingerprint(holder)
    holder.table.cache["col"] = 1
    assert fingerprint(holder) == before
    holder.table = Cached()
    assert fingerprint(holder) != before
    huge = lib.Items([])
    huge.items = [[[i] * 100 for i in range(100)] for _ in range(100)]
    assert fingerprint(huge) == fingerprint(huge)  # bounded work, still deterministic
