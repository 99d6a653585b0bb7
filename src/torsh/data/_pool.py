"""Worker pools: processes (forkserver/spawn) and threads, behind one small interface.

A pool runs tasks and reports results; it does not order them (the loader orders batches by index).
Every process worker has its own duplex pipe: a worker that dies cannot corrupt a queue shared with
the others (a source of PyTorch DataLoader hangs), and the main process waits on all pipes *and*
all process sentinels at once, so a death is noticed the moment it happens.
"""

from __future__ import annotations

import collections
import functools
import multiprocessing as mp
import os
import pickle
import queue
import signal
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import connection as mp_connection
from typing import Any

from ..errors import ConfigError, DataError
from ._context import WorkerInfo, _set_worker_info
from ._fetch import Fetcher, LoadFailure, masked_batch
from ._sharing import dumps_for_workers
from ._shm import SharedMemoryWarning, full_message
from ._transport import Attachments

__all__ = ["ProcessPool", "ThreadPool", "default_start_method", "start_forkserver", "DEFAULT_TRANSPORT"]

DEFAULT_TRANSPORT = "shm"
_WORKER_MODULE = "torsh.data._worker"


def default_start_method() -> str:
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _prepare_forkserver(ctx: Any) -> None:
    """Preload torsh in the fork server (once, before it starts) so workers fork ready to run.

    The server only imports modules, it never starts a JAX backend, so forking from it is safe."""
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if getattr(server, "_forkserver_pid", None) is not None:
        return
    current = list(getattr(server, "_preload_modules", ["__main__"]))
    if _WORKER_MODULE not in current:
        ctx.set_forkserver_preload([*current, _WORKER_MODULE])


def start_forkserver() -> None:
    """Start the fork server now, in the background (``ensure_running`` returns at once; the server
    imports torsh while this process goes on). Called when a loader with process workers is built,
    so the ~2-8 s import overlaps with model building and compilation instead of delaying the first
    batch. Best effort: any failure is left for the pool to report."""
    if getattr(mp.current_process(), "_inheriting", False):
        return  # this is a fork server or spawned child importing the main module: never start another
    try:
        from multiprocessing import forkserver

        _prepare_forkserver(mp.get_context("forkserver"))
        forkserver.ensure_running()
    except Exception:  # pragma: no cover - the pool start raises the real error later
        pass


def _signal_name(code: int | None) -> str:
    if code is None:
        return "an unknown status"
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


_PIPE_ERRORS = (BrokenPipeError, ConnectionResetError, EOFError, OSError, ValueError)


class _Releaser:
    """Sends ``("release", segment)`` to a worker when the last view of a batch dies.

    A view can die in any thread, and even in the middle of another send on the same pipe (the
    garbage collector runs wherever memory is allocated), so a finaliser never sends itself when the
    pipe is busy: it queues the release, and whoever holds the pipe lock sends the queue before
    letting go. Once the pool is shut down, releases are dropped (the worker is gone)."""

    def __init__(self, conns: list[Any]) -> None:
        self.conns = conns
        self.lock = threading.Lock()
        self.queued: collections.deque[tuple[int, str]] = collections.deque()
        self.closed = False

    def release(self, w: int, name: str) -> None:
        if self.closed:
            return
        self.queued.append((w, name))
        self.flush()

    def flush(self) -> None:
        """Send what is queued, unless another send holds the pipes (it flushes when it is done)."""
        while self.queued and self.lock.acquire(blocking=False):
            try:
                self._send_queued()
            finally:
                self.lock.release()

    def _send_queued(self) -> None:
        while self.queued and not self.closed:
            try:
                w, name = self.queued.popleft()
            except IndexError:
                return
            try:
                self.conns[w].send(("release", name))
            except _PIPE_ERRORS:
                pass  # a dead worker is reported by wait()
        if self.closed:
            self.queued.clear()

    def send(self, w: int, msg: Any) -> None:
        """Send a task to worker ``w`` (the pipe is shared with the finalisers' releases)."""
        with self.lock:
            self.conns[w].send(msg)
            self._send_queued()
        self.flush()  # a release queued between the last check and the unlock


