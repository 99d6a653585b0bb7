"""One process of the 2-process DataLoader check (started by test_data_device.py).

Each process joins a 2-process JAX job with 4 CPU devices, reads its own share of the data set
through DistributedSampler (rank and size from JAX), and lets the loader assemble global batches on
a sharding over all 8 devices with ``jax.make_array_from_process_local_data``; then the same with
``pad_last=True`` on a data set whose last local batches are short.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from torsh.data import ArrayDataset, DataLoader, DistributedSampler


def local_rows(array: jax.Array) -> np.ndarray:
    shards = sorted(array.addressable_shards, key=lambda s: s.index[0].start)
    return np.concatenate([np.asarray(s.data) for s in shards])


def main(port: int, process_id: int) -> None:
    jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=2, process_id=process_id)
    mesh = jax.make_mesh((8,), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    ds = ArrayDataset(np.arange(64 * 2, dtype=np.float32).reshape(64, 2), np.arange(64))
    sampler = DistributedSampler(ds, shuffle=True, seed=3)
    assert (sampler.num_replicas, sampler.rank) == (2, process_id)
    loader = DataLoader(ds, batch_size=8, sampler=sampler, device=sharding, drop_last=True)
    host = list(DataLoader(ds, batch_size=8, sampler=sampler, drop_last=True))
    report = {"local": [], "global": []}
    for (x, y), (hx, hy) in zip(loader, host, strict=True):
        assert x.shape == (16, 2) and not x.is_fully_addressable and x.sharding == sharding
        # this process's rows of the global batch are exactly its local batch
        np.testing.assert_array_equal(local_rows(x), hx)
        np.testing.assert_array_equal(local_rows(y), hy)
        report["local"].append(hy.tolist())
        report["global"].append(np.asarray(multihost_utils.process_allgather(y, tiled=True)).tolist())
    # pad_last: 60 samples, 30 per process, local batches of 8 (the last has 6 real rows): every
    # global batch has 16 rows and a global mask that is False on each process's padded rows
    small = ArrayDataset(np.arange(60 * 2, dtype=np.float32).reshape(60, 2), np.arange(60))
    shard = DistributedSampler(small, shuffle=True, seed=3)
    report["masked"] = []
    for batch in DataLoader(small, batch_size=8, sampler=shard, device=sharding, pad_last=True):
        assert batch.mask.shape == (16,) and batch.mask.sharding == sharding and batch.data[1].shape == (16,)
        labels = np.asarray(multihost_utils.process_allgather(batch.data[1], tiled=True)).tolist()
        mask = np.asarray(multihost_utils.process_allgather(batch.mask, tiled=True)).tolist()
        report["masked"].append([labels, mask])
    print(json.dumps(report), flush=True)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
