"""``torsh launch`` across nodes, without JAX (the launched programs are tiny scripts, so each start
costs milliseconds; the real 2-node training run is in test_distributed_two_nodes.py): global ranks
and variables, ``--dry-run``, flags that do not add up, an unreachable node 0, a failure or a killed
launcher on one node stopping the other. (A SIGKILLed launcher's grandchildren:
test_distributed_launcher.py.)"""

from __future__ import annotations

import io
import signal
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from _distributed_helpers import HANG_GUARD_SECONDS
from test_distributed_launcher import wait_dead

from torsh.cli import build_parser
from torsh.cli import main as cli_main
from torsh.distributed import ClusterConfigError, resolve_config
from torsh.distributed.launch import LaunchSpec, free_port, launch, process_env
from torsh.errors import ConfigError, DistributedError

pytestmark = pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def two_nodes(path: str, *args: str, node1: dict | None = None, **common) -> list[tuple[int, str, str]]:
    """Run node 0 and node 1 launchers (threads of this process) on 127.0.0.1; return their results."""
    port, watch = free_port(), free_port()
    results: list = [None, None]

    def run(node: int) -> None:
        out, err = io.StringIO(), io.StringIO()
        kwargs = dict(common)
        if node == 1 and node1:
            kwargs.update(node1)
        spec = LaunchSpec(
            command=(sys.executable, "-u", path, *args),
            nnodes=kwargs.pop("nnodes", 2),
            node_rank=kwargs.pop("node_rank", node),
            coordinator=f"127.0.0.1:{port}",
            watch_port=watch,
            **{"nprocs": 2, "join_timeout": 60.0, "grace": 2.0, **kwargs},
        )
        try:
            results[node] = (launch(spec, stdout=out, stderr=err), out.getvalue(), err.getvalue())
        except DistributedError as e:
            results[node] = (e, out.getvalue(), err.getvalue())

    threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(HANG_GUARD_SECONDS)
        assert not t.is_alive(), "a launcher hung"
    return results


def test_global_ranks_and_variables(tmp_path):
    env = process_env(1, 2, 29500, 2, base={}, nnodes=3, node_rank=2, host="node0.cluster")
    assert env["TORSH_COORDINATOR_ADDRESS"] == "node0.cluster:29500"
    assert (env["TORSH_PROCESS_ID"], env["TORSH_NUM_PROCESSES"], env["RANK"], env["WORLD_SIZE"]) == (
        "5",
        "6",
        "5",
        "6",
    )
    assert (env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"], env["GROUP_RANK"], env["TORSH_NODE_RANK"]) == (
        "1",
        "2",
        "2",
        "2",
    )
    assert env["TORSH_LOCAL_DEVICE_IDS"] == "2,3"  # devices of this node, not of the job
    config = resolve_config(environ=env)
    assert (config.environment, config.process_id, config.num_processes) == ("torsh-launch", 5, 6)

    path = script(tmp_path, "who.py", "import os\nprint(os.environ['RANK'], os.environ['LOCAL_RANK'])\n")
    (code0, out0, err0), (code1, out1, err1) = two_nodes(path)
    assert code0 == code1 == 0, (err0, err1)
    assert sorted(out0.splitlines()) == ["[rank 0] 0 0", "[rank 1] 1 1"]
    assert sorted(out1.splitlines()) == ["[rank 2] 2 0", "[rank 3] 3 1"]
    assert "all 2 nodes joined" in err0


