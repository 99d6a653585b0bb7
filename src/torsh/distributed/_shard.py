"""Placing trees and batches on a mesh, constraints inside jitted code, and bringing results back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .. import tree as _tree
from ..errors import ConfigError
from ._axes import AxesLookup
from ._errors import ShardingError
from ._mesh import current_mesh, current_rules, resolve_mesh
from ._rules import Plan, Rules, as_plan

__all__ = [
    "shardings",
    "shard",
    "spec",
    "with_sharding_constraint",
    "constrain",
    "sharding_of",
    "shard_batch",
    "batch_sharding",
    "local_batch_slice",
    "to_host",
]


def _is_placeable(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray)) or (np.isscalar(x) and isinstance(x, np.generic))


def _plan(rules: Plan | Rules | None) -> Plan:
    return as_plan(rules if rules is not None else current_rules())


def shardings(
    tree: Any,
    mesh: Mesh | None = None,
    rules: Plan | Rules | None = None,
    *,
    axes: Mapping[str, Sequence[str | None]] | None = None,
) -> Any:
    """The :class:`jax.sharding.NamedSharding` of every array leaf of ``tree`` under a rules table.

    Same arguments as :func:`shard`; ready for ``jax.jit(in_shardings=/out_shardings=)``. Works on
    ``jax.ShapeDtypeStruct`` leaves too, so nothing needs to be allocated.

    Args:
        tree: A module, an optimizer state, or any pytree (arrays or ``jax.ShapeDtypeStruct`` leaves).
        mesh: The mesh (default: the one made active by :func:`use_mesh`).
        rules: A rules dict (``{"mlp": "model", "embed": None}``) or a :class:`Plan` preset
            (:func:`fsdp`, :func:`tensor_parallel`, ...); default: the active rules, else replicated.
        axes: Logical names by dotted path, for leaves that are not module parameters or to override
            them. A key also names every leaf whose path ends with it (``"0.weight"`` names
            ``"mu.0.weight"`` in an optimizer state) when the rank matches.

    Returns:
        A tree of the same structure with a ``NamedSharding`` per array leaf (``None`` for other leaves).

    Raises:
        ShardingError: A dimension not divisible by its mesh axes (the message names the leaf path,
            shape, dimension and mesh axis), or a mesh axis used for two dimensions of one leaf.
        MeshError: The rules name a mesh axis the mesh does not have, or there is no mesh.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> params = {"w": jnp.zeros((m.size * 4, 3))}
        >>> s = dist.shardings(params, m, dist.fsdp(), axes={"w": ("mlp", "embed")})
        >>> s["w"].spec
        P('data', None)
    """
    mesh = resolve_mesh(mesh, "shardings")
    plan = _plan(rules)
    plan.check_mesh(mesh)
    lookup = AxesLookup(tree, axes)

    def one(path: str, leaf: Any) -> Any:
        if not (_is_placeable(leaf) or isinstance(leaf, jax.ShapeDtypeStruct)):
            return None
        shape = tuple(np.shape(leaf))
        return NamedSharding(mesh, plan.spec(path, shape, lookup(path, len(shape)), mesh))

    return _tree.map_with_path(one, tree)


def _place(x: Any, sharding: NamedSharding) -> jax.Array:
    if isinstance(x, jax.Array) and x.sharding == sharding:
        return x
    if sharding.is_fully_addressable or (isinstance(x, jax.Array) and not x.is_fully_addressable):
        return jax.device_put(x, sharding)
    # A multi-process mesh: every process holds the same full value; each device takes its slice.
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def shard(
    tree: Any,
    mesh: Mesh | None = None,
    rules: Plan | Rules | None = None,
    *,
    axes: Mapping[str, Sequence[str | None]] | None = None,
) -> Any:
    """Place every array leaf of ``tree`` on ``mesh`` as the rules table says.

    Each leaf's logical axis names (from the layers that own it, see ``torsh.nn.logical_axes``, or from
    ``axes``) are mapped to mesh axes by ``rules``; leaves and names without a rule are replicated.
    Non-array leaves are returned unchanged. As with ``jax.device_put``, a leaf that already lives
    where it should is returned as it is (no copy): donating the result to a jitted step then also
    invalidates the input. In a multi-process job every process passes the same values and receives
    the global array.

    Args:
        tree: A module, an optimizer state, or any pytree (dicts of them included).
        mesh: The mesh (default: the one made active by :func:`use_mesh`).
        rules: A rules dict (``{"mlp": "model", "embed": None}``) or a :class:`Plan` preset
            (:func:`fsdp`, :func:`tensor_parallel`, ...); default: the active rules, else replicated.
        axes: Logical names by dotted path, for leaves that are not module parameters or to override
            them. A key also names every leaf whose path ends with it (``"0.weight"`` names
            ``"mu.0.weight"`` in an optimizer state) when the rank matches.

    Returns:
        ``tree`` with every array leaf placed (a ``jax.Array`` with a ``NamedSharding``).

    Raises:
        ShardingError: A dimension not divisible by its mesh axes (the message names the leaf path,
            shape, dimension and mesh axis), or a mesh axis used for two dimensions of one leaf.
        MeshError: The rules name a mesh axis the mesh does not have, or there is no mesh.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> params = {"w": jnp.zeros((m.size, 4))}
        >>> params = dist.shard(params, m, {"rows": "data"}, axes={"w": ("rows", None)})
        >>> params["w"].sharding.spec
        P('data', None)
    """
    placements = shardings(tree, mesh, rules, axes=axes)
    return _tree.map(
        lambda x, s: x if s is None else _place(x, s), tree, placements, is_leaf=lambda x: x is None
    )


def spec(
    names: Sequence[str | None],
    rules: Plan | Rules | None = None,
    mesh: Mesh | None = None,
    *,
    shape: Sequence[int] | None = None,
) -> PartitionSpec:
    """The :class:`jax.sharding.PartitionSpec` for an array with these logical axis names.

    With ``shape`` the divisibility is checked too. Useful for ``shard_map`` specs and ``jax.jit``
    shardings written with logical names.

    Args:
        names: One logical axis name (or None) per dimension.
        rules: A rules dict or :class:`Plan`; default: the active rules, else replicated.
        mesh: The mesh (concrete or abstract); default: the active one.
        shape: The array's shape, to check divisibility.

    Returns:
        The ``PartitionSpec`` (FSDP is not applied: it is for parameters, not named activations).

    Raises:
        MeshError: If there is no mesh, or the rules name an axis the mesh does not have.
        ShardingError: If a mesh axis would split two dimensions, or ``shape`` is not divisible.

    Example:
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1, "model": 1})
        >>> dist.spec(("batch", None, "mlp"), {"batch": "data", "mlp": "model"}, m)
        P('data', None, 'model')
    """
    mesh = resolve_mesh(mesh, "spec", allow_abstract=True)
    plan = _plan(rules)
    names = tuple(names)
    if shape is None:
        # Only the mapping matters: use a shape every mesh axis divides.
        shape = (mesh.size,) * len(names)
    return plan.replace(fsdp=None).spec("", shape, names, mesh)


def with_sharding_constraint(
    x: Any, names: Sequence[str | None], *, rules: Plan | Rules | None = None, mesh: Mesh | None = None
) -> Any:
    """Ask XLA to lay out an activation (or every array in a tree) as its logical names say.

    A no-op when there is no mesh (neither ``mesh`` nor an active :func:`use_mesh`), so model code
    annotated this way runs unchanged on one device. Inside ``jit`` this is
    :func:`jax.lax.with_sharding_constraint`; the rules are read when the function is traced.

    Args:
        x: An array or a pytree of arrays (every array gets the same names).
        names: One logical axis name (or None) per dimension.
        rules: A rules dict or :class:`Plan`; default: the active rules, else replicated.
        mesh: The mesh; default: the active one (none: ``x`` is returned unchanged).

    Returns:
        ``x`` with the sharding constraint applied.

    Raises:
        ShardingError: If ``names`` do not fit an array's rank or shape.
        MeshError: If the rules name an axis the mesh does not have.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> def layer(h):
        ...     return dist.with_sharding_constraint(jnp.tanh(h), ("batch", "mlp"))
        >>> layer(jnp.ones((2, 3))).shape  # no mesh active: unchanged
        (2, 3)
        >>> m = dist.mesh({"data": -1})
        >>> with dist.use_mesh(m, {"batch": "data"}):
        ...     y = jax.jit(layer)(jnp.ones((m.size * 2, 3)))
        >>> y.sharding.is_equivalent_to(jax.NamedSharding(m, jax.P("data")), y.ndim)
        True
    """
    active = mesh if mesh is not None else current_mesh()
    if active is None:
        return x
    plan = _plan(rules).replace(fsdp=None)
    names = tuple(names)

    def one(path: str, leaf: Any) -> Any:
        if not hasattr(leaf, "shape"):
            return leaf
        where = path or "activation"
        try:
            p = plan.spec(where, leaf.shape, names, active)
        except ShardingError as e:
            raise ShardingError(f"with_sharding_constraint: {e}") from None
        return jax.lax.with_sharding_constraint(leaf, NamedSharding(active, p))

    return _tree.map_with_path(one, x)


def constrain(tree: Any, placements: Any) -> Any:
    """Constrain every array of ``tree`` (inside ``jit``) to the matching sharding of ``placements``.

    Use it at the end of a train step to keep parameters and optimizer state where they live instead
    of letting the partitioner choose (equivalently pass the same tree as ``out_shardings`` to
    ``torsh.jit``).

    Args:
        tree: A pytree of arrays.
        placements: A tree of shardings of the same structure (from :func:`shardings` or
            :func:`sharding_of`); ``None`` entries leave a leaf alone.

    Returns:
        ``tree`` with the constraints applied.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> w = dist.shard({"w": jnp.ones((m.size, 2))}, m, {"r": "data"}, axes={"w": ("r", None)})
        >>> keep = dist.sharding_of(w)
        >>> out = jax.jit(lambda t: dist.constrain(jax.tree.map(lambda a: a * 2, t), keep))(w)
        >>> out["w"].sharding.spec == w["w"].sharding.spec
        True
    """
    return _tree.map(
        lambda x, s: x if s is None or not hasattr(x, "shape") else jax.lax.with_sharding_constraint(x, s),
        tree,
        placements,
        is_leaf=lambda x: x is None,
    )


def sharding_of(tree: Any) -> Any:
    """The current sharding of every ``jax.Array`` leaf (``None`` for other leaves).

    Args:
        tree: Any pytree.

    Returns:
        A tree of the same structure holding shardings and ``None``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> dist.sharding_of({"a": jnp.ones(2), "n": 3})["n"] is None
        True
    """
    return _tree.map(lambda x: x.sharding if isinstance(x, jax.Array) else None, tree)


def _batch_plan(rules: Plan | Rules | None, mesh: Mesh) -> Plan:
    """The plan for batches: the rules' ``"batch"`` entry, else the mesh's ``"data"`` axis."""
    plan = _plan(rules).replace(fsdp=None)
    if plan.has_rule("batch"):
        return plan
    if "data" not in mesh.axis_names:
        raise ConfigError(
            f"shard_batch: the rules have no entry for 'batch' and the mesh {dict(mesh.shape)} has no "
            "'data' axis; add a rule such as {'batch': '<mesh axis>'} (or {'batch': None} to replicate)"
        )
    return plan.replace(rules={**plan.rules, "batch": "data"})


def shard_batch(
    batch: Any,
    mesh: Mesh | None = None,
    rules: Plan | Rules | None = None,
    *,
    names: Sequence[str | None] = ("batch",),
) -> Any:
    """Place a batch (a tree of arrays, e.g. ``(x, y)`` from a DataLoader) split along its batch axis.

    Every array leaf's leading dimensions are named by ``names`` (default: only the first, ``"batch"``;
    the rest are replicated) and placed by the rules (``rules["batch"]``; when the rules have no
    ``"batch"`` entry, the mesh's ``"data"`` axis). In a multi-process job each process passes only
    *its* rows (see :func:`local_batch_slice`) and gets back the global batch.

    Args:
        batch: A pytree of arrays (non-array leaves are returned unchanged).
        mesh: The mesh (default: the active one).
        rules: A rules dict or :class:`Plan`; default: the active rules.
        names: Logical names of the leading dimensions.

    Returns:
        The batch as global arrays split over the batch axis.

    Raises:
        ConfigError: If the rules have no ``"batch"`` entry and the mesh has no ``"data"`` axis.
        MeshError: If there is no mesh, or the rules name an axis the mesh does not have.
        ShardingError: If a leaf has fewer dimensions than ``names``, or its batch dimension is not
            divisible by the devices of the batch axis.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> x, y = dist.shard_batch((jnp.ones((m.size * 4, 3)), jnp.zeros(m.size * 4)), m)
        >>> x.sharding.spec, x.shape == (m.size * 4, 3)
        (P('data', None), True)
    """
    mesh = resolve_mesh(mesh, "shard_batch")
    names = tuple(names)
    plan = _batch_plan(rules, mesh)
    plan.check_mesh(mesh)
    multi_process = not NamedSharding(mesh, PartitionSpec()).is_fully_addressable

    def one(path: str, leaf: Any) -> Any:
        if not _is_placeable(leaf):
            return leaf
        shape = tuple(np.shape(leaf))
        if len(shape) < len(names):
            raise ShardingError(
                f"shard_batch: leaf {path or 'batch'!r} with shape {shape} has fewer dimensions than the "
                f"names {names!r}"
            )
        leaf_names = names + (None,) * (len(shape) - len(names))
        if not multi_process:
            return _place(leaf, NamedSharding(mesh, plan.spec(path or "batch", shape, leaf_names, mesh)))
        # Per-process rows: check divisibility over this process's share, then let JAX assemble.
        p = plan.spec(path or "batch", (mesh.size,) * len(shape), leaf_names, mesh)
        sharding = NamedSharding(mesh, p)
        try:
            return jax.make_array_from_process_local_data(sharding, np.asarray(leaf))
        except ValueError as e:
            raise ShardingError(
                f"shard_batch: this process's part of leaf {path or 'batch'!r} has shape {shape}, which "
                f"cannot be split as {p} over its devices: {e}"
            ) from None

    return _tree.map_with_path(one, batch)


def batch_sharding(
    mesh: Mesh | None = None,
    rules: Plan | Rules | None = None,
    *,
    names: Sequence[str | None] = ("batch",),
) -> NamedSharding:
    """The sharding :func:`shard_batch` uses, as one object: pass it as a DataLoader's ``device=``.

    ``torsh.data.DataLoader(..., device=dist.batch_sharding(mesh, plan))`` then yields batches split
    along the batch axis from its prefetch thread; in a multi-process job (with a
    ``DistributedSampler``) each process loads its share and gets global arrays. It applies to every
    array of a batch whose rank is at least ``len(names)``.

    Args:
        mesh: The mesh (default: the active one).
        rules: A rules dict or :class:`Plan`; default: the active rules.
        names: Logical names of the leading dimensions.

    Returns:
        A ``NamedSharding``.

    Raises:
        ConfigError: If the rules have no ``"batch"`` entry and the mesh has no ``"data"`` axis.
        MeshError: If there is no mesh, or the rules name an axis the mesh does not have.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.batch_sharding(dist.mesh({"data": -1})).spec
        P('data',)
    """
    mesh = resolve_mesh(mesh, "batch_sharding")
    plan = _batch_plan(rules, mesh)
    plan.check_mesh(mesh)
    names = tuple(names)
    return NamedSharding(mesh, plan.spec("batch", (mesh.size,) * len(names), names, mesh))


def local_batch_slice(
    global_batch_size: int, mesh: Mesh | None = None, rules: Plan | Rules | None = None
) -> slice:
    """The rows of a global batch that *this process* must load and pass to :func:`shard_batch`.

    In a single process it is the whole batch. With several processes it is the contiguous block
    that this process's devices hold (the whole batch if the batch axis does not span processes).

    Args:
        global_batch_size: The batch size over all processes.
        mesh: The mesh (default: the active one).
        rules: A rules dict or :class:`Plan`; default: the active rules.

    Returns:
        A ``slice`` of rows.

    Raises:
        ConfigError: If the rules have no ``"batch"`` entry and the mesh has no ``"data"`` axis.
        MeshError: If there is no mesh, or the rules name an axis the mesh does not have.
        ShardingError: If ``global_batch_size`` is not divisible over the batch axis, or this process's
            devices hold non-contiguous rows.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.local_batch_slice(32, dist.mesh({"data": -1}))
        slice(0, 32, None)
    """
    mesh = resolve_mesh(mesh, "local_batch_slice")
    plan = _batch_plan(rules, mesh)
    sharding = NamedSharding(mesh, plan.spec("batch", (global_batch_size,), ("batch",), mesh))
    process = jax.process_index()
    rows: set[tuple[int, int]] = set()
    # jaxlib's Device is a C++ class without type stubs: mypy sees no attributes on it
    indices: Mapping[Any, Any] = sharding.devices_indices_map((global_batch_size,))
    for device, index in indices.items():
        if device.process_index == process:
            start, stop, _ = index[0].indices(global_batch_size)
            rows.add((start, stop))
    ordered = sorted(rows)
    for (_, stop), (start, _) in zip(ordered, ordered[1:], strict=False):
        if stop != start:
            raise ShardingError(
                f"local_batch_slice: this process's devices hold non-contiguous rows {ordered} of the batch; "
                "order the mesh so that each process's devices are adjacent along the batch axis"
            )
    return slice(ordered[0][0], ordered[-1][1])


def to_host(tree: Any) -> Any:
    """Numpy copies of every ``jax.Array`` leaf, gathered from all devices and all processes.

    In a multi-process job every process must call it (it is a collective). Other leaves are unchanged.

    Args:
        tree: Any pytree.

    Returns:
        The same structure with numpy arrays in place of JAX arrays.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> dist.to_host({"a": jnp.ones(2), "step": 3})
        {'a': array([1., 1.], dtype=float32), 'step': 3}
    """

    def one(x: Any) -> Any:
        if not isinstance(x, jax.Array):
            return x
        if x.is_fully_addressable:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return _tree.map(one, tree)
