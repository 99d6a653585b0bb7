"""The local launcher: environments, rank-prefixed streaming, failure handling (a failed or killed
process stops the job, the launcher reports it and exits non-zero; nothing is left running), timeouts,
signals, the ``torsh`` CLI and ``python -m torsh.distributed.launch``.

The launched programs here are tiny Python scripts (no JAX) so that each start costs milliseconds;
the real multi-process training run is in test_distributed_multiprocess.py.
"""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from _distributed_helpers import HANG_GUARD_SECONDS, subprocess_env

import torsh
from torsh.cli import COMMANDS, build_parser
from torsh.cli import main as cli_main
from torsh.distributed import LaunchError
from torsh.distributed.launch import LaunchSpec, free_port, launch, process_env

# launch() runs in this pytest process, where JAX has started; JAX then warns on any fork. The
# launcher's children exec right after the fork (only a prctl call in between), so the warning does not
# apply; the real launcher process never starts JAX.
pytestmark = pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def run_launch(spec: LaunchSpec, **kwargs) -> tuple[int, str, str]:
    """Run the launcher in a thread; a hang fails the test instead of stalling the suite."""
    out, err = io.StringIO(), io.StringIO()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(launch(spec, stdout=out, stderr=err, **kwargs)))
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive(), "the launcher hung"
    return result[0], out.getvalue(), err.getvalue()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_dead(pids: list[int]) -> list[int]:
    """PIDs still alive after giving the kernel a moment to deliver SIGKILLs (not a timing assertion)."""
    for _ in range(100):
        living = [p for p in pids if alive(p)]
        if not living:
            return []
        time.sleep(0.05)
    return living


def spec_for(path: str, *args: str, **kwargs) -> LaunchSpec:
    return LaunchSpec(command=(sys.executable, "-u", path, *args), **kwargs)


# --- environment -----------------------------------------------------------------------------------


def test_process_env_layout():
    env = process_env(2, 3, 4321, None, base={"KEEP": "1", "TORSH_PROCESS_ID": "9"})
    assert env["KEEP"] == "1"
    assert env["TORSH_COORDINATOR_ADDRESS"] == "127.0.0.1:4321"
    assert (env["TORSH_NUM_PROCESSES"], env["TORSH_PROCESS_ID"]) == ("3", "2")
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == (
        "2",
        "3",
        "2",
        "3",
    )
    assert "JAX_NUM_CPU_DEVICES" not in env and "TORSH_LOCAL_DEVICE_IDS" not in env
    assert "MASTER_PORT" not in env  # torch.distributed in the same script keeps its own port
    env = process_env(1, 2, 1, 4, base={})
    assert env["JAX_NUM_CPU_DEVICES"] == "4" and env["TORSH_LOCAL_DEVICE_IDS"] == "4,5,6,7"
    # What init() makes of it:
    config = torsh.distributed.resolve_config(environ=env)
    assert (config.coordinator_address, config.num_processes, config.process_id) == ("127.0.0.1:1", 2, 1)
    assert config.local_device_ids == (4, 5, 6, 7)


def test_free_port_is_bindable():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# --- running jobs ----------------------------------------------------------------------------------


def test_success_streams_prefixed_lines(tmp_path):
    path = script(
        tmp_path,
        "ok.py",
        """
        import os, sys
        rank = os.environ["TORSH_PROCESS_ID"]
        n, address = os.environ["TORSH_NUM_PROCESSES"], os.environ["TORSH_COORDINATOR_ADDRESS"]
        print(f"hello from {rank} of {n} at {address}")
        print(f"warning {rank}", file=sys.stderr)
        print("args", sys.argv[1:])
        sys.stdout.write("no newline at the end")
    """,
    )
    code, out, err = run_launch(spec_for(path, "--lr", "0.1", nprocs=3, port=5555))
    assert code == 0
    lines = out.splitlines()
    for rank in range(3):
        assert f"[rank {rank}] hello from {rank} of 3 at 127.0.0.1:5555" in lines
        assert f"[rank {rank}] args ['--lr', '0.1']" in lines
        assert f"[rank {rank}] no newline at the end" in lines
        assert f"[rank {rank}] warning {rank}" in err.splitlines()
    assert all(line.startswith("[rank ") for line in lines)
    assert "job failed" not in err


