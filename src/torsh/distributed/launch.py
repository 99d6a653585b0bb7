"""Start a multi-process job on one machine or on each of several.

``torsh launch -n 2 train.py args...`` on one machine, or
``torsh launch --nnodes 2 --node-rank R --coordinator HOST:PORT -n 4 train.py`` on each of several.
Also ``python -m torsh.distributed.launch ...``. Every process runs the same script with
``TORSH_COORDINATOR_ADDRESS`` (127.0.0.1 and a free port on one machine, ``--coordinator`` across
machines), ``TORSH_NUM_PROCESSES`` and ``TORSH_PROCESS_ID`` (plus torchrun's ``RANK``/``WORLD_SIZE``/
``LOCAL_RANK``/``LOCAL_WORLD_SIZE``/``GROUP_RANK`` for scripts that read them) in its environment, so
``torsh.distributed.init()`` finds its place. Process ``i`` of node ``r`` is rank ``r * n + i``.
``--dry-run`` prints these environments and starts nothing.

The launcher streams every line a process prints prefixed with ``[rank i]``. When a process fails
(non-zero exit or killed by a signal) it says so, sends SIGTERM to the others, SIGKILLs whatever is
still alive after ``--grace`` seconds and exits non-zero; ``--timeout`` bounds the whole job. Across
nodes, the launchers keep a connection to node 0's launcher (``--coordinator`` port + 1): a failure on
any node stops every node, and every launcher names the rank (and host) that failed first. Each
process runs in its own process group (its children are stopped with it) and dies with the launcher
(Linux ``PR_SET_PDEATHSIG``); a small guard process kills the groups (grandchildren included) if the
launcher itself is SIGKILLed, so nothing is left behind.

Exit codes: 0 when every process succeeded; the first failing process's exit code (128 + signal
number when it was killed by a signal); 124 on ``--timeout``; 128 + signal when the launcher itself
is interrupted; 2 for a configuration that cannot start (the message names the flag).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

__all__ = [
    "LaunchSpec",
    "launch",
    "dry_run",
    "add_arguments",
    "run_from_args",
    "main",
    "free_port",
    "process_env",
]

_POLL_SECONDS = 0.05
TIMEOUT_EXIT_CODE = 124


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """What to start: ``nprocs`` copies of ``command`` with per-rank environments (see :func:`launch`).

    Args:
        command: The program and its arguments (``(sys.executable, "-u", "train.py", ...)``).
        nprocs: Processes on this node.
        devices_per_process: Simulated CPU devices per process, or accelerators ``[i*K, (i+1)*K)`` for
            process ``i``; None: every process sees all devices.
        port: The coordinator port on 127.0.0.1 (one node; default: a free one).
        timeout: Stop the whole job after this many seconds (exit status 124).
        grace: After a failure, seconds the other processes get to exit before SIGKILL.
        nnodes: Number of nodes (machines) in the job.
        node_rank: This node's index in ``[0, nnodes)``.
        coordinator: ``host:port`` of node 0 (its process 0's JAX coordinator); required with several nodes.
        watch_port: Node 0's launcher port for the other launchers (default: the coordinator port + 1).
        join_timeout: Seconds the nodes' launchers wait for each other.

    Example:
        >>> from torsh.distributed.launch import LaunchSpec
        >>> spec = LaunchSpec(("python", "train.py"), nprocs=4, devices_per_process=2)
        >>> spec.nprocs * spec.devices_per_process
        8
    """

    command: tuple[str, ...]
    nprocs: int  # processes on this node
    devices_per_process: int | None = None
    port: int | None = None
    timeout: float | None = None
    grace: float = 5.0
    nnodes: int = 1
    node_rank: int = 0
    coordinator: str | None = None  # "host:port" of node 0 (its process 0's JAX coordinator)
    watch_port: int | None = None  # node 0's launcher port for the other launchers (default port + 1)
    join_timeout: float = 300.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now.

    Returns:
        The port number.

    Example:
        >>> from torsh.distributed.launch import free_port
        >>> 0 < free_port() < 65536
        True
    """
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(
    rank: int,
    nprocs: int,
    port: int,
    devices_per_process: int | None,
    base: Mapping[str, str] | None = None,
    *,
    nnodes: int = 1,
    node_rank: int = 0,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """The environment of local process ``rank`` of ``nprocs`` on node ``node_rank``.

    It is the parent's environment plus the job layout (global rank ``node_rank * nprocs + rank``):
    ``TORSH_*`` variables for :func:`torsh.distributed.init` and torchrun's ``RANK``/``WORLD_SIZE``/
    ``LOCAL_RANK``/``LOCAL_WORLD_SIZE``/``GROUP_RANK``.

    Args:
        rank: The process's index on this node.
        nprocs: Processes per node.
        port: The coordinator's port.
        devices_per_process: Devices per process (sets ``JAX_NUM_CPU_DEVICES`` and
            ``TORSH_LOCAL_DEVICE_IDS``), or None.
        base: The environment to extend (default: ``os.environ``).
        nnodes: Number of nodes.
        node_rank: This node's index.
        host: The coordinator's host.

    Returns:
        The environment as a new dict.

    Example:
        >>> from torsh.distributed.launch import process_env
        >>> env = process_env(1, 2, 12345, 4, base={})
        >>> env["TORSH_COORDINATOR_ADDRESS"], env["TORSH_PROCESS_ID"], env["JAX_NUM_CPU_DEVICES"]
        ('127.0.0.1:12345', '1', '4')
        >>> env["TORSH_LOCAL_DEVICE_IDS"]
        '4,5,6,7'
        >>> env = process_env(1, 2, 29500, None, base={}, nnodes=2, node_rank=1, host="node0")
        >>> env["TORSH_COORDINATOR_ADDRESS"], env["TORSH_PROCESS_ID"], env["TORSH_NUM_PROCESSES"]
        ('node0:29500', '3', '4')
        >>> env["LOCAL_RANK"], env["GROUP_RANK"]
        ('1', '1')
    """
    env = dict(os.environ if base is None else base)
    world, global_rank = nnodes * nprocs, node_rank * nprocs + rank
    env.update(
        TORSH_COORDINATOR_ADDRESS=f"{host}:{port}",
        TORSH_NUM_PROCESSES=str(world),
        TORSH_PROCESS_ID=str(global_rank),
        TORSH_NODE_RANK=str(node_rank),
        TORSH_NNODES=str(nnodes),
        RANK=str(global_rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(nprocs),
        GROUP_RANK=str(node_rank),
        PYTHONUNBUFFERED="1",
    )
    if devices_per_process is not None:
        first = rank * devices_per_process
        env["JAX_NUM_CPU_DEVICES"] = str(devices_per_process)  # simulated CPU devices per process
        # Accelerators: process i uses devices [i*k, (i+1)*k) of this machine.
        env["TORSH_LOCAL_DEVICE_IDS"] = ",".join(str(first + i) for i in range(devices_per_process))
    return env


def _pdeathsig_setter() -> Callable[[], None] | None:
    """A function for the child (between fork and exec) that asks Linux to SIGKILL it when the
    launcher dies, so no process outlives a killed launcher. libc and ``prctl`` are resolved here, in
    the parent: the child must not take the dynamic loader's lock that another thread may hold."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    pr_set_pdeathsig, sigkill = 1, int(signal.SIGKILL)

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, sigkill)

    return set_pdeathsig


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


def _exit_status(code: int) -> int:
    return 128 - code if code < 0 else code


class _Printer:
    """Writes complete lines from several threads without interleaving them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        self._out, self._err = out, err
        self._lock = threading.Lock()

    def line(self, text: str, stream: str = "out") -> None:
        target = self._err if stream == "err" else self._out
        with self._lock:
            target.write(text if text.endswith("\n") else text + "\n")
            target.flush()

    def note(self, text: str) -> None:
        self.line(f"[launcher] {text}", "err")


def _pump(pipe: IO[bytes], prefix: str, stream: str, printer: _Printer) -> None:
    try:
        for raw in iter(pipe.readline, b""):
            printer.line(prefix + raw.decode("utf-8", errors="replace").rstrip("\r\n"), stream)
    except (OSError, ValueError):  # the pipe was closed under us while stopping
        pass
    finally:
        with contextlib.suppress(OSError):
            pipe.close()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError, OSError):
        proc.send_signal(sig)


# The guard: a tiny process outside the job that SIGKILLs the job's process groups when the launcher
# vanishes without saying "done" (SIGKILL, OOM killer). PR_SET_PDEATHSIG covers the direct children
# only; their own children (data workers, a shell's commands) would survive without it.
_GUARD_CODE = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    op, _, arg = line.strip().partition(" ")
    if op == "+":
        groups.add(int(arg))
    elif op == "-":
        groups.discard(int(arg))
    elif op == "done":
        sys.exit(0)
for g in groups:
    try:
        os.killpg(g, signal.SIGKILL)
    except OSError:
        pass
"""


class _Guard:
    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        with contextlib.suppress(OSError):
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _GUARD_CODE],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # not in the launcher's group: survives what kills the launcher
                text=True,
            )

    def tell(self, line: str) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write(line + "\n")
                self.proc.stdin.flush()

    def close(self) -> None:
        if self.proc is not None:
            self.tell("done")
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)


def _validate(spec: LaunchSpec, resolve: bool = True) -> tuple[str, int]:
    """Check the flags (and with ``resolve`` that the coordinator host resolves); return its host and port."""
    from ._errors import ClusterConfigError, LaunchError

    if spec.nprocs < 1:
        raise LaunchError(f"launch: the number of processes must be at least 1, got {spec.nprocs}")
    if not spec.command:
        raise LaunchError("launch: no script or command given")
    if spec.devices_per_process is not None and spec.devices_per_process < 1:
        raise LaunchError(f"launch: --devices-per-process must be at least 1, got {spec.devices_per_process}")
    if spec.nnodes < 1:
        raise ClusterConfigError(f"launch: --nnodes must be at least 1, got {spec.nnodes}")
    if not 0 <= spec.node_rank < spec.nnodes:
        raise ClusterConfigError(
            f"launch: --node-rank {spec.node_rank} is not in [0, {spec.nnodes}) (--nnodes {spec.nnodes}); "
            "number the nodes 0, 1, ..., nnodes - 1"
        )
    if spec.coordinator is None:
        if spec.nnodes > 1:
            raise ClusterConfigError(
                f"launch: --nnodes {spec.nnodes} needs --coordinator HOST:PORT (node 0's address, reachable "
                "from every node, and a free port there), the same on every node"
            )
        return "127.0.0.1", spec.port or free_port()
    if spec.port is not None:
        raise ClusterConfigError("launch: give the port in --coordinator HOST:PORT, not also --port")
    host, sep, port = spec.coordinator.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65535:
        raise ClusterConfigError(f"launch: --coordinator must look like HOST:PORT, got {spec.coordinator!r}")
    if resolve:
        try:
            socket.getaddrinfo(host.strip("[]"), int(port))
        except (socket.gaierror, UnicodeError) as e:
            raise ClusterConfigError(f"launch: --coordinator host {host!r} cannot be resolved: {e}") from None
    return host, int(port)


def _hostname() -> str:
    return socket.gethostname()


def launch(
    spec: LaunchSpec,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    stop_requested: Callable[[], int | None] | None = None,
) -> int:
    """Run this node's part of the job described by ``spec``; return the exit code (module docstring).

    Every line a process prints is forwarded with a ``[rank i]`` prefix; when one process fails the
    others are stopped and the launcher reports which rank failed first.

    Args:
        spec: The command, processes per node, devices per process, nodes, coordinator, timeouts.
        stdout: Where the prefixed output lines go (default: ``sys.stdout``).
        stderr: Where the prefixed error lines and the launcher's notes go (default: ``sys.stderr``).
        env: The base environment of the processes (default: this process's).
        stop_requested: Polled while waiting; returning a signal number stops the job (used by the CLI to
            forward Ctrl-C / SIGTERM).

    Returns:
        0 when every process succeeded; else the first failure's exit code (128 + signal number when
        killed by a signal), 124 on ``spec.timeout``.

    Raises:
        LaunchError: If the command cannot start, or ``nprocs``/``devices_per_process`` is below 1.
        ClusterConfigError: If the node flags are invalid or disagree between nodes, or node 0 cannot be
            reached (a sibling of LaunchError under DistributedError).

    Example:
        >>> import io, sys
        >>> from torsh.distributed.launch import LaunchSpec, launch
        >>> hello = "import os; print('hello from', os.environ['TORSH_PROCESS_ID'])"
        >>> launch(LaunchSpec((sys.executable, "-c", hello), nprocs=1))
        [rank 0] hello from 0
        0
        >>> launch(LaunchSpec((sys.executable, "-c", "raise SystemExit(3)"), nprocs=1), stderr=io.StringIO())
        3
    """
    from ..errors import DistributedError
    from ._errors import ClusterConfigError, LaunchError
    from ._jobwatch import Hub, Spoke

    host, port = _validate(spec)
    requested = stop_requested or (lambda: None)
    printer = _Printer(stdout or sys.stdout, stderr or sys.stderr)
    me = _hostname()
    link: Hub | Spoke | None = None
    if spec.nnodes > 1:
        watch_port = spec.watch_port or port + 1
        hello = {
            "node": spec.node_rank,
            "nnodes": spec.nnodes,
            "nprocs": spec.nprocs,
            "devices": spec.devices_per_process,
            "host": me,
        }
        if spec.node_rank == 0:
            bind = "127.0.0.1" if host in ("127.0.0.1", "localhost") else "0.0.0.0"
            try:
                link = Hub(bind, watch_port, hello)
            except LaunchError as cannot_listen:
                # Most likely another launcher already listens there as node 0: ask it, so that both
                # report the duplicated --node-rank 0 instead of one waiting for --join-timeout.
                try:
                    Spoke(host, watch_port, hello).rendezvous(min(5.0, spec.join_timeout), requested)
                except ClusterConfigError as refused:
                    raise refused from None
                except DistributedError:
                    pass
                raise cannot_listen from None
            printer.note(
                f"node 0 of {spec.nnodes}: waiting for the other nodes' launchers on port {watch_port}"
            )
        else:
            link = Spoke(host, watch_port, hello)
        link.rendezvous(spec.join_timeout, requested)
        if spec.node_rank == 0:
            printer.note(f"all {spec.nnodes} nodes joined; starting {spec.nprocs} process(es) per node")

    base_rank = spec.node_rank * spec.nprocs
    die_with_parent = _pdeathsig_setter()
    guard = _Guard()
    procs: list[subprocess.Popen] = []
    # A process that raises writes the time of its exception here (torsh.distributed's fail-fast hook):
    # its peers then fail too (their collectives lose it), and under load the launcher may see their
    # exits first; the exception times order the failures by cause, not by when their exits were seen.
    failure_dir = tempfile.mkdtemp(prefix="torsh-launch-")
    child_env = {**(os.environ if env is None else env), "TORSH_FAILURE_DIR": failure_dir}
    try:
        for local in range(spec.nprocs):
            procs.append(
                subprocess.Popen(
                    list(spec.command),
                    env=process_env(
                        local,
                        spec.nprocs,
                        port,
                        spec.devices_per_process,
                        child_env,
                        nnodes=spec.nnodes,
                        node_rank=spec.node_rank,
                        host=host,
                    ),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # its own process group: stopping it stops its children
                    preexec_fn=die_with_parent,
                )
            )
            guard.tell(f"+ {procs[-1].pid}")
    except OSError as e:
        for p in procs:
            _signal_group(p, signal.SIGKILL)
            p.wait()
        guard.close()
        if link is not None:
            link.report(
                {
                    "what": f"could not start {spec.command[0]!r}: {e}",
                    "node": spec.node_rank,
                    "host": me,
                    "status": 2,
                    "time": time.time(),
                }
            )
            link.close()
        raise LaunchError(f"launch: cannot start {spec.command[0]!r}: {e}") from None
    # Reader and waiter threads start only after every fork, so no child is forked while they hold locks.
    width = len(str(spec.nnodes * spec.nprocs - 1))
    threads = []
    exits: dict[int, tuple[int, float]] = {}  # local rank -> (exit code, wall-clock time of the exit)

    def wait_for(local: int, p: subprocess.Popen) -> None:
        code = p.wait()
        when = time.time()
        with contextlib.suppress(OSError, ValueError):  # no file: it did not raise in Python
            with open(os.path.join(failure_dir, f"{base_rank + local}.time")) as f:
                when = min(when, float(f.read()))
        exits[local] = (code, when)

    for local, p in enumerate(procs):
        for pipe, stream in ((p.stdout, "out"), (p.stderr, "err")):
            t = threading.Thread(
                target=_pump,
                args=(pipe, f"[rank {base_rank + local:>{width}}] ", stream, printer),
                daemon=True,
            )
            t.start()
            threads.append(t)
        threading.Thread(target=wait_for, args=(local, p), daemon=True).start()

    start = time.monotonic()
    status: int | None = None
    kill_at: float | None = None
    codes: dict[int, int] = {}
    where = f" on node {spec.node_rank} (host {me})" if spec.nnodes > 1 else ""

    def stop_local(reason: str) -> None:
        nonlocal kill_at
        alive = [base_rank + r for r in range(len(procs)) if r not in codes]
        if alive:
            printer.note(f"{reason}; stopping rank(s) {alive} (SIGTERM, SIGKILL after {spec.grace:g} s)")
        for r in range(len(procs)):
            if r not in codes:
                _signal_group(procs[r], signal.SIGTERM)
        kill_at = time.monotonic() + spec.grace

    def name(failure: dict[str, Any]) -> str:
        if "rank" in failure:
            return (
                f"rank {failure['rank']} on node {failure['node']} (host {failure['host']}) {failure['what']}"
            )
        return str(failure["what"])

    verdict_seen = False
    try:
        while True:
            # Newly ended processes, earliest exit first (a failure makes its peers fail moments later).
            for local, (code, when) in sorted(list(exits.items()), key=lambda item: item[1][1]):
                if local in codes:
                    continue
                codes[local] = code
                p = procs[local]
                _signal_group(p, signal.SIGKILL)  # whatever the process started in its group goes with it
                guard.tell(f"- {p.pid}")
                if code != 0 and status is None:
                    status = _exit_status(code)
                    rank = base_rank + local
                    printer.note(f"rank {rank}{where} (pid {p.pid}) {_describe_exit(code)}")
                    if link is not None:
                        link.report(
                            {
                                "rank": rank,
                                "node": spec.node_rank,
                                "host": me,
                                "pid": p.pid,
                                "what": _describe_exit(code),
                                "status": status,
                                "time": when,
                            }
                        )
                    stop_local(f"rank {rank} failed")
            if link is not None and not verdict_seen:
                verdict = link.stop_event()
                if verdict is not None:
                    verdict_seen = True
                    printer.note(f"first failure in the job: {name(verdict)}")
                    if status is None or status == TIMEOUT_EXIT_CODE:
                        status = int(verdict.get("status", 1)) or 1
                    if len(codes) < len(procs):
                        stop_local(
                            "the job failed on another node"
                            if verdict.get("node") != spec.node_rank
                            else "the job failed"
                        )
            local_done = len(codes) == len(procs)
            if local_done and isinstance(link, Spoke) and status is None and not link.done_sent:
                link.send_done(0)
            # Done here: alone; or the job's first failure is known everywhere; or every node finished.
            if local_done and (link is None or verdict_seen or (status is None and link.all_done())):
                break
            if status is None:
                signum = requested()
                if signum:
                    status = 128 + signum
                    stop_local(f"launcher received {signal.Signals(signum).name}")
                    if link is not None:
                        link.report(
                            {
                                "what": f"the launcher of node {spec.node_rank} (host {me}) received "
                                f"{signal.Signals(signum).name}",
                                "node": spec.node_rank,
                                "host": me,
                                "status": status,
                                "time": time.time(),
                            }
                        )
                elif spec.timeout is not None and time.monotonic() - start > spec.timeout:
                    status = TIMEOUT_EXIT_CODE
                    stop_local(f"timeout: the job ran longer than {spec.timeout:g} s")
                    if link is not None:
                        link.report(
                            {
                                "what": f"node {spec.node_rank} (host {me}) reached --timeout "
                                f"{spec.timeout:g} s",
                                "node": spec.node_rank,
                                "host": me,
                                "status": status,
                                "time": time.time(),
                            }
                        )
            if kill_at is not None and time.monotonic() > kill_at:
                for local, p in enumerate(procs):
                    if local not in codes:
                        printer.note(
                            f"rank {base_rank + local} (pid {p.pid}) did not stop within {spec.grace:g} s; "
                            "SIGKILL"
                        )
                        _signal_group(p, signal.SIGKILL)
                kill_at = None
            time.sleep(_POLL_SECONDS)
    finally:
        for p in procs:  # also on an exception in the loop above: never leave a process behind
            if p.poll() is None:
                _signal_group(p, signal.SIGKILL)
            p.wait()
        guard.close()
        if link is not None:
            if isinstance(link, Spoke) and not link.done_sent:
                link.send_done(status or 0)
            link.close()
        for t in threads:
            t.join(timeout=2.0)
        shutil.rmtree(failure_dir, ignore_errors=True)
    if status is None:
        return 0
    failed = {base_rank + r: c for r, c in codes.items() if c != 0}
    summary = ", ".join(f"rank {r} {_describe_exit(c)}" for r, c in sorted(failed.items()))
    printer.note(f"job failed (exit status {status}): {summary or 'stopped'}")
    return status


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the launcher's options to ``parser`` (used by ``torsh launch`` and this module's ``main``).

    Args:
        parser: An ``argparse.ArgumentParser``.

    Returns:
        ``parser``, with ``-n/--nprocs``, ``--nnodes``, ``--node-rank``, ``--coordinator``,
        ``--devices-per-process``, ``--timeout``, ``--grace``, ``--dry-run``, ``-m``, ``script`` and
        ``args``.

    Example:
        >>> import argparse
        >>> from torsh.distributed.launch import add_arguments
        >>> ns = add_arguments(argparse.ArgumentParser()).parse_args(["-n", "4", "train.py", "--lr", "0.1"])
        >>> ns.nprocs, ns.script, ns.args
        (4, 'train.py', ['--lr', '0.1'])
    """
    parser.add_argument(
        "-n", "--nprocs", "--nproc-per-node", type=int, default=1, help="processes on this node (default 1)"
    )
    parser.add_argument(
        "--nnodes", type=int, default=1, help="number of nodes (machines) in the job (default 1)"
    )
    parser.add_argument(
        "--node-rank",
        type=int,
        default=0,
        help="this node's index in [0, nnodes); node 0 hosts the coordinator",
    )
    parser.add_argument(
        "--coordinator",
        default=None,
        metavar="HOST:PORT",
        help="node 0's address and a free port there, the same on every node (JAX's coordinator; node 0's "
        "launcher also listens on PORT+1). Default with one node: 127.0.0.1 and a free port",
    )
    parser.add_argument(
        "--watch-port",
        type=int,
        default=None,
        help="port of node 0's launcher for the others (default PORT+1)",
    )
    parser.add_argument(
        "--join-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long the nodes' launchers wait for each other before giving up (default 300)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the environment each process would get; start nothing"
    )
    parser.add_argument(
        "--devices-per-process",
        type=int,
        default=None,
        metavar="K",
        help="devices per process: K simulated CPU devices (JAX_NUM_CPU_DEVICES), or accelerators "
        "[i*K, (i+1)*K) for process i",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="coordinator port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"stop the whole job after this many seconds (exit {TIMEOUT_EXIT_CODE})",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="after a failure, seconds the other processes get to exit before SIGKILL (default 5)",
    )
    parser.add_argument("-m", "--module", action="store_true", help="run the target as a module (python -m)")
    parser.add_argument("script", help="the Python script (or module with -m) every process runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    return parser


# The variables process_env sets (what --dry-run shows).
_JOB_VARIABLES = (
    "TORSH_COORDINATOR_ADDRESS",
    "TORSH_NUM_PROCESSES",
    "TORSH_PROCESS_ID",
    "TORSH_NODE_RANK",
    "TORSH_NNODES",
    "TORSH_LOCAL_DEVICE_IDS",
    "JAX_NUM_CPU_DEVICES",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "PYTHONUNBUFFERED",
)


def dry_run(spec: LaunchSpec, out: IO[str] | None = None) -> None:
    """Print the command and the job variables of every process this node would start.

    Args:
        spec: The job (nothing is started).
        out: Where to print (default: ``sys.stdout``).

    Example:
        >>> from torsh.distributed.launch import LaunchSpec, dry_run
        >>> spec = LaunchSpec(("python", "train.py"), nprocs=1, nnodes=2, node_rank=1, coordinator="n0:29500")
        >>> dry_run(spec)  # doctest: +ELLIPSIS
        # node 1 of 2 (watch port 29501): python train.py
        rank 1: TORSH_COORDINATOR_ADDRESS=n0:29500 ... TORSH_PROCESS_ID=1 ... GROUP_RANK=1 ...
    """
    import shlex

    out = out or sys.stdout
    if spec.coordinator is None:
        host, port = "127.0.0.1", spec.port or free_port()
    else:
        host, _, raw = spec.coordinator.rpartition(":")
        port = int(raw)
    watch = f" (watch port {spec.watch_port or port + 1})" if spec.nnodes > 1 else ""
    print(f"# node {spec.node_rank} of {spec.nnodes}{watch}: {shlex.join(spec.command)}", file=out)
    for local in range(spec.nprocs):
        env = process_env(
            local,
            spec.nprocs,
            port,
            spec.devices_per_process,
            {},
            nnodes=spec.nnodes,
            node_rank=spec.node_rank,
            host=host,
        )
        shown = " ".join(f"{k}={shlex.quote(env[k])}" for k in _JOB_VARIABLES if k in env)
        print(f"rank {env['RANK']}: {shown}", file=out)


def run_from_args(ns: argparse.Namespace) -> int:
    """Run a job from parsed arguments, forwarding SIGINT/SIGTERM to the processes.

    Args:
        ns: The namespace parsed by a parser set up with :func:`add_arguments`.

    Returns:
        The job's exit code (see :func:`launch`); 2 when the configuration cannot start (the error is
        printed, not raised).

    Raises:
        LaunchError: Never: launch errors are printed and give exit status 2.
        ClusterConfigError: Never: printed likewise.

    Example:
        >>> import argparse
        >>> from torsh.distributed.launch import add_arguments, run_from_args
        >>> ns = add_arguments(argparse.ArgumentParser()).parse_args(["--dry-run", "--port", "29500", "t.py"])
        >>> run_from_args(ns)  # doctest: +ELLIPSIS
        # node 0 of 1: ...python -u t.py
        rank 0: TORSH_COORDINATOR_ADDRESS=127.0.0.1:29500 TORSH_NUM_PROCESSES=1 TORSH_PROCESS_ID=0 ...
        0
    """
    from ..errors import DistributedError

    target = ["-m", ns.script] if ns.module else [ns.script]
    spec = LaunchSpec(
        command=(sys.executable, "-u", *target, *ns.args),
        nprocs=ns.nprocs,
        devices_per_process=ns.devices_per_process,
        port=ns.port,
        timeout=ns.timeout,
        grace=ns.grace,
        nnodes=ns.nnodes,
        node_rank=ns.node_rank,
        coordinator=ns.coordinator,
        watch_port=ns.watch_port,
        join_timeout=ns.join_timeout,
    )
    if ns.dry_run:
        try:
            _validate(
                spec, resolve=False
            )  # a dry run may be planned where the cluster's names do not resolve
        except DistributedError as e:
            print(f"[launcher] {e}", file=sys.stderr)
            return 2
        dry_run(spec)
        return 0
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        return launch(spec, stop_requested=lambda: received[0] if received else None)
    except DistributedError as e:
        print(f"[launcher] {e}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m torsh.distributed.launch [-n N] [--devices-per-process K] script.py args...``.

    Args:
        argv: The command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code (see :func:`launch`).

    Example:
        >>> from torsh.distributed.launch import main
        >>> main(["--dry-run", "-n", "2", "--port", "29500", "train.py"])  # doctest: +ELLIPSIS
        # node 0 of 1: ...python -u train.py
        rank 0: TORSH_COORDINATOR_ADDRESS=127.0.0.1:29500 TORSH_NUM_PROCESSES=2 TORSH_PROCESS_ID=0 ...
        rank 1: TORSH_COORDINATOR_ADDRESS=127.0.0.1:29500 TORSH_NUM_PROCESSES=2 TORSH_PROCESS_ID=1 ...
        0
    """
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="python -m torsh.distributed.launch",
            description="Start N processes of a torsh program on this machine (127.0.0.1), or this node's "
            "share of a job over several machines (--nnodes, --node-rank, --coordinator).",
        )
    )
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
