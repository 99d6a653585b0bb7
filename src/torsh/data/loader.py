"""DataLoader: batches from a dataset, in a fixed order, with workers that cannot hang the job.

Design (see docs/data.md):

* **Order** is a function of ``(seed, epoch)`` only. Batch ``b`` may be built by any worker; the
  loader hands batches out by index, never by completion, so ``num_workers`` and the worker kind
  change speed, not content.
* **Randomness** in transforms comes from :func:`torsh.data.rng`, seeded per batch from
  ``(seed, epoch, b)``: augmentations do not depend on which worker built the batch.
* **Resume**: the position is ``(epoch, batches yielded)``; since the order is recomputable, a
  resumed loader skips the consumed batches without loading them.
* **Faults**: worker processes each own a pipe; the main process waits on the pipes and the
  processes' exit sentinels together, so a dead worker raises at once, and ``timeout`` bounds a
  stall. Workers die with the main process (pipe EOF, parent-death signal, watchdog).
"""

from __future__ import annotations

import itertools
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..errors import ConfigError
from . import _pool
from ._device import DevicePrefetcher, make_placer
from ._errors import DataError, NotSizedError, WorkerDiedError, WorkerError, WorkerTimeoutError
from ._fetch import INDEX, INDICES, SAMPLE, SAMPLES, Fetcher, LoadFailure, raise_failure
from ._pool import ProcessPool, ThreadPool, default_start_method, start_forkserver
from ._shm import SHM_DIR, shm_space
from ._snapshot import fingerprint, warn_changed
from .collate import default_collate
from .dataset import is_iterable_dataset, unwrap_maps
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader"]

STATE_FORMAT = "torsh.data.DataLoader/1"

_Task = tuple[int, int, Any, int]  # (batch_index, kind, payload, first_sample)


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


class _Position:
    """Where the loader is: the epoch of the latest iterator and how many batches it has yielded."""

    def __init__(self, epoch: int, yielded: int) -> None:
        self.epoch, self.yielded, self.finished = epoch, yielded, False


