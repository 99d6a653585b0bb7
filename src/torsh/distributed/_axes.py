"""Logical axis names of the leaves of any tree (modules, optimizer states, dicts of them)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import tree as _tree
from ..errors import ConfigError

__all__ = ["collect_axes", "AxesLookup"]

Axes = tuple[str | None, ...]


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix and path else prefix or path


def _module_tools() -> tuple[type, Callable[[Any], dict[str, Axes]]] | None:
    try:
        from ..nn import Module, logical_axes
    except ImportError:  # torsh.nn not available: trees carry no names
        return None
    return Module, logical_axes


def collect_axes(tree: Any) -> dict[str, Axes]:
    """Logical names of every module parameter/buffer found anywhere in ``tree``, by full dotted path.

    Optimizer states whose moment trees are module-shaped (``tree.map`` over a model keeps its type
    and static axis names) are found the same way.

    Args:
        tree: Any pytree holding torsh modules.

    Returns:
        A dict from dotted path to a tuple of logical names.

    Example:
        >>> import torsh
        >>> from torsh import nn
        >>> from torsh.distributed._axes import collect_axes
        >>> collect_axes({"model": nn.Linear(3, 2, key=torsh.random.key(0)), "step": 1})
        {'model.weight': ('out', 'in'), 'model.bias': ('out',)}
    """
    tools = _module_tools()
    if tools is None:
        return {}
    module_type, logical_axes = tools
    if isinstance(tree, module_type):
        return dict(logical_axes(tree))
    pairs, _ = _tree.flatten_with_path(tree, is_leaf=lambda x: isinstance(x, module_type))
    out: dict[str, Axes] = {}
    for path, node in pairs:
        if isinstance(node, module_type):
            for sub, names in logical_axes(node).items():
                out[_join(path, sub)] = names
    return out


class AxesLookup:
    """Logical names for a leaf path: explicit ``axes`` first, then names found on modules in the tree.

    Explicit names match the exact path, then the longest dotted suffix with the right rank, so
    ``axes=nn.logical_axes(model)`` also names ``mu.0.weight`` in an optimizer state. Call it as
    ``lookup(path, ndim)``.

    Args:
        tree: The tree whose modules supply names.
        axes: Dotted path → logical names, or None.

    Raises:
        ConfigError: If ``axes`` is not a dict of tuples of names (strings or None).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.distributed._axes import AxesLookup
        >>> lookup = AxesLookup({"w": jnp.ones((2, 3))}, {"w": ("mlp", "embed")})
        >>> lookup("w", 2), lookup("mu.w", 2), lookup("v", 1)
        (('mlp', 'embed'), ('mlp', 'embed'), None)
    """

    def __init__(self, tree: Any, axes: Mapping[str, Sequence[str | None]] | None) -> None:
        if axes is not None and not isinstance(axes, Mapping):
            raise ConfigError(
                f"axes: expected a dict of dotted path -> logical names, got {type(axes).__name__}"
            )
        self._explicit = {k: tuple(v) for k, v in (axes or {}).items()}
        for key, names in self._explicit.items():
            if not all(n is None or isinstance(n, str) for n in names):
                raise ConfigError(f"axes[{key!r}]: expected a tuple of logical names or None, got {names!r}")
        self._found = collect_axes(tree)

    def __call__(self, path: str, ndim: int) -> Axes | None:
        names = self._explicit.get(path)
        if names is not None:
            return names
        parts = path.split(".")
        for start in range(1, len(parts)):
            names = self._explicit.get(".".join(parts[start:]))
            if names is not None and len(names) == ndim:
                return names
        return self._found.get(path)
