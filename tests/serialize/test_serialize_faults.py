"""Files changed by another program while torsh reads them, and debris of killed saves (issue 17).

A memory-mapped reader dies with SIGBUS when the file shrinks under it; torsh reads with ``pread``
instead and raises :class:`CorruptFileError` naming the file. The loads run in child processes
(_serialize_fault_child.py) so that a SIGBUS would show as the child's exit status.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import torsh
from torsh.serialize import CorruptFileError
from torsh.serialize._write import STALE_TEMP_SECONDS, clean_stale_temp_files, temp_file_name

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = os.path.join(HERE, "_serialize_fault_child.py")
ENV = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")


def tree(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {f"layer{i}": {"weight": rng.standard_normal((256, 256)).astype(np.float32)} for i in range(8)}


def run_child(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, CHILD, *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


def exited_normally(proc: subprocess.CompletedProcess | subprocess.Popen) -> None:
    code = proc.returncode
    assert code == 0, (
        f"child ended with {signal.Signals(-code).name if code < 0 else f'exit code {code}'}; "
        f"stderr:\n{proc.stderr if isinstance(proc.stderr, str) else ''}"
    )


@pytest.fixture(scope="module")
def interfered(tmp_path_factory):
    """One child process loads two files: one truncated, one rewritten in place, mid-load."""
    directory = tmp_path_factory.mktemp("interfere")
    paths = [str(directory / "truncated.safetensors"), str(directory / "rewritten.safetensors")]
    for path in paths:
        torsh.save(path, tree())
    time.sleep(0.05)  # the rewrite gets a later modification time than the save
    proc = run_child("interfere", *paths)
    exited_normally(proc)
    results = {r["action"]: r for r in map(json.loads, proc.stdout.strip().splitlines())}
    return paths, results


@pytest.mark.slow
def test_file_truncated_while_loading_raises_corrupt_file_error_not_sigbus(interfered):
    (path, _), results = interfered
    result = results["truncate"]
    assert result["error"] == "CorruptFileError"
    assert path in result["message"] and "truncated or rewrote" in result["message"]


@pytest.mark.slow
def test_file_rewritten_in_place_while_loading_is_refused(interfered):
    (_, path), results = interfered
    result = results["rewrite"]
    assert result["error"] == "CorruptFileError"
    assert path in result["message"] and "modified while it was being loaded" in result["message"]


@pytest.mark.slow
def test_concurrent_truncation_by_another_process_never_kills_the_loader(tmp_path):
    """The parent truncates and rewrites the file in place while the child loads it in a loop."""
    path = str(tmp_path / "model.safetensors")
    torsh.save(path, tree())
    with open(path, "rb") as f:
        good = f.read()
    proc = subprocess.Popen(
        [sys.executable, CHILD, "loop", path, "150"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        stop = threading.Event()

        def interfere() -> None:
            while not stop.is_set():
                with open(path, "r+b") as f:
                    f.truncate(len(good) // 3)
                    time.sleep(0.001)
                    f.seek(0)
                    f.write(good)
                time.sleep(0.002)

        thread = threading.Thread(target=interfere, daemon=True)
        thread.start()
        out, err = proc.communicate(timeout=180)
        stop.set()
        thread.join()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.stderr = err
    exited_normally(proc)
    counts = json.loads(out.strip().splitlines()[-1])
    assert sum(counts.values()) == 150
    assert set(counts) <= {"ok", "CorruptFileError"}, counts


def test_empty_and_tiny_files_raise_corrupt_file_error(tmp_path):
    for size in (0, 5):
        path = tmp_path / f"f{size}.safetensors"
        path.write_bytes(b"\0" * size)
        with pytest.raises(CorruptFileError, match=f"{path}: not a safetensors file: {size} bytes"):
            torsh.load(path)
        with pytest.raises(CorruptFileError, match=str(path)):
            torsh.serialize.inspect(path)


def test_loaded_arrays_own_their_memory(tmp_path):
    """Nothing of a load refers to the file afterwards: rewriting it changes nothing."""
    path = tmp_path / "m.safetensors"
    torsh.save(path, tree())
    back = torsh.load(path, like=tree())
    path.write_bytes(b"\0" * path.stat().st_size)
    np.testing.assert_array_equal(np.asarray(back["layer3"]["weight"]), tree()["layer3"]["weight"])


# -- debris of killed saves ---------------------------------------------------------------------------


def _debris(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


@pytest.mark.slow
def test_next_save_removes_temporary_files_of_a_killed_save(tmp_path):
    path = str(tmp_path / "model.safetensors")
    proc = subprocess.Popen(
        [sys.executable, CHILD, "hang-save", path],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert proc.stdout.readline().strip() == "writing", proc.stderr.read() if proc.poll() else ""
        left = _debris(tmp_path)
        assert len(left) == 1 and left[0].startswith(".model.safetensors.tmp-"), left
        assert f"-{proc.pid}-" in left[0]
    finally:
        proc.kill()
        proc.wait()  # reaped: the pid no longer exists
    assert _debris(tmp_path) == left  # SIGKILL leaves it behind
    torsh.save(path, {"w": np.zeros(3, np.float32)})
    assert _debris(tmp_path) == []
    np.testing.assert_array_equal(np.asarray(torsh.load(path)["w"]), np.zeros(3))


def test_stale_temp_files_rules(tmp_path):
    """Only this target's temporary files are touched, and only when their writer is dead (this host)
    or they were abandoned for a day."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = temp_file_name("m.safetensors")  # this process: alive
    host, _, tail = mine[len(".m.safetensors.tmp-") :].split("-")
    names = {
        "dead": f".m.safetensors.tmp-{host}-{dead.pid}-{tail}",
        "dead_legacy": f".m.safetensors.tmp-{dead.pid}-{tail}",  # written before the host was recorded
        "alive": f".m.safetensors.tmp-{host}-1-{tail}",
        "alive_mine": mine,
        "other_host": f".m.safetensors.tmp-elsewhere-{dead.pid}-{tail}",
        "old_other_host": f".m.safetensors.tmp-elsewhere-{dead.pid}-{tail[::-1]}",
        "other_target": f".n.safetensors.tmp-{host}-{dead.pid}-{tail}",
        "not_ours": f".m.safetensors.tmp-{host}-{dead.pid}-notahex",
    }
    for name in names.values():
        (tmp_path / name).write_bytes(b"x")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(tmp_path / names["old_other_host"], (old, old))
    removed = {os.path.basename(p) for p in clean_stale_temp_files(str(tmp_path), "m.safetensors")}
    assert removed == {names["dead"], names["dead_legacy"], names["old_other_host"]}
    kept = set(os.listdir(tmp_path))
    assert kept == set(names.values()) - removed


