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

    Example:
        >>> import numpy as np
        >>> from torsh import data
        >>> def load(sample):
        ...     raise ValueError("corrupt file")
        >>> loader = data.DataLoader(data.ArrayDataset(np.arange(4)).map(load), batch_size=2)
        >>> try:
        ...     next(iter(loader))
        ... except data.WorkerError as e:
        ...     print(e.exc_type, e.sample_index, e.batch_index)
        ValueError 0 0
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
    """A worker process exited while the loader was running (killed, crashed, out of memory).

    Example:
        >>> import torsh
        >>> from torsh import data
        >>> try:  # what the loader raises when a worker process is killed (e.g. out of memory)
        ...     raise data.WorkerDiedError("DataLoader: worker 0 exited unexpectedly with exit code -9")
        ... except torsh.errors.DataError as e:
        ...     print(type(e).__name__)
        WorkerDiedError
    """


class WorkerTimeoutError(DataError, TimeoutError):
    """No batch arrived within the loader's ``timeout``: a worker stalled.

    Example:
        >>> import time, numpy as np
        >>> from torsh import data
        >>> class Slow(data.Dataset):
        ...     def __len__(self):
        ...         return 2
        ...     def __getitem__(self, i):
        ...         time.sleep(0.2)
        ...         return np.zeros(1)
        >>> loader = data.DataLoader(Slow(), batch_size=2, num_workers=1, worker_type="thread", timeout=0.05)
        >>> try:
        ...     next(iter(loader))
        ... except data.WorkerTimeoutError as e:
        ...     print(str(e).split(" while")[0])
        DataLoader: no batch within timeout=0.05 s
    """


class CollateError(DataError):
    """Samples that cannot be stacked into a batch (different shapes, dtypes or structures).

    ``position`` is the sample's position in the batch, ``path`` the dotted field path; the loader
    adds the dataset index (``sample_index``) before re-raising.

    Example:
        >>> import numpy as np
        >>> from torsh import data
        >>> try:
        ...     data.default_collate([np.zeros(2), np.zeros(3)])
        ... except data.CollateError as e:
        ...     print(e, "- position", e.position)
        expected shape (2,), got (3,) - position 1
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
    """An optional dependency (the ``data`` extra: polars/pyarrow) is not installed.

    Example:
        >>> from torsh import data
        >>> # raised by read_csv/read_parquet when neither polars nor pyarrow is installed
        >>> issubclass(data.MissingDependencyError, ImportError)
        True
    """


class SampleIndexError(DataError, IndexError):
    """A sample index outside ``[-len, len)``.

    Example:
        >>> import numpy as np
        >>> from torsh import data
        >>> try:
        ...     data.ArrayDataset(np.arange(5))[7]
        ... except data.SampleIndexError as e:
        ...     print(e)
        ArrayDataset: index 7 is out of range for 5 samples
    """


class NotSizedError(DataError, TypeError):
    """``len()`` of a loader over an iterable dataset that has no length.

    Example:
        >>> from torsh import data
        >>> stream = data.MapIterableDataset(iter([1, 2]), lambda x: x)
        >>> try:
        ...     len(data.DataLoader(stream, batch_size=1))
        ... except data.NotSizedError as e:
        ...     print(str(e).split(":")[1].strip())
        len() is unknown
    """