def test_failure_stops_the_others_and_leaves_nothing_behind(tmp_path):
    """Rank 1 fails; rank 0 ignores SIGTERM and has a child: both are killed after the grace period."""
    path = script(
        tmp_path,
        "fail.py",
        """
        import os, signal, subprocess, sys, time
        rank = int(os.environ["RANK"])
        if rank == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            print(f"pids {os.getpid()} {child.pid}", flush=True)
            time.sleep(600)
        else:
            time.sleep(0.5)
            print("failing", flush=True)
            sys.exit(3)
    """,
    )
    code, out, err = run_launch(spec_for(path, nprocs=2, grace=1.0))
    assert code == 3
    assert "[rank 1] failing" in out.splitlines()
    assert "rank 1 (pid" in err and "exited with code 3" in err
    assert "rank 0 failed" not in err and "stopping rank(s) [0]" in err
    assert "did not stop within 1 s; SIGKILL" in err
    assert "job failed (exit status 3): rank 0 was killed by SIGKILL, rank 1 exited with code 3" in err
    pids = [int(p) for p in next(line for line in out.splitlines() if "pids" in line).split()[-2:]]
    assert wait_dead(pids) == [], "a process of the job outlived the launcher"


def test_the_first_failure_is_named_not_the_lowest_rank(tmp_path, monkeypatch):
    """Rank 1 fails; rank 0 fails 0.1 s after it has died (as a peer stuck in a collective does). With
    a 1 s polling interval both exits land in one sweep: the launcher must order them by exit time."""
    import torsh.distributed.launch as launch_module

    monkeypatch.setattr(launch_module, "_POLL_SECONDS", 1.0)
    marker = tmp_path / "rank1_pid"
    path = script(
        tmp_path,
        "chain.py",
        f"""
        import os, sys, time
        if os.environ["RANK"] == "1":
            time.sleep(0.2)
            with open({str(marker)!r} + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename({str(marker)!r} + ".tmp", {str(marker)!r})
            os._exit(7)
        while not os.path.exists({str(marker)!r}):
            time.sleep(0.001)
        pid = open({str(marker)!r}).read()
        def running():
            try:
                with open(f"/proc/{{pid}}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except FileNotFoundError:
                return False
        while running():
            time.sleep(0.001)
        time.sleep(0.1)
        sys.exit(5)
    """,
    )
    code, _, err = run_launch(spec_for(path, nprocs=2, grace=1.0))
    assert code == 7, err
    assert "rank 1 (pid" in err and "exited with code 7" in err
    assert "rank 0 (pid" not in err  # never reported as the first failure


def test_killed_process_is_reported(tmp_path):
    path = script(
        tmp_path,
        "killed.py",
        """
        import os, signal, time
        if os.environ["RANK"] == "1":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(600)
    """,
    )
    code, _, err = run_launch(spec_for(path, nprocs=2, grace=5.0))
    assert code == 128 + signal.SIGKILL
    assert "was killed by SIGKILL" in err and "stopping rank(s) [0]" in err
    assert "did not stop" not in err  # rank 0 exits on SIGTERM


def test_timeout_stops_the_job(tmp_path):
    path = script(tmp_path, "slow.py", "import time\ntime.sleep(600)\n")
    code, _, err = run_launch(spec_for(path, nprocs=2, timeout=0.5, grace=2.0))
    assert code == 124
    assert "timeout: the job ran longer than 0.5 s" in err


def test_stop_request_forwards_the_signal(tmp_path):
    path = script(
        tmp_path,
        "wait.py",
        """
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: (print("got SIGTERM", flush=True), sys.exit(0)))
        print("ready", flush=True)
        time.sleep(600)
    """,
    )
    ready = threading.Event()
    out, err = io.StringIO(), io.StringIO()

    class Watch(io.StringIO):
        def write(self, text):
            if "ready" in text:
                ready.set()
            return out.write(text)

        def flush(self):
            pass

    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(
            launch(
                spec_for(path, nprocs=1),
                stdout=Watch(),
                stderr=err,
                stop_requested=lambda: signal.SIGTERM if ready.is_set() else None,
            )
        )
    )
    thread.start()
    thread.join(HANG_GUARD_SECONDS)
    assert not thread.is_alive()
    assert result == [128 + signal.SIGTERM]
    assert "launcher received SIGTERM" in err.getvalue() and "[rank 0] got SIGTERM" in out.getvalue()


