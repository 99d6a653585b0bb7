"""A directory of numbered, atomic, optionally asynchronous checkpoints.

Layout::

    runs/exp1/
      step_00000100/
        model.safetensors     one safetensors file per item
        opt.safetensors
        manifest.json         written last: format version, step, item sizes and sha256, metrics
      step_00000200/ ...

A save writes everything into ``.tmp-step_...-<host>-<pid>-<random>/``, fsyncs each file, writes and
fsyncs the manifest, fsyncs the directory, renames it to ``step_XXXXXXXX`` and fsyncs the parent. The
rename is atomic, so a checkpoint is visible only when complete, and a crash at any moment (even
SIGKILL or power loss) leaves the previous checkpoints intact. Old checkpoints are removed by renaming
them to ``.trash-...`` first, for the same reason. Leftovers of dead processes are cleaned on open.

In a multi-process job, :meth:`CheckpointManager.save` is a collective: every process gathers the
items to host memory, process 0 alone writes, commits, applies retention and cleans leftovers, and all
processes meet at a barrier once the checkpoint exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
import warnings
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from ..errors import CheckpointError, ConfigError
from ._api import PathLike
from ._errors import (
    BackgroundSaveError,
    CheckpointNotFoundError,
    CorruptFileError,
    FormatVersionError,
)
from ._load import LoadOptions, build_tree
from ._names import (
    TMP_PREFIX,
    TRASH_PREFIX,
    check_item_name,
    inside,
    item_file,
    owner_is_dead,
    parse_step_dir,
    step_dir_name,
    temp_name,
)
from ._reader import FileReader
from ._write import Prepared, fsync_dir, prepare, write_file

__all__ = ["CheckpointManager", "CHECKPOINT_FORMAT_VERSION"]

CHECKPOINT_FORMAT_VERSION = 1
_FORMAT_NAME = "torsh.checkpoint"
MANIFEST = "manifest.json"
_HASH_CHUNK = 8 << 20


class CheckpointManager:
    """Numbered checkpoints of several items (model, optimizer state, RNG key, data position, ...).

    Args:
      directory: where the checkpoints live (created if needed).
      keep: keep the ``keep`` most recent checkpoints (alias of ``keep_last``); ``None`` keeps all.
      keep_best: also keep the ``keep_best`` best checkpoints by ``best_metric``.
      best_metric: the name of a metric passed to :meth:`save` (``metrics={"val_loss": ...}``).
      best_mode: ``"min"`` or ``"max"``: which values of ``best_metric`` are best.
      async_save: :meth:`save` copies the arrays to host memory and returns; files are written by a
        background thread. :meth:`wait` blocks until done; a background failure is raised (as
        :class:`BackgroundSaveError`) by the next call on the manager.
      verify: check each file's size and sha256 against the manifest on :meth:`restore`.

    The most recent checkpoint is never deleted by retention, so a run can always resume.

    In a multi-process job call :meth:`save`, :meth:`restore`, :meth:`wait` and :meth:`close` on every
    process: saving gathers arrays from all processes, only process 0 writes, and no process returns
    before the checkpoint exists (see docs/serialize.md).

    Raises:
      ConfigError: both ``keep`` and ``keep_last``, a non-positive count, ``keep_best`` without
        ``best_metric``, or an unknown ``best_mode``.
      CheckpointError: the directory cannot be created.

    Example:
      >>> import tempfile, torsh, jax.numpy as jnp
      >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp(), keep=2)
      >>> model = {"w": jnp.ones(3)}
      >>> for step in (10, 20, 30):
      ...     ckpt.save(step, {"model": model, "data": {"epoch": 1, "index": step}})
      >>> ckpt.all_steps()
      [20, 30]
      >>> restored = ckpt.restore("latest", like={"model": model, "data": {"epoch": 0, "index": 0}})
      >>> restored["data"]
      {'epoch': 1, 'index': 30}
    """

    def __init__(
        self,
        directory: PathLike,
        *,
        keep: int | None = None,
        keep_last: int | None = None,
        keep_best: int | None = None,
        best_metric: str | None = None,
        best_mode: str = "min",
        async_save: bool = False,
        verify: bool = True,
    ) -> None:
        if keep is not None and keep_last is not None:
            raise ConfigError("CheckpointManager: give keep= or keep_last= (the same thing), not both")
        keep_last = keep if keep_last is None else keep_last
        for name, value in (("keep_last", keep_last), ("keep_best", keep_best)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ConfigError(f"CheckpointManager: {name} must be a positive int or None, got {value!r}")
        if keep_best is not None and not best_metric:
            raise ConfigError("CheckpointManager: keep_best= needs best_metric= (the metric to rank by)")
        if best_mode not in ("min", "max"):
            raise ConfigError(f"CheckpointManager: best_mode must be 'min' or 'max', got {best_mode!r}")
        self.directory = os.path.abspath(os.fspath(directory))
        self.keep_last = keep_last
        self.keep_best = keep_best
        self.best_metric = best_metric
        self.best_mode = best_mode
        self.async_save = bool(async_save)
        self.verify = bool(verify)
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None
        self._pending_step: int | None = None
        self._barrier_step: int | None = None  # a multi-process async save's barrier, still owed
        self._manifests: dict[int, dict] = {}
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{self.directory}: cannot create the checkpoint directory: {e}") from e
        self._clean_leftovers()

    # -- public API -------------------------------------------------------------------------------

    def save(
        self,
        step: int,
        items: Mapping[str, Any],
        *,
        metrics: Mapping[str, float] | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Save ``items`` as checkpoint ``step``, e.g. ``{"model": model, "opt": state, "rng": key}``.

        Each item is any pytree :func:`torsh.serialize.save` accepts (a data loader's
        ``state_dict()`` too). With several processes this is a collective: call it on every process
        with the same step and items. Retention runs after the checkpoint is committed.

        Args:
          step: a non-negative int, new in this directory.
          items: ``{name: pytree}``; names are plain file stems (letters, digits, ``_ . -``).
          metrics: numbers kept in the manifest; ``best_metric`` ranks checkpoints for ``keep_best``.
          metadata: ``str -> str`` entries kept in the manifest.

        Raises:
          ConfigError: a bad step, empty items, names that differ only in case, non-numeric metrics
            or non-string metadata.
          UnsafePathError: an item name that could escape the directory.
          CheckpointError: ``step`` already exists, or a file cannot be written.
          BackgroundSaveError: the previous asynchronous save failed.
          CheckpointNotFoundError, CorruptFileError, FormatVersionError: a damaged existing checkpoint
            found while applying retention.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp())
          >>> ckpt.save(1, {"model": {"w": jnp.ones(2)}, "data": {"epoch": 0}}, metrics={"loss": 0.3})
          >>> ckpt.item_names(1)
          ['data', 'model']
        """
        with self._lock:
            self._wait_pending()
            step = _check_step(step)
            if not isinstance(items, Mapping) or not items:
                got = f"{items!r}"[:100]
                raise ConfigError(f"CheckpointManager.save: items must be a non-empty dict, got {got}")
            names = [check_item_name(n) for n in items]
            folded = sorted(n.lower() for n in names)
            clash = [a for a, b in zip(folded, folded[1:], strict=False) if a == b]
            if clash:
                raise ConfigError(f"CheckpointManager.save: item names differ only in case: {clash[0]!r}")
            if os.path.exists(os.path.join(self.directory, step_dir_name(step))):
                raise CheckpointError(f"{self.directory}: checkpoint step {step} already exists")
            metrics_doc = _check_metrics(metrics)
            meta_doc = _check_metadata(metadata)
            if jax.process_count() > 1:
                self._save_multiprocess(step, items, metrics_doc, meta_doc)
                return
            prepared = {name: prepare(tree, None) for name, tree in items.items()}
            if not self.async_save:
                self._commit_reporting(step, prepared, metrics_doc, meta_doc)
                return
            for p in prepared.values():
                p.fetch_all()  # host copies now: training may donate or overwrite the arrays
            self._submit(step, prepared, metrics_doc, meta_doc)

    def restore(
        self,
        step: int | str = "latest",
        like: Mapping[str, Any] | None = None,
        *,
        items: list[str] | None = None,
        strict: bool = True,
        cast: bool = False,
        dtype: Any = None,
        device: Any = None,
        sharding: Any = None,
    ) -> dict[str, Any]:
        """Load checkpoint ``step`` (an int or ``"latest"``).

        Args:
          step: an int step or ``"latest"``.
          like: ``{item: tree}`` to match (see :func:`torsh.serialize.load`); only those items are
            restored (a value of ``None`` loads that item as nested dicts).
          items: the items to restore without ``like`` (default: all).
          strict, cast, dtype, device: as in :func:`torsh.serialize.load`.
          sharding: one ``Sharding``/``Device`` for every array or ``{item: sharding tree}``; by
            default arrays follow ``like``'s shardings, so a checkpoint saved on one device layout
            restores onto another.

        Returns:
          ``{item: tree}``.

        Raises:
          CheckpointNotFoundError: no such step or item.
          CorruptFileError: a file whose size or sha256 differs from the manifest, or a damaged file.
          FormatVersionError: written by a newer torsh.
          StateDictMismatchError: an item does not match its ``like`` tree (every problem listed).
          ConfigError: a malformed ``like`` or ``sharding``.
          BackgroundSaveError: the previous asynchronous save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp(), best_metric="loss")
          >>> for step, loss in ((1, 0.5), (2, 0.2), (3, 0.4)):
          ...     ckpt.save(step, {"model": {"w": jnp.ones(2)}}, metrics={"loss": loss})
          >>> ckpt.restore(2, like={"model": {"w": jnp.zeros(2)}})["model"]["w"].tolist()
          [1.0, 1.0]
        """
        with self._lock:
            self._wait_pending()
            step = self._resolve(step)
            manifest = self._manifest(step)
            step_dir = os.path.join(self.directory, step_dir_name(step))
            available = manifest["items"]
            if like is not None and not isinstance(like, Mapping):
                raise ConfigError(
                    "CheckpointManager.restore: like= maps item names to trees, e.g. "
                    "{'model': model, 'opt': state}; got " + type(like).__name__
                )
            wanted = list(items) if items is not None else list(like) if like is not None else list(available)
            absent = [n for n in wanted if n not in available]
            if absent:
                raise CheckpointNotFoundError(
                    f"{step_dir}: no item(s) {absent}; the checkpoint has {sorted(available)}"
                )
            per_item_sharding = isinstance(sharding, Mapping)
            if per_item_sharding:
                unknown = sorted(set(sharding) - set(wanted))
                if unknown:
                    raise ConfigError(f"CheckpointManager.restore: sharding names unknown items {unknown}")
            out = {}
            for name in wanted:
                path = self._checked_file(step_dir, name, available[name])
                item_sharding = sharding.get(name) if per_item_sharding else sharding
                opts = LoadOptions.make(strict, cast, dtype, device, item_sharding, False)
                with FileReader(path) as reader:
                    out[name] = build_tree(reader, None if like is None else like.get(name), opts)
            return out

    def all_steps(self) -> list[int]:
        """The steps of all complete checkpoints, ascending (an in-flight async save is not included).

        Returns:
          The sorted steps.

        Raises:
          BackgroundSaveError: the previous asynchronous save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp())
          >>> ckpt.all_steps()
          []
          >>> ckpt.save(100, {"model": {"w": jnp.ones(2)}})
          >>> ckpt.all_steps()
          [100]
        """
        with self._lock:
            self._raise_background()
            return self._scan()

    def latest_step(self) -> int | None:
        """The most recent complete checkpoint, or ``None``.

        Returns:
          The largest step, or ``None`` in an empty directory.

        Raises:
          BackgroundSaveError: the previous asynchronous save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp())
          >>> print(ckpt.latest_step())  # an empty directory
          None
          >>> ckpt.save(1, {"model": {"w": jnp.ones(2)}}); ckpt.save(2, {"model": {"w": jnp.zeros(2)}})
          >>> ckpt.latest_step()
          2
        """
        steps = self.all_steps()
        return steps[-1] if steps else None

    def best_step(self) -> int | None:
        """The best checkpoint by ``best_metric`` (``None`` if no checkpoint has that metric).

        Returns:
          The step with the best ``best_metric`` (by ``best_mode``), or ``None``.

        Raises:
          ConfigError: the manager has no ``best_metric``.
          BackgroundSaveError: the previous asynchronous save failed.
          CheckpointNotFoundError, CorruptFileError, FormatVersionError: a damaged manifest.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp(), best_metric="loss")
          >>> for step, loss in ((1, 0.5), (2, 0.2), (3, 0.4)):
          ...     ckpt.save(step, {"model": {"w": jnp.ones(2)}}, metrics={"loss": loss})
          >>> ckpt.best_step()
          2
        """
        if not self.best_metric:
            raise ConfigError("CheckpointManager.best_step: the manager has no best_metric")
        with self._lock:
            ranked = self._ranked(self.all_steps())
            return ranked[0] if ranked else None

    def metrics(self, step: int | str = "latest") -> dict[str, float]:
        """The metrics saved with checkpoint ``step``.

        Args:
          step: an int step or ``"latest"``.

        Returns:
          ``{name: value}`` as passed to :meth:`save`.

        Raises:
          CheckpointNotFoundError: no such step.
          CorruptFileError, FormatVersionError: a damaged or too new manifest.
          ConfigError: a malformed step.
          BackgroundSaveError: the previous asynchronous save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp())
          >>> ckpt.save(5, {"model": {"w": jnp.ones(2)}}, metrics={"loss": 0.25})
          >>> ckpt.metrics(5)
          {'loss': 0.25}
        """
        with self._lock:
            return dict(self._finished_manifest(step)["metrics"])

    def item_names(self, step: int | str = "latest") -> list[str]:
        """The items of checkpoint ``step``.

        Args:
          step: an int step or ``"latest"``.

        Returns:
          The sorted item names.

        Raises:
          CheckpointNotFoundError: no such step.
          CorruptFileError, FormatVersionError: a damaged or too new manifest.
          ConfigError: a malformed step.
          BackgroundSaveError: the previous asynchronous save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp())
          >>> ckpt.save(1, {"opt": {"lr": 0.1}, "model": {"w": jnp.ones(2)}})
          >>> ckpt.item_names()
          ['model', 'opt']
        """
        with self._lock:
            return sorted(self._finished_manifest(step)["items"])

    def wait(self) -> None:
        """Block until the background save (if any) is written; raise its error if it failed.

        In a multi-process job this is a collective after an async save: every process calls it, and
        it returns once process 0 has committed the checkpoint.

        Raises:
          BackgroundSaveError: the background save failed (the original error is its ``__cause__``).

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> ckpt = torsh.serialize.CheckpointManager(tempfile.mkdtemp(), async_save=True)
          >>> ckpt.save(1, {"model": {"w": jnp.ones(2)}})     # returns before the files are written
          >>> ckpt.wait()
          >>> ckpt.all_steps()
          [1]
          >>> ckpt.close()
        """
        with self._lock:
            self._wait_pending()

    def close(self) -> None:
        """Wait for the background save and stop the background thread.

        A collective after a multi-process async save, like :meth:`wait`. ``with
        CheckpointManager(...) as ckpt:`` closes it on exit.

        Raises:
          BackgroundSaveError: the background save failed.

        Example:
          >>> import tempfile, torsh, jax.numpy as jnp
          >>> with torsh.serialize.CheckpointManager(tempfile.mkdtemp(), async_save=True) as ckpt:
          ...     ckpt.save(5, {"model": {"w": jnp.ones(2)}})
          >>> ckpt.latest_step()
          5
        """
        self._close(sync=True)

    def _close(self, sync: bool) -> None:
        with self._lock:
            try:
                self._wait_pending(sync=sync)
            finally:
                if self._executor is not None:
                    self._executor.shutdown(wait=True)
                    self._executor = None

    def __enter__(self) -> CheckpointManager:
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if exc_type is None:
            self.close()
        else:  # do not mask the original exception, nor wait at a barrier other processes may never reach
            try:
                self._close(sync=False)
            except CheckpointError:
                pass

    def __del__(self) -> None:
        pending = getattr(self, "_pending", None)
        if pending is not None and pending.done() and pending.exception() is not None:
            warnings.warn(
                f"CheckpointManager({self.directory!r}): a background save failed and was never "
                f"reported: {pending.exception()!r}",
                RuntimeWarning,
                stacklevel=1,
            )

    def __repr__(self) -> str:
        return (
            f"CheckpointManager({self.directory!r}, keep_last={self.keep_last}, keep_best={self.keep_best}, "
            f"best_metric={self.best_metric!r}, async_save={self.async_save})"
        )

    # -- background saves -------------------------------------------------------------------------

    def _raise_background(self) -> None:
        pending = self._pending
        if pending is not None and pending.done():
            self._pending, step = None, self._pending_step
            self._pending_step = None
            error = pending.exception()
            if error is not None:
                raise BackgroundSaveError(
                    f"{self.directory}: the background save of step {step} failed: {error}"
                ) from error

    def _wait_pending(self, sync: bool = True) -> None:
        """Wait for this process's background save; with ``sync``, also pass the barrier a
        multi-process async save owes (even if the save failed, so no process is left waiting)."""
        pending = self._pending
        if pending is not None:
            try:
                pending.result()
            except BaseException:  # re-raised as BackgroundSaveError below
                pass
        if sync and self._barrier_step is not None:
            step, self._barrier_step = self._barrier_step, None
            _barrier(step)
        self._raise_background()

    def _submit(self, step: int, prepared: dict[str, Prepared], metrics: dict, metadata: dict) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="torsh-checkpoint")
        self._pending_step = step
        self._pending = self._executor.submit(self._commit, step, prepared, metrics, metadata)

    # -- several processes ------------------------------------------------------------------------

    def _save_multiprocess(self, step: int, items: Mapping[str, Any], metrics: dict, metadata: dict) -> None:
        """A collective: every process gathers every item to host memory (arrays sharded over other
        processes' devices are all-gathered), only process 0 writes and commits, and all processes
        meet at a barrier once the checkpoint exists (at once, or in :meth:`wait` / the next save
        when ``async_save``)."""
        prepared = {name: prepare(_gather(tree), None) for name, tree in items.items()}
        writer = jax.process_index() == 0
        if not self.async_save:
            try:
                if writer:
                    self._commit_reporting(step, prepared, metrics, metadata)
            finally:  # the writer reaches the barrier even when the write fails: nobody hangs
                _barrier(step)
            return
        self._barrier_step = step
        if writer:
            for p in prepared.values():
                p.fetch_all()  # host copies now: training may donate or overwrite the arrays
            self._submit(step, prepared, metrics, metadata)

    # -- writing ----------------------------------------------------------------------------------

    def _commit_reporting(
        self, step: int, prepared: dict[str, Prepared], metrics: dict, metadata: dict
    ) -> None:
        try:
            self._commit(step, prepared, metrics, metadata)
        except CheckpointError:
            raise
        except OSError as e:
            raise CheckpointError(f"{self.directory}: saving step {step} failed: {e}") from e

    def _commit(self, step: int, prepared: dict[str, Prepared], metrics: dict, metadata: dict) -> None:
        final = os.path.join(self.directory, step_dir_name(step))
        tmp = os.path.join(self.directory, temp_name(TMP_PREFIX, step_dir_name(step)))
        os.mkdir(tmp)
        try:
            entries = {}
            for name, p in prepared.items():
                hasher = hashlib.sha256()
                path = os.path.join(tmp, item_file(name))
                size = write_file(path, p, atomic=False, fsync=True, hasher=hasher)
                entries[name] = {"file": item_file(name), "bytes": size, "sha256": hasher.hexdigest()}
            from .. import __version__

            manifest = {
                "format": _FORMAT_NAME,
                "version": CHECKPOINT_FORMAT_VERSION,
                "step": step,
                "time": time.time(),
                "torsh_version": __version__,
                "items": entries,
                "metrics": metrics,
                "metadata": metadata,
            }
            with open(os.path.join(tmp, MANIFEST), "wb", buffering=0) as f:
                f.write(json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8"))
                os.fsync(f.fileno())
            fsync_dir(tmp)
            if os.path.exists(final):
                raise CheckpointError(f"{self.directory}: checkpoint step {step} already exists")
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(self.directory)
        self._manifests[step] = manifest
        self._apply_retention()

    def _apply_retention(self) -> None:
        if self.keep_last is None and self.keep_best is None:
            return
        steps = self._scan()
        if not steps:
            return
        keep = {steps[-1]}
        if self.keep_last is not None:
            keep.update(steps[-self.keep_last :])
        if self.keep_best is not None:
            keep.update(self._ranked(steps)[: self.keep_best])
        for step in steps:
            if step not in keep:
                self._delete(step)

    def _delete(self, step: int) -> None:
        source = os.path.join(self.directory, step_dir_name(step))
        trash = os.path.join(self.directory, temp_name(TRASH_PREFIX, step_dir_name(step)))
        try:
            os.rename(source, trash)  # atomic: the step disappears as a whole
        except FileNotFoundError:
            return
        self._manifests.pop(step, None)
        shutil.rmtree(trash, ignore_errors=True)

    def _clean_leftovers(self) -> None:
        if jax.process_index() != 0:  # process 0 owns the directory's contents
            return
        for name in os.listdir(self.directory):
            if name.startswith((TMP_PREFIX, TRASH_PREFIX)) and owner_is_dead(name):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    # -- reading ----------------------------------------------------------------------------------

    def _scan(self) -> list[int]:
        steps = []
        for name in os.listdir(self.directory):
            step = parse_step_dir(name)
            if step is not None and os.path.isfile(os.path.join(self.directory, name, MANIFEST)):
                steps.append(step)
        return sorted(steps)

    def _resolve(self, step: int | str) -> int:
        steps = self._scan()
        if step == "latest":
            if not steps:
                raise CheckpointNotFoundError(f"{self.directory}: no checkpoints yet")
            return steps[-1]
        step = _check_step(step)
        if step not in steps:
            raise CheckpointNotFoundError(
                f"{self.directory}: no checkpoint for step {step}; available: {steps[-10:]}"
            )
        return step

    def _ranked(self, steps: list[int]) -> list[int]:
        """Steps having a finite ``best_metric``, best first (later step first on ties)."""
        scored = []
        for step in steps:
            try:
                value = self._manifest(step)["metrics"].get(self.best_metric)
            except CheckpointError:
                continue
            if isinstance(value, (int, float)) and math.isfinite(value):
                scored.append((value if self.best_mode == "min" else -value, -step))
        return [-neg_step for _, neg_step in sorted(scored)]

    def _finished_manifest(self, step: int | str) -> dict:
        """The manifest of ``step`` (an int or ``"latest"``) once a pending save has finished."""
        self._wait_pending(sync=False)
        return self._manifest(self._resolve(step))

    def _manifest(self, step: int) -> dict:
        if step in self._manifests:
            return self._manifests[step]
        path = os.path.join(self.directory, step_dir_name(step), MANIFEST)
        try:
            with open(path, "rb") as f:
                raw = f.read(16 << 20)
        except FileNotFoundError:
            raise CheckpointNotFoundError(f"{path}: missing") from None
        manifest = _parse_manifest(raw, path, step)
        self._manifests[step] = manifest
        return manifest

    def _checked_file(self, step_dir: str, name: str, entry: dict) -> str:
        path = os.path.join(step_dir, entry["file"])
        if not inside(step_dir, path):
            raise CorruptFileError(f"{path}: resolves outside the checkpoint directory")
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            raise CorruptFileError(f"{step_dir}: item {name!r}: file {entry['file']} is missing") from None
        if size != entry["bytes"]:
            raise CorruptFileError(
                f"{path}: {size} bytes, the manifest says {entry['bytes']} (truncated or replaced file)"
            )
        if self.verify:
            digest = _sha256(path)
            if digest != entry["sha256"]:
                raise CorruptFileError(
                    f"{path}: sha256 {digest} does not match the manifest ({entry['sha256']})"
                )
        return path


def _gather(tree: Any) -> Any:
    """``tree`` with every array that spans other processes' devices gathered whole (a collective);
    arrays this process holds entirely are left for :func:`prepare` to fetch (no extra copy)."""
    from .. import distributed as dist  # lazily: torsh.distributed may import serialize one day
    from .. import tree as _tree

    def one(x: Any) -> Any:
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return x
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):  # numpy cannot hold typed keys
            data = dist.to_host(jax.random.key_data(x))
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        return dist.to_host(x)

    return _tree.map(one, tree)


