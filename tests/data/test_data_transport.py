"""Shared-memory batch transport: workers collate into a segment, the main process hands out views of
it and gives the segment back only when the last view of the batch died (issue 14)."""

from __future__ import annotations

import collections
import gc
import os
import threading
import tracemalloc
from functools import partial

import _data_transport as lib
import numpy as np
import optree
import pytest
from _data_dev_shm import alone_in_dev_shm, shm_names  # noqa: F401 (an autouse fixture)

from torsh.data import (
    ArrayDataset,
    CollateError,
    DataLoader,
    SampleIndexError,
    SharedMemoryWarning,
    Subset,
    _fetch,
    _pool,
    _shm,
    _transport,
    default_collate,
)


def _assert_same(ref, got):
    leaves_a, spec_a = optree.tree_flatten(ref)
    leaves_b, spec_b = optree.tree_flatten(got)
    assert spec_a == spec_b
    for a, b in zip(leaves_a, leaves_b, strict=True):
        assert type(a) is type(b)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b


def _is_view(x: np.ndarray) -> bool:
    """A view of a mapped segment (the base is the whole segment as bytes)."""
    return isinstance(x.base, np.ndarray) and x.base.dtype == np.uint8 and isinstance(x.base.base, memoryview)


@pytest.mark.parametrize("dataset", [lib.Mixed, lib.Tuples])
def test_process_batches_equal_the_in_process_ones_and_are_views(dataset):
    ref = list(DataLoader(dataset(), batch_size=16))
    got = list(DataLoader(dataset(), batch_size=16, num_workers=2))
    assert len(ref) == len(got)
    for a, b in zip(ref, got, strict=True):
        _assert_same(a, b)
    first = got[0]["image"] if isinstance(got[0], dict) else got[0][0]
    assert _is_view(first) and first.flags.writeable  # zero copy: a view of the worker's segment


def test_thread_workers_and_the_pickle_transport_still_agree(monkeypatch):
    ref = list(DataLoader(lib.Mixed(), batch_size=16))
    for a, b in zip(
        ref, DataLoader(lib.Mixed(), batch_size=16, num_workers=2, worker_type="thread"), strict=True
    ):
        _assert_same(a, b)
    monkeypatch.setattr(_pool, "DEFAULT_TRANSPORT", "pickle")
    got = list(DataLoader(lib.Mixed(), batch_size=16, num_workers=1))
    for a, b in zip(ref, got, strict=True):
        _assert_same(a, b)
    assert not _is_view(got[0]["image"])


def test_custom_collate_and_padded_batches_take_the_old_path():
    kwargs = {"batch_size": 16, "collate_fn": lib.stack_sum}
    for a, b in zip(
        DataLoader(lib.Mixed(), **kwargs), DataLoader(lib.Mixed(), num_workers=1, **kwargs), strict=True
    ):
        _assert_same(a, b)
    ref = list(DataLoader(lib.Mixed(90), batch_size=16, pad_last=True))
    got = list(DataLoader(lib.Mixed(90), batch_size=16, pad_last=True, num_workers=1))
    for a, b in zip(ref, got, strict=True):
        _assert_same(a.data, b.data)
        np.testing.assert_array_equal(a.mask, b.mask)


def test_ragged_samples_raise_the_same_error_as_in_process():
    messages = []
    for workers in (0, 1):
        with pytest.raises(CollateError) as info:
            list(DataLoader(lib.Ragged(), batch_size=8, num_workers=workers))
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "sample 5 (batch 0, position 5), field `x`: expected shape (64, 64)" in messages[1]


def test_a_kept_batch_is_never_overwritten():
    loader = DataLoader(lib.Tuples(), batch_size=2, num_workers=2, prefetch_factor=2)  # 32 batches
    it = iter(loader)
    kept = next(it)
    kept_slice = next(it)[0][1:]  # only a slice of batch 1 survives: it must hold the segment too
    copies = [kept[0].copy(), kept[1].copy(), kept_slice.copy()]
    later = [next(it) for _ in range(20)]
    assert all(_is_view(b[0]) for b in later)
    np.testing.assert_array_equal(kept[0], copies[0])
    np.testing.assert_array_equal(kept[1], copies[1])
    np.testing.assert_array_equal(kept_slice, copies[2])
    np.testing.assert_array_equal(kept[0][1], np.full((72, 72), 1.0))