def _stop_processes(
    procs: list[Any], conns: list[Any], attachments: Attachments, releaser: _Releaser, grace: float = 2.0
) -> None:
    """Stop worker processes: ask, then SIGTERM, then SIGKILL; then unmap (and unlink, in case a
    worker was killed before it could) the batch segments. Batches the user still holds keep their
    mappings until their last view dies (their names are gone: the memory is freed then)."""
    releaser.closed = True
    for conn in conns:
        try:
            conn.send(None)
        except Exception:
            pass
    deadline = time.monotonic() + grace
    for proc, conn in zip(procs, conns, strict=True):
        while proc.is_alive() and time.monotonic() < deadline:
            _drain(conn)
            proc.join(0.05)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(1.0)
        if proc.is_alive():
            proc.kill()
            proc.join(1.0)
    for conn in conns:
        _drain(conn)
        try:
            conn.close()
        except Exception:
            pass
    for proc in procs:
        try:
            proc.close()
        except Exception:
            pass
    attachments.close(unlink=True)


def _drain(conn: Any) -> None:
    try:
        while conn.poll(0):
            conn.recv()
    except Exception:
        pass


class DeadWorker:
    """A worker that stopped: its index, how it ended, and what it sent before it ended (read
    those first: a worker whose ``worker_init_fn`` failed reports why, then exits)."""

    def __init__(self, worker: int, description: str, last_messages: list[tuple[int, Any]]) -> None:
        self.worker, self.description, self.last_messages = worker, description, last_messages


