"""SIGKILL during saves: a worker process saves checkpoints in a loop and is killed with SIGKILL at a
random moment, 20 times (10 directories, each killed, restarted and killed again; sync and async
saves). After every kill the latest complete checkpoint, and every other listed one, restores with
the exact content, and the next manager leaves no debris. Workers fork from a zygote process that
has imported torsh once (see _serialize_crash_child.py)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest

import torsh
from torsh.serialize import CheckpointManager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _serialize_crash_child import content  # noqa: E402

DIRECTORIES, KILLS_PER_DIRECTORY = 10, 2


class Zygote:
    def __init__(self) -> None:
        env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "_serialize_crash_child.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lock = threading.Lock()

    def spawn(self, directory: str, mode: str, progress: str) -> int:
        with self.lock:
            self.proc.stdin.write(f"{directory} {mode} {progress}\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        assert line, "the zygote died"
        return int(line)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _steps(progress: str) -> list[int]:
    try:
        with open(progress) as f:
            return [int(line) for line in f.read().split("\n")[:-1]]  # complete lines only
    except FileNotFoundError:
        return []


def _run_and_kill(zygote: Zygote, directory: str, mode: str, delay: float) -> int:
    """Start a worker, wait for its first complete checkpoint, SIGKILL it ``delay`` s later.
    Returns the last step the worker reported complete before it died."""
    progress = f"{directory}.progress"
    before = len(_steps(progress))
    pid = zygote.spawn(directory, mode, progress)
    deadline = time.monotonic() + 120
    while len(_steps(progress)) == before:
        assert time.monotonic() < deadline, "the worker made no checkpoint"
        time.sleep(0.005)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    while True:  # wait until the process is gone (the zygote reaps it)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.002)
    return _steps(progress)[-1]


def _check_restorable(directory: str, last_reported: int) -> None:
    ckpt = CheckpointManager(directory, keep=2)  # opening also clears the dead worker's temporary files
    steps = ckpt.all_steps()
    assert steps and steps[-1] >= last_reported, (steps, last_reported)
    like = content(0)
    for step in steps:
        back = ckpt.restore(step, like=like)
        want = content(step)
        for item in ("model", "opt"):
            pairs = zip(torsh.tree.leaves(back[item]), torsh.tree.leaves(want[item]), strict=True)
            for a, b in pairs:
                assert np.asarray(a).dtype == np.asarray(b).dtype
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        assert back["data"] == want["data"]
        np.testing.assert_array_equal(jax.random.key_data(back["rng"]), jax.random.key_data(want["rng"]))
    assert not [n for n in os.listdir(directory) if n.startswith((".tmp-", ".trash-"))]


@pytest.mark.slow
def test_sigkill_at_random_moments_never_damages_the_last_complete_checkpoint(tmp_path):
    rng = random.Random(1234)
    plans = [
        (
            str(tmp_path / f"run{i}"),
            "async" if i % 2 else "sync",
            [rng.uniform(0.0, 0.2) for _ in range(KILLS_PER_DIRECTORY)],
        )
        for i in range(DIRECTORIES)
    ]
    zygote = Zygote()

    def trial(plan) -> int:
        directory, mode, delays = plan
        for delay in delays:
            last = _run_and_kill(zygote, directory, mode, delay)
            _check_restorable(directory, last)
        return len(delays)

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            kills = sum(pool.map(trial, plans))
    finally:
        zygote.close()
    assert kills == DIRECTORIES * KILLS_PER_DIRECTORY >= 20
