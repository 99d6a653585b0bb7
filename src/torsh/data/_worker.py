"""Entry point of a loader worker process (started with forkserver or spawn, never fork).

The process reads tasks from its own pipe, builds batches with the shared fetch code and sends them
back on the same pipe. It exits when the pipe closes (the main process finished or died), when told
to, or when its parent disappears (Linux parent-death signal plus a watchdog thread), so it can never
outlive the job.
"""

from __future__ import annotations

import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from functools import partial
from multiprocessing.connection import Connection
from typing import Any

from ._context import WorkerInfo, _set_worker_info
from ._fetch import Fetcher, LoadFailure, masked_pair
from ._transport import SegmentPool, collate_into_segment, encode, segment_arrays

__all__ = ["run"]


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent exits (the forkserver exits with the main
    process, so the chain main -> forkserver -> worker always collapses)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # pragma: no cover - best effort, the watchdog below still works
        pass


def _watch_parent(parent_pid: int, interval: float = 0.5) -> None:
    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(interval)

    threading.Thread(target=loop, name="torsh-data-parent-watchdog", daemon=True).start()


def _info(stage: str, exc: BaseException) -> dict[str, Any]:
    return {
        "stage": stage,
        "batch_index": None,
        "sample_index": None,
        "position": None,
        "exc_type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def _attach_original(info: dict[str, Any], original: BaseException | None) -> dict[str, Any]:
    if original is not None:
        try:
            info["pickled"] = pickle.dumps(original)
        except Exception:
            pass
    return info


def _read_tasks(conn: Connection, tasks: queue.SimpleQueue, segments: SegmentPool) -> None:
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            tasks.put(None)
            return
        if msg is not None and msg[0] == "release":  # reusable now, not after the queued tasks
            segments.released.put(msg[1])
            continue
        tasks.put(msg)
        if msg is None:
            return


def run(
    worker_id: int, num_workers: int, conn: Connection, payload: bytes, seed: int, transport: str
) -> None:
    """Worker loop. Messages in: ``(generation, batch_index, epoch, kind, payload, first_sample)`` or
    ``None`` (stop). Messages out: ``("batch", gen, index, encoded)``, ``("error", gen, index, info)``,
    ``("init_error", info)``, ``("retired", segment_names)`` (for the pool, not the loader)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        return
    _watch_parent(parent)
    segments = SegmentPool()
    try:
        dataset, base, fns, collate_fn, worker_init_fn, pad_to = pickle.loads(payload)
        del payload
        _set_worker_info(WorkerInfo(worker_id, num_workers, seed, "process", dataset))
        # default collation (and a dataset's one-gather read) writes straight into the shared-memory
        # segment the batch is sent in
        shm = transport == "shm"
        direct = partial(collate_into_segment, segments=segments) if shm else None
        gather = partial(segment_arrays, segments=segments) if shm else None
        fetcher = Fetcher(base, fns, collate_fn, seed, "seed", pad_to, masked_pair, direct, gather)
        if worker_init_fn is not None:
            worker_init_fn(worker_id)
    except BaseException as exc:
        try:
            conn.send(("init_error", _attach_original(_info("init", exc), exc)))
        except Exception:
            pass
        return
    # A reader thread empties the task pipe continuously: the main process can then never block on
    # sending a task while this process blocks on sending a large result (a pipe deadlock).
    tasks: queue.SimpleQueue = queue.SimpleQueue()
    threading.Thread(
        target=_read_tasks, args=(conn, tasks, segments), name="torsh-data-task-reader", daemon=True
    ).start()
    try:
        _serve(conn, tasks, fetcher, transport, segments)
    finally:
        segments.close()


def _serve(
    conn: Connection, tasks: queue.SimpleQueue, fetcher: Fetcher, transport: str, segments: SegmentPool
) -> None:
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
                encode(fetcher.load(batch_index, epoch, kind, task, first), transport, segments),
            )
        except LoadFailure as failure:
            out = ("error", gen, batch_index, _attach_original(failure.info, failure.original))
        except Exception as exc:
            info = _info("transfer", exc)
            info["batch_index"] = batch_index
            out = ("error", gen, batch_index, info)
        segments.drop_pending()  # collated into a segment but never encoded (a failure)
        try:
            if segments.retired:  # the main process unmaps them: their memory is freed only then
                conn.send(("retired", segments.take_retired()))
            conn.send(out)
        except (BrokenPipeError, EOFError, ConnectionResetError):
            return
        except Exception as exc:  # the batch itself could not be pickled
            info = _info("transfer", exc)
            info["batch_index"] = batch_index
            try:
                conn.send(("error", gen, batch_index, info))
            except Exception:
                return
