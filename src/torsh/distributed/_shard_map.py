"""``shard_map``: per-device code on a mesh (JAX's ``jax.shard_map``), with the active mesh by default,
specs by parameter name and divisibility errors that name the argument."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from ..errors import ConfigError
from ._errors import ShardingError
from ._mesh import resolve_mesh

__all__ = ["shard_map"]

_INFER = jax.sharding.Infer if hasattr(jax.sharding, "Infer") else None


def _is_spec(x: Any) -> bool:
    return isinstance(x, PartitionSpec) or x is None


def _positional(f: Callable, in_specs: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        raise ConfigError(
            "shard_map: in_specs by name needs a function with an inspectable signature"
        ) from None
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(in_specs) - set(names))
    if unknown:
        raise ConfigError(f"shard_map: in_specs names {unknown} are not parameters of {f.__name__}: {names}")
    missing = [n for n in names if n not in in_specs]
    if missing:
        raise ConfigError(
            f"shard_map: in_specs by name must give every positional parameter; missing {missing}"
        )
    return tuple(in_specs[n] for n in names)


def _check_divisible(name: str, mesh: Mesh, in_specs: Any, args: tuple[Any, ...]) -> None:
    """Name the argument, leaf, dimension and mesh axis when an input cannot be split as specified."""
    try:
        full = jax.tree.broadcast(tuple(in_specs), args, is_leaf=_is_spec)
    except (ValueError, TypeError):
        return  # a structure mismatch: JAX's own error says more
    flat_specs = jax.tree.leaves(full, is_leaf=_is_spec)
    flat_args, _ = jax.tree_util.tree_flatten_with_path(args)
    if len(flat_specs) != len(flat_args):
        return
    sizes = dict(mesh.shape)
    for (path, leaf), p in zip(flat_args, flat_specs, strict=False):
        shape = np.shape(leaf)
        if p is None:
            continue
        for dim, entry in enumerate(p):
            if entry is None or dim >= len(shape):
                continue
            axes = (entry,) if isinstance(entry, str) else tuple(entry)
            unknown = [a for a in axes if a not in sizes]
            if unknown:
                raise ShardingError(
                    f"shard_map({name}): spec {p} names axis {unknown[0]!r}, not in the mesh {sizes}"
                )
            parts = int(np.prod([sizes[a] for a in axes]))
            if shape[dim] % parts:
                where = "argument" + jax.tree_util.keystr(path)
                raise ShardingError(
                    f"shard_map({name}): {where} with shape {tuple(shape)}: dimension {dim} "
                    f"(size {shape[dim]}) "
                    f"is not divisible by mesh axis {entry!r} ({parts} devices) as in_specs {p} asks"
                )


def shard_map(
    f: Callable | None = None,
    /,
    *,
    out_specs: Any,
    in_specs: Any = _INFER,
    mesh: Mesh | None = None,
    axis_names: Any = frozenset(),
    check_vma: bool = True,
) -> Any:
    """Run ``f`` once per device on its block of the inputs (SPMD), as :func:`jax.shard_map`.

    Inside ``f`` arrays are per-device blocks and mesh axis names work with the collectives
    (``psum``, ``pmean``, ``all_gather``, ``reduce_scatter``, ``broadcast``, ``ppermute``...).

    Args:
        f: The per-device function; omit it to use ``@dist.shard_map(out_specs=...)`` as a decorator.
        out_specs: A ``PartitionSpec`` (or tree of them) per output: how blocks are assembled.
        in_specs: A spec (or tree prefix of specs) per positional argument, or a dict by parameter name.
            Default: inferred from the inputs' shardings.
        mesh: Default: the active mesh (:func:`use_mesh`), resolved at call time.
        axis_names: The mesh axes ``f`` is manual over (default: all).
        check_vma: JAX's check that values declared replicated really are (keep it on).

    Returns:
        The mapped function (or a decorator when ``f`` is omitted).

    Raises:
        ConfigError: If ``in_specs`` is a dict that misses or invents parameters of ``f``.
        ShardingError: From the mapped function, if an input dimension is not divisible by its mesh
            axes or a spec names an axis the mesh lacks (the message names the argument).
        MeshError: From the mapped function, if there is no mesh.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax import P
        >>> from torsh import distributed as dist
        >>> m = dist.mesh({"data": -1})
        >>> @dist.shard_map(mesh=m, in_specs=P("data"), out_specs=P())
        ... def total(x):
        ...     return dist.psum(x.sum(), "data")
        >>> float(total(jnp.ones(m.size * 3))) == m.size * 3
        True
    """
    if f is None:
        return functools.partial(
            shard_map,
            out_specs=out_specs,
            in_specs=in_specs,
            mesh=mesh,
            axis_names=axis_names,
            check_vma=check_vma,
        )
    if isinstance(in_specs, Mapping):
        in_specs = _positional(f, in_specs)
    name = getattr(f, "__name__", repr(f))
    cache: dict[Mesh, Callable] = {}

    @functools.wraps(f)
    def mapped(*args: Any) -> Any:
        m = resolve_mesh(mesh, f"shard_map({name})", allow_abstract=True)
        if in_specs is not _INFER:
            specs = (
                in_specs
                if isinstance(in_specs, tuple) and not isinstance(in_specs, PartitionSpec)
                else (in_specs,) * len(args)
            )
            _check_divisible(name, m, specs, args)
        fn = cache.get(m)
        if fn is None:
            fn = cache[m] = jax.shard_map(
                f, mesh=m, in_specs=in_specs, out_specs=out_specs, axis_names=axis_names, check_vma=check_vma
            )
        return fn(*args)

    return mapped
