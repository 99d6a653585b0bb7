"""Registration of torsh node types with both pytree registries.

torsh types are registered twice:

* with **JAX's registry**, so that ``jax.jit``/``jax.grad`` (and therefore torsh's transforms, which are
  thin layers over them) accept torsh objects unchanged. The flatten/unflatten callbacks are generated
  Python source specialised per class: measured on a 16-layer model, dispatching ``jax.jit`` through them
  costs about 1.05x a plain dict of arrays, whereas JAX's C++ ``register_dataclass`` path re-runs the
  user's ``__init__`` on every unflatten (wrong for modules with PyTorch-style constructors).
* with **optree** under the ``"torsh"`` namespace, which gives the path-aware utilities of
  :mod:`torsh.tree` their dotted names (``layers.0.weight``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jax
import optree

if TYPE_CHECKING:  # _struct imports this module
    from ._struct import Struct

NAMESPACE = "torsh"


class InlineEntry(str):
    """A path entry that is not shown in dotted names.

    ``nn.Sequential`` keeps its layers in a field, but PyTorch names them ``0.weight``, not
    ``layers.0.weight``; marking the field inline drops its name from paths.
    """

    __slots__ = ()


class InstanceFields:
    """The fields one instance added in its ``__init__`` without class annotations (PyTorch style).

    Stored in the instance's ``__dict__`` (key ``__torsh_extra__``) and carried in the tree
    structure's auxiliary data, so the tree definition is per instance: two instances of one class
    may hold different attributes. ``data`` names are children (arrays, modules, containers of
    them); ``static`` names are configuration kept in the structure, compared by ``keys`` (the
    values themselves, or a frozen copy for unhashable ones such as lists and dicts).
    """

    __slots__ = (
        "cls",
        "data",
        "static",
        "values",
        "keys",
        "buffers",
        "all_data",
        "all_static",
        "all_buffers",
        "jax_keys",
        "_hash",
    )

    def __init__(
        self,
        cls: type[Struct],
        data: tuple[str, ...],
        static: tuple[str, ...],
        values: tuple,
        keys: tuple,
        buffers: frozenset[str],
    ) -> None:
        self.cls = cls
        self.data, self.static, self.values, self.keys, self.buffers = data, static, values, keys, buffers
        self.all_data = (*cls.__torsh_data_fields__, *data)
        self.all_static = (*cls.__torsh_static_fields__, *static)
        self.all_buffers = cls.__torsh_buffer_fields__ | buffers
        self.jax_keys = tuple(jax.tree_util.GetAttrKey(d) for d in data)
        self._hash = hash((data, static, keys, buffers))

    def restore(self, d: dict, children: Sequence[Any]) -> None:
        """Put the instance's own fields and the per-instance field tables into ``d``."""
        d.update(zip(self.data, children, strict=True))
        d.update(zip(self.static, self.values, strict=True))
        d["__torsh_extra__"] = self
        d["__torsh_data_fields__"] = self.all_data
        d["__torsh_static_fields__"] = self.all_static
        d["__torsh_buffer_fields__"] = self.all_buffers

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (
            type(other) is InstanceFields
            and self._hash == other._hash
            and (self.data, self.static, self.buffers) == (other.data, other.static, other.buffers)
            and self.keys == other.keys
        )

    def __reduce__(self) -> tuple:  # pickle the inputs: string hashes differ between processes
        return (InstanceFields, (self.cls, self.data, self.static, self.values, self.keys, self.buffers))

    def __repr__(self) -> str:
        # static values are shown: jit's recompile explanations diff tree structures by their repr
        static = ", ".join(f"{n}={v!r:.60}" for n, v in zip(self.static, self.values, strict=True))
        return f"InstanceFields(data={self.data}, static=({static}), buffers={sorted(self.buffers)})"


