"""Large arrays reach process workers through shared memory or file maps; batches come back through
shared memory segments that are always unlinked."""

from __future__ import annotations

import gc

import _data_testlib as lib
import numpy as np
import pytest
from _data_dev_shm import alone_in_dev_shm, shm_names  # noqa: F401 (an autouse fixture)

from torsh.data import ArrayDataset, DataLoader, Subset, _pool, _sharing, _transport, default_collate


def test_one_gather_batches_equal_the_per_sample_collate_path():
    x = np.random.default_rng(0).normal(size=(30, 3, 4)).astype(np.float32)
    ds = Subset(ArrayDataset({"x": x, "y": np.arange(30)}), np.arange(29, -1, -1))
    fast = list(DataLoader(ds, batch_size=7, shuffle=True, seed=0))
    slow = list(DataLoader(ds, batch_size=7, shuffle=True, seed=0, collate_fn=lambda s: default_collate(s)))
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a["x"], b["x"])
        np.testing.assert_array_equal(a["y"], b["y"])
        assert a["y"].dtype == b["y"].dtype


def test_large_arrays_are_shared_once_and_unlinked_with_the_dataset():
    before = shm_names()
    big = np.arange(300_000, dtype=np.float32).reshape(1000, 300)  # 1.2 MB >= threshold
    ds = ArrayDataset(big, np.arange(1000)).map(lib.describe_worker_arrays)
    loader = DataLoader(ds, batch_size=250, num_workers=2)
    batches = list(loader)
    flags = np.concatenate([b[0] for b in batches])
    assert not flags[:, 0].any() and not flags[:, 1].any()  # read-only shared view in the workers
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), big[:, :2])
    created = shm_names() - before
    assert len(created) == 1  # the image array; the small label array was pickled
    base = ds.dataset
    assert base._leaves[0].flags.writeable and np.array_equal(base._leaves[0], big)  # now the shared copy
    list(DataLoader(ds, batch_size=500, num_workers=1))  # a second pool reuses the segment
    assert shm_names() - before == created
    del ds, base, loader, batches
    gc.collect()
    assert shm_names() - before == created  # `big` still lives: its shared copy may be needed again
    del big
    gc.collect()
    assert shm_names() - before == set()


def test_arrays_anywhere_in_a_custom_dataset_are_shared():
    before = shm_names()
    table = np.arange(400_000, dtype=np.float32).reshape(2000, 200)
    ds = lib.Holder(table)
    batches = list(DataLoader(ds, batch_size=500, num_workers=2))
    assert not np.concatenate([b[0] for b in batches]).any()  # the workers map a read-only shared copy
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), table[:, :2])
    assert len(shm_names() - before) == 1
    assert ds.columns["table"] is table  # a plain attribute is not replaced
    del ds, table, batches
    gc.collect()
    assert shm_names() - before == set()


def test_memmaps_are_reopened_by_file_name(tmp_path):
    path = tmp_path / "x.npy"
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(400, 700))
    data[:] = np.arange(700, dtype=np.float32)
    data.flush()
    mm = np.load(path, mmap_mode="r")
    before = shm_names()
    ds = ArrayDataset(mm, np.arange(400)).map(lib.describe_worker_arrays)
    batches = list(DataLoader(ds, batch_size=100, num_workers=1))
    flags = np.concatenate([b[0] for b in batches])
    assert flags[:, 1].all()  # a memmap in the worker: no copy at all
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), mm[:, :2])
    assert shm_names() == before


@pytest.mark.parametrize("transport", ["shm", "pickle"])
def test_batch_transports_agree_and_leave_no_segments(transport, monkeypatch):
    monkeypatch.setattr(_pool, "DEFAULT_TRANSPORT", transport)
    kinds = []

    original = _transport.Attachments.decode

    def recording_decode(self, message, *args):
        kinds.append(message[0])
        return original(self, message, *args)

    monkeypatch.setattr(_transport.Attachments, "decode", recording_decode)
    before = shm_names()
    images, labels = lib.images(40, size=32)
    ds = ArrayDataset(images, labels).map(lib.augment)
    ref = list(DataLoader(ds, batch_size=16, seed=4, shuffle=True))  # 16 x 3 x 32 x 32 float32: 196 KB
    got = list(DataLoader(ds, batch_size=16, seed=4, shuffle=True, num_workers=2))
    assert kinds == [transport] * 3
    for (a, b), (c, d) in zip(ref, got, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
        assert c.flags.writeable
    assert shm_names() - before == set()


def test_transport_roundtrip_and_segment_reuse():
    segments, attachments = _transport.SegmentPool(), _transport.Attachments()
    batch = {"a": np.ones((200, 100), np.float32), "s": ["x", "y"], "n": None, "i": np.arange(3)}
    try:
        message = _transport.encode(batch, "shm", segments)
        assert message[0] == "shm" and message[1] in shm_names()
        out = attachments.decode(message)
        np.testing.assert_array_equal(out["a"], batch["a"])
        assert out["s"] == ["x", "y"] and out["n"] is None and out["i"].tolist() == [0, 1, 2]
        assert out["a"].base is None or out["a"].base.base is None  # a private copy
        busy = _transport.encode(batch, "shm", segments)  # first segment not released: a second one
        assert busy[1] != message[1]
        segments.release(message[1])
        again = _transport.encode(batch, "shm", segments)
        assert again[1] == message[1]  # reused, no new pages to fault in
        bigger = _transport.encode({"a": np.ones((400, 100), np.float32)}, "shm", segments)
        assert bigger[1] not in (message[1], busy[1])
        assert _transport.encode({"a": np.ones(3)}, "shm", segments)[0] == "pickle"  # not worth a segment
        assert _transport.encode(batch, "pickle", segments)[0] == "pickle"
        names = {message[1], busy[1], bigger[1]}
    finally:
        attachments.close(unlink=False)
        segments.close()
    assert not names & shm_names()
    assert _sharing.SHARE_THRESHOLD == 1 << 20


def test_share_memory_for_custom_datasets():
    from torsh.data import share_memory
    from torsh.errors import ConfigError

    before = shm_names()
    original = np.arange(2000 * 200, dtype=np.float32).reshape(2000, 200)
    shared = share_memory(original)
    np.testing.assert_array_equal(shared, original)
    assert shared.flags.writeable and len(shm_names() - before) == 1
    del original
    gc.collect()
    ds = lib.Holder(shared)
    batches = list(DataLoader(ds, batch_size=1000, num_workers=1))
    assert not np.concatenate([b[0] for b in batches]).any()  # workers map the same pages, read-only
    assert len(shm_names() - before) == 1  # no second copy was made for the workers
    small = share_memory(np.arange(10))  # below the automatic threshold: shared on request
    assert len(shm_names() - before) == 2 and small.tolist() == list(range(10))
    with pytest.raises(ConfigError, match="object dtype"):
        share_memory(np.array([object()]))
    del ds, shared, batches, small
    gc.collect()
    assert shm_names() - before == set()
