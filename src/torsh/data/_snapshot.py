"""The snapshot rule: worker processes load from a copy of the dataset, taken when they start.

A worker process receives the dataset pickled (large arrays through shared memory) when it starts:
at every ``iter(loader)``, or once with ``persistent_workers=True``. Changes the main process makes to
the dataset afterwards (``ds.items.append(...)``, ``ds.labels = new``) do not reach the workers,
which keep loading the old copy. PyTorch behaves the same without saying so. torsh detects the
common cases cheaply -- attributes reassigned, containers that changed length, arrays replaced or
resized, a different ``len(dataset)`` -- by comparing a fingerprint of the dataset's attributes (not
of its data: in-place writes into an existing array or list element are not seen) taken when the
workers received their copy, and warns; persistent workers are restarted so the next epoch reads the
current dataset.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["DatasetChangedWarning", "fingerprint", "warn_changed"]

_MAX_ITEMS = 64  # container elements looked at: the check must stay cheap for any dataset
_SCALARS = (bool, int, float, complex, str, bytes, type(None))


class DatasetChangedWarning(UserWarning):
    """The dataset changed after worker processes received their copy of it (the snapshot rule).

    Example:
        >>> import warnings, numpy as np
        >>> from torsh import data
        >>> with warnings.catch_warnings():  # make a stale worker snapshot an error
        ...     warnings.simplefilter("error", data.DatasetChangedWarning)
        ...     batches = list(data.DataLoader(data.ArrayDataset(np.ones((2, 1))), batch_size=2))
        >>> len(batches)
        1
    """


def _is_dataset(value: Any) -> bool:
    """torsh or PyTorch datasets (wrappers such as Subset or .map hold their source in an attribute).
    Other objects (a DataFrame, a tokenizer) are compared by identity only: their internals may
    change on mere access (caches)."""
    return any(c.__name__ in ("Dataset", "IterableDataset") for c in type(value).__mro__[1:])


class _Budget:
    """Bounds the work of one fingerprint, whatever the dataset holds."""

    def __init__(self, nodes: int = 4096) -> None:
        self.left = nodes

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _summary(value: Any, depth: int, budget: _Budget) -> Any:
    if not budget.take():
        return "..."
    if isinstance(value, (str, bytes)) and len(value) > 256:
        return (len(value), hash(value))
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, np.ndarray):
        return ("array", id(value), value.shape, value.dtype.str, value.__array_interface__["data"][0])
    if isinstance(value, (list, tuple)):
        items = value[:_MAX_ITEMS]
        return (type(value).__name__, len(value), tuple(_summary(v, depth - 1, budget) for v in items))
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return ("dict", len(value), tuple((repr(k)[:64], _summary(v, depth - 1, budget)) for k, v in items))
    if isinstance(value, (set, frozenset, bytearray)):
        return (type(value).__name__, id(value), len(value))
    if depth > 0 and _is_dataset(value):
        return _fingerprint(value, depth - 1, budget)
    return ("object", id(value))


def _fingerprint(dataset: Any, depth: int, budget: _Budget) -> Any:
    try:
        size: Any = len(dataset)
    except Exception:
        size = None
    attrs = getattr(dataset, "__dict__", None)
    if attrs is None:
        body = _summary(dataset, depth, budget)
    else:
        body = tuple((k, _summary(v, depth, budget)) for k, v in attrs.items())
    return (type(dataset).__qualname__, id(dataset), size, body)


def fingerprint(dataset: Any, depth: int = 8) -> Any:
    """A cheap summary of ``dataset``'s length and attributes that changes when they are replaced,
    resized or reassigned (but not on in-place writes into arrays or list elements)."""
    return _fingerprint(dataset, depth, _Budget())


def warn_changed(when: str, consequence: str) -> None:
    warnings.warn(
        f"DataLoader: the dataset changed {when} (an attribute was reassigned, resized or replaced); "
        f"{consequence}. Worker processes load from the copy of the dataset they received when they "
        "started (the snapshot rule, docs/data.md): change the dataset between epochs, not during "
        "one, or use worker_type='thread', which shares the dataset object.",
        DatasetChangedWarning,
        stacklevel=4,
    )
