"""Load one batch: fetch samples, apply ``.map`` transforms, collate.

The same code runs in the main process, in thread workers and in worker processes, so a batch is
built identically wherever it is built. Failures are captured with the sample index and the
traceback and turned into :class:`WorkerError`/:class:`CollateError` by :func:`raise_failure`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._context import batch_random_context
from ._errors import CollateError, WorkerError
from .collate import default_collate
from .dataset import Gather, Subset

if TYPE_CHECKING:
    from .masked import MaskedBatch

__all__ = ["Fetcher", "LoadFailure", "raise_failure", "pad_samples", "mask_of", "masked_batch", "masked_pair"]

# payload kinds of a task
INDICES = 0  # a list of dataset indices (map-style, batched)
INDEX = 1  # one dataset index (map-style, batch_size=None)
SAMPLES = 2  # raw stream samples (iterable dataset, batched)
SAMPLE = 3  # one raw stream sample (iterable dataset, batch_size=None)


def pad_samples(samples: list[Any], size: int) -> list[Any]:
    """``samples`` followed by copies of its last element up to ``size`` elements.

    ``DataLoader(pad_last=True)`` pads a short last batch this way before collation, so every batch
    has one shape (the padded rows are masked out by :class:`MaskedBatch`).

    Args:
      samples: a non-empty list of samples.
      size: the batch size to reach (``>= len(samples)``).

    Returns:
      A new list of ``size`` samples.

    Example:
      >>> from torsh.data.masked import pad_samples
      >>> pad_samples([1, 2], 4)
      [1, 2, 2, 2]
    """
    return samples + [samples[-1]] * (size - len(samples))


def mask_of(valid: int, size: int) -> np.ndarray:
    return np.arange(size) < valid


def masked_batch(data: Any, mask: np.ndarray) -> MaskedBatch:
    """A padded batch as the loader yields it (in the main process and thread workers)."""
    from .masked import MaskedBatch  # a torsh Struct: imports torsh.tree and so JAX

    return MaskedBatch(data, mask)


def masked_pair(data: Any, mask: np.ndarray) -> tuple[Any, np.ndarray]:
    """A padded batch as a worker process sends it (``MaskedBatch`` is built on arrival, so the worker
    needs no JAX)."""
    return data, mask


def batch_getter(dataset: Any) -> Callable[..., Any] | None:
    """The dataset's one-gather batch fetch, if it (and every Subset layer above it) has one."""
    if not getattr(dataset, "_torsh_batchable", False):
        return None
    if isinstance(dataset, Subset):
        return dataset._torsh_get_batch if batch_getter(dataset.dataset) is not None else None
    return getattr(dataset, "_torsh_get_batch", None)


class LoadFailure(Exception):
    """Carries what failed (picklable, sent from worker processes) and the original exception."""

    def __init__(self, info: dict[str, Any], original: BaseException | None = None) -> None:
        super().__init__(info.get("message", ""))
        self.info = info
        self.original = original


