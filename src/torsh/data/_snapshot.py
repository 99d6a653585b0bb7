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
    """The dataset changed after worker processes received their copy of it (the snapshot rule)."""


def _summary(value: Any, depth: int) -> Any:
    if isinstance(value, _SCALARS):
        long_text = isinstance(value, (str, bytes)) and len(value) > 256
        return (len(value), hash(value)) if long_text else value
    if isinstance(value, np.ndarray):
        return ("array", id(value), value.shape, value.dtype.str, value.__array_interface__["data"][0])
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, len(value), tuple(_summary(v, depth - 1) for v in value[:_MAX_ITEMS]))
    if isinstance(value, dict):
        items = list(value.items())[:_MAX_ITEMS]
        return ("dict", len(value), tuple((repr(k)[:64], _summary(v, depth - 1)) for k, v in items))
    if isinstance(value, (set, frozenset, bytearray)):
        return (type(value).__name__, id(value), len(value))
    if depth > 0 and hasattr(value, "__dict__") and not isinstance(value, type) and not callable(value):
        return fingerprint(value, depth - 1)
    return ("object", id(value))


def fingerprint(dataset: Any, depth: int = 3) -> Any:
    """A cheap summary of ``dataset``'s length and attributes that changes when they are replaced,
    resized or reassigned (but not on in-place writes into arrays or list elements)."""
    try:
        size: Any = len(dataset)
    except Exception:
        size = None
    attrs = getattr(dataset, "__dict__", None)
    body = _summary(dataset, depth) if attrs is None else tuple(
        (k, _summary(v, depth)) for k, v in attrs.items()
    )
    return (type(dataset).__qualname__, id(dataset), size, body)


def warn_changed(when: str, consequence: str) -> None:
    warnings.warn(
        f"DataLoader: the dataset changed {when} (an attribute was reassigned, resized or replaced); "
        f"{consequence}. Worker processes load from the copy of the dataset they received when they "
        "started (the snapshot rule, docs/data.md): change the dataset between epochs, not during "
        "one, or use worker_type='thread', which shares the dataset object.",
        DatasetChangedWarning,
        stacklevel=4,
    )