def _segment_of(x: np.ndarray) -> int:
    """The address of the mapping ``x`` is a view of (one mapping per segment in the main process)."""
    return x.base.__array_interface__["data"][0]


def test_segments_are_reused_once_batches_are_dropped_and_multiply_while_kept():
    loader = DataLoader(lib.Tuples(), batch_size=2, num_workers=2, persistent_workers=True)  # 32 batches
    seen: list[int] = []
    for _ in range(3):
        for image, _ in loader:  # each batch dies when the next one replaces it
            seen.append(_segment_of(image))
    # in flight + arrived early (prefetch_factor 2 per worker) + the one held + a release racing an
    # acquire: a few per worker, not one per batch
    assert len(set(seen)) <= 2 * (2 + 4)
    kept = list(loader)
    assert len({_segment_of(image) for image, _ in kept}) == 32  # a segment for every kept batch
    for i, (image, vector) in enumerate(kept):
        np.testing.assert_array_equal(image[:, 0, 0], [2.0 * i, 2.0 * i + 1])
        np.testing.assert_array_equal(vector[:, 1], [2 * i, 2 * i + 1])


def test_a_batch_outlives_its_loader():
    before = shm_names()
    loader = DataLoader(lib.Mixed(), batch_size=16, num_workers=2)
    it = iter(loader)
    batch = next(it)
    expected = default_collate([lib.Mixed()[i] for i in range(16)])
    del it, loader
    gc.collect()
    assert shm_names() - before == set()  # names unlinked at shutdown, mappings kept by the views
    _assert_same(expected, batch)
    batch["image"] += 1  # still mapped and writable
    np.testing.assert_array_equal(batch["image"], expected["image"] + 1)
    del batch
    gc.collect()


def test_views_release_the_segment_when_the_last_one_dies():
    segments, attachments = _transport.SegmentPool(), _transport.Attachments()
    released = []
    try:
        samples = [{"x": np.full((64, 64), i, np.float32), "y": i} for i in range(8)]
        batch = _transport.collate_into_segment(samples, segments)
        message = _transport.encode(batch, "shm", segments)
        assert message[0] == "shm" and isinstance(message[2]["y"], np.ndarray)
        del batch
        out = attachments.decode(message, lambda: released.append(message[1]))
        _assert_same(default_collate(samples), out)
        x = out["x"][3]
        del out
        gc.collect()
        assert released == []  # a row of the batch is still alive
        attachments.close(unlink=False)  # shutdown while a view lives: must not unmap it
        np.testing.assert_array_equal(x, np.full(64 * 64, 3, np.float32).reshape(64, 64))
        del x
        gc.collect()
        assert released == [message[1]]
    finally:
        attachments.close(unlink=False)
        segments.close()