def _failure(
    stage: str, exc: BaseException, batch_index: int, sample_index: int | None, position: int | None = None
) -> LoadFailure:
    info: dict[str, Any] = {
        "stage": stage,
        "batch_index": batch_index,
        "sample_index": sample_index,
        "position": position,
        "exc_type": type(exc).__name__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    if isinstance(exc, CollateError):
        info["path"] = exc.path
        info["detail"] = exc.detail or str(exc)
    return LoadFailure(info, exc)


class Fetcher:
    """Builds batches for one dataset and collate function.

    Args:
      base: the map-style dataset under any ``.map`` layers (``None`` for a stream: its samples arrive
        in the tasks).
      fns: the ``.map`` functions, in application order.
      collate_fn: turns a list of samples into a batch (``None``: no batching).
      seed: the loader's seed; each batch's random stream is derived from (seed, epoch, batch index).
      globals_mode: how to treat ``random``/``np.random`` (see ``batch_random_context``).
      pad_to: with ``DataLoader(pad_last=True)``, the batch size: every batch is padded to it by
        repeating its last sample (before collation) and returned as ``wrap_padded(batch, mask)``.
      wrap_padded: :func:`masked_batch` (a :class:`MaskedBatch`), or :func:`masked_pair` in worker
        processes.
      direct_collate: used instead of ``collate_fn`` when that is :func:`default_collate` and the
        batch is not padded: a worker process's collation straight into shared memory (same
        results and errors as :func:`default_collate`).
      direct_gather: destinations for a one-gather batch read (``into=`` of a dataset whose
        ``_torsh_gathers_into`` is true): a worker process's shared-memory segment.
    """

    def __init__(
        self,
        base: Any,
        fns: Sequence[Callable[[Any], Any]],
        collate_fn: Callable[[list[Any]], Any] | None,
        seed: int,
        globals_mode: str,
        pad_to: int | None = None,
        wrap_padded: Callable[[Any, np.ndarray], Any] = masked_batch,
        direct_collate: Callable[[list[Any]], Any] | None = None,
        direct_gather: Gather | None = None,
    ) -> None:
        self.base, self.fns = base, list(fns)
        self.pad_to = pad_to
        self.wrap_padded = wrap_padded
        self.collate_fn = collate_fn
        self.direct_collate = direct_collate if collate_fn is default_collate else None
        self.seed = seed
        self.globals_mode = globals_mode
        self.batch_get = batch_getter(self.base) if (collate_fn is default_collate and not self.fns) else None
        gathers_into = self.batch_get is not None and getattr(self.base, "_torsh_gathers_into", False)
        self.gather_into = direct_gather if gathers_into else None
        self._batch: Any = None
        self.getitems = getattr(self.base, "__getitems__", None)

    def load(self, batch_index: int, epoch: int, kind: int, payload: Any, first_sample: int = 0) -> Any:
        """Build batch ``batch_index``; raises :class:`LoadFailure`."""
        with batch_random_context(self.seed, epoch, batch_index, self.globals_mode):
            if self.pad_to is not None and kind in (INDICES, SAMPLES):
                return self._load_padded(batch_index, kind, payload, first_sample)
            if kind == INDICES:
                samples = self._fetch_indices(batch_index, payload)
                if samples is _DONE:
                    return self._take_batch()
                return self._collate(batch_index, samples, lambda p: payload[p], direct=True)
            if kind == SAMPLES:
                samples = self._transform(batch_index, payload, lambda p: first_sample + p)
                return self._collate(batch_index, samples, lambda p: first_sample + p, direct=True)
            if kind == INDEX:
                sample = self._fetch_one(batch_index, payload)
            else:
                sample = self._transform(batch_index, [payload], lambda p: first_sample)[0]
            if self.collate_fn is None:
                return sample
            try:
                return self.collate_fn(sample)
            except Exception as exc:
                raise _failure(
                    "collate", exc, batch_index, payload if kind == INDEX else first_sample
                ) from None

    def _load_padded(self, batch_index: int, kind: int, payload: Any, first_sample: int) -> Any:
        size, valid = self.pad_to, len(payload)
        assert size is not None and 0 < valid <= size  # checked by the loader
        if kind == INDICES:
            if self.batch_get is not None:  # one gather: pad the indices (same rows as padding samples)
                self._fetch_indices(batch_index, pad_samples(list(payload), size))
                return self.wrap_padded(self._take_batch(), mask_of(valid, size))
            samples = self._fetch_indices(batch_index, payload)
            index_of = lambda p: payload[min(p, valid - 1)]
        else:
            samples = self._transform(batch_index, payload, lambda p: first_sample + p)
            index_of = lambda p: first_sample + min(p, valid - 1)
        batch = self._collate(batch_index, pad_samples(samples, size), index_of)
        return self.wrap_padded(batch, mask_of(valid, size))

    def _take_batch(self) -> Any:
        # hold no reference: in a worker process it may be a view of a segment that gets reused
        batch, self._batch = self._batch, None
        return batch

    def _fetch_one(self, batch_index: int, index: int) -> Any:
        try:
            sample = self.base[index]
        except Exception as exc:
            raise _failure("sample", exc, batch_index, index) from None
        return self._transform(batch_index, [sample], lambda p: index)[0]

    def _fetch_indices(self, batch_index: int, indices: Sequence[int]) -> Any:
        if self.batch_get is not None:
            try:
                if self.gather_into is None:
                    self._batch = self.batch_get(indices)
                else:
                    self._batch = self.batch_get(indices, into=self.gather_into)
            except Exception as exc:
                raise _failure("batch", exc, batch_index, None) from None
            return _DONE
        if self.getitems is not None:
            try:
                samples = list(self.getitems(indices))
            except Exception as exc:
                raise _failure("batch", exc, batch_index, None) from None
        else:
            base = self.base
            samples = []
            index = None
            try:
                for index in indices:
                    samples.append(base[index])
            except Exception as exc:
                raise _failure("sample", exc, batch_index, index) from None
        return self._transform(batch_index, samples, lambda p: indices[p])

    def _transform(self, batch_index: int, samples: list[Any], index_of: Callable[[int], int]) -> list[Any]:
        if not self.fns:
            return samples
        out: list[Any] = []
        try:
            for sample in samples:
                for fn in self.fns:
                    sample = fn(sample)
                out.append(sample)
        except Exception as exc:
            raise _failure("sample", exc, batch_index, index_of(len(out))) from None
        return out

    def _collate(
        self, batch_index: int, samples: list[Any], index_of: Callable[[int], int], direct: bool = False
    ) -> Any:
        if self.collate_fn is None:
            return samples
        fn = self.direct_collate if direct and self.direct_collate is not None else self.collate_fn
        try:
            return fn(samples)
        except CollateError as exc:
            pos = exc.position
            raise _failure("collate", exc, batch_index, None if pos is None else index_of(pos), pos) from None
        except Exception as exc:
            raise _failure("collate", exc, batch_index, None) from None


_DONE = object()


def _where(info: dict[str, Any], worker: str) -> str:
    batch = f"batch {info['batch_index']}"
    if info["stage"] == "batch":
        return f"while fetching {batch} with a batched read (__getitems__){worker}"
    if info["stage"] == "transfer":
        return f"while sending {batch} to the main process{worker} (is every part of the batch picklable?)"
    if info["stage"] == "collate" and info["sample_index"] is None:
        return f"while collating {batch}{worker}"
    verb = "collating" if info["stage"] == "collate" else "loading"
    return f"while {verb} sample {info['sample_index']} ({batch}){worker}"


def raise_failure(failure: LoadFailure, worker_id: int | None, worker_desc: str, remote: bool) -> None:
    """Re-raise a captured failure as the torsh error the user sees."""
    info = failure.info
    worker = f" in {worker_desc}" if worker_desc else ""
    original = failure.original
    if info["stage"] == "collate" and (info.get("path") is not None or info["exc_type"] == "CollateError"):
        where = f"sample {info['sample_index']} (batch {info['batch_index']}, position {info['position']})"
        field = f", field `{info['path']}`" if info.get("path") else ""
        detail = info.get("detail") or info["message"]
        err = CollateError(
            f"{where}{field}: {detail}", position=info["position"], path=info.get("path", ""), detail=detail
        )
        err.sample_index = info["sample_index"]
        raise err from original
    message = f"{info['exc_type']} {_where(info, worker)}: {info['message']}"
    if remote:
        message += "\n\nTraceback in the worker process:\n" + info["traceback"].rstrip()
    raise WorkerError(
        message,
        worker_id=worker_id,
        batch_index=info["batch_index"],
        sample_index=info["sample_index"],
        exc_type=info["exc_type"],
        worker_traceback=info["traceback"],
    ) from original