@pytest.mark.parametrize("preadv", [True, False], ids=["preadv", "seek+readinto"])
def test_both_read_paths_detect_truncation(tmp_path, monkeypatch, preadv):
    """In-process (safe now that nothing is mapped); the seek+readinto path serves systems without
    ``os.preadv``."""
    from torsh.serialize import _api, _reader

    monkeypatch.setattr(_reader, "_HAVE_PREADV", preadv)
    path = tmp_path / "m.safetensors"
    torsh.save(path, tree())
    back = torsh.load(path)["layer7"]["weight"]
    np.testing.assert_array_equal(np.asarray(back), tree()["layer7"]["weight"])
    real = _api.build_tree

    def truncate_first(reader, like, opts):
        os.truncate(path, path.stat().st_size - 1000)
        return real(reader, like, opts)

    monkeypatch.setattr(_api, "build_tree", truncate_first)
    with pytest.raises(CorruptFileError, match=r"key 'layer\d.weight': the file ended at byte"):
        torsh.load(path)


def test_a_path_that_is_not_a_path_is_a_config_error():
    from torsh.errors import ConfigError

    with pytest.raises(ConfigError, match="expected a file path .* got int 5"):
        torsh.load(5)  # an int would otherwise be taken as a file descriptor by open()
    with pytest.raises(ConfigError, match="expected a file path .* got NoneType"):
        torsh.serialize.inspect(None)
    with pytest.raises(ConfigError, match="save: path must be a str or os.PathLike, got NoneType"):
        torsh.save(None, {"w": np.ones(2)})