class DataLoader:
    """Iterate over a dataset in batches, optionally with worker threads/processes and device prefetch.

    Args:
      dataset: a map-style dataset (``len`` + indexing) or an iterable dataset.
      batch_size: samples per batch; ``None`` yields single samples (no collation).
      shuffle: visit samples in a seeded random order that changes every epoch.
      sampler: an index sampler (excludes ``shuffle``).
      batch_sampler: yields lists of indices (excludes batch_size, shuffle, sampler, drop_last).
      num_workers: number of worker threads/processes; 0 loads in the calling thread.
      collate_fn: list of samples -> batch; default :func:`default_collate`.
      drop_last: drop the last incomplete batch.
      timeout: seconds to wait for the next batch before raising :class:`WorkerTimeoutError`
        (0: wait as long as the workers are alive; a dead worker always raises at once).
      worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker at start.
      multiprocessing_context: ``"forkserver"`` (default where available) or ``"spawn"``. ``"fork"``
        is refused: forking a process in which JAX has started can deadlock (jax#3382).
      prefetch_factor: batches in flight per worker (default 2 with workers).
      persistent_workers: keep workers alive between epochs.
      seed: seed of the order and of :func:`torsh.data.rng`; default ``torsh.random.initial_seed()``
        (the ``torsh.manual_seed`` value, 0 if never set).
      worker_type: ``"process"`` (default; the dataset and functions must be picklable) or
        ``"thread"`` (no pickling; good when transforms release the GIL).
      device: place batches on this ``jax.Device``, ``jax.sharding.Sharding`` or device string
        (``"cpu:0"``) from a background thread; ``None`` yields NumPy batches.
      device_prefetch: batches placed ahead on the device (queue depth).
      progress: show a tqdm progress bar (``True`` or a dict of tqdm arguments).
      pad_last: yield every batch as a :class:`~torsh.data.MaskedBatch` of exactly ``batch_size`` rows
        (``data``) and a bool ``mask``; the short last batch is padded by repeating its last sample
        and its mask is False on those rows. One batch shape: a jitted step compiles once. ``len`` is
        unchanged. Excludes ``drop_last``.

    Raises:
      ConfigError: For an invalid argument: a dataset that is neither map-style nor iterable, a
        non-callable ``collate_fn``/``worker_init_fn``, bad sizes, worker options or ``progress``.

    Example:
      >>> import numpy as np
      >>> from torsh.data import ArrayDataset, DataLoader
      >>> ds = ArrayDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
      >>> loader = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
      >>> [y.tolist() for _, y in loader]
      [[4, 1], [2, 0], [3]]
      >>> it = iter(loader); x, y = next(it)
      >>> state = loader.state_dict()            # after one batch of epoch 1
      >>> rest = [y.tolist() for _, y in it]
      >>> resumed = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
      >>> resumed.load_state_dict(state)
      >>> [y.tolist() for _, y in resumed] == rest
      True
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool = False,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: str | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        seed: int | None = None,
        worker_type: str = "process",
        device: Any = None,
        device_prefetch: int = 2,
        progress: bool | dict[str, Any] = False,
        pad_last: bool = False,
    ) -> None:
        self.dataset = dataset
        self._iterable = is_iterable_dataset(dataset)
        if not self._iterable and not hasattr(dataset, "__getitem__"):
            shown = repr(dataset)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ConfigError(
                f"DataLoader: dataset must be a map-style dataset (with __getitem__ and __len__, e.g. "
                f"torsh.data.ArrayDataset(x, y)) or an iterable dataset (with __iter__), got "
                f"{type(dataset).__name__} {shown}"
            )
        self.seed = self._check_seed(seed)
        self._check_options(
            batch_size,
            shuffle,
            sampler,
            batch_sampler,
            num_workers,
            drop_last,
            timeout,
            multiprocessing_context,
            prefetch_factor,
            persistent_workers,
            worker_type,
            device_prefetch,
        )
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.num_workers = int(num_workers)
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.worker_type = worker_type
        self.multiprocessing_context = multiprocessing_context or default_start_method()
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.persistent_workers = persistent_workers
        self.device = device
        self.device_prefetch = int(device_prefetch)
        self.progress = progress
        self.pad_last = pad_last
        self._pad_to = self._check_pad_last(pad_last, batch_size, batch_sampler, drop_last)
        self._placer = make_placer(device) if device is not None else None
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise ConfigError(
                    f"DataLoader: {name} must be callable or None, got {type(fn).__name__} {fn!r:.60}"
                )
        if not isinstance(progress, (bool, dict)):
            raise ConfigError(
                f"DataLoader: progress must be a bool or a dict of tqdm arguments, got {progress!r:.60}"
            )
        if self.num_workers and worker_type == "process" and self.multiprocessing_context == "forkserver":
            start_forkserver()  # its import of torsh overlaps with whatever runs before iter(loader)
        if collate_fn is None:
            collate_fn = default_collate if batch_size is not None or batch_sampler is not None else None
        self.collate_fn = collate_fn
        self._own_sampler = False

        self.sampler: Any
        self.batch_sampler: Any
        if self._iterable:
            self.sampler = None
            self.batch_sampler = None
        else:
            if batch_sampler is not None:
                self.sampler = None
                self.batch_sampler = batch_sampler
            else:
                if sampler is None:
                    sampler = (
                        RandomSampler(dataset, seed=self.seed) if shuffle else SequentialSampler(dataset)
                    )
                    self._own_sampler = True
                self.sampler = sampler
                self.batch_sampler = (
                    BatchSampler(sampler, batch_size, drop_last) if batch_size is not None else None
                )

        self._next_epoch = 0
        self._resume: tuple[int, int] | None = None
        self._position: _Position | None = None
        self._generation = itertools.count()
        self._pool: Any = None  # persistent pool
        self._live: weakref.ref | None = None  # the iterator that owns the persistent pool

    # -- validation ----------------------------------------------------------------------------------
    @staticmethod
    def _check_seed(seed: Any) -> int:
        if seed is None:
            from ..random import initial_seed

            return int(initial_seed())
        if not _is_int(seed) or seed < 0:
            raise ConfigError(f"DataLoader: seed must be a non-negative int or None, got {seed!r}")
        return int(seed)

    def _check_options(
        self,
        batch_size: Any,
        shuffle: Any,
        sampler: Any,
        batch_sampler: Any,
        num_workers: Any,
        drop_last: Any,
        timeout: Any,
        context: Any,
        prefetch_factor: Any,
        persistent: Any,
        worker_type: Any,
        device_prefetch: Any,
    ) -> None:
        if batch_size is not None and (not _is_int(batch_size) or batch_size <= 0):
            raise ConfigError(f"DataLoader: batch_size must be a positive int or None, got {batch_size!r}")
        if not isinstance(shuffle, bool):
            raise ConfigError(f"DataLoader: shuffle must be a bool, got {shuffle!r}")
        if not isinstance(drop_last, bool):
            raise ConfigError(f"DataLoader: drop_last must be a bool, got {drop_last!r}")
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ConfigError(
                "DataLoader: an iterable dataset is read in stream order; shuffle, sampler and batch_sampler "
                "are not supported with it (shuffle inside the stream, or use a map-style dataset)"
            )
        if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
            raise ConfigError(
                "DataLoader: batch_sampler decides the batches, so it excludes batch_size, shuffle, "
                "sampler and drop_last"
            )
        for name, value in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if value is not None and not hasattr(value, "__iter__"):
                raise ConfigError(
                    f"DataLoader: {name} must be iterable (a torsh.data.Sampler, or any object with "
                    f"__iter__ yielding {'indices' if name == 'sampler' else 'lists of indices'}), "
                    f"got {type(value).__name__} {value!r:.60}"
                )
        if sampler is not None and shuffle:
            raise ConfigError("DataLoader: sampler decides the order, so it excludes shuffle=True")
        if not _is_int(num_workers) or num_workers < 0:
            raise ConfigError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
            raise ConfigError(f"DataLoader: timeout must be a number >= 0 (seconds), got {timeout!r}")
        if worker_type not in ("process", "thread"):
            raise ConfigError(f"DataLoader: worker_type must be 'process' or 'thread', got {worker_type!r}")
        if context is not None:
            if context == "fork":
                raise ConfigError(
                    "DataLoader: multiprocessing_context='fork' is refused: forking a process in which JAX "
                    "has started threads can deadlock the child (jax#3382). Use 'forkserver' or 'spawn'."
                )
            import multiprocessing as mp

            if context not in ("forkserver", "spawn") or context not in mp.get_all_start_methods():
                raise ConfigError(
                    f"DataLoader: multiprocessing_context must be one of "
                    f"{[m for m in mp.get_all_start_methods() if m != 'fork']}, got {context!r}"
                )
            if worker_type != "process":
                raise ConfigError("DataLoader: multiprocessing_context applies to worker_type='process' only")
        if prefetch_factor is not None:
            if num_workers == 0:
                raise ConfigError(
                    "DataLoader: prefetch_factor needs num_workers > 0 (it counts batches per worker)"
                )
            if not _is_int(prefetch_factor) or prefetch_factor <= 0:
                raise ConfigError(
                    f"DataLoader: prefetch_factor must be a positive int, got {prefetch_factor!r}"
                )
        if persistent and num_workers == 0:
            raise ConfigError("DataLoader: persistent_workers=True needs num_workers > 0")
        if not _is_int(device_prefetch) or device_prefetch <= 0:
            raise ConfigError(f"DataLoader: device_prefetch must be a positive int, got {device_prefetch!r}")

    @staticmethod
    def _check_pad_last(pad_last: Any, batch_size: Any, batch_sampler: Any, drop_last: bool) -> int | None:
        """The size batches are padded to, or None."""
        if not isinstance(pad_last, bool):
            raise ConfigError(f"DataLoader: pad_last must be a bool, got {pad_last!r}")
        if not pad_last:
            return None
        if drop_last:
            raise ConfigError(
                "DataLoader: pad_last=True pads the short last batch and drop_last=True drops it; choose one"
            )
        if batch_sampler is not None:
            size: Any = getattr(batch_sampler, "batch_size", None)
            if not _is_int(size) or size <= 0:
                raise ConfigError(
                    "DataLoader: pad_last=True pads batches to the batch size, but the batch_sampler "
                    f"{type(batch_sampler).__name__} has no positive int attribute `batch_size`"
                )
            return int(size)
        if batch_size is None:
            raise ConfigError("DataLoader: pad_last=True needs a batch_size (batch_size=None does not batch)")
        return int(batch_size)

    # -- size ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        if not self._iterable:
            if self.batch_sampler is not None:
                return len(self.batch_sampler)
            return len(self.sampler)
        try:
            n = len(self.dataset)
        except TypeError:
            raise NotSizedError(
                f"DataLoader: len() is unknown: the iterable dataset {type(self.dataset).__name__} "
                "has no __len__"
            ) from None
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _sized_len(self) -> int | None:
        try:
            return len(self)
        except (NotSizedError, TypeError):
            return None

    # -- epochs and position -------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch the next ``iter(loader)`` will run."""
        return self._resume[0] if self._resume is not None else self._next_epoch

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch the next ``iter(loader)`` runs (its order and augmentation streams).

        Without calls, each ``iter(loader)`` runs the next epoch: 0, 1, 2, ... A pending resume
        (``load_state_dict``) is kept when ``epoch`` is the epoch it resumes.

        Args:
            epoch: The epoch (an int ``>= 0``).

        Raises:
            ConfigError: If ``epoch`` is not an int ``>= 0``.

        Example:
            >>> import numpy as np
            >>> from torsh import data
            >>> loader = data.DataLoader(data.ArrayDataset(np.arange(4)), batch_size=2, shuffle=True, seed=0)
            >>> loader.set_epoch(3)
            >>> sorted(x for b in loader for x in b[0].tolist())
            [0, 1, 2, 3]
        """
        if not _is_int(epoch) or epoch < 0:
            raise ConfigError(f"DataLoader.set_epoch: expected an int >= 0, got {epoch!r}")
        if self._resume is not None and self._resume[0] != epoch:
            self._resume = None
        self._next_epoch = int(epoch)

    def state_dict(self) -> dict[str, int | str]:
        """The loader's position as a flat dict of ints and strings (safetensors-metadata friendly).

        Mid-epoch it records the epoch and the number of batches already *yielded* (batches loaded
        ahead by workers or device prefetch are not counted): ``load_state_dict`` on a loader built
        the same way then yields exactly the remaining batches.

        Returns:
            A flat dict of ints and strings: ``epoch``, ``batch`` (batches yielded), ``seed`` and the
            settings a resume must match.

        Example:
            >>> import numpy as np
            >>> from torsh import data
            >>> loader = data.DataLoader(data.ArrayDataset(np.arange(6)), batch_size=2, shuffle=True, seed=0)
            >>> it = iter(loader)
            >>> _ = next(it)
            >>> state = loader.state_dict()
            >>> state["epoch"], state["batch"]
            (0, 1)
        """
        if self._resume is not None:
            epoch, batch = self._resume
        elif self._position is not None and not self._position.finished:
            epoch, batch = self._position.epoch, self._position.yielded
        else:
            epoch, batch = self._next_epoch, 0
        state: dict[str, int | str] = {
            "format": STATE_FORMAT,
            "epoch": epoch,
            "batch": batch,
            "seed": self.seed,
            "dataset_size": self._dataset_size(),
            "batch_size": -1 if self.batch_size is None else int(self.batch_size),
            "drop_last": int(self.drop_last),
        }
        sampler = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if sampler is not None and hasattr(sampler, "state_dict"):
            for key, value in sampler.state_dict().items():
                state[f"sampler.{key}"] = value
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next ``iter(loader)`` continues where that loader stopped.

        Values may be strings (as read back from file metadata). Raises ``DataError`` when the state
        was saved for a different dataset size, batch size or ``drop_last``.

        Args:
            state: A dict from :meth:`state_dict` (values may be strings, as read back from metadata).

        Raises:
            DataError: If the state was saved for another dataset size, batch size or ``drop_last``.
            ConfigError: If the state is malformed.

        Example:
            >>> import numpy as np
            >>> from torsh import data
            >>> ds = data.ArrayDataset(np.arange(6))
            >>> first = data.DataLoader(ds, batch_size=2, shuffle=True, seed=0)
            >>> it = iter(first)
            >>> _ = next(it)
            >>> resumed = data.DataLoader(ds, batch_size=2, shuffle=True, seed=0)
            >>> resumed.load_state_dict(first.state_dict())
            >>> [b[0].tolist() for b in resumed] == [b[0].tolist() for b in it]  # the remaining batches
            True
        """
        if not isinstance(state, dict):
            raise ConfigError(f"DataLoader.load_state_dict: expected a dict, got {type(state).__name__}")
        if state.get("format") != STATE_FORMAT:
            raise DataError(
                f"DataLoader.load_state_dict: expected format {STATE_FORMAT!r}, got {state.get('format')!r}"
            )

        def get_int(key: str) -> int:
            if key not in state:
                raise DataError(f"DataLoader.load_state_dict: the state has no {key!r} entry")
            try:
                return int(state[key])
            except (TypeError, ValueError):
                raise DataError(
                    f"DataLoader.load_state_dict: {key!r} must be an int, got {state[key]!r}"
                ) from None

        checks = {
            "dataset_size": self._dataset_size(),
            "batch_size": -1 if self.batch_size is None else int(self.batch_size),
            "drop_last": int(self.drop_last),
        }
        for key, mine in checks.items():
            saved = get_int(key)
            if saved != mine:
                raise DataError(
                    f"DataLoader.load_state_dict: the state was saved with {key}={saved}, this loader has "
                    f"{key}={mine}; resuming would not reproduce the interrupted run"
                )
        epoch, batch, seed = get_int("epoch"), get_int("batch"), get_int("seed")
        if epoch < 0 or batch < 0 or seed < 0:
            raise DataError(
                "DataLoader.load_state_dict: epoch, batch and seed must be >= 0, "
                f"got {epoch}, {batch}, {seed}"
            )
        sampler = self.batch_sampler if self.batch_sampler is not None else self.sampler
        if sampler is not None and hasattr(sampler, "load_state_dict"):
            prefix = "sampler."
            sampler.load_state_dict({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})
        size = self._sized_len()
        if size is not None and batch > size:
            raise DataError(
                f"DataLoader.load_state_dict: the state's position is batch {batch} of epoch {epoch}, but an "
                f"epoch of this loader has {size} batches; the resumed epoch would yield nothing. Was the "
                "state saved by a loader over another dataset or sampler?"
            )
        self._set_seed(seed)
        self._resume = (epoch, batch)
        self._next_epoch = epoch

    def _set_seed(self, seed: int) -> None:
        if seed == self.seed:
            return
        self.seed = seed
        if self._own_sampler and isinstance(self.sampler, RandomSampler):
            self.sampler.seed = seed
        self._close_pool()  # workers carry the seed

    def _dataset_size(self) -> int:
        try:
            return len(self.dataset)
        except TypeError:
            return -1

    # -- iteration -----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        if self._resume is not None:
            epoch, skip = self._resume
            self._resume = None
        else:
            epoch, skip = self._next_epoch, 0
        self._next_epoch = epoch + 1
        self._apply_epoch(epoch)
        position = _Position(epoch, skip)
        self._position = position
        host = _HostIterator(self, epoch, skip)
        return _EpochIterator(self, host, position)

    def _apply_epoch(self, epoch: int) -> None:
        for obj in (self.batch_sampler, self.sampler, self.dataset):
            if obj is not None and hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)

    def _tasks(self, epoch: int, skip: int) -> Iterator[tuple[int, int, Any, int]]:
        """``(batch_index, kind, payload, first_sample)`` for every batch from ``skip`` on.

        The sampler's order is taken now, while its epoch is this iterator's epoch (a later
        ``iter(loader)`` moves the sampler to the next epoch)."""
        if not self._iterable:
            if self.batch_sampler is not None:
                tasks = self._index_tasks(iter(self.batch_sampler), skip, INDICES)
                return tasks if self._pad_to is None else self._checked_sizes(tasks, self._pad_to)
            return self._index_tasks(iter(self.sampler), skip, INDEX)
        source, _ = unwrap_maps(self.dataset)
        return self._stream_tasks(iter(source), skip)

    @staticmethod
    def _index_tasks(order: Iterator[Any], skip: int, kind: int) -> Iterator[tuple[int, int, Any, int]]:
        for b, item in enumerate(itertools.islice(order, skip, None), skip):
            yield b, kind, (list(item) if kind == INDICES else item), 0

    @staticmethod
    def _checked_sizes(tasks: Iterator[_Task], size: int) -> Iterator[_Task]:
        for task in tasks:
            if not 0 < len(task[2]) <= size:
                raise DataError(
                    f"DataLoader: pad_last=True pads batches to batch_size={size}, but the batch sampler "
                    f"gave batch {task[0]} with {len(task[2])} samples"
                )
            yield task

    def _stream_tasks(self, stream: Iterator[Any], skip: int) -> Iterator[tuple[int, int, Any, int]]:
        if self.batch_size is None:
            for b, sample in enumerate(itertools.islice(stream, skip, None), skip):
                yield b, SAMPLE, sample, b
            return
        first = skip * self.batch_size
        for _ in itertools.islice(stream, first):  # consumed before the resume point
            pass
        b = skip
        while True:
            chunk = list(itertools.islice(stream, self.batch_size))
            if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield b, SAMPLES, chunk, first
            first += len(chunk)
            b += 1

    def _new_pool(self) -> Any:
        base, fns = unwrap_maps(self.dataset)
        if self._iterable:
            base, dataset = None, None  # workers only transform: the stream is read in this process
        else:
            dataset = self.dataset
        if self.worker_type == "thread":
            return ThreadPool(
                self.num_workers,
                dataset,
                base,
                fns,
                self.collate_fn,
                self.worker_init_fn,
                self.seed,
                self._pad_to,
            )
        pool = ProcessPool(
            self.num_workers,
            dataset,
            base,
            fns,
            self.collate_fn,
            self.worker_init_fn,
            self.seed,
            self.multiprocessing_context,
            _pool.DEFAULT_TRANSPORT,
            self._pad_to,
        )
        # After pickling (which may switch an ArrayDataset to its shared copy): the workers' snapshot.
        pool.snapshot = None if dataset is None else fingerprint(dataset)
        pool.snapshot_warned = False
        return pool

    def _snapshot_changed(self, pool: Any) -> bool:
        """Did the dataset change since ``pool``'s worker processes received their copy?"""
        snapshot = getattr(pool, "snapshot", None)
        return snapshot is not None and fingerprint(self.dataset) != snapshot

    def _acquire_pool(self, owner: _HostIterator) -> Any:
        if not self.persistent_workers:
            return self._new_pool()
        previous = self._live() if self._live is not None else None
        if previous is not None and previous is not owner:
            previous._superseded = True
        if self._pool is not None and self._pool.alive and self._snapshot_changed(self._pool):
            if not self._pool.snapshot_warned:
                warn_changed(
                    "since the persistent worker processes received their copy",
                    "restarting them so that this epoch reads the current dataset",
                )
            self._close_pool()
        if self._pool is None or not self._pool.alive:
            self._pool = self._new_pool()
        self._live = weakref.ref(owner)
        return self._pool

    def _close_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def close(self) -> None:
        """Stop persistent workers now (they also stop when the loader is garbage collected).

        Example:
            >>> import numpy as np
            >>> from torsh import data
            >>> loader = data.DataLoader(data.ArrayDataset(np.arange(4)), batch_size=2)
            >>> loader.close()  # a no-op without persistent workers
        """
        self._close_pool()

    def __del__(self) -> None:
        try:
            self._close_pool()
        except Exception:
            pass

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"num_workers={self.num_workers}, worker_type={self.worker_type!r}, seed={self.seed})"
        )


