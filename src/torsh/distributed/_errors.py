"""Errors of :mod:`torsh.distributed`; all derive from :class:`torsh.errors.DistributedError`."""

from __future__ import annotations

from ..errors import ConfigError, DistributedError, ShapeError

__all__ = ["ShardingError", "MeshError", "LaunchError", "ClusterConfigError"]


class ShardingError(DistributedError, ShapeError):
    """Raised when a leaf cannot be placed as asked (also a :class:`~torsh.errors.ShapeError`).

    For example a dimension not divisible by its mesh axes, a mesh axis used twice in one spec, or
    logical names that do not match the leaf's rank. The message names the leaf path, its shape, the
    dimension and the mesh axis.

    Example:
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> try:
        ...     dist.spec(("mlp", "embed"), {"mlp": "data", "embed": "data"}, m)
        ... except dist.ShardingError as e:
        ...     print(str(e).split(": ", 1)[1].split(";")[0])
        mesh axis 'data' would split both dimension 0 ('mlp') and dimension 1 ('embed')
    """


class MeshError(DistributedError, ConfigError):
    """Raised for a mesh that cannot be built (sizes that do not multiply to the device count, unknown axes).

    It is also a :class:`~torsh.errors.ConfigError`.

    Example:
        >>> from torsh import distributed as dist
        >>> try:
        ...     dist.mesh({"data": 0})
        ... except dist.MeshError as e:
        ...     print(e)
        mesh: the size of axis 'data' must be a positive int or -1, got 0
    """


class LaunchError(DistributedError):
    """Raised for a multi-process job that cannot start or whose processes failed.

    Example:
        >>> from torsh.distributed import LaunchError
        >>> from torsh.distributed.launch import LaunchSpec, launch
        >>> try:
        ...     launch(LaunchSpec(command=(), nprocs=1))
        ... except LaunchError as e:
        ...     print(e)
        launch: no script or command given
    """


class ClusterConfigError(DistributedError, ConfigError):
    """Raised for a multi-process job whose settings do not fit together (also a ``ConfigError``).

    For example ranks that do not add up, a coordinator that cannot be resolved or reached, processes
    with different device counts, launcher flags that disagree between nodes. The message names the
    environment variable or flag to fix.

    Example:
        >>> from torsh import distributed as dist
        >>> try:
        ...     dist.resolve_config(num_processes=2, process_id=5)
        ... except dist.ClusterConfigError as e:
        ...     print(str(e).split(";")[0])
        init: process_id must be an int in [0, 2), got 5 (from argument)
    """
