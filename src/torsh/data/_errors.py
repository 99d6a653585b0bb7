"""Errors of ``torsh.data``: all derive from :class:`torsh.errors.DataError`."""

from __future__ import annotations

from ..errors import DataError

__all__ = [
    "WorkerError",
    "WorkerDiedError",
    "WorkerTimeoutError",
    "CollateError",
    "MissingDependencyError",
    "SampleIndexError",
    "NotSizedError",
]


class WorkerError(DataError):
    """Dataset, transform or collate code raised while loading a batch.

    The message carries the sample index, the batch index and, for a worker process, the worker's
    traceback. Attributes: ``worker_id`` (``None`` in the main process), ``batch_index``,
    ``sample_index`` (``None`` when the failure was in collate or in a batched fetch),
    ``exc_type`` (name of the original exception type) and ``worker_traceback`` (text).
    """

    def __init__(
        self,
        message: str,
        *,
        worker_id: int | None = None,
        batch_index: int | None = None,
        sample_index: int | None = None,
        exc_type: str | None = None,
        worker_traceback: str | None = None,
    ) -> None:
        super().__init__(message)
        self.worker_id = worker_id
        self.batch_index = batch_index
        self.sample_index = sample_index
        self.exc_type = exc_type
        self.worker_traceback = worker_traceback


class WorkerDiedError(DataError):
    """A worker process exited while the loader was running (killed, crashed, out of memory)."""


class WorkerTimeoutError(DataError, TimeoutError):
    """No batch arrived within the loader's ``timeout``: a worker stalled."""


class CollateError(DataError):
    """Samples that cannot be stacked into a batch (different shapes, dtypes or structures).

    ``position`` is the sample's position in the batch, ``path`` the dotted field path; the loader
    adds the dataset index (``sample_index``) before re-raising.
    """

    def __init__(
        self, message: str, *, position: int | None = None, path: str = "", detail: str = ""
    ) -> None:
        super().__init__(message)
        self.position = position
        self.path = path
        self.detail = detail
        self.sample_index: int | None = None


class MissingDependencyError(DataError, ImportError):
    """An optional dependency (the ``data`` extra: polars/pyarrow) is not installed."""


class SampleIndexError(DataError, IndexError):
    """A sample index outside ``[-len, len)``."""


class NotSizedError(DataError, TypeError):
    """``len()`` of a loader over an iterable dataset that has no length."""
