"""A small /dev/shm (Docker's default 64 MiB) must not kill the main process or a worker (issue 17).

The end-to-end test runs a loader in a private mount namespace whose /dev/shm is an 8 MiB tmpfs (needs
root and util-linux ``unshare``; the other tests simulate a full /dev/shm in-process and run anywhere).
Before the fix the main process died with SIGBUS while copying the dataset into shared memory, and a
worker writing a batch died with SIGBUS reported as "out-of-memory killer".
"""

from __future__ import annotations

import gc
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys

import _data_testlib as lib
import numpy as np
import pytest

from torsh.data import DataLoader, SharedMemoryWarning, WorkerDiedError, _sharing, _shm, _transport

HERE = os.path.dirname(os.path.abspath(__file__))


def _can_mount_namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_mount_namespaces(), reason="needs root and unshare to mount a small /dev/shm")
def test_process_workers_with_an_8_mib_dev_shm(tmp_path):
    small = tmp_path / "small-tmp"
    small.mkdir()
    script = (
        'mount -t tmpfs -o size=8m tmpfs /dev/shm && mount -t tmpfs -o size=1m tmpfs "$1" && '
        f'exec "$2" {os.path.join(HERE, "_data_shm_child.py")} "$1"'
    )
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(small), sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
        env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join(sys.path)),
    )
    code = proc.returncode
    assert code == 0, (
        f"child ended with {signal.Signals(-code).name if code < 0 else code}"
        f" (exit 135 = SIGBUS via sh):\n{proc.stderr[-3000:]}"
    )
    cases = {c["case"]: c for c in map(json.loads, proc.stdout.strip().splitlines())}
    big = cases["dataset larger than /dev/shm"]
    assert big["shm_total"] == 8 << 20 and big["equal"] and big["batches"] == 6
    assert any(
        "needs 10.1 MiB" in w and "--shm-size" in w and "through a file in" in w for w in big["warnings"]
    )
    batches = cases["batches do not fit"]
    assert batches["equal"] and batches["batches"] == 4
    assert any(
        "a batch from worker" in w and "--shm-size" in w and "pipe instead" in w for w in batches["warnings"]
    )
    nowhere = cases["no room anywhere"]
    assert nowhere["error"] == "DataError"
    message = nowhere["message"]
    assert "--shm-size" in message and "TMPDIR" in message and str(small) in message


# -- the same paths, simulated in-process ---------------------------------------------------------------


def test_dataset_array_spills_to_a_file_when_shared_memory_is_full(monkeypatch):
    monkeypatch.setattr(_sharing, "create_segment", lambda nbytes: None)
    array = np.arange(2 << 20, dtype=np.uint8).reshape(512, 4096)
    with pytest.warns(SharedMemoryWarning, match=r"needs 2.0 MiB.*--shm-size.*through a file in"):
        view, handle = _sharing.share(array)
    np.testing.assert_array_equal(view, array)
    path = handle.args[0]
    assert os.path.exists(path) and os.path.getsize(path) == array.nbytes
    in_worker = pickle.loads(_sharing.dumps_for_workers({"images": array}))["images"]  # a worker's view
    np.testing.assert_array_equal(in_worker, array)
    assert isinstance(in_worker, np.memmap) and in_worker.filename == os.path.abspath(path)
    view[0, 0] = 7  # writes through the main process's copy reach the workers' (page cache)
    assert in_worker[0, 0] == 7
    del view, array, in_worker
    gc.collect()
    assert not os.path.exists(path)  # removed with the last array that uses it


def test_spill_files_of_dead_main_processes_are_removed_by_the_next_spill(tmp_path, monkeypatch):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        "dead": f"torsh-data-{dead.pid}-abc123.bin",
        "alive": "torsh-data-1-abc123.bin",
        "mine": f"torsh-data-{os.getpid()}-abc123.bin",
        "other": f"other-{dead.pid}-abc123.bin",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(_sharing.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(_sharing, "create_segment", lambda nbytes: None)
    with pytest.warns(SharedMemoryWarning):
        view, handle = _sharing.share(np.zeros(2 << 20, np.uint8))
    left = set(os.listdir(tmp_path))
    assert names["dead"] not in left and {names["alive"], names["mine"], names["other"]} <= left
    assert os.path.basename(handle.args[0]) in left


def test_full_shared_memory_sends_batches_through_the_pipe(monkeypatch):
    monkeypatch.setattr(_transport, "create_segment", lambda nbytes: None)
    batch = {"x": np.ones((64, 1024), np.float32), "y": np.arange(64)}
    kind, note, body = _transport.encode(batch, "shm", _transport.SegmentPool())
    assert kind == "pickle" and note == ("shm-full", 64 * 1024 * 4 + 512)
    out = _transport.Attachments().decode((kind, note, body))
    np.testing.assert_array_equal(out["x"], batch["x"])


def test_segments_are_reserved_whole_or_refused(monkeypatch):
    shm = _shm.create_segment(1 << 20)
    try:
        assert os.fstat(shm._fd).st_blocks * 512 >= 1 << 20  # pages allocated now, not at first write
    finally:
        shm.close()
        shm.unlink()
    monkeypatch.setattr(_shm, "shm_space", lambda: (4096, 64 << 20))
    assert _shm.create_segment(1 << 20) is None
    assert "1.0 MiB, /dev/shm has 0.0 MiB free of 64.0 MiB" in _shm.full_message("a batch", 1 << 20)


@pytest.mark.slow
def test_a_worker_killed_by_sigbus_is_blamed_on_shared_memory_not_oom():
    loader = DataLoader(lib.KillSelfAt(16, index=5, sig=signal.SIGBUS), batch_size=2, num_workers=1)
    with pytest.raises(WorkerDiedError) as info:
        list(loader)
    message = str(info.value)
    assert "signal SIGBUS" in message and "shared memory (/dev/shm) ran full" in message
    assert "--shm-size" in message and "out-of-memory" not in message