class ProcessPool:
    kind = "process"

    def __init__(
        self,
        num_workers: int,
        dataset: Any,
        base: Any,
        fns: Sequence[Callable[[Any], Any]],
        collate_fn: Any,
        worker_init_fn: Any,
        seed: int,
        start_method: str,
        transport: str = DEFAULT_TRANSPORT,
        pad_to: int | None = None,
    ) -> None:
        try:
            payload = dumps_for_workers((dataset, base, fns, collate_fn, worker_init_fn, pad_to))
        except DataError:
            raise  # e.g. no room to share the dataset's arrays: already says what to do
        except Exception as exc:
            raise ConfigError(
                f"DataLoader: the dataset, its .map functions, collate_fn and worker_init_fn must be "
                f"picklable to reach worker processes ({start_method}); pickling failed: "
                f"{type(exc).__name__}: {exc}. Define functions at module level (not lambdas or "
                "local functions), or use worker_type='thread'."
            ) from exc
        ctx: Any = mp.get_context(start_method)  # typeshed's BaseContext lacks Process
        if start_method == "forkserver":
            _prepare_forkserver(ctx)
        from . import _worker

        self.num_workers = num_workers
        self.pad_to = pad_to
        self.snapshot: Any = None  # the dataset's fingerprint when the workers got their copy (loader)
        self.snapshot_warned = False
        self.outstanding = [0] * num_workers
        self._warned_full = False
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.attachments = Attachments()
        self.releaser = _Releaser(self.conns)
        self._finalizer = weakref.finalize(
            self, _stop_processes, self.procs, self.conns, self.attachments, self.releaser
        )
        try:
            for w in range(num_workers):
                parent_end, child_end = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=_worker.run,
                    args=(w, num_workers, child_end, payload, seed, transport),
                    name=f"torsh-data-worker-{w}",
                    daemon=True,
                )
                proc.start()
                child_end.close()  # the worker holds the only other end: EOF when either side goes
                self.procs.append(proc)
                self.conns.append(parent_end)
        except BaseException:
            self.shutdown()
            raise
        self.pids = [p.pid for p in self.procs]

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def describe(self, w: int) -> str:
        return f"worker {w} (process {self.pids[w]})"

    def submit(self, w: int, msg: tuple[Any, ...]) -> DeadWorker | None:
        try:
            self.releaser.send(w, msg)
        except (BrokenPipeError, ConnectionResetError, EOFError, OSError):
            return self._dead(w)
        self.outstanding[w] += 1
        return None

    def _dead(self, w: int) -> DeadWorker:
        proc = self.procs[w]
        proc.join(0.5)
        last: list[tuple[int, Any]] = []
        try:
            while self.conns[w].poll(0):
                self._receive(w, self.conns[w].recv(), last)
        except (EOFError, OSError):
            pass
        return DeadWorker(
            w, f"{self.describe(w)} exited unexpectedly with {_signal_name(proc.exitcode)}", last
        )

    def wait(self, timeout: float | None) -> tuple[list[tuple[int, Any]], list[DeadWorker]]:
        """Messages that arrived within ``timeout`` seconds, and workers that died."""
        self.releaser.flush()
        by_conn = {id(c): w for w, c in enumerate(self.conns)}
        by_sentinel = {p.sentinel: w for w, p in enumerate(self.procs)}
        ready = mp_connection.wait([*self.conns, *by_sentinel], timeout)
        messages: list[tuple[int, Any]] = []
        dead: dict[int, DeadWorker] = {}
        for obj in ready:
            if isinstance(obj, int):
                continue
            w = by_conn[id(obj)]
            conn: Any = obj  # one of self.conns (a Connection), matched by id
            try:
                while conn.poll(0):
                    self._receive(w, conn.recv(), messages)
            except (EOFError, OSError):
                dead[w] = self._dead(w)
        for obj in ready:
            if isinstance(obj, int):
                w = by_sentinel[obj]
                if w not in dead:
                    dead[w] = self._dead(w)
        return messages, list(dead.values())

    def _receive(self, w: int, msg: Any, messages: list[tuple[int, Any]]) -> None:
        if msg[0] == "retired":  # segments the worker replaced by larger ones: unmap them now
            self.attachments.forget(msg[1])
        else:
            messages.append((w, msg))

    def decode(self, w: int, body: Any) -> Any:
        on_release = functools.partial(self.releaser.release, w, body[1]) if body[0] == "shm" else None
        batch = self.attachments.decode(body, on_release)
        if self.pad_to is not None:  # workers send (data, mask): MaskedBatch needs JAX, they do not
            batch = masked_batch(*batch)
        if body[0] == "pickle" and body[1] is not None and not self._warned_full:
            self._warned_full = True
            warnings.warn(
                "DataLoader: "
                + full_message(f"a batch from {self.describe(w)}", body[1][1])
                + ". Batches that do not fit go through the worker's pipe instead (slower).",
                SharedMemoryWarning,
                stacklevel=4,
            )
        return batch

    def discard(self, w: int, msg: tuple[Any, ...]) -> None:
        if msg[0] == "batch" and msg[3][0] == "shm":
            self.releaser.release(w, msg[3][1])

    def failure(self, info: dict[str, Any]) -> LoadFailure:
        original = None
        if "pickled" in info:
            try:
                original = pickle.loads(info["pickled"])
            except Exception:
                original = None
        return LoadFailure(info, original)

    def kill(self) -> None:
        """Send SIGKILL to every worker (safe from any thread: touches no pipe)."""
        for proc in self.procs:
            try:
                if proc.is_alive():
                    proc.kill()
            except Exception:
                pass

    def shutdown(self, force: bool = False) -> None:
        """Stop the workers; ``force`` skips the grace period (a stalled or broken pool)."""
        if force:
            self.kill()
        self._finalizer()


