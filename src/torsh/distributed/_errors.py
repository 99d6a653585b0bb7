"""Errors of :mod:`torsh.distributed`; all derive from :class:`torsh.errors.DistributedError`."""

from __future__ import annotations

from ..errors import ConfigError, DistributedError, ShapeError

__all__ = ["ShardingError", "MeshError", "LaunchError"]


class ShardingError(DistributedError, ShapeError):
    """A leaf cannot be placed as asked: a dimension not divisible by its mesh axes, a mesh axis used
    twice in one spec, or logical names that do not match the leaf's rank. The message names the leaf
    path, its shape, the dimension and the mesh axis."""


class MeshError(DistributedError, ConfigError):
    """A mesh that cannot be built (sizes that do not multiply to the device count, unknown axes)."""


class LaunchError(DistributedError):
    """A multi-process job that cannot start or whose processes failed."""
