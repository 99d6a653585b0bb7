"""Worker faults: exceptions, kill -9, stalls, unpicklable datasets, init errors, orphan processes.

Every test bounds its own duration (short timeouts, small datasets) and checks that the worker
processes it started are gone afterwards.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import _data_testlib as lib
import numpy as np
import pytest

from torsh.data import (
    ArrayDataset,
    DataLoader,
    WorkerDiedError,
    WorkerError,
    WorkerTimeoutError,
)
from torsh.errors import ConfigError, DataError

BASE = ArrayDataset(np.zeros((24, 2), np.float32), np.arange(24))


def _pids(batches):
    return {int(p) for b in batches for p in np.asarray(b[-1]).ravel()}


@pytest.mark.parametrize("num_workers,kind", [(0, "process"), (2, "thread"), (2, "process")])
def test_worker_exception_is_reraised_with_sample_index_and_traceback(num_workers, kind):
    loader = DataLoader(BASE.map(lib.fail_at_7), batch_size=4, num_workers=num_workers, worker_type=kind)
    it = iter(loader)
    assert int(next(it)[1][0]) == 0
    with pytest.raises(WorkerError) as info:
        list(it)
    err = info.value
    assert err.sample_index == 7 and err.batch_index == 1 and err.exc_type == "ValueError"
    assert "ValueError while loading sample 7 (batch 1)" in str(err)
    assert isinstance(err.__cause__, ValueError) and "sample seven is broken" in str(err.__cause__)
    assert "fail_at_7" in err.worker_traceback
    if kind == "process" and num_workers:
        assert "Traceback in the worker process" in str(err) and "fail_at_7" in str(err)
        assert err.worker_id in (0, 1)


def test_killed_worker_raises_at_once_and_leaves_no_process():
    loader = DataLoader(lib.KillSelfAt(40, index=9), batch_size=2, num_workers=2)
    start = time.monotonic()
    with pytest.raises(
        WorkerDiedError,
        match=r"worker \d \(process \d+\) exited unexpectedly with signal SIGKILL while loading batch 4",
    ):
        list(loader)
    assert time.monotonic() - start < 30


def test_worker_killed_from_outside_mid_epoch():
    loader = DataLoader(lib.Slow(40, delay=0.01), batch_size=2, num_workers=2, timeout=20)
    it = iter(loader)
    first = next(it)
    victim = int(first[1][0])
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(WorkerDiedError, match=rf"process {victim}\) exited unexpectedly with signal SIGKILL"):
        for _ in it:
            pass
    assert lib.wait_gone(it._host._pool.pids if it._host._pool else []) == []


def test_stalled_worker_raises_timeout_and_is_stopped():
    loader = DataLoader(lib.Slow(12, stall_index=5, stall=60), batch_size=2, num_workers=2)
    it = iter(loader)
    pids = {int(p) for p in next(it)[1]}
    loader.timeout = 1.5  # from now on: worker start-up on a loaded machine is not what is tested
    start = time.monotonic()
    with pytest.raises(
        WorkerTimeoutError, match=r"timeout=1.5 s while waiting for batch 2 \(samples \[4, 5\]\)"
    ):
        for batch in it:
            pids |= {int(p) for p in batch[1]}
    assert time.monotonic() - start < 30
    assert lib.wait_gone(pids) == []


def test_stalled_thread_worker_raises_timeout():
    release = threading.Event()

    def wait_for_release(sample):
        if int(sample[1]) == 3:
            release.wait(10)
        return sample

    loader = DataLoader(
        BASE.map(wait_for_release), batch_size=2, num_workers=2, worker_type="thread", timeout=0.3
    )
    try:
        with pytest.raises(WorkerTimeoutError, match="worker thread"):
            list(loader)
    finally:
        release.set()


def test_no_orphans_after_exhaustion_break_gc_exception_and_close():
    main = os.getpid()
    before = lib.descendants(main)
    ds = BASE.map(lib.add_pid)
    # exhaustion
    pids = _pids(DataLoader(ds, batch_size=4, num_workers=2))
    assert len(pids) >= 1 and lib.wait_gone(pids) == []
    # break + garbage collection of the iterator
    it = iter(DataLoader(ds, batch_size=2, num_workers=2))
    pids = _pids([next(it), next(it), next(it)])
    del it
    gc.collect()
    assert lib.wait_gone(pids) == []
    # exception in a worker
    loader = DataLoader(BASE.map(lib.fail_at_7), batch_size=2, num_workers=2)
    it = iter(loader)
    worker_pids = list(it._host._pool.pids)
    with pytest.raises(WorkerError):
        list(it)
    assert lib.wait_gone(worker_pids) == []
    # persistent workers survive epochs, stop on close() and on garbage collection of the loader
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    epoch0, epoch1 = _pids(loader), _pids(loader)
    assert epoch0 == epoch1 or epoch0 | epoch1 == set(loader._pool.pids)
    live = set(loader._pool.pids)
    assert all(lib.pid_is_alive(p) for p in live)
    loader.close()
    assert lib.wait_gone(live) == []
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True)
    live = _pids(loader)
    del loader
    gc.collect()
    assert lib.wait_gone(live) == []
    # nothing new remains below this process (the fork server and resource tracker predate or are shared)
    leftover = lib.descendants(main) - before
    helpers = {p for p in leftover if "forkserver" in _cmdline(p) or "resource_tracker" in _cmdline(p)}
    assert leftover - helpers == set(), [(p, _cmdline(p)) for p in leftover - helpers]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_persistent_workers_discard_batches_of_an_abandoned_iterator():
    ds = BASE.map(lib.add_pid)
    loader = DataLoader(ds, batch_size=2, num_workers=2, persistent_workers=True, prefetch_factor=3)
    try:
        it = iter(loader)
        next(it)  # leaves several batches in flight
        fresh = [b[1].tolist() for b in loader]  # a new epoch on the same workers
        assert fresh[0] == sorted(fresh[0]) and len(fresh) == 12
        assert np.concatenate(fresh).tolist() == list(range(24))
        with pytest.raises(DataError, match="replaced by a newer iter"):
            next(it)
    finally:
        loader.close()


def test_unpicklable_dataset_is_a_clear_config_error():
    loader = DataLoader(BASE.map(lambda s: s), batch_size=2, num_workers=1)
    with pytest.raises(ConfigError, match=r"must be picklable.*worker_type='thread'"):
        next(iter(loader))
    assert (
        len(list(DataLoader(BASE.map(lambda s: s), batch_size=2, num_workers=1, worker_type="thread"))) == 12
    )


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_worker_init_failure_is_reported(kind):
    loader = DataLoader(BASE, batch_size=2, num_workers=2, worker_type=kind, worker_init_fn=lib.init_fails)
    with pytest.raises(
        WorkerError, match=r"failed to start: RuntimeError: init of worker \d failed on purpose"
    ):
        list(loader)


def test_spawn_start_method_gives_the_same_batches():
    ds = ArrayDataset(*lib.images(12)).map(lib.augment)
    ref = list(DataLoader(ds, batch_size=4, shuffle=True, seed=3))
    spawned = list(
        DataLoader(ds, batch_size=4, shuffle=True, seed=3, num_workers=1, multiprocessing_context="spawn")
    )
    for (a, b), (c, d) in zip(ref, spawned, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    sys.path.insert(0, {testdir!r})
    import _data_testlib as lib
    from torsh.data import DataLoader

    if __name__ == "__main__":
        loader = DataLoader(lib.Slow(1000, delay=0.05), batch_size=2, num_workers=2)
        it = iter(loader)
        pids = set()
        while len(pids) < 2:
            pids |= {{int(p) for p in next(it)[1]}}
        print(" ".join(map(str, sorted(pids))), flush=True)
        time.sleep(60)
    """
)


def test_workers_die_when_the_main_process_is_killed(tmp_path):
    script = tmp_path / "victim.py"
    script.write_text(_ORPHAN_SCRIPT.format(testdir=os.path.dirname(lib.__file__)))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)  # never hang the suite, even if the child does
        assert lines, "the child did not report its worker pids in time"
        line = lines[0]
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2 and all(lib.pid_is_alive(p) for p in pids)
        proc.kill()
        proc.wait(10)
        assert lib.wait_gone(pids, timeout=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
