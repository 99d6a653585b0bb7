"""``fit``, ``train_epoch`` and ``evaluate``: the training loop, written once.

``fit`` is a convenience over pieces a user can call alone: it holds no state beyond what it returns
(the final ``TrainState`` and a :class:`History`) and what it checkpoints. Everything a resumed run
needs to continue exactly — the state, the DataLoader position, the running sums of the current
epoch, the history — is in each checkpoint, so a run killed at any moment and restarted with the
same call ends bit-identical to an uninterrupted one (on a deterministic backend such as CPU).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import pathlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import CheckpointError, ConfigError
from ..transforms._programs import LOAD_EVENT
from ._callbacks import Callback
from ._errors import ResumeError
from ._history import History
from ._logging import RunLogger, check_log
from ._progress import Progress, format_record

__all__ = ["fit", "train_epoch", "evaluate"]

_FIT_FORMAT = "torsh.fit/1"

# -- compile-time accounting ---------------------------------------------------------------------------
# JAX reports tracing, lowering and XLA compilation (or a persistent-cache hit) as monitoring events;
# summing them per thread separates compile time from step time without touching the step function.
_COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
        "/jax/compilation_cache/cache_retrieval_time_sec",
        LOAD_EVENT,  # a stored program loaded instead (torsh.jit(program_key=...))
    }
)
_clock = threading.local()
_listening = False
_listen_lock = threading.Lock()


def _on_event(event: str, duration_secs: float, **_: str | int) -> None:
    if event in _COMPILE_EVENTS:
        _clock.seconds = getattr(_clock, "seconds", 0.0) + duration_secs


def compile_seconds() -> float:
    """Seconds this thread has spent tracing and compiling JAX programs (since the first ``fit``)."""
    global _listening
    if not _listening:
        with _listen_lock:
            if not _listening:
                jax.monitoring.register_event_duration_secs_listener(_on_event)
                _listening = True
    return getattr(_clock, "seconds", 0.0)


# -- batches and masks ---------------------------------------------------------------------------------
def _split_masked(batch: Any) -> tuple[Any, Any]:
    """``(data, mask)`` of a ``torsh.data.MaskedBatch`` (``pad_last=True``), else ``(batch, None)``."""
    from ..data import MaskedBatch

    if isinstance(batch, MaskedBatch):
        return batch.data, batch.mask
    return batch, None


def _batch_size(batch: Any) -> int:
    for leaf in jax.tree.leaves(batch):
        shape = getattr(leaf, "shape", None)
        if shape:
            return int(shape[0])
    return 1


def _name_of(fn: Any) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


# -- running means -------------------------------------------------------------------------------------
@jax.jit
def _accumulate(sums: dict[str, jax.Array], logs: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return {k: sums[k] + jnp.mean(jnp.asarray(logs[k], jnp.float32)) for k in sums}


class _Running:
    """Float32 sums of the step logs on the device (one small dispatch per step, no host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, jax.Array] | None = None
        self.count = 0

    def add(self, logs: Mapping[str, Any]) -> None:
        if not isinstance(logs, Mapping):
            raise ConfigError(
                f"fit: step_fn must return (state, logs) with logs a dict, got {type(logs).__name__}"
            )
        scalars = {k: v for k, v in logs.items() if _is_number(v)}
        if self.sums is None:
            self.sums = {k: jnp.zeros((), jnp.float32) for k in scalars}
        elif set(scalars) != set(self.sums):
            raise ConfigError(
                f"fit: step_fn returned logs {sorted(scalars)}; earlier steps returned {sorted(self.sums)}"
            )
        self.sums = _accumulate(self.sums, scalars)
        self.count += 1

    def means(self) -> dict[str, float]:
        if not self.sums or not self.count:
            return {}
        return {k: float(v) / self.count for k, v in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.count = None, 0

    def to_json(self) -> dict[str, Any]:
        sums = None if self.sums is None else {k: float(v).hex() for k, v in self.sums.items()}
        return {"sums": sums, "count": self.count}

    def load_json(self, doc: Mapping[str, Any]) -> None:
        sums = doc.get("sums")
        self.sums = None if sums is None else {k: jnp.float32(float.fromhex(v)) for k, v in sums.items()}
        self.count = int(doc.get("count", 0))


def _is_number(v: Any) -> bool:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return True
    dtype = getattr(v, "dtype", None)
    return dtype is not None and (
        jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer) or dtype == jnp.bool_
    )


