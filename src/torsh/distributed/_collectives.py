"""Collectives for ``shard_map`` (and ``vmap``/``pmap``) bodies: JAX's, plus ``broadcast`` from a
source index and PyTorch-style ``reduce_scatter``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..transforms import all_gather, all_to_all, axis_index, pmax, pmean, pmin, ppermute, psum, psum_scatter
from ._errors import ShardingError

__all__ = [
    "psum",
    "pmean",
    "pmax",
    "pmin",
    "all_gather",
    "all_to_all",
    "ppermute",
    "psum_scatter",
    "axis_index",
    "broadcast",
    "reduce_scatter",
    "axis_size",
]

AxisName = Any  # a name or a tuple of names


def axis_size(axis_name: AxisName) -> int:
    """The number of devices (or mapped entries) along a named axis, inside a mapped function.

    Args:
        axis_name: A mapped axis name (of ``vmap``/``pmap``/``shard_map``), or a tuple of names.

    Returns:
        The size as a Python int.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> torsh.vmap(lambda x: x * dist.axis_size("i"), axis_name="i")(jnp.ones(3)).tolist()
        [3.0, 3.0, 3.0]
    """
    return int(jax.lax.axis_size(axis_name))


def broadcast(x: Any, axis_name: AxisName, source: int = 0) -> Any:
    """Every device along ``axis_name`` receives the value held by device ``source`` (a tree works).

    The result is identical on all devices of the axis (``check_vma`` sees it as invariant); like
    ``torch.distributed.broadcast``, without the in-place update.

    Args:
        x: An array or pytree of arrays (this device's value).
        axis_name: The mapped axis (or tuple of axes) to broadcast over.
        source: The index along the axis whose value everyone receives.

    Returns:
        ``x`` as held by device ``source``, on every device.

    Raises:
        ConfigError: If ``source`` is not an int in ``[0, axis_size)``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> torsh.vmap(lambda x: dist.broadcast(x, "i", source=2), axis_name="i")(jnp.arange(4.0)).tolist()
        [2.0, 2.0, 2.0, 2.0]
    """
    n = axis_size(axis_name)
    if not isinstance(source, int) or isinstance(source, bool) or not 0 <= source < n:
        raise ConfigError(
            f"broadcast: source must be an int in [0, {n}) for axis {axis_name!r}, got {source!r}"
        )
    is_source = axis_index(axis_name) == source

    def one(leaf: Any) -> Any:
        leaf = jnp.asarray(leaf)
        work = leaf.astype(jnp.int32) if leaf.dtype == jnp.bool_ else leaf
        out = psum(jnp.where(is_source, work, jnp.zeros_like(work)), axis_name)
        return out.astype(leaf.dtype)

    return jax.tree.map(one, x)


def reduce_scatter(x: Any, axis_name: AxisName, *, dim: int = 0, op: str = "sum", tiled: bool = True) -> Any:
    """Reduce over ``axis_name`` and keep only this device's block of the result along ``dim``.

    As ``torch.distributed.reduce_scatter_tensor``: with ``n`` devices, ``x.shape[dim]`` must be
    divisible by ``n``; device ``i`` gets block ``i`` of the sum (``op="mean"``: the mean). With
    ``tiled=False`` the dimension must equal ``n`` and is removed (as ``jax.lax.psum_scatter``).

    Args:
        x: An array or pytree of arrays.
        axis_name: The mapped axis (or tuple of axes) to reduce over.
        dim: The dimension to scatter.
        op: ``"sum"`` or ``"mean"``.
        tiled: Keep the dimension (blocks of ``size / n``) or remove it (``size == n``).

    Returns:
        This device's block of the reduction.

    Raises:
        ConfigError: If ``op`` is not ``"sum"`` or ``"mean"``.
        ShardingError: If ``dim`` is out of range or its size does not fit the axis size.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> f = torsh.vmap(lambda x: dist.reduce_scatter(x, "i"), axis_name="i")
        >>> f(jnp.ones((2, 4))).tolist()
        [[2.0, 2.0], [2.0, 2.0]]
    """
    if op not in ("sum", "mean"):
        raise ConfigError(f"reduce_scatter: op must be 'sum' or 'mean', got {op!r}")
    n = axis_size(axis_name)

    def one(leaf: Any) -> Any:
        leaf = jnp.asarray(leaf)
        if not -leaf.ndim <= dim < leaf.ndim:
            raise ShardingError(f"reduce_scatter: dim {dim} is out of range for shape {leaf.shape}")
        d = dim % leaf.ndim
        size = leaf.shape[d]
        if (tiled and size % n) or (not tiled and size != n):
            want = f"divisible by {n}" if tiled else f"equal to {n}"
            raise ShardingError(
                f"reduce_scatter: dimension {d} of shape {leaf.shape} must be {want} "
                f"(the size of axis {axis_name!r})"
            )
        out = psum_scatter(leaf, axis_name, scatter_dimension=d, tiled=tiled)
        return out / n if op == "mean" else out

    return jax.tree.map(one, x)
