"""Start a multi-process job on this machine: ``torsh launch -n 2 train.py args...``.

Also ``python -m torsh.distributed.launch -n 2 train.py args...``. Every process runs the same
script with ``TORSH_COORDINATOR_ADDRESS`` (127.0.0.1 and a free port), ``TORSH_NUM_PROCESSES`` and
``TORSH_PROCESS_ID`` (plus torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``LOCAL_WORLD_SIZE``
for scripts that read them) in its environment, so ``torsh.distributed.init()`` finds its place.

The launcher streams every line a process prints prefixed with ``[rank i]``. When a process fails
(non-zero exit or killed by a signal) it says so, sends SIGTERM to the others, SIGKILLs whatever is
still alive after ``--grace`` seconds and exits non-zero; ``--timeout`` bounds the whole job. Each
process runs in its own process group (its children are stopped with it) and dies with the launcher
(Linux ``PR_SET_PDEATHSIG``), so nothing is left behind.

Exit codes: 0 when every process succeeded; the first failing process's exit code (128 + signal
number when it was killed by a signal); 124 on ``--timeout``; 128 + signal when the launcher itself
is interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

__all__ = ["LaunchSpec", "launch", "add_arguments", "run_from_args", "main", "free_port", "process_env"]

_POLL_SECONDS = 0.05
TIMEOUT_EXIT_CODE = 124


@dataclasses.dataclass(frozen=True)
class LaunchSpec:
    """What to start: ``nprocs`` copies of ``command`` with per-rank environments."""

    command: tuple[str, ...]
    nprocs: int
    devices_per_process: int | None = None
    port: int | None = None
    timeout: float | None = None
    grace: float = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(
    rank: int, nprocs: int, port: int, devices_per_process: int | None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of process ``rank``: the parent's plus the job layout.

    Example:
      >>> from torsh.distributed.launch import process_env
      >>> env = process_env(1, 2, 12345, 4, base={})
      >>> env["TORSH_COORDINATOR_ADDRESS"], env["TORSH_PROCESS_ID"], env["JAX_NUM_CPU_DEVICES"]
      ('127.0.0.1:12345', '1', '4')
      >>> env["TORSH_LOCAL_DEVICE_IDS"]
      '4,5,6,7'
    """
    env = dict(os.environ if base is None else base)
    env.update(
        TORSH_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
        TORSH_NUM_PROCESSES=str(nprocs),
        TORSH_PROCESS_ID=str(rank),
        RANK=str(rank),
        WORLD_SIZE=str(nprocs),
        LOCAL_RANK=str(rank),
        LOCAL_WORLD_SIZE=str(nprocs),
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


def launch(
    spec: LaunchSpec,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    stop_requested: Callable[[], int | None] | None = None,
) -> int:
    """Run the job described by ``spec`` and return the launcher's exit code (see module docstring).

    Args:
      spec: the command, process count, devices per process, port, timeout and grace period.
      stdout, stderr: where the prefixed lines go (default: ``sys.stdout``/``sys.stderr``).
      env: the base environment of the processes (default: this process's).
      stop_requested: polled while waiting; returning a signal number stops the job (used by the CLI to
        forward Ctrl-C / SIGTERM).
    """
    from ._errors import LaunchError

    if spec.nprocs < 1:
        raise LaunchError(f"launch: the number of processes must be at least 1, got {spec.nprocs}")
    if not spec.command:
        raise LaunchError("launch: no script or command given")
    if spec.devices_per_process is not None and spec.devices_per_process < 1:
        raise LaunchError(f"launch: --devices-per-process must be at least 1, got {spec.devices_per_process}")
    printer = _Printer(stdout or sys.stdout, stderr or sys.stderr)
    port = spec.port or free_port()
    die_with_parent = _pdeathsig_setter()
    procs: list[subprocess.Popen] = []
    try:
        for rank in range(spec.nprocs):
            procs.append(
                subprocess.Popen(
                    list(spec.command),
                    env=process_env(rank, spec.nprocs, port, spec.devices_per_process, env),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,  # its own process group: stopping it stops its children
                    preexec_fn=die_with_parent,
                )
            )
    except OSError as e:
        for p in procs:
            _signal_group(p, signal.SIGKILL)
            p.wait()
        raise LaunchError(f"launch: cannot start {spec.command[0]!r}: {e}") from None
    # Reader threads start only after every fork, so no child is forked while they hold locks.
    width = len(str(spec.nprocs - 1))
    threads = []
    for rank, p in enumerate(procs):
        for pipe, stream in ((p.stdout, "out"), (p.stderr, "err")):
            t = threading.Thread(
                target=_pump, args=(pipe, f"[rank {rank:>{width}}] ", stream, printer), daemon=True
            )
            t.start()
            threads.append(t)

    start = time.monotonic()
    status: int | None = None
    kill_at: float | None = None
    codes: dict[int, int] = {}

    def stop_others(reason: str) -> None:
        nonlocal kill_at
        alive = [r for r, p in enumerate(procs) if r not in codes]
        if alive:
            printer.note(f"{reason}; stopping rank(s) {alive} (SIGTERM, SIGKILL after {spec.grace:g} s)")
        for r in alive:
            _signal_group(procs[r], signal.SIGTERM)
        kill_at = time.monotonic() + spec.grace

    try:
        while len(codes) < len(procs):
            for rank, p in enumerate(procs):
                if rank in codes:
                    continue
                code = p.poll()
                if code is None:
                    continue
                codes[rank] = code
                # Whatever the process started in its group goes with it.
                _signal_group(p, signal.SIGKILL)
                if code != 0 and status is None:
                    status = _exit_status(code)
                    printer.note(f"rank {rank} (pid {p.pid}) {_describe_exit(code)}")
                    stop_others(f"rank {rank} failed")
            if status is None and len(codes) < len(procs):
                requested = stop_requested() if stop_requested else None
                if requested:
                    status = 128 + requested
                    stop_others(f"launcher received {signal.Signals(requested).name}")
                elif spec.timeout is not None and time.monotonic() - start > spec.timeout:
                    status = TIMEOUT_EXIT_CODE
                    stop_others(f"timeout: the job ran longer than {spec.timeout:g} s")
            if kill_at is not None and time.monotonic() > kill_at:
                for rank, p in enumerate(procs):
                    if rank not in codes:
                        printer.note(
                            f"rank {rank} (pid {p.pid}) did not stop within {spec.grace:g} s; SIGKILL"
                        )
                        _signal_group(p, signal.SIGKILL)
                kill_at = None
            time.sleep(_POLL_SECONDS)
    finally:
        for p in procs:  # also on an exception in the loop above: never leave a process behind
            if p.poll() is None:
                _signal_group(p, signal.SIGKILL)
            p.wait()
        for t in threads:
            t.join(timeout=2.0)
    if status is None:
        return 0
    failed = {r: c for r, c in codes.items() if c != 0}
    summary = ", ".join(f"rank {r} {_describe_exit(c)}" for r, c in sorted(failed.items()))
    printer.note(f"job failed (exit status {status}): {summary or 'stopped'}")
    return status


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the launcher's options to ``parser`` (used by ``torsh launch`` and this module's ``main``)."""
    parser.add_argument("-n", "--nprocs", type=int, default=1, help="number of processes (default 1)")
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


def run_from_args(ns: argparse.Namespace) -> int:
    """Run a job from parsed arguments, forwarding SIGINT/SIGTERM to the processes."""
    from ._errors import LaunchError

    target = ["-m", ns.script] if ns.module else [ns.script]
    spec = LaunchSpec(
        command=(sys.executable, "-u", *target, *ns.args),
        nprocs=ns.nprocs,
        devices_per_process=ns.devices_per_process,
        port=ns.port,
        timeout=ns.timeout,
        grace=ns.grace,
    )
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        return launch(spec, stop_requested=lambda: received[0] if received else None)
    except LaunchError as e:
        print(f"[launcher] {e}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m torsh.distributed.launch [-n N] [--devices-per-process K] script.py args...``"""
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="python -m torsh.distributed.launch",
            description="Start N processes of a torsh program on this machine (127.0.0.1).",
        )
    )
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
