"""Pytrees for torsh: path-aware utilities on optree and immutable dataclass pytrees.

Everything here works on nested dicts, lists, tuples, ``None`` and torsh structs/modules. Paths are
dotted strings (``layers.0.weight``), the same names PyTorch's ``state_dict`` uses.

Example:
    >>> import torsh, jax.numpy as jnp
    >>> params = {"layers": [{"weight": jnp.ones((2, 3)), "bias": jnp.zeros(2)}]}
    >>> torsh.tree.paths(params)
    ['layers.0.bias', 'layers.0.weight']
    >>> torsh.tree.count(params)
    8
"""

from ._ops import (
    PyTree,
    allclose,
    cast,
    combine,
    count,
    filter,
    flatten,
    flatten_with_path,
    is_array,
    is_inexact,
    leaves,
    map,
    map_with_path,
    nbytes,
    ones_like,
    partition,
    path_str,
    paths,
    structure,
    trainable_mask,
    unflatten,
    zeros_like,
)
from ._registry import NAMESPACE, register_struct_node
from ._repr import array_summary
from ._struct import Struct, field, fields, is_struct, static

__all__ = [
    "PyTree",
    "array_summary",
    "NAMESPACE",
    "Struct",
    "field",
    "static",
    "fields",
    "is_struct",
    "register_struct_node",
    "leaves",
    "structure",
    "flatten",
    "unflatten",
    "map",
    "map_with_path",
    "flatten_with_path",
    "paths",
    "path_str",
    "partition",
    "combine",
    "filter",
    "count",
    "nbytes",
    "allclose",
    "cast",
    "zeros_like",
    "ones_like",
    "is_array",
    "is_inexact",
    "trainable_mask",
]
