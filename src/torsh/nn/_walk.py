"""Walking and rebuilding module trees with dotted paths.

Paths are the same dotted names :func:`torsh.tree.paths` gives (inline fields such as
``Sequential.layers`` leave their name out), so ``named_parameters`` and ``state_dict`` keys equal
PyTorch's for the same architecture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import jax
import numpy as np
import optree

from ..tree import NAMESPACE, path_str
from ._utils import join_path

if TYPE_CHECKING:
    from .module import Module

M = TypeVar("M", bound="Module")


def _is_module(x: Any) -> bool:
    from .module import Module

    return isinstance(x, Module)


def is_array(x: Any) -> bool:
    """Arrays that count as parameters or buffers (JAX arrays, tracers, numpy arrays)."""
    return isinstance(x, (jax.Array, np.ndarray))


class Leaf(NamedTuple):
    """An array leaf, the module that owns it directly and the field it sits in."""

    path: str
    value: Any
    owner: Module
    owner_path: str
    field: str
    is_buffer: bool


def _field_items(module: Module) -> Iterator[tuple[str, str, Any]]:
    """``(field_name, path_prefix, value)`` for each data field; inline fields add no prefix."""
    inline = module.__torsh_inline_fields__
    d = module.__dict__
    for name in module.__torsh_data_fields__:
        yield name, ("" if name in inline else name), d[name]


def _split_field(value: Any) -> list[tuple[str, Any]]:
    """Flatten a field value to ``(subpath, node)`` with modules kept whole."""
    if _is_module(value):
        return [("", value)]
    raw_paths, nodes, _ = optree.tree_flatten_with_path(value, is_leaf=_is_module, namespace=NAMESPACE)
    return [(path_str(p), n) for p, n in zip(raw_paths, nodes, strict=True)]


def direct_leaves(module: Module, prefix: str = "") -> Iterator[Leaf]:
    """The array leaves held by ``module`` itself (not inside its sub-modules), in field order."""
    buffers = module.__torsh_buffer_fields__
    for name, field_prefix, value in _field_items(module):
        for sub, node in _split_field(value):
            if not _is_module(node) and is_array(node):
                yield Leaf(join_path(prefix, field_prefix, sub), node, module, prefix, name, name in buffers)


def children(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """Direct sub-modules with their paths (prefixed)."""
    for _, field_prefix, value in _field_items(module):
        for sub, node in _split_field(value):
            if _is_module(node):
                yield join_path(prefix, field_prefix, sub), node


def modules(module: Module, prefix: str = "") -> Iterator[tuple[str, Module]]:
    """All modules, pre-order (the root first, with path ``prefix``)."""
    yield prefix, module
    for path, child in children(module, prefix):
        yield from modules(child, path)


def leaves(module: Module) -> Iterator[Leaf]:
    """All array leaves in PyTorch's order: each module's own leaves, then its children's."""
    for path, m in modules(module):
        yield from direct_leaves(m, path)


def map_modules(module: M, fn: Callable[[str, Module], Module], prefix: str = "") -> M:
    """Rebuild the tree bottom-up, replacing every module ``m`` at ``path`` by ``fn(path, m)``.

    ``fn`` keeps each module's class (train/eval, freezing, axes), so the result has ``module``'s type.
    """
    changes: dict[str, Any] = {}
    for name, field_prefix, value in _field_items(module):
        base = join_path(prefix, field_prefix)
        new: Any
        if _is_module(value):
            new = map_modules(value, fn, base)
        else:
            raw_paths, nodes, spec = optree.tree_flatten_with_path(
                value, is_leaf=_is_module, namespace=NAMESPACE
            )
            if not any(_is_module(n) for n in nodes):
                continue
            new_nodes = [
                map_modules(n, fn, join_path(base, path_str(p))) if _is_module(n) else n
                for p, n in zip(raw_paths, nodes, strict=True)
            ]
            new = optree.tree_unflatten(spec, new_nodes)
        if new is not value:
            changes[name] = new
    rebuilt = module.replace(**changes) if changes else module
    return cast("M", fn(prefix, rebuilt))


def find_module(module: Module, path: str) -> Module:
    """The sub-module at a dotted path (``""`` is the module itself)."""
    for p, m in modules(module):
        if p == path:
            return m
    from ..errors import ConfigError

    names = [p for p, _ in modules(module) if p]
    raise ConfigError(f"no sub-module at path {path!r}; sub-modules are {names[:20]}")