class _HostIterator:
    """Host (NumPy) batches of one epoch, in batch-index order."""

    def __init__(self, loader: DataLoader, epoch: int, skip: int) -> None:
        self._loader = loader
        self._epoch = epoch
        self._tasks = loader._tasks(epoch, skip)
        self._next = skip
        self._closed = False
        self._superseded = False
        self._pool: Any = None
        self._fetcher: Fetcher | None = None
        if loader.num_workers == 0:
            base, fns = unwrap_maps(loader.dataset)
            dataset = None if loader._iterable else base
            self._fetcher = Fetcher(dataset, fns, loader.collate_fn, loader.seed, "scoped", loader._pad_to)
        else:
            self._pool = loader._acquire_pool(self)
            self._gen = next(loader._generation)
            self._capacity = loader.num_workers * loader.prefetch_factor
            self._in_flight: dict[int, tuple[int, Any]] = {}
            self._ready: dict[int, tuple[str, Any]] = {}
            self._exhausted = False

    def __iter__(self) -> _HostIterator:
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        if self._superseded:
            self._closed = True
            raise DataError(
                "DataLoader: this iterator was replaced by a newer iter(loader); with persistent_workers "
                "the workers serve one iterator at a time"
            )
        try:
            if self._fetcher is not None:
                return self._next_in_process()
            return self._next_pooled()
        except StopIteration:
            self._check_snapshot()
            self.close()
            raise
        except BaseException as exc:
            self._abort(exc)
            raise

    def _check_snapshot(self) -> None:
        pool = self._pool
        if pool is None or pool.kind != "process" or not self._loader._snapshot_changed(pool):
            return
        pool.snapshot_warned = True
        persistent = self._loader.persistent_workers
        restart = "; the persistent workers restart for the next epoch" if persistent else ""
        warn_changed(
            "while this epoch was loading",
            f"the worker processes loaded it from the copy taken when they started{restart}",
        )

    # -- in the calling thread ---------------------------------------------------------------------
    def _next_in_process(self) -> Any:
        batch_index, kind, payload, first = next(self._tasks)
        try:
            return self._fetcher.load(batch_index, self._epoch, kind, payload, first)  # type: ignore[union-attr]
        except LoadFailure as failure:
            raise_failure(failure, None, "", remote=False)
        raise AssertionError("unreachable")

    # -- with a pool ---------------------------------------------------------------------------------
    def _fill(self) -> None:
        pool = self._pool
        per_worker = self._loader.prefetch_factor
        # Batches that arrived ahead of the one awaited count too (as in PyTorch): with process workers
        # each holds a shared-memory segment until it is yielded and dropped.
        while not self._exhausted and len(self._in_flight) + len(self._ready) < self._capacity:
            w = min(range(pool.num_workers), key=pool.outstanding.__getitem__)
            if pool.outstanding[w] >= per_worker:
                return
            try:
                batch_index, kind, payload, first = next(self._tasks)
            except StopIteration:
                self._exhausted = True
                return
            dead = pool.submit(w, (self._gen, batch_index, self._epoch, kind, payload, first))
            self._in_flight[batch_index] = (w, payload)
            if dead is not None:
                self._raise_dead([dead])

    def _next_pooled(self) -> Any:
        self._fill()
        target = self._next
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while target not in self._ready:
            if target not in self._in_flight and self._exhausted:
                raise StopIteration
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                self._raise_timeout(target)
            messages, dead = self._pool.wait(remaining)
            self._receive(messages)
            if dead:
                self._raise_dead(dead)
            self._fill()
        kind, body = self._ready.pop(target)
        self._next += 1
        self._fill()
        if kind == "error":
            w = body[0]
            raise_failure(
                self._pool.failure(body[1]), w, self._pool.describe(w), remote=self._pool.kind == "process"
            )
        return body

    def _receive(self, messages: list[tuple[int, Any]]) -> None:
        pool = self._pool
        for w, msg in messages:
            if msg[0] == "init_error":
                info = msg[1]
                original = info.get("original")
                if original is None and "pickled" in info:
                    original = pool.failure(info).original
                raise WorkerError(
                    f"{pool.describe(w)} failed to start: {info['exc_type']}: {info['message']}"
                    + (
                        "\n\nTraceback in the worker process:\n" + info["traceback"].rstrip()
                        if pool.kind == "process"
                        else ""
                    ),
                    worker_id=w,
                    exc_type=info["exc_type"],
                    worker_traceback=info["traceback"],
                ) from original
            kind, gen, batch_index, body = msg
            pool.outstanding[w] -= 1
            if gen != self._gen:  # left over from an abandoned iterator of a persistent pool
                pool.discard(w, msg)
                continue
            self._in_flight.pop(batch_index, None)
            if kind == "batch":
                self._ready[batch_index] = ("batch", pool.decode(w, body))
            else:
                self._ready[batch_index] = ("error", (w, body))

    def _describe_task(self, batch_index: int) -> str:
        if batch_index not in self._in_flight:
            return f"batch {batch_index} (not sent yet: every worker is busy)"
        w, payload = self._in_flight[batch_index]
        if isinstance(payload, list) and payload and not isinstance(payload[0], (int, np.integer)):
            what = f"{len(payload)} stream samples"
        elif isinstance(payload, list):
            shown = ", ".join(str(i) for i in payload[:8]) + (", ..." if len(payload) > 8 else "")
            what = f"samples [{shown}]"
        else:
            what = f"sample {payload}"
        return f"batch {batch_index} ({what}) on {self._pool.describe(w)}"

    def _raise_timeout(self, target: int) -> None:
        raise WorkerTimeoutError(
            f"DataLoader: no batch within timeout={self._loader.timeout:g} s while waiting for "
            f"{self._describe_task(target)}; the worker appears stalled. Increase `timeout` if batches are "
            "legitimately this slow."
        )

    def _raise_dead(self, dead: list[Any]) -> None:
        for d in dead:  # what a worker sent before it died comes first (e.g. why its init failed)
            self._receive(d.last_messages)
        lines = []
        for d in dead:
            tasks = [b for b, (w, _) in self._in_flight.items() if w == d.worker]
            doing = f" while loading {self._describe_task(min(tasks)).split(' on ')[0]}" if tasks else ""
            lines.append(f"{d.description}{doing}")
        hints = []
        if any("SIGBUS" in d.description for d in dead):
            space = shm_space()
            state = f" ({space[0] / 2**20:.1f} MiB free of {space[1] / 2**20:.1f} MiB now)" if space else ""
            hints.append(
                f"SIGBUS in a loader worker usually means shared memory ({SHM_DIR}) ran full{state}, e.g. "
                "where the dataset or a transform writes to shared memory itself; enlarge it with "
                f"`docker run --shm-size=2g ...` (Kubernetes: an emptyDir with `medium: Memory` at "
                f"{SHM_DIR}). Otherwise a memory-mapped file the dataset reads (numpy.memmap) was truncated"
            )
        if any("SIGKILL" in d.description for d in dead):
            hints.append("a worker killed by SIGKILL was often stopped by the out-of-memory killer")
        advice = "".join(f". {h[0].upper()}{h[1:]}" for h in hints)
        raise WorkerDiedError("DataLoader: " + "; ".join(lines) + advice)

    # -- shutdown ------------------------------------------------------------------------------------
    def _abort(self, exc: BaseException) -> None:
        if self._pool is None:
            self._closed = True
            return
        broken = isinstance(exc, (WorkerDiedError, WorkerTimeoutError)) or not isinstance(exc, Exception)
        if self._loader.persistent_workers and not broken:
            self._closed = True  # the workers are fine; stale results are discarded by generation
            return
        self.close(force=broken)

    def close(self, force: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if self._pool is None:
            return
        if self._loader.persistent_workers and not force:
            return
        if self._loader.persistent_workers and self._loader._pool is self._pool:
            self._loader._pool = None
        self._pool.shutdown(force=force)

    def kill(self) -> None:
        if self._pool is not None:
            self._pool.kill()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _EpochIterator:
    """What ``iter(loader)`` returns: host batches, optionally placed on a device, with position and
    progress bookkeeping for the batches actually handed to the caller."""

    def __init__(self, loader: DataLoader, host: _HostIterator, position: _Position) -> None:
        self._host = host
        self._position = position
        self._source: Iterator[Any] = host
        self._prefetcher: DevicePrefetcher | None = None
        if loader._placer is not None:
            self._prefetcher = DevicePrefetcher(
                host, loader._placer, loader.device_prefetch, host.close, host.kill
            )
            self._source = self._prefetcher
        self._bar = None
        if loader.progress:
            from tqdm import tqdm

            kwargs = {"unit": "batch", "dynamic_ncols": True, "desc": f"epoch {position.epoch}"}
            if isinstance(loader.progress, dict):
                kwargs.update(loader.progress)
            self._bar = tqdm(total=loader._sized_len(), initial=position.yielded, **kwargs)

    def __iter__(self) -> _EpochIterator:
        return self

    def __next__(self) -> Any:
        try:
            batch = next(self._source)
        except StopIteration:
            self._position.finished = True
            self.close()
            raise
        except BaseException:
            self.close()
            raise
        self._position.yielded += 1
        if self._bar is not None:
            self._bar.update(1)
        return batch

    def __len__(self) -> int:
        return self._host._loader.__len__() - self._position.yielded

    def close(self) -> None:
        """Stop this epoch's workers and background thread now."""
        if self._prefetcher is not None:
            self._prefetcher.close()
        self._host.close()
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
