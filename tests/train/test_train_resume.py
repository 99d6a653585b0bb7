"""A run SIGKILLed at any point and restarted with the same command ends bit-identical (CPU) to the
uninterrupted run: model, optimizer state, step, key and history (wall times aside)."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import numpy as np
from safetensors.numpy import load_file

CHILD = pathlib.Path(__file__).with_name("_train_resume_child.py")


def _env(cache: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TORSH_CACHE_DIR"] = str(cache)  # warm compile cache shared by the runs: faster restarts
    env["PYTHONPATH"] = os.pathsep.join(
        [str(pathlib.Path(__file__).parents[2] / "src"), env.get("PYTHONPATH", "")]
    )
    return env


def _run(run_dir, out, env, kill_at=None):
    args = [sys.executable, str(CHILD), str(run_dir), str(out)] + ([str(kill_at)] if kill_at else [])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)


def test_resume_after_sigkill_is_bit_identical(tmp_path):
    env = _env(tmp_path / "cache")
    ref = tmp_path / "ref.safetensors"
    # the uninterrupted run, in this process (the same program on the same CPU computes the same bits)
    import _train_resume_child

    _train_resume_child.run(str(tmp_path / "ref_run"), str(ref))

    rnd = random.Random()
    run_dir, out = tmp_path / "run", tmp_path / "out.safetensors"
    # 1) a crash at a random step boundary (between checkpoints, or right after one)
    kill_at = rnd.randint(1, 30)
    killed = _run(run_dir, out, env, kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
    assert not out.exists()
    # 2) a SIGKILL from outside at a random moment after training started (possibly mid-save)
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(run_dir), str(out)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "started"
    time.sleep(rnd.uniform(0.0, 1.5))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdout.close()
    # 3) the same command again, to the end (if the kill came too late, this one just reloads the end)
    final = _run(run_dir, out, env)
    assert final.returncode == 0, final.stderr

    a, b = load_file(ref), load_file(out)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{k} (kill_at={kill_at})")
    assert json.loads(pathlib.Path(str(ref) + ".json").read_text()) == json.loads(
        pathlib.Path(str(out) + ".json").read_text()
    )
    # the logs were rewritten from the checkpointed history: no duplicated or lost records
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    ref_lines = [
        json.loads(line) for line in (tmp_path / "ref_run" / "metrics.jsonl").read_text().splitlines()
    ]
    strip = lambda rs: [{k: v for k, v in r.items() if k != "time"} for r in rs]
    assert strip(lines) == strip(ref_lines)
    assert [r["step"] for r in lines] == [8, 8, 16, 16, 24, 24, 32, 32]