def test_launch_argument_errors(tmp_path):
    with pytest.raises(LaunchError, match="at least 1"):
        launch(spec_for("x.py", nprocs=0))
    with pytest.raises(LaunchError, match="no script"):
        launch(LaunchSpec(command=(), nprocs=1))
    with pytest.raises(LaunchError, match="devices-per-process"):
        launch(spec_for("x.py", nprocs=1, devices_per_process=0))
    with pytest.raises(LaunchError, match="cannot start"):
        launch(LaunchSpec(command=(str(tmp_path / "missing-binary"),), nprocs=2), stderr=io.StringIO())
    # A missing script is the interpreter's error, reported like any failure.
    code, _, err = run_launch(spec_for(str(tmp_path / "missing.py"), nprocs=2))
    assert code == 2 and "exited with code 2" in err


# --- command line ----------------------------------------------------------------------------------


def test_cli_parser():
    ns = build_parser().parse_args(
        ["launch", "-n", "2", "--devices-per-process", "4", "--grace", "1", "train.py", "-n", "7"]
    )
    assert (ns.command, ns.nprocs, ns.devices_per_process, ns.grace) == ("launch", 2, 4, 1.0)
    assert (ns.script, ns.args, ns.module) == ("train.py", ["-n", "7"], False)
    assert "launch" in COMMANDS


def test_cli_runs_a_job(tmp_path, capfd):
    path = script(tmp_path, "hi.py", "import os\nprint('hi', os.environ['RANK'])\n")
    assert cli_main(["launch", "-n", "2", path]) == 0
    out = capfd.readouterr().out.splitlines()
    assert "[rank 0] hi 0" in out and "[rank 1] hi 1" in out
    assert cli_main([]) == 2  # no subcommand: help, exit status 2


def test_module_entry_point_reports_a_killed_process_and_its_launcher_leaves_no_orphans(tmp_path):
    """``python -m torsh.distributed.launch``: a killed rank ends the job with a report; and when the
    launcher itself is SIGKILLed, its processes die with it."""
    path = script(
        tmp_path,
        "job.py",
        """
        import os, signal, subprocess, sys, time
        print(f"pid {os.getpid()}", flush=True)
        if sys.argv[1] == "stay":  # a grandchild: PR_SET_PDEATHSIG does not reach it, the guard must
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            print(f"pid {child.pid}", flush=True)
        if os.environ["RANK"] == "1" and sys.argv[1] == "kill":
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(600)
    """,
    )
    cmd = [sys.executable, "-m", "torsh.distributed.launch", "-n", "2", "--grace", "2"]
    proc = subprocess.run(
        [*cmd, path, "kill"], env=subprocess_env(), capture_output=True, text=True, timeout=HANG_GUARD_SECONDS
    )
    assert proc.returncode == 128 + signal.SIGKILL, proc.stderr
    assert "rank 1 (pid" in proc.stderr and "was killed by SIGKILL" in proc.stderr
    pids = [int(line.split()[-1]) for line in proc.stdout.splitlines() if " pid " in line]
    assert len(pids) == 2 and wait_dead(pids) == []

    # The launcher is SIGKILLed (no chance to clean up): PR_SET_PDEATHSIG takes its processes down,
    # the launcher's guard process their process groups (the grandchildren).
    launcher = subprocess.Popen([*cmd, path, "stay"], env=subprocess_env(), stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        while len(pids) < 4:
            line = launcher.stdout.readline()
            assert line, "the launcher ended early"
            if " pid " in line:
                pids.append(int(line.split()[-1]))
    finally:
        launcher.kill()
        launcher.wait(HANG_GUARD_SECONDS)
        launcher.stdout.close()
    assert wait_dead(pids) == [], f"processes outlived a killed launcher: {[p for p in pids if alive(p)]}"