# -- evaluation ----------------------------------------------------------------------------------------
@jax.jit
def _eval_update(
    metrics: dict[str, Any],
    mstates: dict[str, Any],
    sums: dict[str, jax.Array],
    count: jax.Array,
    outputs: dict[str, Any],
    batch_mask: Any,
    rows: jax.Array,
) -> tuple[dict[str, Any], dict[str, jax.Array], jax.Array]:
    """One evaluation batch: metric updates, masked sums of the other outputs, rows counted."""
    mask = outputs.get("mask")
    if batch_mask is not None:
        mask = batch_mask if mask is None else jnp.logical_and(mask, batch_mask)
    new_states = {
        name: m.update(mstates[name], outputs["preds"], outputs["target"], mask=mask)
        for name, m in metrics.items()
    }
    n_valid = jnp.sum(mask).astype(jnp.float32) if mask is not None else rows.astype(jnp.float32)
    new_sums = {}
    for k, total in sums.items():
        v = jnp.asarray(outputs[k], jnp.float32)
        if v.ndim == 0:  # a batch mean: weight by the rows it stands for
            new_sums[k] = total + v * n_valid
        elif mask is not None and v.shape[:1] == mask.shape:  # per-row values: padded rows drop out
            w = mask.astype(jnp.float32).reshape(mask.shape + (1,) * (v.ndim - 1))
            new_sums[k] = total + jnp.sum(v * w) / max(1, math.prod(v.shape[1:]))
        else:
            new_sums[k] = total + jnp.sum(v) / max(1, math.prod(v.shape[1:]))
    return new_states, new_sums, count + n_valid


def _flatten_metric(name: str, value: Any) -> dict[str, float]:
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            out.update(_flatten_metric(f"{name}_{k}", v))
        return out
    arr = np.asarray(value)
    if arr.ndim == 0:
        return {name: float(arr)}
    return {f"{name}_{i}": float(x) for i, x in enumerate(arr.reshape(-1))}