class ThreadPool:
    kind = "thread"

    def __init__(
        self,
        num_workers: int,
        dataset: Any,
        base: Any,
        fns: Sequence[Callable[[Any], Any]],
        collate_fn: Any,
        worker_init_fn: Any,
        seed: int,
        pad_to: int | None = None,
    ) -> None:
        self.num_workers = num_workers
        self.outstanding = [0] * num_workers
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        self.tasks: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(num_workers)]
        self.threads = []
        self._closed = False
        for w in range(num_workers):
            t = threading.Thread(
                target=_thread_main,
                args=(
                    w,
                    num_workers,
                    self.tasks[w],
                    self.results,
                    dataset,
                    base,
                    fns,
                    collate_fn,
                    worker_init_fn,
                    seed,
                    pad_to,
                ),
                name=f"torsh-data-thread-{w}",
                daemon=True,
            )
            t.start()
            self.threads.append(t)
        self.pids = [os.getpid()] * num_workers
        self._finalizer = weakref.finalize(self, _stop_threads, self.tasks)

    @property
    def alive(self) -> bool:
        return self._finalizer.alive

    def describe(self, w: int) -> str:
        return f"worker thread {w}"

    def submit(self, w: int, msg: tuple[Any, ...]) -> DeadWorker | None:
        self.tasks[w].put(msg)
        self.outstanding[w] += 1
        return None

    def wait(self, timeout: float | None) -> tuple[list[tuple[int, Any]], list[DeadWorker]]:
        try:
            first = (
                self.results.get(timeout=timeout)
                if timeout is None or timeout > 0
                else self.results.get_nowait()
            )
        except queue.Empty:
            return [], []
        messages = [first]
        while True:
            try:
                messages.append(self.results.get_nowait())
            except queue.Empty:
                break
        return messages, []

    def decode(self, w: int, body: Any) -> Any:
        return body

    def discard(self, w: int, msg: tuple[Any, ...]) -> None:
        return None

    def failure(self, failure: LoadFailure) -> LoadFailure:
        return failure

    def kill(self) -> None:
        self.shutdown()

    def shutdown(self, force: bool = False) -> None:
        self._finalizer()


def _stop_threads(tasks: list[queue.SimpleQueue]) -> None:
    # Threads cannot be killed: ask them to stop; one stuck in user code is a daemon and is abandoned.
    for q in tasks:
        q.put(None)


def _thread_main(
    w: int,
    num_workers: int,
    tasks: queue.SimpleQueue,
    results: queue.SimpleQueue,
    dataset: Any,
    base: Any,
    fns: Sequence[Callable[[Any], Any]],
    collate_fn: Any,
    worker_init_fn: Any,
    seed: int,
    pad_to: int | None = None,
) -> None:
    _set_worker_info(WorkerInfo(w, num_workers, seed, "thread", dataset))
    try:
        fetcher = Fetcher(base, fns, collate_fn, seed, "leave", pad_to)
        if worker_init_fn is not None:
            worker_init_fn(w)
    except BaseException as exc:
        import traceback

        results.put(
            (
                w,
                (
                    "init_error",
                    {
                        "stage": "init",
                        "exc_type": type(exc).__name__,
                        "message": str(exc),
                        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                        "original": exc,
                    },
                ),
            )
        )
        return
    while True:
        msg = tasks.get()
        if msg is None:
            return
        gen, batch_index, epoch, kind, task, first = msg
        try:
            out: tuple[Any, ...] = (
                "batch",
                gen,
                batch_index,
                fetcher.load(batch_index, epoch, kind, task, first),
            )
        except LoadFailure as failure:
            out = ("error", gen, batch_index, failure)
        except BaseException as exc:  # e.g. SystemExit raised by user code: report, never die silently
            import traceback

            crashed = LoadFailure(
                {
                    "stage": "sample",
                    "batch_index": batch_index,
                    "sample_index": None,
                    "position": None,
                    "exc_type": type(exc).__name__,
                    "message": str(exc),
                    "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
                },
                exc,
            )
            out = ("error", gen, batch_index, crashed)
        results.put((w, out))
