"""Child process of test_checkpoint_crash.py: saves checkpoints in a loop until it is killed.

Usage: python crash_child.py DIRECTORY sync|async
Prints each step once its checkpoint is complete. The content of step s is ``content(s)``.
"""

from __future__ import annotations

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


def main() -> None:
    directory, mode = sys.argv[1], sys.argv[2]
    ckpt = CheckpointManager(directory, keep=2, async_save=mode == "async")
    step = (ckpt.latest_step() or 0) + 1
    while True:
        ckpt.save(step, content(step), metrics={"loss": 1.0 / step})
        ckpt.wait()
        print(step, flush=True)
        step += 1


if __name__ == "__main__":
    main()