def _generate_callbacks(
    cls: type, data: Sequence[str], meta: Sequence[str], open_: bool = False
) -> tuple[Callable, Callable]:
    """Generate straight-line flatten/unflatten functions for ``cls`` (no loops, no getattr by name).

    ``open_`` classes (modules) may carry per-instance fields (:class:`InstanceFields`): their
    flatten reads one extra dict entry, and the per-instance part is the last item of the aux data.
    """
    for name in (*data, *meta):
        if not name.isidentifier():
            raise ValueError(f"field name {name!r} of {cls.__qualname__} is not an identifier")
    data_tuple = "".join(f"d[{d!r}], " for d in data)
    meta_tuple = "".join(f"d[{m!r}], " for m in meta)
    namespace: dict[str, Any] = {"_new": object.__new__, "cls": cls}
    if not open_:
        lines = [
            "def flatten(o):",
            "    d = o.__dict__",
            f"    return ({data_tuple}), ({meta_tuple})",
            "def unflatten(meta, children):",
            "    o = _new(cls)",
            "    d = o.__dict__",
        ]
        if data:
            lines.append(f"    {data_tuple} = children")
        if meta:
            lines.append(f"    {meta_tuple} = meta")
        lines.append("    return o")
    else:
        lines = [
            "def flatten(o):",
            "    d = o.__dict__",
            "    x = d.get('__torsh_extra__')",
            "    if x is None:",
            f"        return ({data_tuple}), ({meta_tuple} None)",
            f"    return ({data_tuple} *[d[n] for n in x.data],), ({meta_tuple} x)",
            "def unflatten(meta, children):",
            "    o = _new(cls)",
            "    d = o.__dict__",
            f"    {meta_tuple}x, = meta",
            "    if x is None:",
            f"        {data_tuple + ' = children' if data else 'pass'}",
            "    else:",
            f"        {data_tuple + ' *rest = children' if data else 'rest = children'}",
            "        x.restore(d, rest)",
            "    return o",
        ]
    exec("\n".join(lines), namespace)  # source built from validated identifiers only
    return namespace["flatten"], namespace["unflatten"]


def register_struct_node(
    cls: type,
    data: Sequence[str],
    meta: Sequence[str],
    inline: frozenset[str] = frozenset(),
    *,
    open_: bool = False,
) -> None:
    """Register ``cls`` (instances keep state in ``__dict__``) with JAX's registry and optree's.

    :class:`Struct` subclasses are registered automatically; call this for a plain class whose instances
    should pass through ``jit``/``grad`` and have dotted paths.

    Args:
        cls: The class to register.
        data: Names of the fields that are children (subtrees: arrays, modules, containers).
        meta: Names of the static fields, kept in the tree structure (must be hashable).
        inline: Data fields whose name is left out of dotted paths (containers such as ``Sequential``).
        open_: Instances may add their own fields (see :class:`InstanceFields`).

    Raises:
        ValueError: If a field name is not a Python identifier.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> class Pair:
        ...     def __init__(self, weight, tag):
        ...         self.weight, self.tag = weight, tag
        >>> torsh.tree.register_struct_node(Pair, data=("weight",), meta=("tag",))
        >>> p = jax.tree.map(lambda x: x * 3, Pair(jnp.ones(2), "fc"))
        >>> p.weight.tolist(), p.tag, torsh.tree.paths(p)
        ([3.0, 3.0], 'fc', ['weight'])
    """
    flatten, unflatten = _generate_callbacks(cls, tuple(data), tuple(meta), open_)
    jax_keys = tuple(jax.tree_util.GetAttrKey(d) for d in data)
    entries = tuple(InlineEntry(d) if d in inline else d for d in data)

    if not open_:

        def flatten_with_keys(o: Any) -> tuple[tuple[tuple[Any, Any], ...], tuple]:
            children, aux = flatten(o)
            return tuple(zip(jax_keys, children, strict=True)), aux

        def optree_flatten(o: Any) -> tuple[tuple, tuple, tuple]:
            children, aux = flatten(o)
            return children, aux, entries

    else:

        def flatten_with_keys(o: Any) -> tuple[tuple[tuple[Any, Any], ...], tuple]:
            children, aux = flatten(o)
            x = aux[-1]
            keys = jax_keys if x is None else jax_keys + x.jax_keys
            return tuple(zip(keys, children, strict=True)), aux

        def optree_flatten(o: Any) -> tuple[tuple, tuple, tuple]:
            children, aux = flatten(o)
            x = aux[-1]
            return children, aux, (entries if x is None else entries + x.data)

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    optree.register_pytree_node(cls, optree_flatten, unflatten, namespace=NAMESPACE)
