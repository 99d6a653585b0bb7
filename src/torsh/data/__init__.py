"""torsh.data: datasets, samplers and a deterministic, resumable DataLoader that never hangs.

* Batches come out in the same order, with the same augmentation randomness (:func:`rng`), for any
  ``num_workers`` and worker kind (threads or forkserver/spawn processes).
* ``loader.state_dict()`` / ``load_state_dict()`` resume mid-epoch exactly.
* A worker that raises, dies or stalls raises a :class:`~torsh.errors.DataError` naming the worker,
  the batch and the sample; workers never outlive the job.
* ``device=`` places upcoming batches on a device or sharding from a background thread.

Example:
    >>> import numpy as np
    >>> from torsh import data
    >>> ds = data.ArrayDataset(np.arange(12, dtype=np.float32).reshape(6, 2), np.arange(6))
    >>> loader = data.DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    >>> [(x.shape, y.dtype.name) for x, y in loader]
    [((4, 2), 'int64'), ((2, 2), 'int64')]

The names load on first use (PEP 562), and the modules a loader worker process needs (datasets,
``.map``, collation, batch transport) do not import JAX: a worker starts in ~0.1 s.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    # datasets
    "Dataset",
    "IterableDataset",
    "ArrayDataset",
    "MapDataset",
    "MapIterableDataset",
    "Subset",
    "ConcatDataset",
    "random_split",
    "TabularDataset",
    "read_csv",
    "read_parquet",
    # samplers
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "DistributedSampler",
    # loading
    "DataLoader",
    "MaskedBatch",
    "default_collate",
    "default_convert",
    "rng",
    "get_worker_info",
    "WorkerInfo",
    "share_memory",
    # errors
    "WorkerError",
    "WorkerDiedError",
    "WorkerTimeoutError",
    "CollateError",
    "MissingDependencyError",
    "SampleIndexError",
    "NotSizedError",
    "DataFileNotFoundError",
    "DatasetChangedWarning",
    "SharedMemoryWarning",
]

# The import block, read by type checkers; at run time the names load lazily (``_SOURCES``, below).
if TYPE_CHECKING:
    from ._context import WorkerInfo, get_worker_info, rng
    from ._errors import (
        CollateError,
        MissingDependencyError,
        NotSizedError,
        SampleIndexError,
        WorkerDiedError,
        WorkerError,
        WorkerTimeoutError,
    )
    from ._sharing import share_memory
    from ._shm import SharedMemoryWarning
    from ._snapshot import DatasetChangedWarning
    from .collate import default_collate, default_convert
    from .dataset import (
        ArrayDataset,
        ConcatDataset,
        Dataset,
        IterableDataset,
        MapDataset,
        MapIterableDataset,
        Subset,
        random_split,
    )
    from .loader import DataLoader
    from .masked import MaskedBatch
    from .sampler import (
        BatchSampler,
        DistributedSampler,
        RandomSampler,
        Sampler,
        SequentialSampler,
        SubsetRandomSampler,
        WeightedRandomSampler,
    )
    from .tabular import DataFileNotFoundError, TabularDataset, read_csv, read_parquet

_SOURCES: dict[str, tuple[str, ...]] = {
    "._context": ("WorkerInfo", "get_worker_info", "rng"),
    "._errors": (
        "CollateError", "MissingDependencyError", "NotSizedError", "SampleIndexError",
        "WorkerDiedError", "WorkerError", "WorkerTimeoutError",
    ),
    "._sharing": ("share_memory",),
    "._shm": ("SharedMemoryWarning",),
    "._snapshot": ("DatasetChangedWarning",),
    ".collate": ("default_collate", "default_convert"),
    ".dataset": (
        "ArrayDataset", "ConcatDataset", "Dataset", "IterableDataset", "MapDataset",
        "MapIterableDataset", "Subset", "random_split",
    ),
    ".loader": ("DataLoader",),
    ".masked": ("MaskedBatch",),
    ".sampler": (
        "BatchSampler", "DistributedSampler", "RandomSampler", "Sampler", "SequentialSampler",
        "SubsetRandomSampler", "WeightedRandomSampler",
    ),
    ".tabular": ("DataFileNotFoundError", "TabularDataset", "read_csv", "read_parquet"),
}  # fmt: skip
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load a public name on first access (PEP 562) and cache it in the module's namespace."""
    if name not in _ORIGIN:
        raise AttributeError(f"module 'torsh.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_ORIGIN[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
