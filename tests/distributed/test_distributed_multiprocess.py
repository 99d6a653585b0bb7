"""2 processes x 4 devices on 127.0.0.1 (``torsh launch``) train exactly what 1 process x 8 devices
trains, and checkpoints move between the two layouts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _distributed_helpers import HANG_GUARD_SECONDS, HERE, subprocess_env

import torsh

pytestmark = pytest.mark.slow

TORSH_CLI = [sys.executable, "-m", "torsh.cli"]


@pytest.fixture(scope="module")
def two_process_run(checks8):
    import _distributed_train

    out_dir, _ = checks8
    # A CheckpointManager checkpoint written by 1 process, for the job to restore across 2.
    model = torsh.serialize.load(out_dir / "fsdp_1proc.safetensors", like=_distributed_train.make_mlp())
    with torsh.serialize.CheckpointManager(out_dir / "ckpt_1proc") as ckpt:
        ckpt.save(100, {"model": model})
    proc = subprocess.run(
        [
            *TORSH_CLI,
            "launch",
            "-n",
            "2",
            "--devices-per-process",
            "4",
            "--timeout",
            "300",
            str(HERE / "_distributed_mp_job.py"),
            str(out_dir),
        ],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert proc.returncode == 0, (
        f"2-process job failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return out_dir, proc


def test_output_is_streamed_with_rank_prefixes(two_process_run):
    _, proc = two_process_run
    lines = proc.stdout.splitlines()
    assert "[rank 0] process 0 of 2 with 4 devices" in lines
    assert "[rank 1] process 1 of 2 with 4 devices" in lines
    # gloo's C++ logging shares the processes' stdout and may glue its partial lines onto ours.
    for rank in (0, 1):
        assert any(line.startswith(f"[rank {rank}] ") and line.endswith("done") for line in lines), rank
    assert all(line.startswith(("[rank 0] ", "[rank 1] ")) for line in lines)


@pytest.mark.parametrize("config", ["dp", "fsdp", "2d_fsdp"])
def test_two_processes_train_like_one(two_process_run, config):
    out_dir, _ = two_process_run
    one = np.load(out_dir / f"params_{config}.npz")
    two = np.load(out_dir / f"mp_params_{config}.npz")
    assert sorted(one.files) == sorted(two.files)
    for key in one.files:
        # gloo's cross-process all-reduce sums in another order than XLA's in-process one: equal up to
        # float32 rounding, not bitwise.
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=f"{config}: {key}")


@pytest.mark.parametrize("saved_by", ["mp_restored_fsdp", "mp_restored_ckpt_fsdp"])
def test_checkpoint_from_one_process_restores_in_two(two_process_run, saved_by):
    out_dir, _ = two_process_run
    one = np.load(out_dir / "params_fsdp.npz")
    restored = np.load(out_dir / f"{saved_by}.npz")
    assert sorted(restored.files) == sorted(k for k in one.files if k != "losses")
    for key in restored.files:
        np.testing.assert_array_equal(restored[key], one[key])


@pytest.mark.parametrize("directory,step", [("ckpt_2proc", 2), ("ckpt_2proc_async", 3)])
def test_checkpoint_manager_of_two_processes_restores_in_one(two_process_run, directory, step):
    """The manager's own multi-process save (one writer; retention ran once, on process 0)."""
    import _distributed_train
    import jax

    out_dir, _ = two_process_run
    ckpt = torsh.serialize.CheckpointManager(out_dir / directory)
    assert ckpt.all_steps() == [step]
    assert sorted(p.name for p in (out_dir / directory).iterdir()) == [f"step_{step:08d}"]  # no leftovers
    like = {"model": _distributed_train.make_mlp(), "data": {"step": 0}}
    if directory == "ckpt_2proc":
        like["rng"] = jax.random.key(0)
        assert ckpt.metrics() == {"loss": 0.5}
    restored = ckpt.restore("latest", like=like)
    assert restored["data"] == {"step": step}
    if "rng" in like:
        np.testing.assert_array_equal(
            jax.random.key_data(restored["rng"]), jax.random.key_data(jax.random.key(7))
        )
    two = np.load(out_dir / "mp_params_fsdp.npz")
    for key, value in restored["model"].state_dict().items():
        np.testing.assert_array_equal(np.asarray(value), two[key])
