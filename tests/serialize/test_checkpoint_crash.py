"""SIGKILL during saves: a child process saves checkpoints in a loop and is killed at a random moment,
20 times (10 directories, each killed, restarted and killed again; sync and async saves). After every
kill the latest complete checkpoint, and every other listed one, restores with the exact content."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import jax
import numpy as np
import pytest

import torsh
from torsh.serialize import CheckpointManager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from crash_child import content  # noqa: E402

DIRECTORIES, KILLS_PER_DIRECTORY = 10, 2


def _run_and_kill(directory: str, mode: str, delay: float) -> int:
    """Start the child, wait for its first complete checkpoint, kill it ``delay`` s later.
    Returns the last step the child reported complete."""
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "crash_child.py"), directory, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    reported: list[int] = []
    first = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            reported.append(int(line))
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not first.wait(timeout=120):
            raise AssertionError(
                f"child made no checkpoint: {proc.stderr.read() if proc.poll() is not None else ''}"
            )
        threading.Event().wait(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        reader.join(timeout=10)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    return reported[-1]


def _check_restorable(directory: str, last_reported: int) -> None:
    ckpt = CheckpointManager(directory, keep=2)  # opening also clears the dead child's temporary files
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

    def trial(plan) -> int:
        directory, mode, delays = plan
        for delay in delays:
            last = _run_and_kill(directory, mode, delay)
            _check_restorable(directory, last)
        return len(delays)

    with ThreadPoolExecutor(max_workers=4) as pool:
        kills = sum(pool.map(trial, plans))
    assert kills == DIRECTORIES * KILLS_PER_DIRECTORY >= 20
