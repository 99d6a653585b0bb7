"""Child processes of test_serialize_checkpoint_crash.py: save checkpoints in a loop until killed.

``python _serialize_crash_child.py`` is a *zygote*: it imports torsh once (without starting JAX's
backend, so it has no XLA threads) and then, for each line ``DIRECTORY sync|async PROGRESS_FILE`` read
from stdin,
forks a worker and prints the worker's pid. A worker saves checkpoints 1, 2, 3, ... (continuing after
the latest one in DIRECTORY) and appends each step to PROGRESS_FILE once its checkpoint is complete.
Forking from a zygote spares each of the many killed workers the second of importing JAX. The
content of step s is ``content(s)``.
"""

from __future__ import annotations

import os
import signal
import sys

import jax
import numpy as np

from torsh.serialize import CheckpointManager


def content(step: int) -> dict:
    rng = np.random.default_rng(step)
    return {
        "model": {
            "0": {
                "weight": rng.standard_normal((128, 64)).astype(np.float32),
                "bias": np.full(64, step, np.float32),
            }
        },
        "opt": {"step": np.int64(step), "mu": rng.standard_normal((128, 64)).astype(np.float32)},
        "rng": jax.random.key(step),
        "data": {"epoch": step // 7, "index": step * 32},
    }


def worker(directory: str, mode: str, progress: str) -> None:
    ckpt = CheckpointManager(directory, keep=2, async_save=mode == "async")
    step = (ckpt.latest_step() or 0) + 1
    with open(progress, "a") as out:
        while True:
            ckpt.save(step, content(step), metrics={"loss": 1.0 / step})
            ckpt.wait()
            out.write(f"{step}\n")
            out.flush()
            step += 1


def main() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed workers are reaped automatically
    for line in sys.stdin:
        directory, mode, progress = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                worker(directory, mode, progress)
            finally:
                os._exit(1)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
