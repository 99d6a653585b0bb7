"""Path-aware pytree utilities on optree (namespace ``"torsh"``).

Paths are dotted strings built from dict keys, sequence indices and struct field names:
``layers.0.weight``. ``None`` is an empty subtree (as in JAX), never a leaf.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optree

from ..errors import TreeError
from ._registry import NAMESPACE, InlineEntry

__all__ = [
    "PyTree",
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

PyTree = Any
_TS = optree.PyTreeSpec


def path_str(path: Sequence[Any]) -> str:
    """Join an optree path (tuple of entries) into a dotted name, leaving out inline entries.

    Args:
        path: A sequence of path entries (dict keys, indices, field names).

    Returns:
        The dotted path, as in state-dict keys.

    Example:
        >>> import torsh
        >>> torsh.tree.path_str(("layers", 0, "weight"))
        'layers.0.weight'
    """
    return ".".join(str(e) for e in path if not isinstance(e, InlineEntry))


def leaves(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[Any]:
    """The leaves of ``tree`` in canonical order (``None`` is an empty subtree, not a leaf).

    Args:
        tree: Any pytree (dicts, lists, tuples, torsh modules and structs).
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        The list of leaves (dict keys sorted).

    Example:
        >>> import torsh
        >>> torsh.tree.leaves({"b": 2, "a": [1, None]})
        [1, 2]
    """
    return optree.tree_leaves(tree, is_leaf, namespace=NAMESPACE)


def structure(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> optree.PyTreeSpec:
    """The tree structure (an optree ``PyTreeSpec``) of ``tree``.

    Args:
        tree: Any pytree.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        The ``PyTreeSpec``; compare two with ``==``, or rebuild with :func:`unflatten`.

    Example:
        >>> import torsh
        >>> spec = torsh.tree.structure({"a": 1, "b": (2, 3)})
        >>> spec
        PyTreeSpec({'a': *, 'b': (*, *)})
        >>> spec.num_leaves
        3
    """
    return optree.tree_structure(tree, is_leaf, namespace=NAMESPACE)


def flatten(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[Any], optree.PyTreeSpec]:
    """``(leaves, treespec)``; :func:`unflatten` inverts it.

    Args:
        tree: Any pytree.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        The list of leaves and the tree structure.

    Example:
        >>> import torsh
        >>> torsh.tree.flatten({"a": 1, "b": (2, 3)})
        ([1, 2, 3], PyTreeSpec({'a': *, 'b': (*, *)}))
    """
    return optree.tree_flatten(tree, is_leaf, namespace=NAMESPACE)


def unflatten(treespec: optree.PyTreeSpec, leaves: Sequence[Any]) -> PyTree:
    """Rebuild a tree from a structure and leaves.

    Args:
        treespec: The structure, from :func:`flatten` or :func:`structure`.
        leaves: One value per leaf, in leaf order.

    Returns:
        The tree.

    Raises:
        TreeError: If the number of values differs from the number of leaves of ``treespec``.

    Example:
        >>> import torsh
        >>> leaves, spec = torsh.tree.flatten({"a": 1, "b": (2, 3)})
        >>> torsh.tree.unflatten(spec, [x * 10 for x in leaves])
        {'a': 10, 'b': (20, 30)}
    """
    leaves = list(leaves)
    if len(leaves) != treespec.num_leaves:
        raise TreeError(
            f"unflatten: the structure has {treespec.num_leaves} leaves, got {len(leaves)} values"
        )
    return optree.tree_unflatten(treespec, leaves)


def _check_same_structure(fn_name: str, tree: PyTree, rest: Sequence[PyTree], is_leaf: Any) -> None:
    spec = optree.tree_structure(tree, is_leaf, namespace=NAMESPACE)
    for i, other in enumerate(rest):
        other_spec = optree.tree_structure(other, is_leaf, namespace=NAMESPACE)
        if other_spec != spec:
            mine = set(paths(tree, is_leaf=is_leaf))
            theirs = set(paths(other, is_leaf=is_leaf))
            detail = ""
            if mine != theirs:
                detail = (
                    f"; only in the first: {sorted(mine - theirs)[:5]}, "
                    f"only in tree {i + 1}: {sorted(theirs - mine)[:5]}"
                )
            raise TreeError(f"{fn_name}: tree {i + 1} does not have the structure of the first tree{detail}")


def _matching_columns(fn_name: str, tree: PyTree, rest: Sequence[PyTree], is_leaf: Any) -> tuple:
    """Leaves of ``tree`` and, per other tree, the values at the same positions (None: absent)."""
    raw_paths, values, spec = optree.tree_flatten_with_path(tree, is_leaf, namespace=NAMESPACE)
    columns = []
    for other in rest:
        try:
            try:
                col = spec.flatten_up_to(other)
            except ValueError:  # a whole subtree is None (no gradient anywhere below it)
                full = optree.tree_broadcast_prefix(
                    other, tree, is_leaf=is_leaf, none_is_leaf=True, namespace=NAMESPACE
                )
                col = spec.flatten_up_to(full)
        except ValueError:
            col = None
        present = [c for c in col or () if c is not None]
        if (
            col is None
            or any(not optree.tree_is_leaf(c, is_leaf, namespace=NAMESPACE) for c in present)
            or len(present) != len(optree.tree_leaves(other, is_leaf, namespace=NAMESPACE))
        ):
            _check_same_structure(fn_name, tree, rest, is_leaf)
            raise TreeError(f"{fn_name}: the trees do not have the same structure")
        columns.append(col)
    return raw_paths, values, spec, columns


def _map_passing_none(
    fn: Callable, tree: PyTree, rest: Sequence[PyTree], is_leaf: Any, name: str, with_path: bool
) -> PyTree:
    raw_paths, values, spec, columns = _matching_columns(name, tree, rest, is_leaf)
    out = []
    for j, value in enumerate(values):
        others = [c[j] for c in columns]
        if any(o is None for o in others):
            out.append(value)
        elif with_path:
            out.append(fn(path_str(raw_paths[j]), value, *others))
        else:
            out.append(fn(value, *others))
    return optree.tree_unflatten(spec, out)


def map(
    fn: Callable[..., Any], tree: PyTree, *rest: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> PyTree:
    """Apply ``fn`` to the leaves of ``tree`` (and the matching leaves of ``rest``).

    The other trees must have ``tree``'s structure, except that they may hold ``None`` where
    ``tree`` has a leaf or a subtree: there ``fn`` is not called and ``tree``'s leaves are kept.
    That is what :func:`torsh.grad` returns for buffers, frozen and integer leaves, so the update
    ``torsh.tree.map(lambda p, g: p - lr * g, model, grads)`` works for every model.

    Args:
        fn: Called as ``fn(leaf, *matching_leaves)``.
        tree: The pytree whose structure the result has.
        *rest: Trees of the same structure (``None`` allowed in place of leaves or subtrees).
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        A tree of ``tree``'s structure holding ``fn``'s results.

    Raises:
        TreeError: If a tree of ``rest`` does not have ``tree``'s structure (naming the paths that differ).

    Example:
        >>> import torsh
        >>> torsh.tree.map(lambda a, b: a + b, {"x": 1, "y": 2}, {"x": 10, "y": 20})
        {'x': 11, 'y': 22}
        >>> torsh.tree.map(lambda p, g: p - g, {"w": 1.0, "steps": 3}, {"w": 0.5, "steps": None})
        {'w': 0.5, 'steps': 3}
    """
    if not rest:
        return optree.tree_map(fn, tree, is_leaf=is_leaf, namespace=NAMESPACE)

    called = False

    def apply(x: Any, *others: Any) -> Any:  # optree hands over None where `tree` has a leaf
        nonlocal called
        called = True
        return x if any(o is None for o in others) else fn(x, *others)

    try:
        return optree.tree_map(apply, tree, *rest, is_leaf=is_leaf, namespace=NAMESPACE)
    except ValueError:
        if called:  # raised by fn itself (optree checks structures before calling fn)
            raise
    return _map_passing_none(fn, tree, rest, is_leaf, "torsh.tree.map", with_path=False)


def flatten_with_path(
    tree: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[list[tuple[str, Any]], optree.PyTreeSpec]:
    """``([(dotted_path, leaf), ...], treespec)``: the leaves with their state-dict-style names.

    Args:
        tree: Any pytree.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        The ``(path, leaf)`` pairs in leaf order, and the tree structure.

    Example:
        >>> import torsh
        >>> pairs, _ = torsh.tree.flatten_with_path({"layers": [{"weight": 1, "bias": 2}]})
        >>> pairs
        [('layers.0.bias', 2), ('layers.0.weight', 1)]
    """
    raw_paths, values, spec = optree.tree_flatten_with_path(tree, is_leaf, namespace=NAMESPACE)
    return [(path_str(p), v) for p, v in zip(raw_paths, values, strict=True)], spec


def paths(tree: PyTree, is_leaf: Callable[[Any], bool] | None = None) -> list[str]:
    """The dotted path of every leaf, in leaf order (a module's paths are its state-dict keys).

    Args:
        tree: Any pytree.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        The list of dotted paths.

    Example:
        >>> import torsh
        >>> from torsh import nn
        >>> torsh.tree.paths(nn.Linear(3, 2, key=torsh.random.key(0)))
        ['weight', 'bias']
        >>> torsh.tree.paths({"layers": [{"weight": 1, "bias": 2}]})
        ['layers.0.bias', 'layers.0.weight']
    """
    return [path_str(p) for p in optree.tree_paths(tree, is_leaf, namespace=NAMESPACE)]


def map_with_path(
    fn: Callable[..., Any], tree: PyTree, *rest: PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> PyTree:
    """Like :func:`map`, but ``fn`` receives the dotted path first: ``fn(path, leaf, *others)``.

    ``None`` in the other trees passes ``tree``'s leaves through, as in :func:`map`.

    Args:
        fn: Called as ``fn(path, leaf, *matching_leaves)``.
        tree: The pytree whose structure the result has.
        *rest: Trees of the same structure (``None`` allowed in place of leaves or subtrees).
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        A tree of ``tree``'s structure holding ``fn``'s results.

    Raises:
        TreeError: If a tree of ``rest`` does not have ``tree``'s structure.

    Example:
        >>> import torsh
        >>> torsh.tree.map_with_path(lambda p, x: f"{p}={x}", {"a": [1, 2]})
        {'a': ['a.0=1', 'a.1=2']}
    """
    called = False

    def apply(p: Any, x: Any, *others: Any) -> Any:
        nonlocal called
        called = True
        return x if any(o is None for o in others) else fn(path_str(p), x, *others)

    try:
        return optree.tree_map_with_path(apply, tree, *rest, is_leaf=is_leaf, namespace=NAMESPACE)
    except ValueError:
        if called:
            raise
        if not rest:
            _check_same_structure("torsh.tree.map_with_path", tree, rest, is_leaf)
            raise
    return _map_passing_none(fn, tree, rest, is_leaf, "torsh.tree.map_with_path", with_path=True)


def _mask_leaves(
    tree: PyTree, where: Callable[[Any], bool] | PyTree, is_leaf: Any
) -> tuple[list, list[bool], _TS]:
    values, spec = optree.tree_flatten(tree, is_leaf, namespace=NAMESPACE)
    # A callable struct (e.g. a module-shaped mask) is a tree, not a predicate.
    mask_tree: PyTree = where
    if callable(where) and optree.tree_is_leaf(mask_tree, namespace=NAMESPACE):
        mask = [bool(where(v)) for v in values]
    else:
        try:
            mask = [bool(m) for m in spec.flatten_up_to(mask_tree)]
        except ValueError as e:
            raise TreeError(f"partition: the mask does not have the structure of the tree: {e}") from None
    return values, mask, spec


def partition(
    tree: PyTree, where: Callable[[Any], bool] | PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> tuple[PyTree, PyTree]:
    """Split ``tree`` into ``(selected, rest)``; each has ``None`` where the other has a leaf.

    ``where`` is a predicate on leaves or a tree of booleans with the same structure.
    :func:`combine` puts the halves back together.

    Args:
        tree: Any pytree.
        where: A predicate on leaves, or a tree of booleans with ``tree``'s structure.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        ``(selected, rest)``, both with ``tree``'s structure.

    Raises:
        TreeError: If ``where`` is a tree without ``tree``'s structure.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> floats, others = torsh.tree.partition({"w": jnp.ones(2), "n": 3}, torsh.tree.is_inexact)
        >>> others
        {'w': None, 'n': 3}
        >>> torsh.tree.combine(floats, others)["n"]
        3
    """
    values, mask, spec = _mask_leaves(tree, where, is_leaf)
    selected = [v if m else None for v, m in zip(values, mask, strict=True)]
    rest = [None if m else v for v, m in zip(values, mask, strict=True)]
    return optree.tree_unflatten(spec, selected), optree.tree_unflatten(spec, rest)


def combine(*trees: PyTree) -> PyTree:
    """Merge trees produced by :func:`partition`: at each leaf position take the first non-``None``.

    Args:
        *trees: Trees of the same structure, with ``None`` at the positions they do not hold.

    Returns:
        The merged tree.

    Raises:
        TreeError: If no tree is given or the trees do not have the same structure.

    Example:
        >>> import torsh
        >>> torsh.tree.combine({"w": 1.0, "n": None}, {"w": None, "n": 3})
        {'w': 1.0, 'n': 3}
    """
    if not trees:
        raise TreeError("combine: needs at least one tree")

    def first(*xs: Any) -> Any:
        for x in xs:
            if x is not None:
                return x
        return None

    is_none = lambda x: x is None
    try:
        return optree.tree_map(first, *trees, is_leaf=is_none, namespace=NAMESPACE, none_is_leaf=True)
    except ValueError as e:
        raise TreeError(f"combine: the trees do not have the same structure: {e}") from None


def filter(
    tree: PyTree, where: Callable[[Any], bool] | PyTree, is_leaf: Callable[[Any], bool] | None = None
) -> PyTree:
    """Keep the leaves selected by ``where`` and replace the others with ``None``.

    Args:
        tree: Any pytree.
        where: A predicate on leaves, or a tree of booleans with ``tree``'s structure.
        is_leaf: A predicate marking subtrees to treat as leaves (not descended into).

    Returns:
        A tree of ``tree``'s structure with ``None`` at the unselected leaves.

    Raises:
        TreeError: If ``where`` is a tree without ``tree``'s structure.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.filter({"w": jnp.ones(2), "n": 3}, torsh.tree.is_array)
        {'w': Array([1., 1.], dtype=float32), 'n': None}
    """
    return partition(tree, where, is_leaf)[0]


def is_array(x: Any) -> bool:
    """True for ``jax.Array`` and ``numpy.ndarray`` (not Python scalars).

    Args:
        x: Any value (typically a leaf).

    Returns:
        Whether ``x`` is an array.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.is_array(jnp.ones(2)), torsh.tree.is_array(1.0)
        (True, False)
    """
    return isinstance(x, (jax.Array, np.ndarray))


def is_inexact(x: Any) -> bool:
    """True for floating or complex arrays and Python ``float``/``complex`` (the differentiable leaves).

    Args:
        x: Any value (typically a leaf).

    Returns:
        Whether ``x`` is a floating or complex value.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> [torsh.tree.is_inexact(x) for x in (jnp.ones(2), jnp.arange(2), 1.0, 1)]
        [True, False, True, False]
    """
    if isinstance(x, (jax.Array, np.ndarray)):
        return jnp.issubdtype(x.dtype, jnp.inexact)
    return isinstance(x, (builtins.float, builtins.complex)) and not isinstance(x, bool)


def count(tree: PyTree, where: Callable[[Any], bool] | None = None) -> int:
    """Total number of elements in the array leaves (e.g. a model's parameter count).

    Args:
        tree: Any pytree.
        where: Count only the leaves for which this predicate is true.

    Returns:
        The number of elements.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> torsh.tree.count({"w": jnp.zeros((3, 4)), "b": jnp.zeros(4)})
        16
        >>> torsh.tree.count(nn.Linear(3, 2, key=torsh.random.key(0)))  # 3 * 2 weights + 2 biases
        8
    """
    return builtins.sum(
        int(np.prod(x.shape)) for x in leaves(tree) if hasattr(x, "shape") and (where is None or where(x))
    )


def nbytes(tree: PyTree) -> int:
    """Total bytes of the array leaves (typed PRNG keys count their ``uint32`` words).

    Args:
        tree: Any pytree.

    Returns:
        The number of bytes.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.nbytes({"w": jnp.zeros((3, 4)), "b": jnp.zeros(4, jnp.int8)})  # 12 * 4 + 4 * 1
        52
    """
    total = 0
    for x in leaves(tree):
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            x = _key_data(x)  # typed PRNG keys have no numpy itemsize: count their uint32 words
            total += int(np.prod(x.shape)) * np.dtype(x.dtype).itemsize
    return total


def _key_data(x: Any) -> Any:
    """The raw ``uint32`` data of a typed PRNG key array (concrete or abstract); other leaves unchanged."""
    if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        if isinstance(x, jax.Array):
            return jax.random.key_data(x)
        return jax.eval_shape(jax.random.key_data, x)
    return x


def allclose(a: PyTree, b: PyTree, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    """True when both trees have the same structure and all leaves are close (as ``numpy.allclose``).

    Args:
        a: A pytree.
        b: Another pytree.
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        equal_nan: Whether NaNs at the same positions count as equal.

    Returns:
        Whether the trees match in structure, leaf shapes and values.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.allclose({"w": jnp.ones(2)}, {"w": jnp.ones(2) + 1e-7})
        True
        >>> torsh.tree.allclose({"w": jnp.ones(2)}, {"v": jnp.ones(2)})
        False
    """
    leaves_a, spec_a = optree.tree_flatten(a, namespace=NAMESPACE)
    leaves_b, spec_b = optree.tree_flatten(b, namespace=NAMESPACE)
    if spec_a != spec_b:
        return False
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x_arr, y_arr = np.asarray(_key_data(x)), np.asarray(_key_data(y))
        if x_arr.shape != y_arr.shape:
            return False
        if not np.allclose(x_arr, y_arr, rtol=rtol, atol=atol, equal_nan=equal_nan):
            return False
    return True


def cast(tree: PyTree, dtype: Any, where: Callable[[Any], bool] | None = None) -> PyTree:
    """Cast the floating array leaves (or those selected by ``where``) to ``dtype``; others unchanged.

    Args:
        tree: Any pytree (a model, its gradients, ...).
        dtype: The target dtype.
        where: A predicate selecting the leaves to cast; floating arrays if None.

    Returns:
        A tree of the same structure.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> t = torsh.tree.cast({"w": jnp.ones(2), "i": jnp.arange(2)}, jnp.bfloat16)
        >>> t["w"].dtype, t["i"].dtype
        (dtype(bfloat16), dtype('int32'))
    """
    select = where or (lambda x: is_array(x) and jnp.issubdtype(x.dtype, jnp.floating))
    return map(lambda x: x.astype(dtype) if select(x) else x, tree)


def zeros_like(tree: PyTree) -> PyTree:
    """A tree of zero arrays with each array leaf's shape and dtype (non-array leaves unchanged).

    Args:
        tree: Any pytree.

    Returns:
        A tree of the same structure.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.zeros_like({"w": jnp.ones(2), "name": "fc"})
        {'w': Array([0., 0.], dtype=float32), 'name': 'fc'}
    """
    return map(lambda x: jnp.zeros_like(x) if is_array(x) else x, tree)


def ones_like(tree: PyTree) -> PyTree:
    """A tree of one arrays with each array leaf's shape and dtype (non-array leaves unchanged).

    Args:
        tree: Any pytree.

    Returns:
        A tree of the same structure.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.ones_like({"w": jnp.zeros(2), "n": 3})
        {'w': Array([1., 1.], dtype=float32), 'n': 3}
    """
    return map(lambda x: jnp.ones_like(x) if is_array(x) else x, tree)


def trainable_mask(tree: PyTree) -> PyTree:
    """A tree of booleans: True for leaves that gradients and optimizers act on.

    A leaf is trainable when it is inexact (floating/complex) and does not sit under a struct field
    declared as a buffer, nor under one the struct reports as frozen (``_torsh_frozen_fields()``).

    Args:
        tree: Any pytree (typically a model).

    Returns:
        A tree of ``tree``'s structure with a bool at every leaf.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.tree.trainable_mask({"w": jnp.ones(2), "step": jnp.int32(0)})
        {'w': True, 'step': False}
    """
    from ._struct import Struct

    def walk(node: Any, allowed: bool) -> Any:
        if optree.tree_is_leaf(node, namespace=NAMESPACE):
            return allowed and is_inexact(node)
        blocked: set[str] = set()
        if isinstance(node, Struct):
            blocked = set(node.__torsh_buffer_fields__)
            frozen = getattr(node, "_torsh_frozen_fields", None)
            if frozen is not None:
                blocked |= set(frozen())
        children, meta, entries, rebuild = optree.tree_flatten_one_level(node, namespace=NAMESPACE)
        return rebuild(
            meta, [walk(c, allowed and str(e) not in blocked) for c, e in zip(children, entries, strict=True)]
        )

    return walk(tree, True)