def test_releases_from_other_threads_and_during_a_send_are_not_lost():
    sent = []

    class Conn:
        def __init__(self, releaser):
            self.releaser = releaser

        def send(self, msg):
            if msg[0] == "task":  # a finaliser firing in the middle of this send (same thread)
                self.releaser.release(0, "during")
            sent.append(msg)

    releaser = _pool._Releaser([])
    releaser.conns.append(Conn(releaser))
    releaser.send(0, ("task",))
    threads = [threading.Thread(target=releaser.release, args=(0, f"t{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sent[0] == ("task",) and sorted(sent[1:]) == sorted(
        [("release", "during")] + [("release", f"t{i}") for i in range(8)]
    )
    releaser.closed = True
    releaser.release(0, "late")
    assert ("release", "late") not in sent


def test_full_shared_memory_makes_direct_collation_fall_back_to_the_pipe(monkeypatch):
    monkeypatch.setattr(_shm, "shm_space", lambda: (4096, 64 << 20))
    segments = _transport.SegmentPool()
    samples = [np.full((64, 64), i, np.float32) for i in range(8)]
    batch = _transport.collate_into_segment(samples, segments)
    assert batch.flags.owndata and segments.pending is None
    kind, note, body = _transport.encode(batch, "shm", segments)
    assert kind == "pickle" and note == ("shm-full", 8 * 64 * 64 * 4)
    np.testing.assert_array_equal(body, np.stack(samples))


def test_process_workers_fall_back_to_the_pipe_when_shared_memory_is_full(monkeypatch):
    with pytest.warns(SharedMemoryWarning, match="pipe instead"):
        got = list(DataLoader(lib.FullShm(), batch_size=16, num_workers=1))
    ref = list(DataLoader(lib.Mixed(), batch_size=16))
    for a, b in zip(ref, got, strict=True):
        _assert_same(a, b)
    assert not _is_view(got[0]["image"])


# -- a worker that outgrows its segments; one-gather reads straight into a segment ----------------


def _mappings() -> collections.Counter[str]:
    """How many times this process maps each shared-memory segment (unlinked ones too)."""
    if not os.path.exists("/proc/self/maps"):
        pytest.skip("needs /proc/self/maps")
    with open("/proc/self/maps") as f:
        return collections.Counter(
            line.split("/dev/shm/")[1].split()[0] for line in f if "/dev/shm/psm_" in line
        )


def _mapped() -> set[str]:
    return set(_mappings())


def _images(n: int) -> list[np.ndarray]:
    return [np.full((64, 64), i, np.float32) for i in range(n)]  # 16 KiB each


def test_a_retired_segment_is_unmapped_at_once_but_never_under_a_live_view():
    segments, attachments = _transport.SegmentPool(), _transport.Attachments()

    def send(samples):
        message = _transport.encode(_transport.collate_into_segment(samples, segments), "shm", segments)
        return message[1], attachments.decode(message, partial(segments.release, message[1]))

    try:
        name_a, batch = send(_images(8))  # both sides of the pipe in this process: two mappings
        row = batch[3]
        del batch
        attachments.forget([name_a])  # too early (a worker only retires free segments): still safe
        assert _mappings()[name_a] == 2
        np.testing.assert_array_equal(row, np.full((64, 64), 3, np.float32))
        del row
        gc.collect()  # the last view unmapped the main side's mapping and gave the segment back
        assert _mappings()[name_a] == 1
        name_b, batch = send(_images(12))  # too large for the free segment a: a replaces it
        assert name_b != name_a and segments.take_retired() == [name_a]
        assert name_a not in _mapped() | shm_names()
        del batch
        gc.collect()
        name_c, batch = send(_images(16))
        assert segments.take_retired() == [name_b] and segments.take_retired() == []
        assert _mappings()[name_b] == 1 and name_b not in shm_names()  # unlinked, still mapped here
        attachments.forget([name_b])
        assert name_b not in _mapped()
        np.testing.assert_array_equal(batch[15], np.full((64, 64), 15, np.float32))
        del batch
    finally:
        attachments.close(unlink=False)
        segments.close()
    assert not {name_a, name_b, name_c} & (_mapped() | shm_names())


def _growing(n: int) -> list[list[int]]:
    """Batches that each need a larger segment than the one before (> 12.5% headroom)."""
    sizes = [16, 22, 30, 40, 54, 72, 97, 130, 175, 236, 318, 430]
    return [[(7 * i + j) % n for j in range(size)] for i, size in enumerate(sizes)]


def _small_arrays() -> ArrayDataset:
    # under 1 MiB: the loader does not share it through shared memory (no mapping of its own here)
    return ArrayDataset(np.arange(200 * 1024, dtype=np.float32).reshape(200, 32, 32), np.arange(200))


@pytest.mark.parametrize("make", [lib.Tuples, _small_arrays], ids=["collated", "gathered"])
def test_a_worker_that_outgrows_its_segments_does_not_keep_them_mapped_here(make):
    mapped_before, files_before = _mapped(), shm_names()
    dataset = make()
    batches = _growing(len(dataset))
    loader = DataLoader(dataset, batch_sampler=batches, num_workers=1, persistent_workers=True)
    kept = None
    for i, (x, _y) in enumerate(loader):
        if i == 0:
            kept = x  # its segment stays busy: never replaced, never unmapped
            expected = kept.copy()
    del x, _y  # the last batch: its segment goes back
    gc.collect()
    # a segment is added only when all are busy: the kept batch, the one the loop held, two read
    # ahead (prefetch_factor 2), a release still on its way, the new one; not one per batch
    assert len(_mapped() - mapped_before) <= 6 < len(batches)
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_array_equal(kept[:, 0, 0], np.stack([dataset[j][0] for j in batches[0]])[:, 0, 0])
    assert _is_view(kept)
    loader.close()
    np.testing.assert_array_equal(kept, expected)  # a batch outlives its loader
    del kept
    gc.collect()
    assert _mapped() - mapped_before == set() and shm_names() - files_before == set()


_MIXED_DTYPES = {
    "f32": np.arange(300 * 192, dtype=np.float32).reshape(300, 3, 8, 8) / 7,
    "be": np.arange(300 * 5, dtype=">f8").reshape(300, 5) * np.pi,
    "mask": (np.arange(300 * 9) % 3 == 0).reshape(300, 9),
    "i16": np.arange(300, dtype=np.int16)[::-1].copy(),
    "u8": np.frombuffer(np.random.default_rng(0).bytes(300 * 256), np.uint8).reshape(300, 16, 16),
}


def _same_bits(ref, got):
    leaves_a, spec_a = optree.tree_flatten(ref)
    leaves_b, spec_b = optree.tree_flatten(got)
    assert spec_a == spec_b
    for a, b in zip(leaves_a, leaves_b, strict=True):
        assert type(a) is type(b) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def test_a_one_gather_read_writes_straight_into_the_segment():
    dataset = Subset(ArrayDataset(_MIXED_DTYPES), list(range(299, -1, -1)))
    indices = [5, -1, 5, 0, *range(50, 246), -300]
    segments = _transport.SegmentPool()
    into = partial(_transport.segment_arrays, segments=segments)
    try:
        ref = dataset._torsh_get_batch(indices)
        tracemalloc.start()
        try:
            got = dataset._torsh_get_batch(indices, into=into)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        _same_bits(ref, got)
        shm = segments.pending[0]
        whole = np.frombuffer(shm.buf, np.uint8)
        assert all(np.shares_memory(leaf, whole) for leaf in optree.tree_leaves(got))
        nbytes = sum(leaf.nbytes for leaf in optree.tree_leaves(ref))
        assert nbytes > 128 * 1024 and peak < nbytes // 8  # no fresh batch, no temporary per array
        kind, name, skeleton = _transport.encode(got, "shm", segments)
        assert kind == "shm" and name == shm.name
        assert all(type(leaf) is _transport._Slot for leaf in optree.tree_leaves(skeleton))
        del whole, got
        segments.release(name)
        with pytest.raises(SampleIndexError, match="out of range"):
            dataset._torsh_get_batch([0, 300], into=into)
        assert segments.pending is None  # checked before a segment was taken
        _same_bits(dataset._torsh_get_batch([3, 4]), dataset._torsh_get_batch([3, 4], into=into))  # < 64 KiB
    finally:
        segments.close()


class _GathersIntoNothing:
    """A one-gather dataset (like torsh.vision's array-backed ones) whose read takes no ``into``."""

    _torsh_batchable = True

    def __len__(self) -> int:
        return 64

    def _torsh_get_batch(self, indices):
        return np.stack([np.full((64, 64), i, np.float32) for i in indices])


def test_only_reads_that_take_destinations_are_given_one():
    segments = _transport.SegmentPool()
    gather = partial(_transport.segment_arrays, segments=segments)
    try:
        for dataset in (_GathersIntoNothing(), Subset(_GathersIntoNothing(), range(64))):
            fetcher = _fetch.Fetcher(dataset, [], default_collate, 0, "leave", direct_gather=gather)
            batch = fetcher.load(0, 0, _fetch.INDICES, list(range(16)))
            assert fetcher.gather_into is None and segments.pending is None and batch.flags.owndata
        fetcher = _fetch.Fetcher(_small_arrays(), [], default_collate, 0, "leave", direct_gather=gather)
        x, y = fetcher.load(0, 0, _fetch.INDICES, list(range(32)))
        assert segments.pending is not None and fetcher._batch is None  # the worker keeps no view
        np.testing.assert_array_equal(x[31], _small_arrays()[31][0])
    finally:
        segments.drop_pending()
        segments.close()


@pytest.mark.parametrize("pad_last", [False, True])
def test_array_dataset_batches_from_workers_equal_the_in_process_ones(pad_last):
    dataset = ArrayDataset(_MIXED_DTYPES)
    kwargs = {"batch_size": 64, "shuffle": True, "seed": 3, "pad_last": pad_last}
    ref = list(DataLoader(dataset, **kwargs))
    got = list(DataLoader(dataset, num_workers=2, **kwargs))
    assert len(ref) == len(got) == 5
    for a, b in zip(ref, got, strict=True):
        if pad_last:
            np.testing.assert_array_equal(a.mask, b.mask)
            a, b = a.data, b.data
        _same_bits(a, b)
    first = got[0].data if pad_last else got[0]
    assert _is_view(first["f32"])  # gathered into the worker's segment (the short last one: < 64 KiB)
