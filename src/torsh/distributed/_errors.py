"""Errors of :mod:`torsh.distributed`; all derive from :class:`torsh.errors.DistributedError`."""

from __future__ import annotations

from ..errors import ConfigError, DistributedError, ShapeError

__all__ = ["ShardingError", "MeshError", "LaunchError", "ClusterConfigError"]


class ShardingError(DistributedError, ShapeError):
    """A leaf cannot be placed as asked: a dimension not divisible by its mesh axes, a mesh axis used
    twice in one spec, or logical names that do not match the leaf's rank. The message names the leaf
    path, its shape, the dimension and the mesh axis."""


class MeshError(DistributedError, ConfigError):
    """A mesh that cannot be built (sizes that do not multiply to the device count, unknown axes)."""


class LaunchError(DistributedError):
    """A multi-process job that cannot start or whose processes failed."""


class ClusterConfigError(DistributedError, ConfigError):
    """A multi-process job whose settings do not fit together: ranks that do not add up, a coordinator
    that cannot be resolved or reached, processes with different device counts, launcher flags that
    disagree between nodes. The message names the environment variable or flag to fix."""
