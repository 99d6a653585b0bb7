"""The launchers of a multi-node job talk to each other: start together, stop together.

Node 0's launcher listens on the coordinator host at ``port + 1`` (``--watch-port``); every other
node's launcher connects, says which node it is and with which flags, and waits for ``start``. Node 0
starts the job only when every node has joined with the same ``--nnodes``, ``-n`` and
``--devices-per-process``, so flags that do not add up fail before any process runs.

While the job runs, a launcher whose process fails reports it (rank, host, exit code, wall-clock time
of the exit); node 0 waits a moment for near-simultaneous failures (a peer's death makes the others
fail in their collectives a few milliseconds later), names the earliest, and tells every node to stop.
A launcher that disappears (its connection closes without ``done``) stops the job the same way. The
protocol is JSON lines over one TCP connection per node: no store, no elastic membership.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ._errors import ClusterConfigError, LaunchError

__all__ = ["Hub", "Spoke", "SETTLE_SECONDS"]

SETTLE_SECONDS = 0.5  # how long node 0 collects failures before naming the first
_CONNECT_RETRY_SECONDS = 0.2


def _send(conn: socket.socket, lock: threading.Lock, msg: dict[str, Any]) -> bool:
    data = (json.dumps(msg) + "\n").encode()
    with lock:
        try:
            conn.sendall(data)
            return True
        except OSError:
            return False


def _read_lines(reader: Any, node: int, out: queue.Queue) -> None:
    """Put ``(node, message)`` for every line of ``reader``, then ``(node, None)`` when it closes."""
    try:
        for line in reader:
            with contextlib.suppress(ValueError):
                out.put((node, json.loads(line)))
    except (OSError, ValueError):
        pass
    out.put((node, None))


class _Link:
    """What the launch loop needs from either end: events in, failures and completion out."""

    def __init__(self) -> None:
        self.inbox: queue.Queue = queue.Queue()
        self.verdict: dict[str, Any] | None = None  # the first failure, as decided by node 0

    def stop_event(self) -> dict[str, Any] | None:
        """The job-wide failure once known (``None`` while everything runs)."""
        self._pump()
        return self.verdict

    def _pump(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class Hub(_Link):
    """Node 0's side of the launchers' link: rendezvous, relay failures, wait for everyone's ``done``.

    Args:
        bind_host: The address to listen on (the coordinator host).
        port: The watch port (the coordinator port + 1, or ``--watch-port``).
        hello: Node 0's flags: ``node``, ``nnodes``, ``nprocs``, ``devices`` and ``host``.

    Raises:
        LaunchError: If it cannot listen on ``bind_host:port``.

    Example:
        >>> import threading, time
        >>> from torsh.distributed._jobwatch import Hub, Spoke
        >>> from torsh.distributed.launch import free_port
        >>> hello = {"node": 0, "nnodes": 2, "nprocs": 1, "devices": None, "host": "node0"}
        >>> port = free_port()
        >>> hub = Hub("127.0.0.1", port, hello)
        >>> spoke = Spoke("127.0.0.1", port, {**hello, "node": 1, "host": "node1"})
        >>> joining = threading.Thread(target=spoke.rendezvous, args=(10.0, lambda: None))
        >>> joining.start(); hub.rendezvous(10.0, lambda: None); joining.join()
        >>> spoke.report({"what": "rank 1 exited with code 3", "status": 3, "time": time.time()})
        >>> while hub.stop_event() is None:  # node 0 settles near-simultaneous failures, then decides
        ...     time.sleep(0.05)
        >>> hub.stop_event()["what"]
        'rank 1 exited with code 3'
        >>> while spoke.stop_event() is None:  # ... and tells every node
        ...     time.sleep(0.05)
        >>> spoke.stop_event()["status"]
        3
        >>> hub.close(); spoke.close()
    """

    def __init__(self, bind_host: str, port: int, hello: dict[str, Any]) -> None:
        super().__init__()
        self.hello = hello
        self.nnodes = int(hello["nnodes"])
        self.peers: dict[int, tuple[socket.socket, threading.Lock, dict[str, Any]]] = {}
        self.readers: dict[int, Any] = {}
        self.done: set[int] = set()
        self.closed: set[int] = set()
        self.failures: list[dict[str, Any]] = []
        self.settle_until: float | None = None
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.server.bind((bind_host, port))
        except OSError as e:
            self.server.close()
            raise LaunchError(
                f"launch: node 0 cannot listen on {bind_host}:{port} for the other nodes' launchers "
                f"(--coordinator port + 1, or --watch-port): {e}"
            ) from None
        self.server.listen(self.nnodes)

    def rendezvous(self, timeout: float, stop_requested: Callable[[], int | None]) -> None:
        """Wait until every other node has joined with the same flags, then tell them all to start.

        Args:
            timeout: Seconds to wait for the other side.
            stop_requested: Polled while waiting; a non-None result (a signal number) gives up.

        Raises:
            LaunchError: If a node does not join in time (or the launcher is interrupted).
            ClusterConfigError: If a node joins with other ``--nnodes``/``-n``/``--devices-per-process``, a
                repeated or out-of-range ``--node-rank`` (every node is told to abort).
        """
        deadline = time.monotonic() + timeout
        self.server.settimeout(_CONNECT_RETRY_SECONDS)
        try:
            while len(self.peers) < self.nnodes - 1:
                if time.monotonic() > deadline or stop_requested():
                    missing = sorted(set(range(1, self.nnodes)) - set(self.peers))
                    why = "the launcher was interrupted" if stop_requested() else f"within {timeout:g} s"
                    raise LaunchError(
                        f"launch: node(s) {missing} did not join ({why}); start `torsh launch --nnodes "
                        f"{self.nnodes} --node-rank R --coordinator HOST:PORT ...` on each node with the "
                        "same "
                        "--coordinator (and --watch-port); --join-timeout sets the wait"
                    )
                with contextlib.suppress(socket.timeout):
                    conn, _ = self.server.accept()
                    self._greet(conn, deadline)
        except BaseException:
            self.close()
            raise
        for node, (conn, lock, _) in self.peers.items():
            threading.Thread(
                target=_read_lines, args=(self.readers[node], node, self.inbox), daemon=True
            ).start()
            _send(conn, lock, {"type": "start"})

    def _greet(self, conn: socket.socket, deadline: float) -> None:
        conn.settimeout(max(0.1, min(10.0, deadline - time.monotonic())))
        reader = conn.makefile("rb")
        try:
            hello = json.loads(reader.readline() or b"null")
        except (OSError, ValueError):
            hello = None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            conn.close()  # not one of ours (a port scanner, a stale launcher)
            return
        conn.settimeout(None)
        lock = threading.Lock()
        node = hello.get("node")
        problem = None
        for key, flag in (
            ("nnodes", "--nnodes"),
            ("nprocs", "-n/--nprocs"),
            ("devices", "--devices-per-process"),
        ):
            if hello.get(key) != self.hello[key]:
                problem = (
                    f"node {node} (host {hello.get('host')}) was started with {flag} {hello.get(key)} "
                    f"but node 0 (host {self.hello['host']}) with {flag} {self.hello[key]}: every node "
                    f"needs the same {flag}"
                )
                break
        if problem is None and node == 0:
            problem = (
                f"two launchers were started with --node-rank 0 (hosts {self.hello['host']} and "
                f"{hello.get('host')}): "
                "every node needs its own --node-rank"
            )
        if problem is None and (not isinstance(node, int) or not 1 <= node < self.nnodes):
            problem = (
                f"--node-rank {node} is not in [1, {self.nnodes}) (node 0 is this launcher; "
                f"--nnodes {self.nnodes})"
            )
        if problem is None and node in self.peers:
            problem = (
                f"two launchers were started with --node-rank {node} "
                f"(hosts {self.peers[node][2].get('host')} "
                f"and {hello.get('host')}): every node needs its own --node-rank"
            )
        if problem is not None:
            _send(conn, lock, {"type": "abort", "reason": problem})
            for other, other_lock, _ in self.peers.values():
                _send(other, other_lock, {"type": "abort", "reason": problem})
            conn.close()
            raise ClusterConfigError(f"launch: {problem}")
        assert isinstance(node, int)  # a non-int rank was reported as a problem above
        self.peers[node] = (conn, lock, hello)
        self.readers[node] = reader

    def report(self, failure: dict[str, Any]) -> None:
        """A process on node 0 failed: record it (node 0 decides the job's first failure).

        Args:
            failure: ``what``, ``status``, ``time`` (and ``rank``, ``host``...) of the failure.
        """
        self.failures.append(failure)
        self._pump()

    def _pump(self) -> None:
        while True:
            try:
                node, msg = self.inbox.get_nowait()
            except queue.Empty:
                break
            if msg is None:
                self.closed.add(node)
                if node not in self.done:
                    host = self.peers[node][2].get("host")
                    self.failures.append(
                        {
                            "what": f"the launcher of node {node} (host {host}) stopped answering",
                            "node": node,
                            "host": host,
                            "status": 1,
                            "time": time.time(),
                        }
                    )
            elif msg.get("type") == "failed":
                self.failures.append({k: v for k, v in msg.items() if k != "type"})
            elif msg.get("type") == "done":
                self.done.add(node)
        if self.failures and self.verdict is None:
            now = time.monotonic()
            if self.settle_until is None:
                self.settle_until = now + SETTLE_SECONDS
            if now >= self.settle_until:
                self.verdict = min(self.failures, key=lambda f: f.get("time", float("inf")))
                for node, (conn, lock, _) in self.peers.items():
                    if node not in self.closed:
                        _send(conn, lock, {"type": "stop", **self.verdict})

    def all_done(self) -> bool:
        """Every node finished cleanly (a failure being settled is not "done": its verdict is due).

        Returns:
            Whether every other node reported ``done`` (or closed after it) and nothing failed.
        """
        self._pump()
        return not self.failures and all(n in self.done or n in self.closed for n in self.peers)

    def close(self) -> None:
        """Say goodbye to every node and stop listening."""
        for conn, lock, _ in self.peers.values():
            _send(conn, lock, {"type": "bye"})
            with contextlib.suppress(OSError):
                conn.close()
        with contextlib.suppress(OSError):
            self.server.close()


class Spoke(_Link):
    """Node r's side (r > 0) of the launchers' link: join, report failures, obey node 0's verdict.

    See :class:`Hub` for an example with both sides.

    Args:
        host: Node 0's host.
        port: Node 0's watch port.
        hello: This node's flags: ``node``, ``nnodes``, ``nprocs``, ``devices`` and ``host``.

    Example:
        >>> from torsh.distributed._jobwatch import Spoke
        >>> hello = {"node": 1, "nnodes": 2, "nprocs": 4, "devices": None, "host": "node1"}
        >>> spoke = Spoke("node0", 29501, hello)
        >>> spoke.stop_event() is None  # nothing has failed (it has not even connected yet)
        True
    """

    def __init__(self, host: str, port: int, hello: dict[str, Any]) -> None:
        super().__init__()
        self.address = (host, port)
        self.hello = hello
        self.conn: socket.socket | None = None
        self.lock = threading.Lock()
        self.finished = False
        self.done_sent = False

    def rendezvous(self, timeout: float, stop_requested: Callable[[], int | None]) -> None:
        """Connect to node 0's launcher, introduce this node and wait for ``start``.

        Args:
            timeout: Seconds to wait for the other side.
            stop_requested: Polled while waiting; a non-None result (a signal number) gives up.

        Raises:
            ClusterConfigError: If node 0 cannot be reached in time, or refuses this node's flags.
            LaunchError: If node 0 does not start the job in time or closes the connection first.
        """
        deadline = time.monotonic() + timeout
        last: OSError | None = None
        while self.conn is None:
            if time.monotonic() > deadline or stop_requested():
                raise ClusterConfigError(
                    f"launch: cannot reach node 0's launcher at {self.address[0]}:{self.address[1]} "
                    f"(--coordinator host, port + 1 or --watch-port) within {timeout:g} s: {last}. "
                    "Start node 0 "
                    "(--node-rank 0) with the same --coordinator, and check the host name and firewall; "
                    "--join-timeout sets the wait"
                )
            try:
                self.conn = socket.create_connection(self.address, timeout=2.0)
            except OSError as e:
                last = e
                time.sleep(_CONNECT_RETRY_SECONDS)
        self.conn.settimeout(None)
        threading.Thread(
            target=_read_lines, args=(self.conn.makefile("rb"), 0, self.inbox), daemon=True
        ).start()
        _send(self.conn, self.lock, {"type": "hello", **self.hello})
        while True:
            remaining = deadline - time.monotonic()
            try:
                _, msg = self.inbox.get(timeout=min(0.2, max(remaining, 0.01)))
            except queue.Empty:
                if remaining <= 0 or stop_requested():
                    self.close()
                    raise LaunchError(
                        f"launch: node 0's launcher at {self.address[0]}:{self.address[1]} did not start the "
                        f"job within {timeout:g} s (other nodes missing?)"
                    ) from None
                continue
            if msg is None:
                raise LaunchError("launch: node 0's launcher closed the connection before the job started")
            if msg.get("type") == "abort":
                self.close()
                raise ClusterConfigError(f"launch: node 0 refused to start the job: {msg.get('reason')}")
            if msg.get("type") == "start":
                return

    def report(self, failure: dict[str, Any]) -> None:
        """A process on this node failed: tell node 0.

        Args:
            failure: ``what``, ``status``, ``time`` (and ``rank``, ``host``...) of the failure.
        """
        if self.conn is not None:
            _send(self.conn, self.lock, {"type": "failed", **failure})

    def _pump(self) -> None:
        while True:
            try:
                _, msg = self.inbox.get_nowait()
            except queue.Empty:
                return
            if msg is None:
                self.finished = True
                if self.verdict is None and not self.done_sent:
                    self.verdict = {
                        "what": f"lost contact with node 0's launcher at {self.address[0]}:{self.address[1]}",
                        "status": 1,
                    }
            elif msg.get("type") == "stop" and self.verdict is None:
                self.verdict = {k: v for k, v in msg.items() if k != "type"}
            elif msg.get("type") == "bye":
                self.finished = True

    def send_done(self, status: int) -> None:
        """Tell node 0 that this node's processes have finished.

        Args:
            status: This node's exit status.
        """
        self.done_sent = True
        if self.conn is not None:
            _send(self.conn, self.lock, {"type": "done", "node": self.hello["node"], "status": status})

    def all_done(self) -> bool:
        """Whether node 0 has said goodbye (or the connection closed).

        Returns:
            True once node 0's launcher is finished with this node.
        """
        self._pump()
        return self.finished

    def close(self) -> None:
        """Close the connection to node 0."""
        if self.conn is not None:
            with contextlib.suppress(OSError):
                self.conn.close()
