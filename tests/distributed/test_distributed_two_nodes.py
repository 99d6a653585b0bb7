"""Two simulated "nodes" on 127.0.0.1 (two ``torsh launch --nnodes 2 --node-rank R`` invocations of
2 processes x 1 CPU device, gloo collectives) train like 1 process x 4 devices; a process that raises
on node 1 stops both nodes promptly and every launcher names it; the same two commands again resume
from the last checkpoint and finish with the reference's parameters.

One script (_distributed_nodes_job.py) serves all three runs; the JAX compilation cache is shared between the
two multi-process runs so the second compiles little.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _distributed_helpers import HANG_GUARD_SECONDS, HERE, subprocess_env

from torsh.distributed.launch import free_port

pytestmark = pytest.mark.slow

JOB = str(HERE / "_distributed_nodes_job.py")
# The job's other processes would wait for the failed one forever (a collective or JAX's barriers);
# ending at all proves they were stopped. Generous, because the suite may share a busy machine.
JOB_GUARD_SECONDS = 300


def run_two_nodes(out: Path, cache: Path, **extra: str) -> list[subprocess.CompletedProcess]:
    port, watch = free_port(), free_port()
    env = subprocess_env(
        JAX_COMPILATION_CACHE_DIR=str(cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0", **extra
    )
    launchers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "torsh.distributed.launch",
                "--nnodes",
                "2",
                "--node-rank",
                str(node),
                "--coordinator",
                f"127.0.0.1:{port}",
                "--watch-port",
                str(watch),
                "--join-timeout",
                "120",
                "-n",
                "2",
                "--devices-per-process",
                "1",
                "--grace",
                "3",
                JOB,
                str(out),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for node in (0, 1)
    ]
    results = []
    for launcher in launchers:
        stdout, stderr = launcher.communicate(timeout=JOB_GUARD_SECONDS)
        results.append(subprocess.CompletedProcess(launcher.args, launcher.returncode, stdout, stderr))
    return results


def losses(path: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_nodes")
    ref, out, cache = root / "ref", root / "job", root / "cache"
    ref.mkdir()
    out.mkdir()
    reference = subprocess.run(
        [sys.executable, JOB, str(ref)],
        env=subprocess_env(JAX_NUM_CPU_DEVICES="4"),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert reference.returncode == 0, reference.stderr
    failed = run_two_nodes(out, cache, TORSH_TEST_FAIL="3:3")
    failed_losses = losses(out / "losses_4.jsonl")
    resumed = run_two_nodes(out, cache)
    return {"ref": ref, "out": out, "failed": failed, "failed_losses": failed_losses, "resumed": resumed}


def test_a_raise_on_node_1_stops_both_nodes_and_names_the_rank(runs):
    node0, node1 = runs["failed"]
    assert node1.returncode == 1 and node0.returncode == 1, (node0.stderr, node1.stderr)
    # The failing process printed its traceback and exited at once (no shutdown barrier).
    assert "[rank 3] RuntimeError: injected failure on process 3 before step 3" in node1.stdout + node1.stderr
    assert "torsh.distributed: process 3 raised RuntimeError; exiting now" in node1.stderr
    for launcher in (node0, node1):
        assert "first failure in the job: rank 3 on node 1 (host " in launcher.stderr, launcher.stderr
        assert ") exited with code 1" in launcher.stderr
    # Node 0's processes may fail on their own first (gloo sees rank 3's connections close) or be
    # stopped by node 0's verdict: either way, they are not blamed.
    assert "rank 3 failed; stopping rank(s) [2]" in node1.stderr or "rank 2 on node 1" in node1.stderr
    assert "did not stop within" not in node0.stderr + node1.stderr  # SIGTERM sufficed: JAX does not hold it
    assert sorted(runs["failed_losses"]) == [1, 2]


def test_two_nodes_train_like_one_process_with_four_devices(runs):
    ref = losses(runs["ref"] / "losses_1.jsonl")
    got = losses(runs["out"] / "losses_4.jsonl")  # steps 1-2 from the failed run, 3-6 resumed
    assert sorted(got) == sorted(ref) == [1, 2, 3, 4, 5, 6]
    # gloo sums across processes in another order than XLA within one: equal to float32 rounding.
    np.testing.assert_allclose([got[s] for s in ref], [ref[s] for s in ref], rtol=2e-6)
    one, four = np.load(runs["ref"] / "params_1.npz"), np.load(runs["out"] / "params_4.npz")
    assert sorted(one.files) == sorted(four.files)
    for key in one.files:
        np.testing.assert_allclose(four[key], one[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_the_same_command_resumes_from_the_last_checkpoint(runs):
    node0, node1 = runs["resumed"]
    assert node0.returncode == 0 and node1.returncode == 0, (node0.stderr[-3000:], node1.stderr[-3000:])
    for rank, launcher in ((0, node0), (1, node0), (2, node1), (3, node1)):
        assert f"[rank {rank}] resumed from step 2" in launcher.stdout
        assert f"[rank {rank}] process {rank} of 4 done" in launcher.stdout


def test_each_process_loads_its_distributed_sampler_share(runs):
    """Across both nodes the 4 processes load disjoint shares that together make the reference's batches."""
    out, ref = runs["out"], runs["ref"]
    reference_rows = json.loads((ref / "rows_1_0.json").read_text().splitlines()[0])["rows"]  # steps 1-6
    per_process = []
    for p in range(4):
        records = [json.loads(line) for line in (out / f"rows_4_{p}.json").read_text().splitlines()]
        assert [r["start"] for r in records] == [2]  # only the resumed run got to the end
        per_process.append(records[0]["rows"])  # steps 3-6
    for i, step in enumerate(range(3, 7)):
        shares = [per_process[p][i] for p in range(4)]
        assert all(len(s) == 4 for s in shares)
        assert len(set().union(*map(set, shares))) == 16  # disjoint
        assert [r for s in shares for r in s] == reference_rows[step - 1]
