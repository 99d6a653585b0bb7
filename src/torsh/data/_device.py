"""Device prefetch: put upcoming batches on a device or sharding from a background thread.

A bounded queue of ``depth`` batches sits between a placement thread and the training loop. The
thread pulls host batches, calls ``jax.device_put`` (or, for a sharding that spans processes,
``jax.make_array_from_process_local_data``) and waits until the copy has finished, so the step that
receives the batch never waits for a host-to-device transfer: torsh's ``pin_memory``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np
import optree

from ..errors import DeviceError
from ..tree import NAMESPACE, flatten_with_path
from ._errors import DataError

__all__ = ["make_placer", "DevicePrefetcher"]

Target = Any  # jax.Device | jax.sharding.Sharding | str


def resolve_device(spec: str) -> jax.Device:
    """``"cpu"``, ``"cpu:1"``, ``"gpu:0"``/``"cuda:0"`` -> a ``jax.Device``."""
    name, _, index = spec.partition(":")
    platform = {"cuda": "gpu", "rocm": "gpu"}.get(name.lower(), name.lower())
    try:
        devices = jax.devices(platform)
    except RuntimeError as exc:
        raise DeviceError(f"DataLoader: device {spec!r} is not available ({exc})") from None
    try:
        i = int(index) if index else 0
    except ValueError:
        raise DeviceError(
            f"DataLoader: malformed device {spec!r}; expected 'platform' or 'platform:index'"
        ) from None
    if not 0 <= i < len(devices):
        raise DeviceError(
            f"DataLoader: device {spec!r} does not exist; {platform} has {len(devices)} device(s)"
        )
    return devices[i]


def make_placer(target: Target) -> Callable[[Any], Any]:
    """A function that places a host batch on ``target`` and waits until the copy is done."""
    if isinstance(target, str):
        target = resolve_device(target)
    if not isinstance(target, (jax.Device, jax.sharding.Sharding)):
        raise DeviceError(
            f"DataLoader: device must be a jax.Device, a jax.sharding.Sharding or a string like 'cpu:0', "
            f"got {type(target).__name__}"
        )
    global_sharding = isinstance(target, jax.sharding.Sharding) and not target.is_fully_addressable

    def place(batch: Any) -> Any:
        leaves, spec = optree.tree_flatten(batch, namespace=NAMESPACE)
        positions = [i for i, x in enumerate(leaves) if isinstance(x, (np.ndarray, np.generic, jax.Array))]
        arrays = [leaves[i] for i in positions]
        try:
            if global_sharding:
                placed = [jax.make_array_from_process_local_data(target, np.asarray(a)) for a in arrays]
            else:
                placed = jax.device_put(arrays, target)
            placed = jax.block_until_ready(placed)
        except (ValueError, TypeError) as exc:
            paths = [p for p, _ in flatten_with_path(batch)[0]]
            shapes = ", ".join(f"`{paths[i]}` {tuple(np.shape(leaves[i]))}" for i in positions[:6])
            raise DataError(
                f"DataLoader: cannot place the batch ({shapes}) on {target}: {exc}. With a sharding, the "
                "batch axis must divide evenly: use drop_last=True or a batch size that is a multiple of "
                "the number of devices."
            ) from exc
        for i, value in zip(positions, placed, strict=True):
            leaves[i] = value
        return optree.tree_unflatten(spec, leaves)

    return place


class DevicePrefetcher:
    """Iterates ``source`` in a background thread, placing up to ``depth`` batches ahead."""

    def __init__(
        self,
        source: Iterator[Any],
        place: Callable[[Any], Any],
        depth: int,
        close_source: Callable[[], None],
        kill_source: Callable[[], None],
    ) -> None:
        self._source = source
        self._place = place
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._close_source = close_source
        self._kill_source = kill_source
        self._done = False
        self._thread = threading.Thread(target=self._run, name="torsh-data-device-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: tuple[str, Any]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for batch in self._source:
                if self._stop.is_set():
                    return
                if not self._put(("batch", self._place(batch))):
                    return
            self._put(("end", None))
        except BaseException as exc:  # delivered to the consumer, which re-raises it
            self._put(("error", exc))
        finally:
            self._close_source()

    def __iter__(self) -> DevicePrefetcher:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "batch":
            return value
        self._done = True
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        self._done = True
        self._stop.set()
        while True:  # unblock a put in progress
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if threading.current_thread() is self._thread:
            return
        self._thread.join(1.0)
        if self._thread.is_alive():  # stuck waiting for a worker: stop the workers (signals only)
            self._kill_source()
            self._thread.join(2.0)
