"""Train the same model on one device or many by changing annotations and a rules table.

Layers give their parameters *logical* axis names (``("mlp", "embed")``); a *rules table* maps
logical names to the axes of a device *mesh*; :func:`shard` places every leaf with a
``jax.NamedSharding``; ``jit`` then runs one SPMD program over the mesh. Presets cover data
parallelism, FSDP, Megatron tensor parallelism and 2-D data × model. ``shard_map`` and the
collectives are there for hand-written per-device code, and :func:`init` plus ``torsh launch``
run several processes, on one machine or many (SLURM, Open MPI, Kubernetes, ``torsh launch
--nnodes``; :func:`environment_summary` says which). See docs/distributed.md and docs/clusters.md.

Example:
    >>> import jax, jax.numpy as jnp
    >>> from torsh import distributed as dist
    >>> mesh = dist.mesh({"data": -1})
    >>> params = {"w": jnp.ones((mesh.size * 4, 2))}
    >>> params = dist.shard(params, mesh, dist.fsdp(), axes={"w": ("mlp", "embed")})
    >>> params["w"].sharding.spec
    P('data', None)
    >>> dist.describe(params).max_device_bytes
    32
"""

from ._collectives import (
    all_gather,
    all_to_all,
    axis_index,
    axis_size,
    broadcast,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
    reduce_scatter,
)
from ._describe import LeafPlacement, ShardingReport, describe
from ._errors import ClusterConfigError, LaunchError, MeshError, ShardingError
from ._mesh import current_mesh, current_rules, mesh, use_mesh
from ._process import (
    ProcessConfig,
    ProcessInfo,
    barrier,
    environment_summary,
    info,
    init,
    is_initialized,
    is_main_process,
    process_count,
    process_index,
    resolve_config,
    shutdown,
)
from ._rules import (
    MEGATRON_NAMES,
    MeshAxes,
    Plan,
    Rules,
    as_plan,
    data_model_parallel,
    data_parallel,
    fsdp,
    tensor_parallel,
)
from ._shard import (
    batch_sharding,
    constrain,
    local_batch_slice,
    shard,
    shard_batch,
    sharding_of,
    shardings,
    spec,
    to_host,
    with_sharding_constraint,
)
from ._shard_map import shard_map

__all__ = [
    # meshes and context
    "mesh",
    "use_mesh",
    "current_mesh",
    "current_rules",
    # rules and presets
    "Plan",
    "Rules",
    "MeshAxes",
    "as_plan",
    "data_parallel",
    "fsdp",
    "tensor_parallel",
    "data_model_parallel",
    "MEGATRON_NAMES",
    # placement
    "shard",
    "shardings",
    "spec",
    "shard_batch",
    "batch_sharding",
    "local_batch_slice",
    "with_sharding_constraint",
    "constrain",
    "sharding_of",
    "to_host",
    # report
    "describe",
    "ShardingReport",
    "LeafPlacement",
    # per-device code
    "shard_map",
    "psum",
    "pmean",
    "pmax",
    "pmin",
    "all_gather",
    "all_to_all",
    "ppermute",
    "psum_scatter",
    "axis_index",
    "axis_size",
    "broadcast",
    "reduce_scatter",
    # processes
    "init",
    "shutdown",
    "is_initialized",
    "process_index",
    "process_count",
    "is_main_process",
    "barrier",
    "info",
    "environment_summary",
    "resolve_config",
    "ProcessConfig",
    "ProcessInfo",
    # errors
    "ShardingError",
    "MeshError",
    "LaunchError",
    "ClusterConfigError",
]
