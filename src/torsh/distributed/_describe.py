"""``describe``: where every leaf of a tree lives and how many bytes each device holds."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from .. import tree as _tree
from .._format import byte_size

__all__ = ["describe", "ShardingReport", "LeafPlacement"]


@dataclasses.dataclass(frozen=True)
class LeafPlacement:
    """One leaf of a :class:`ShardingReport`: its global shape, sharding spec and bytes per device.

    Args:
        path: Dotted path of the leaf.
        shape: The global (logical) shape.
        dtype: The dtype's name.
        spec: The ``PartitionSpec`` for a ``NamedSharding``, else a description of the sharding
            (``"host"`` for numpy arrays, which live on no device).
        shard_shape: The shape of the block each device holds.
        nbytes: Bytes of the whole (logical) array.
        device_bytes: Bytes of this leaf on the device holding the most of it.
        replicas: How many devices hold a copy of each element.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> leaf = dist.describe({"w": jnp.zeros((4, 8))})["w"]
        >>> leaf.shape, leaf.dtype, leaf.nbytes
        ((4, 8), 'float32', 128)
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    spec: Any
    shard_shape: tuple[int, ...]
    nbytes: int
    device_bytes: int
    replicas: int


@dataclasses.dataclass(frozen=True)
class ShardingReport:
    """Per-leaf placement and per-device bytes of a tree (see :func:`describe`); ``print`` shows a table.

    Args:
        leaves: One :class:`LeafPlacement` per array leaf, in tree order.
        per_device: Device id → bytes of the tree held by that device (every device of the job, also
            other processes' devices).
        total_bytes: Bytes of all leaves counted once (the unsharded size).
        mesh: The mesh axes of the first ``NamedSharding`` found (``{}`` if none).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> report = dist.describe({"w": jnp.zeros((4, 8)), "b": jnp.zeros(8)})
        >>> report.total_bytes, [leaf.path for leaf in report.leaves]
        (160, ['b', 'w'])
        >>> str(report).splitlines()[0].split()  # the table's header
        ['path', 'shape', 'dtype', 'spec', 'per', 'device', 'bytes/device']
    """

    leaves: tuple[LeafPlacement, ...]
    per_device: dict[int, int]
    total_bytes: int
    mesh: dict[str, int]

    @property
    def max_device_bytes(self) -> int:
        """Bytes on the fullest device (what has to fit in one device's memory)."""
        return max(self.per_device.values(), default=0)

    @property
    def min_device_bytes(self) -> int:
        """Bytes on the emptiest device."""
        return min(self.per_device.values(), default=0)

    def __getitem__(self, path: str) -> LeafPlacement:
        for leaf in self.leaves:
            if leaf.path == path:
                return leaf
        raise KeyError(f"describe: no array leaf {path!r}; leaves are {[x.path for x in self.leaves][:20]}")

    def __str__(self) -> str:
        rows = [("path", "shape", "dtype", "spec", "per device", "bytes/device")]
        for leaf in self.leaves:
            rows.append(
                (
                    leaf.path or "<root>",
                    _shape(leaf.shape),
                    leaf.dtype,
                    _spec(leaf.spec),
                    _shape(leaf.shard_shape),
                    byte_size(leaf.device_bytes),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n = len(self.per_device)
        lines.append(
            f"total {byte_size(self.total_bytes)}; per device max {byte_size(self.max_device_bytes)}, "
            f"min {byte_size(self.min_device_bytes)} over {n} device(s)"
            + (f"; mesh {self.mesh}" if self.mesh else "")
        )
        return "\n".join(lines)


def _shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _spec(spec: Any) -> str:
    if isinstance(spec, jax.sharding.PartitionSpec):
        return "P(" + ", ".join(repr(e) if e is not None else "None" for e in spec) + ")"
    return str(spec)


def _block_elements(index: tuple[slice, ...], shape: tuple[int, ...]) -> int:
    return math.prod(len(range(*s.indices(d))) for s, d in zip(index, shape, strict=False))


def describe(tree: Any) -> ShardingReport:
    """Report the sharding spec, per-device block and bytes of every array leaf of ``tree``.

    ``print(describe(tree))`` shows a table; the returned :class:`ShardingReport` gives the numbers
    (``report.per_device``, ``report.max_device_bytes``, ``report["0.weight"].spec``). Nothing is
    transferred: it reads the arrays' shardings, so it also works on multi-process global arrays.

    Args:
        tree: Any pytree (a model, an optimizer state, a batch); non-array leaves are skipped.

    Returns:
        A :class:`ShardingReport`.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> params = {"w": jnp.zeros((m.size * 4, 8))}
        >>> params = dist.shard(params, m, dist.fsdp(), axes={"w": ("mlp", "embed")})
        >>> report = dist.describe(params)
        >>> report.max_device_bytes == report.total_bytes // m.size
        True
    """
    leaves: list[LeafPlacement] = []
    per_device: dict[int, int] = {}
    mesh: dict[str, int] = {}
    total = 0
    pairs, _ = _tree.flatten_with_path(tree)
    for path, x in pairs:
        if not isinstance(x, (jax.Array, np.ndarray)):
            continue
        shape = tuple(int(s) for s in x.shape)
        itemsize = (
            np.dtype(x.dtype).itemsize if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else 0
        )
        if itemsize == 0:  # typed PRNG keys: count their underlying data
            itemsize = np.dtype(jax.random.key_data(x).dtype).itemsize * math.prod(
                jax.random.key_data(x).shape[len(shape) :]
            )
        nbytes = math.prod(shape) * itemsize
        total += nbytes
        if not isinstance(x, jax.Array):
            leaves.append(LeafPlacement(path, shape, str(x.dtype), "host", shape, nbytes, 0, 0))
            continue
        sharding = x.sharding
        if isinstance(sharding, jax.sharding.NamedSharding):
            spec: Any = sharding.spec
            if not mesh:
                mesh = dict(sharding.mesh.shape)
        else:
            spec = type(sharding).__name__
        # jaxlib's Device is a C++ class without type stubs: mypy sees no attributes on it
        indices: Mapping[Any, Any] = sharding.devices_indices_map(shape)
        blocks = {d.id: _block_elements(idx, shape) * itemsize for d, idx in indices.items()}
        for device_id, b in blocks.items():
            per_device[device_id] = per_device.get(device_id, 0) + b
        shard_shape = tuple(int(s) for s in sharding.shard_shape(shape))
        replicas = round(sum(blocks.values()) / nbytes) if nbytes else len(blocks)
        leaves.append(
            LeafPlacement(
                path,
                shape,
                str(x.dtype),
                spec,
                shard_shape,
                nbytes,
                max(blocks.values(), default=0),
                replicas,
            )
        )
    return ShardingReport(tuple(leaves), dict(sorted(per_device.items())), total, mesh)
