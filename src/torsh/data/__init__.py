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
"""

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