def evaluate(
    eval_fn: Callable[[Any, Any], Mapping[str, Any]],
    state: Any,
    loader: Iterable[Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    prefix: str = "",
) -> dict[str, float]:
    """Run ``eval_fn(state, batch)`` over ``loader``; returns ``{prefix + name: value}``.

    ``eval_fn`` returns a dict: its ``"preds"`` and ``"target"`` (and optional ``"mask"``, bool
    ``[batch]``) feed each of ``metrics`` (``torsh.metrics`` objects: ``init/update/compute``); every
    other numeric entry is averaged over the data set's rows — a scalar counts as the mean of its
    batch's rows, a ``[batch]`` array row by row. Batches of a ``DataLoader(pad_last=True)`` are
    ``MaskedBatch``es: they reach ``eval_fn`` unchanged (read ``batch.data``), and their mask removes
    padded rows from metrics and per-row means, so every batch has one shape and ``eval_fn`` compiles
    once. (A scalar output of a padded batch still includes the padded rows: return per-row values.)

    A loader with ``set_epoch`` is set to epoch 0 first, so every evaluation sees the same data.

    Args:
      eval_fn: ``(state, batch) -> dict`` (usually jitted).
      state: what ``eval_fn`` evaluates (a :class:`TrainState`, a model...).
      loader: an iterable of batches.
      metrics: ``{name: torsh.metrics object}`` fed with ``preds``/``target``/``mask``.
      prefix: prepended to every result name (``"val_"`` in :func:`fit`).

    Returns:
      ``{prefix + name: float}``: every metric and every averaged entry.

    Raises:
      ConfigError: a metric without ``init/update/compute``, ``eval_fn`` not returning a dict,
        metrics without ``preds``/``target`` in it, or an empty loader.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import train
      >>> batches = [(jnp.array([1.0, 2.0]), jnp.array([1.0, 0.0])), (jnp.array([3.0]), jnp.array([3.0]))]
      >>> def eval_fn(state, batch):
      ...     x, y = batch
      ...     return {"sq_err": (x * state - y) ** 2}          # per-row values
      >>> train.evaluate(eval_fn, 1.0, batches, prefix="val_")
      {'val_sq_err': 1.3333333333333333}
    """
    metrics = dict(metrics or {})
    for name, m in metrics.items():
        if not all(hasattr(m, a) for a in ("init", "update", "compute")):
            raise ConfigError(
                f"evaluate: metrics[{name!r}] must be a torsh.metrics metric (init/update/compute), got "
                f"{type(m).__name__}"
            )
    if hasattr(loader, "set_epoch"):
        loader.set_epoch(0)
    mstates = {name: m.init() for name, m in metrics.items()}
    sums: dict[str, jax.Array] | None = None
    count = jnp.zeros((), jnp.float32)
    seen = 0
    for batch in loader:
        data, batch_mask = _split_masked(batch)
        outputs = eval_fn(state, batch)
        if not isinstance(outputs, Mapping):
            raise ConfigError(f"evaluate: eval_fn must return a dict, got {type(outputs).__name__}")
        outputs = dict(outputs)
        if metrics and not ("preds" in outputs and "target" in outputs):
            raise ConfigError(
                f"evaluate: metrics {sorted(metrics)} need eval_fn to return 'preds' and 'target'; "
                "it returned "
                f"{sorted(outputs)}"
            )
        if sums is None:
            sums = {
                k: jnp.zeros((), jnp.float32)
                for k, v in outputs.items()
                if k not in ("preds", "target", "mask") and _is_number(v)
            }
        outputs = {k: v for k, v in outputs.items() if k in sums or k in ("preds", "target", "mask")}
        rows = np.int32(_batch_size(data))
        mstates, sums, count = _eval_update(metrics, mstates, sums, count, outputs, batch_mask, rows)
        seen += 1
    if seen == 0:
        raise ConfigError("evaluate: the loader yielded no batches")
    n = float(count)
    result = {f"{prefix}{k}": (float(v) / n if n else math.nan) for k, v in (sums or {}).items()}
    for name, m in metrics.items():
        result.update(_flatten_metric(f"{prefix}{name}", m.compute(mstates[name])))
    return result


# -- one epoch -----------------------------------------------------------------------------------------
def train_epoch(
    step_fn: Callable[[Any, Any], tuple[Any, Mapping[str, Any]]],
    state: Any,
    loader: Iterable[Any],
    *,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> tuple[Any, dict[str, float]]:
    """One pass over ``loader``: ``state, logs = step_fn(state, batch)`` per batch.

    Args:
      step_fn: ``(state, batch) -> (state, logs)`` with ``logs`` a dict of scalars.
      state: the state before the epoch.
      loader: an iterable of batches.
      progress: show a progress bar (or plain lines when not on a terminal).
      callbacks: :class:`Callback` objects; their ``on_step_end`` runs after every step.

    Returns:
      ``(state, means)``: the final state and the mean of each numeric log entry over the epoch.

    Raises:
      ConfigError: ``step_fn`` does not return ``(state, logs)`` with ``logs`` a dict, or its log
        names change between steps.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import train
      >>> step = jax.jit(lambda s, b: (s + b.sum(), {"loss": b.mean()}))
      >>> batches = [jnp.ones(2), jnp.full(2, 3.0)]
      >>> state, logs = train.train_epoch(step, jnp.float32(0), batches, progress=False)
      >>> float(state), logs
      (8.0, {'loss': 2.0})
    """
    running = _Running()
    display = Progress(progress)
    total = _len_or_none(loader)
    display.start_epoch("epoch", total, 0)
    name = _name_of(step_fn)
    for batch in loader:
        c0 = compile_seconds()
        state, logs = _call_step(step_fn, state, batch)
        running.add(logs)
        compiled = compile_seconds() - c0
        if compiled > 0.05:
            display.print(f"compiled {name} in {compiled:.1f} s")
        display.step(_batch_size(batch), compiled, running.means)
        for cb in callbacks:
            cb.on_step_end(state, logs, running.count)
    means = running.means()
    display.end_epoch(means if means else None)
    return state, means


def _call_step(step_fn: Callable, state: Any, batch: Any) -> tuple[Any, Mapping[str, Any]]:
    out = step_fn(state, batch)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ConfigError(
            f"fit: step_fn must return (state, logs); {_name_of(step_fn)} returned {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, tuple) else "")
        )
    return out


def _len_or_none(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


# -- fit -----------------------------------------------------------------------------------------------
def _check_positive(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"fit: {name} must be an int >= 1 or None, got {value!r}")
    return int(value)


def _manager(
    checkpoint: Any, keep: int | None, best_metric: str | None, best_mode: str, keep_best: int | None
) -> Any:
    from ..serialize import CheckpointManager

    if checkpoint is None or isinstance(checkpoint, CheckpointManager):
        return checkpoint
    if isinstance(checkpoint, (str, os.PathLike)):
        return CheckpointManager(
            checkpoint,
            keep=keep,
            keep_best=(keep_best or 1) if best_metric else None,
            best_metric=best_metric,
            best_mode=best_mode,
        )
    raise ConfigError(
        f"fit: checkpoint must be a directory path or a torsh.serialize.CheckpointManager, got "
        f"{type(checkpoint).__name__}"
    )


class _Profiler:
    """``fit(profile=(start, end, dir))``: a jax.profiler trace of steps [start, end)."""

    def __init__(self, spec: Any) -> None:
        self.active = False
        if spec is None:
            self.start = self.end = -1
            return
        try:
            start, end, directory = spec
        except (TypeError, ValueError):
            raise ConfigError(
                f"fit: profile must be (start_step, end_step, directory), got {spec!r}"
            ) from None
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end):
            raise ConfigError(f"fit: profile steps must be ints with 0 <= start < end, got {start}, {end}")
        self.start, self.end, self.directory = start, end, os.fspath(directory)

    def before(self, step: int) -> None:
        if step == self.start and not self.active:
            jax.profiler.start_trace(self.directory)
            self.active = True

    def after(self, step: int, state: Any) -> None:
        if self.active and step >= self.end:
            self.stop(state)

    def stop(self, state: Any = None) -> None:
        if self.active:
            if state is not None:
                jax.block_until_ready(state)
            jax.profiler.stop_trace()
            self.active = False


def fit(
    step_fn: Callable[[Any, Any], tuple[Any, Mapping[str, Any]]],
    state: Any,
    train_loader: Iterable[Any],
    *,
    epochs: int | None = None,
    steps: int | None = None,
    eval_fn: Callable[[Any, Any], Mapping[str, Any]] | None = None,
    eval_loader: Iterable[Any] | None = None,
    eval_every: int | None = None,
    metrics: Mapping[str, Any] | None = None,
    checkpoint: Any = None,
    save_every: int | None = None,
    keep: int | None = 3,
    best_metric: str | None = None,
    best_mode: str = "min",
    log: str | Sequence[str] | None = ("jsonl", "csv"),
    log_dir: str | os.PathLike | None = None,
    log_every: int | None = None,
    config: Any = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    profile: tuple[int, int, str | os.PathLike] | None = None,
    resume: bool = True,
    compile_cache: bool = True,
) -> tuple[Any, History]:
    """Train ``state`` with ``step_fn`` over ``train_loader``; returns ``(state, history)``.

    Args:
      step_fn: ``(state, batch) -> (state, logs)``, usually ``torsh.jit(..., donate="state")``;
        ``logs`` is a dict of scalars (``{"loss": loss}``) averaged into training records.
      state: the initial state (a :class:`TrainState` or any pytree). Ignored when resuming.
      train_loader: an iterable of batches, re-iterated every epoch (a ``torsh.data.DataLoader`` for
        exact mid-epoch resume: its ``state_dict()`` is checkpointed).
      epochs, steps: how long to train (exactly one of them): full passes, or optimizer steps.
      eval_fn, eval_loader, metrics: evaluation (see :func:`evaluate`); results are recorded as
        ``val_<name>``.
      eval_every: evaluate every this many steps; default: after every epoch (``epochs=``) or at the
        end (``steps=``).
      checkpoint: a directory or a ``torsh.serialize.CheckpointManager``. If it holds a checkpoint
        (and ``resume``), training continues from the latest one.
      save_every: checkpoint every this many steps; default: after every epoch (and at the end).
      keep: how many recent checkpoints a directory ``checkpoint`` keeps.
      best_metric, best_mode: also keep the best checkpoint by this evaluation result
        (``"val_acc"``, ``"max"``).
      log: kinds of logs written to ``log_dir``: ``"jsonl"``, ``"csv"``, ``"tensorboard"``, ``"plot"``.
      log_dir: the run directory (default: the checkpoint directory; no files without either).
      log_every: also record the training means every this many steps (default: once per epoch).
      config: the run's configuration (a dataclass or dict), written to ``log_dir/config.json``.
      progress: a tqdm bar per epoch on a terminal, plain lines otherwise; ``False`` prints nothing.
      callbacks: :class:`Callback` objects (e.g. :class:`EarlyStopping`).
      profile: ``(start_step, end_step, directory)``: a ``jax.profiler`` trace of those steps.
      resume: continue from the checkpoint directory's latest checkpoint when there is one.
      compile_cache: turn on JAX's persistent compilation cache (see :mod:`torsh.compile_cache`).

    Returns:
      ``(state, history)``: the final state and the :class:`History` of training means and
      evaluations (also restored from the checkpoint when resuming a finished run).

    Raises:
      ConfigError: inconsistent arguments (both or neither of ``epochs``/``steps``, evaluation
        options without ``eval_fn``/``eval_loader``, a bad count or mode, a non-Callback), a
        ``step_fn``/``eval_fn`` returning the wrong kind of value, or an empty loader.
      ResumeError: the checkpoint directory was written by a different program.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import train
      >>> step = jax.jit(lambda s, b: (s - 0.1 * (s - b.mean()), {"loss": (s - b.mean()) ** 2}))
      >>> batches = [jnp.ones(4), jnp.full(4, 3.0)]
      >>> state, history = train.fit(step, jnp.float32(0), batches, epochs=3, progress=False)
      >>> len(history), history.steps("loss")
      (3, [2, 4, 6])
    """
    if (epochs is None) == (steps is None):
        raise ConfigError(
            f"fit: give exactly one of epochs= or steps=, got epochs={epochs!r}, steps={steps!r}"
        )
    epochs, steps = _check_positive("epochs", epochs), _check_positive("steps", steps)
    eval_every, save_every = (
        _check_positive("eval_every", eval_every),
        _check_positive("save_every", save_every),
    )
    log_every = _check_positive("log_every", log_every)
    if (eval_fn is None) != (eval_loader is None):
        raise ConfigError("fit: eval_fn and eval_loader go together: give both or neither")
    if metrics and eval_fn is None:
        raise ConfigError("fit: metrics= needs eval_fn= and eval_loader=")
    if best_mode not in ("min", "max"):
        raise ConfigError(f"fit: best_mode must be 'min' or 'max', got {best_mode!r}")
    if best_metric is not None and eval_fn is None:
        raise ConfigError(f"fit: best_metric={best_metric!r} needs an evaluation (eval_fn= and eval_loader=)")
    kinds = check_log(log)
    if compile_cache:
        from .. import compile_cache as _cc

        _cc.enable_default()

    manager = _manager(checkpoint, keep, best_metric, best_mode, None)
    run_dir = (
        pathlib.Path(log_dir)
        if log_dir is not None
        else (pathlib.Path(manager.directory) if manager else None)
    )
    logger = RunLogger(run_dir, kinds, config, title=run_dir.name) if run_dir is not None and kinds else None
    display = Progress(progress)
    loop = _Loop(step_fn, train_loader, manager, display)

    history = History()
    resumed_step = None
    if manager is not None and resume and manager.latest_step() is not None:
        state, history = loop.restore(state)
        resumed_step = loop.done
        display.print(f"resumed from {manager.directory} at step {loop.done} (epoch {loop.epoch})")
    if logger is not None:
        logger.start(history, resumed_step)
    profiler = _Profiler(profile)
    callbacks = tuple(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise ConfigError(f"fit: callbacks must be torsh.train.Callback objects, got {type(cb).__name__}")
        cb.on_fit_start(state, history)

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        if logger is not None:
            logger.write(entry, history)

    def run_eval() -> bool:
        assert eval_fn is not None and eval_loader is not None
        c0 = compile_seconds()
        t0 = time.perf_counter()
        results = evaluate(eval_fn, state, eval_loader, metrics=metrics, prefix="val_")
        compiled = compile_seconds() - c0
        if compiled > 0.05:
            display.print(f"compiled {_name_of(eval_fn)} in {compiled:.1f} s")
        entry = {"step": loop.done, "epoch": loop.epoch_progress(), "time": loop.elapsed(), **results}
        record(entry)
        loop.last_eval = (loop.done, results)
        display.print(
            f"eval at step {loop.done} ({time.perf_counter() - t0:.1f} s): {format_record(results)}"
        )
        stop = False
        for cb in callbacks:
            stop = bool(cb.on_eval_end(state, results, history)) or stop
        if logger is not None:
            logger.plot(history)
        return stop

    def train_record() -> dict[str, Any] | None:
        means = loop.running.means()
        if not means:
            return None
        entry = {"step": loop.done, "epoch": loop.epoch_progress(), "time": loop.elapsed(), **means}
        loop.running.reset()
        record(entry)
        return entry

    def save() -> None:
        if manager is None or manager.latest_step() == loop.done:
            return
        metrics_doc = None
        if loop.last_eval is not None and loop.last_eval[0] == loop.done:
            metrics_doc = {k: v for k, v in loop.last_eval[1].items() if math.isfinite(v)}
        loop.save(state, history, metrics_doc)

    try:
        while not loop.stopped and not loop.finished(epochs, steps):
            total = _len_or_none(train_loader)
            label = f"epoch {loop.epoch + 1}" + (f"/{epochs}" if epochs else "")
            display.start_epoch(label, total, loop.batch)
            epoch_complete = True
            iterator = iter(train_loader)
            if loop.batch and not hasattr(train_loader, "state_dict"):
                # a plain iterable has no resumable position: skip what the checkpointed run consumed
                for _ in itertools.islice(iterator, loop.batch):
                    pass
            try:
                for batch in iterator:
                    profiler.before(loop.done)
                    c0 = compile_seconds()
                    state, logs = _call_step(step_fn, state, batch)
                    loop.running.add(logs)
                    loop.done += 1
                    loop.batch += 1
                    compiled = compile_seconds() - c0
                    if compiled > 0.05:
                        display.print(f"compiled {_name_of(step_fn)} in {compiled:.1f} s")
                    display.step(_batch_size(batch), compiled, loop.running.means)
                    profiler.after(loop.done, state)
                    for cb in callbacks:
                        cb.on_step_end(state, logs, loop.done)
                    if log_every and loop.done % log_every == 0:
                        train_record()
                    if eval_every and eval_fn is not None and loop.done % eval_every == 0:
                        loop.stopped = run_eval() or loop.stopped
                    if save_every and loop.done % save_every == 0:
                        save()
                    if loop.stopped or (steps is not None and loop.done >= steps):
                        epoch_complete = loop.batch == total
                        if epoch_complete:  # let the loader see the epoch's end (its position moves on)
                            for _ in iterator:
                                raise ConfigError("fit: train_loader yielded more batches than len() says")
                        break
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
            if epoch_complete and loop.batch == 0:
                raise ConfigError(f"fit: train_loader yielded no batches in epoch {loop.epoch + 1}")
            if epoch_complete:
                loop.epoch += 1
                loop.batch = 0
                entry = train_record()
                display.end_epoch(entry)
                for cb in callbacks:
                    loop.stopped = bool(cb.on_epoch_end(state, entry or {}, history)) or loop.stopped
                if eval_fn is not None and eval_every is None and epochs is not None:
                    loop.stopped = run_eval() or loop.stopped
                if save_every is None:
                    save()
            else:
                display.end_epoch(None)
            if loop.stopped:
                display.print(f"stopped early at step {loop.done}")
        # the end: last training means, the final evaluation, the final checkpoint
        train_record()
        if eval_fn is not None and (loop.last_eval is None or loop.last_eval[0] != loop.done):
            run_eval()
        save()
        profiler.stop(state)
        for cb in callbacks:
            cb.on_fit_end(state, history)
        if logger is not None:
            path = logger.plot(history)
            if path is not None:
                display.print(f"curves: {path}")
    finally:
        profiler.stop()
        if logger is not None:
            logger.close()
        if manager is not None and not isinstance(checkpoint, type(manager)):
            manager.close()
        elif manager is not None:
            manager.wait()
    return state, history


class _Loop:
    """The counters of a fit loop and their checkpointing."""

    def __init__(self, step_fn: Callable, loader: Any, manager: Any, display: Progress) -> None:
        self.step_fn, self.loader, self.manager, self.display = step_fn, loader, manager, display
        self.done = 0  # steps taken by this fit (across resumes)
        self.epoch = 0  # complete epochs
        self.batch = 0  # batches taken in the current epoch
        self.stopped = False
        self.running = _Running()
        self.last_eval: tuple[int, dict[str, float]] | None = None
        self._elapsed0 = 0.0
        self._t0 = time.perf_counter()
        self._epoch_len = _len_or_none(loader)

    def finished(self, epochs: int | None, steps: int | None) -> bool:
        return self.epoch >= epochs if epochs is not None else self.done >= (steps or 0)

    def elapsed(self) -> float:
        return round(self._elapsed0 + time.perf_counter() - self._t0, 3)

    def epoch_progress(self) -> float:
        if self._epoch_len:
            return round(self.epoch + self.batch / self._epoch_len, 4)
        return float(self.epoch)

    def _items(self, state: Any, history: History) -> dict[str, Any]:
        doc = {
            "format": _FIT_FORMAT,
            "done": self.done,
            "epoch": self.epoch,
            "batch": self.batch,
            "stopped": self.stopped,
            "elapsed": self.elapsed(),
            "running": self.running.to_json(),
            "last_eval": self.last_eval,
            "history": history.records,
        }
        items = {"state": state, "fit": {"json": json.dumps(doc)}}
        if hasattr(self.loader, "state_dict"):
            items["data"] = self.loader.state_dict()
        return items

    def save(self, state: Any, history: History, metrics: dict[str, float] | None) -> None:
        self.manager.save(self.done, self._items(state, history), metrics=metrics)

    def restore(self, like_state: Any) -> tuple[Any, History]:
        like = {"state": like_state, "fit": {"json": ""}}
        if hasattr(self.loader, "state_dict"):
            like["data"] = self.loader.state_dict()
        try:
            restored = self.manager.restore("latest", like=like)
        except CheckpointError as e:
            raise ResumeError(
                f"fit: cannot resume from {self.manager.directory}: {e}. The directory holds checkpoints of "
                "a "
                "different program; use a new checkpoint directory or pass resume=False"
            ) from e
        doc = json.loads(restored["fit"]["json"])
        if doc.get("format") != _FIT_FORMAT:
            raise ResumeError(f"fit: {self.manager.directory}: unknown fit format {doc.get('format')!r}")
        if "data" in restored:
            self.loader.load_state_dict(restored["data"])
        self.done, self.epoch, self.batch = int(doc["done"]), int(doc["epoch"]), int(doc["batch"])
        self.stopped = bool(doc["stopped"])
        self._elapsed0 = float(doc["elapsed"])
        self._t0 = time.perf_counter()
        self.running.load_json(doc["running"])
        le = doc.get("last_eval")
        self.last_eval = None if le is None else (int(le[0]), dict(le[1]))
        return restored["state"], History(doc["history"])