def _barrier(step: int) -> None:
    from .. import distributed as dist

    dist.barrier(f"torsh-ckpt-{step}")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    buffer = bytearray(_HASH_CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(view)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def _check_step(step: Any) -> int:
    if isinstance(step, (np.integer,)):
        step = int(step)
    if not isinstance(step, int) or isinstance(step, bool) or not 0 <= step < 10**20:
        raise ConfigError(f"checkpoint step must be a non-negative int (or 'latest'), got {step!r}")
    return step


def _check_metrics(metrics: Mapping[str, Any] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in (metrics or {}).items():
        if not isinstance(k, str):
            raise ConfigError(f"CheckpointManager.save: metric names must be str, got {k!r}")
        try:
            out[k] = float(np.asarray(v).item()) if not isinstance(v, bool) else float(v)
        except (TypeError, ValueError):
            got = f"{v!r}"[:100]
            raise ConfigError(f"CheckpointManager.save: metric {k!r} must be a number, got {got}") from None
    return out


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(metadata or {})
    for k, v in out.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise ConfigError(f"CheckpointManager.save: metadata must map str to str, got {k!r}: {v!r}"[:200])
    return out


def _parse_manifest(raw: bytes, path: str, step: int) -> dict:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CorruptFileError(f"{path}: not a valid manifest (JSON)") from None
    if not isinstance(doc, dict) or doc.get("format") != _FORMAT_NAME:
        raise CorruptFileError(f"{path}: not a torsh checkpoint manifest")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptFileError(f"{path}: manifest version is not an integer: {version!r}")
    if version > CHECKPOINT_FORMAT_VERSION:
        raise FormatVersionError(
            f"{path}: written by checkpoint format version {version}; this torsh reads versions up to "
            f"{CHECKPOINT_FORMAT_VERSION}. Upgrade torsh to restore it."
        )
    if doc.get("step") != step:
        raise CorruptFileError(f"{path}: manifest says step {doc.get('step')!r}, directory says {step}")
    items = doc.get("items")
    if not isinstance(items, dict) or not items:
        raise CorruptFileError(f"{path}: manifest has no items")
    for name, entry in items.items():
        check_item_name(name)  # a forged manifest must not point outside the directory
        if (
            not isinstance(entry, dict)
            or entry.get("file") != item_file(name)
            or not isinstance(entry.get("bytes"), int)
            or not isinstance(entry.get("sha256"), str)
            or len(entry["sha256"]) != 64
        ):
            raise CorruptFileError(f"{path}: manifest entry for item {name!r} is malformed")
    if not isinstance(doc.get("metrics", {}), dict) or not isinstance(doc.get("metadata", {}), dict):
        raise CorruptFileError(f"{path}: manifest metrics/metadata are malformed")
    doc.setdefault("metrics", {})
    doc.setdefault("metadata", {})
    return doc