def test_dry_run_prints_each_process_environment(capsys):
    ns = build_parser().parse_args(
        [
            "launch",
            "--nnodes",
            "2",
            "--node-rank",
            "1",
            "--coordinator",
            "127.0.0.1:29500",
            "-n",
            "2",
            "--devices-per-process",
            "4",
            "--dry-run",
            "train.py",
            "--lr",
            "0.1",
        ]
    )
    assert (ns.nnodes, ns.node_rank, ns.coordinator, ns.dry_run) == (2, 1, "127.0.0.1:29500", True)
    assert (
        cli_main(
            [
                "launch",
                "--nnodes",
                "2",
                "--node-rank",
                "1",
                "--coordinator",
                "127.0.0.1:29500",
                "-n",
                "2",
                "--devices-per-process",
                "4",
                "--dry-run",
                "train.py",
                "--lr",
                "0.1",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("# node 1 of 2 (watch port 29501): ") and lines[0].endswith(
        "train.py --lr 0.1"
    )
    assert lines[1].startswith(
        "rank 2: TORSH_COORDINATOR_ADDRESS=127.0.0.1:29500 TORSH_NUM_PROCESSES=4 TORSH_PROCESS_ID=2"
    )
    assert "TORSH_LOCAL_DEVICE_IDS=0,1,2,3 JAX_NUM_CPU_DEVICES=4" in lines[1]
    assert lines[2].startswith("rank 3: ") and "LOCAL_RANK=1" in lines[2] and len(lines) == 3
    # Bad flags are reported without starting anything (exit status 2).
    assert (
        cli_main(["launch", "--nnodes", "2", "--node-rank", "2", "--coordinator", "h:1", "--dry-run", "x.py"])
        == 2
    )
    assert "--node-rank 2 is not in [0, 2)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"nnodes": 2, "node_rank": 0}, "--nnodes 2 needs --coordinator HOST:PORT"),
        ({"nnodes": 2, "node_rank": 2, "coordinator": "h:1"}, "--node-rank 2 is not in [0, 2)"),
        ({"nnodes": 0}, "--nnodes must be at least 1"),
        ({"nnodes": 2, "coordinator": "nohost"}, "--coordinator must look like HOST:PORT, got 'nohost'"),
        ({"nnodes": 2, "coordinator": "no-such-host.invalid:1"}, "--coordinator host 'no-such-host.invalid'"),
        ({"coordinator": "127.0.0.1:5", "port": 6}, "not also --port"),
    ],
)
def test_flags_that_do_not_add_up(kwargs, fragment):
    with pytest.raises(ClusterConfigError) as info:
        launch(LaunchSpec(command=("python", "x.py"), nprocs=1, **kwargs), stderr=io.StringIO())
    assert fragment in str(info.value) and isinstance(info.value, ConfigError)


@pytest.mark.parametrize(
    ("node1", "fragment"),
    [
        (
            {"nprocs": 3},
            "node 1 (host {host}) was started with -n/--nprocs 3 but node 0 (host {host}) with -n/--nprocs 2",
        ),
        ({"devices_per_process": 2}, "was started with --devices-per-process 2 but node 0"),
        ({"nnodes": 3}, "was started with --nnodes 3 but node 0"),
        ({"node_rank": 0}, "two launchers were started with --node-rank 0 (hosts {host} and {host})"),
    ],
)
def test_nodes_that_disagree_fail_before_anything_starts(tmp_path, node1, fragment):
    marker = tmp_path / "started"
    path = script(tmp_path, "touch.py", f"open({str(marker)!r}, 'a').close()\n")
    (r0, _, _), (r1, _, _) = two_nodes(path, node1=node1, join_timeout=20.0)
    host = __import__("socket").gethostname()
    expected = fragment.format(host=host)
    for result in (r0, r1):
        assert isinstance(result, ClusterConfigError), result
        assert expected in str(result), str(result)
    assert not marker.exists()


def test_unreachable_node_0_is_named_with_the_flag():
    port = free_port()  # nobody listens there
    spec = LaunchSpec(
        ("python", "x.py"), nprocs=1, nnodes=2, node_rank=1, coordinator=f"127.0.0.1:{port}", join_timeout=1.0
    )
    with pytest.raises(
        ClusterConfigError, match=r"cannot reach node 0's launcher at 127\.0\.0\.1:\d+ \(--coordinator"
    ):
        launch(spec, stderr=io.StringIO())
    spec = LaunchSpec(
        ("python", "x.py"), nprocs=1, nnodes=2, node_rank=0, coordinator=f"127.0.0.1:{port}", join_timeout=0.5
    )
    with pytest.raises(DistributedError, match=r"node\(s\) \[1\] did not join \(within 0\.5 s\)"):
        launch(spec, stderr=io.StringIO())


def test_a_failure_on_node_1_stops_node_0(tmp_path):
    """Rank 3 (node 1) is SIGKILLed; node 0's processes would sleep for ten minutes."""
    path = script(
        tmp_path,
        "job.py",
        """
        import os, signal, time
        print("pid", os.getpid(), flush=True)
        if os.environ["RANK"] == "3":
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(600)
        """,
    )
    (code0, out0, err0), (code1, out1, err1) = two_nodes(path)
    assert code0 == code1 == 128 + signal.SIGKILL, (err0, err1)
    for err in (err0, err1):
        assert "first failure in the job: rank 3 on node 1 (host " in err and "was killed by SIGKILL" in err
    assert "the job failed on another node; stopping rank(s) [0, 1]" in err0
    pids = [int(line.split()[-1]) for line in (out0 + out1).splitlines() if " pid " in line]
    assert len(pids) == 4 and wait_dead(pids) == []


@pytest.mark.parametrize("node0_work", ["sleeps", "finishes first"])
def test_a_killed_launcher_on_node_1_stops_node_0(tmp_path, node0_work):
    """Node 1's launcher joins, then vanishes (its connection closes without "done", as when SIGKILLed):
    node 0 fails the job, whether its own processes still run or already succeeded."""
    import json
    import socket

    seconds = 600 if node0_work == "sleeps" else 0
    path = script(tmp_path, "sleep.py", f"import time\nprint('up', flush=True)\ntime.sleep({seconds})\n")
    port, watch = free_port(), free_port()
    out, err = io.StringIO(), io.StringIO()
    result: list = []
    spec = LaunchSpec(
        (sys.executable, "-u", path),
        nprocs=1,
        nnodes=2,
        node_rank=0,
        coordinator=f"127.0.0.1:{port}",
        watch_port=watch,
        grace=2.0,
    )
    thread = threading.Thread(target=lambda: result.append(launch(spec, stdout=out, stderr=err)))
    thread.start()
    for _ in range(200):
        try:
            node1 = socket.create_connection(("127.0.0.1", watch))
            break
        except OSError:
            threading.Event().wait(0.05)
    hello = {"type": "hello", "node": 1, "nnodes": 2, "nprocs": 1, "devices": None, "host": "node1"}
    node1.sendall((json.dumps(hello) + "\n").encode())
    assert json.loads(node1.makefile("rb").readline()) == {"type": "start"}
    if node0_work == "finishes first":
        while "up" not in out.getvalue():
            threading.Event().wait(0.05)
        threading.Event().wait(0.5)  # node 0's process has ended; its launcher waits for node 1
        assert thread.is_alive()
    node1.close()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive()
    assert result == [1]
    assert "first failure in the job: the launcher of node 1 (host node1) stopped answering" in err.getvalue()
    if node0_work == "sleeps":
        assert "the job failed on another node; stopping rank(s) [0]" in err.getvalue()
