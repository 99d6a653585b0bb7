"""Started by test_distributed_cluster.py as two processes carrying only the variables ``srun`` sets
(no launcher, no TORSH_*): ``init()`` without arguments must find the job, every process must see
the same mesh, and a cross-process collective must add up. Prints one JSON line."""

from __future__ import annotations

import json

from torsh import distributed as dist

summary = dist.environment_summary()  # before init: reads the environment only
info = dist.init()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.experimental import multihost_utils  # noqa: E402

mesh = dist.mesh({"data": -1})
# The check from docs/clusters.md: every process built the same mesh (device ids in mesh order).
multihost_utils.assert_equal(np.asarray(mesh.device_ids), "every process sees the same mesh")
x = dist.shard_batch(np.full((jax.local_device_count(),), info.process_index + 1.0, np.float32), mesh)
total = float(dist.to_host(jax.jit(jnp.sum)(x)))
print(
    json.dumps(
        {
            "summary": summary,
            "process_index": info.process_index,
            "process_count": info.process_count,
            "device_count": info.device_count,
            "total": total,
        }
    ),
    flush=True,
)
dist.shutdown()
