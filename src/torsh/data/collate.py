"""Collation: turn a list of samples into one batch.

:func:`default_collate` stacks the array leaves of any pytree (dicts, tuples, lists, named tuples,
torsh structs, plain dataclasses) into NumPy arrays with a new leading batch axis. Samples that do
not line up raise :class:`~torsh.data.CollateError` naming the sample and the field path.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optree

from ._errors import CollateError
from ._nojax import NAMESPACE, default_float_dtype, is_array, is_jax_array

__all__ = ["default_collate", "default_convert"]

_PY_SCALARS = (bool, int, float, complex)


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch with the samples' structure.

    * NumPy/JAX arrays are stacked along a new axis 0 (all must have the same shape and dtype).
    * NumPy scalars keep their dtype; Python ``bool``/``int``/``float``/``complex`` become ``bool``,
      ``int64``, the default float dtype (``torsh.get_default_dtype()``, float32) and ``complex64``.
    * ``str`` and ``bytes`` become lists.
    * Containers (dict, tuple, list, named tuple, torsh ``Struct``, dataclass) are collated field by
      field and keep their type.

    Raises:
      CollateError: shapes, dtypes, types or structures differ; the message names the sample's
        position in the batch (the loader adds its dataset index) and the field path.

    Args:
      samples: The samples of one batch (same structure each).

    Returns:
      The batch, with the samples' structure and a new leading axis on every array.

    Example:
      >>> import numpy as np
      >>> from torsh.data import default_collate
      >>> batch = default_collate([{"x": np.zeros(3), "y": 1}, {"x": np.ones(3), "y": 0}])
      >>> batch["x"].shape, batch["y"]
      ((2, 3), array([1, 0]))
    """
    return collate_into(samples, None)


Alloc = Callable[[tuple[int, ...], np.dtype], "np.ndarray | None"]


def collate_into(samples: Sequence[Any], alloc: Alloc | None) -> Any:
    """:func:`default_collate`, stacking each array column into ``alloc(shape, dtype)`` (a worker's
    shared-memory segment) instead of a fresh array; ``alloc`` may be or return None (a fresh array
    then). Same checks, errors, structure, dtypes and values as :func:`default_collate`."""
    if isinstance(samples, (str, bytes)) or not isinstance(samples, Sequence):
        raise CollateError(f"default_collate: expected a list of samples, got {type(samples).__name__}")
    if len(samples) == 0:
        raise CollateError("default_collate: expected at least one sample, got an empty list")
    return _collate(samples, "", alloc)


def default_convert(sample: Any) -> Any:
    """Used when a loader does not batch (``batch_size=None``): the sample is returned unchanged.

    Args:
        sample: One sample.

    Returns:
        ``sample`` unchanged.

    Example:
        >>> from torsh import data
        >>> data.default_convert({"x": 1})
        {'x': 1}
    """
    return sample


def _join(prefix: str, path: str) -> str:
    if not prefix:
        return path
    return f"{prefix}.{path}" if path else prefix


def _collate(samples: Sequence[Any], prefix: str, alloc: Alloc | None = None) -> Any:
    first = samples[0]
    leaves0, spec = optree.tree_flatten(first, namespace=NAMESPACE)
    columns: list[list[Any]] = [[leaf] for leaf in leaves0]
    for position in range(1, len(samples)):
        leaves, other_spec = optree.tree_flatten(samples[position], namespace=NAMESPACE)
        if other_spec != spec:
            raise _structure_error(first, samples[position], position, prefix)
        for column, leaf in zip(columns, leaves, strict=True):
            column.append(leaf)
    if not columns:
        return first
    paths: list[str] | None = None

    def path_of(i: int) -> str:
        nonlocal paths
        if paths is None:
            from ..tree import flatten_with_path  # names for an error message only: JAX may load

            paths = [p for p, _ in flatten_with_path(first)[0]]
        return _join(prefix, paths[i])

    out = [_collate_column(column, i, path_of, alloc) for i, column in enumerate(columns)]
    return optree.tree_unflatten(spec, out)


def _tree_paths(tree: Any) -> list[str]:
    from ..tree import paths  # names for an error message only: JAX may load

    return paths(tree)


def _describe(tree: Any) -> str:
    if optree.tree_is_leaf(tree, namespace=NAMESPACE):
        return type(tree).__name__
    return type(tree).__name__ + " with fields " + str(_tree_paths(tree))


def _structure_error(first: Any, other: Any, position: int, prefix: str) -> CollateError:
    mine = set(_tree_paths(first))
    theirs = set(_tree_paths(other))
    where = f"field `{prefix}`: " if prefix else ""
    if mine != theirs:
        detail = f"missing {sorted(mine - theirs)[:5]}, unexpected {sorted(theirs - mine)[:5]}"
    else:
        detail = f"expected {_describe(first)}, got {_describe(other)}"
    return CollateError(
        f"{where}the structure differs from the first sample of the batch: {detail}",
        position=position,
        path=prefix,
        detail=detail,
    )


def _shape_dtype(x: Any) -> tuple[tuple[int, ...], np.dtype] | None:
    if isinstance(x, np.ndarray):
        return x.shape, x.dtype
    if is_jax_array(x):
        return tuple(x.shape), np.dtype(x.dtype)
    return None


def _collate_column(
    column: list[Any], index: int, path_of: Callable[[int], str], alloc: Alloc | None = None
) -> Any:
    first = column[0]
    if is_array(first):
        return _stack_arrays(column, index, path_of, alloc)
    if isinstance(first, np.generic):
        return _stack_numpy_scalars(column, index, path_of)
    if isinstance(first, _PY_SCALARS):
        return _stack_python_scalars(column, index, path_of)
    if isinstance(first, (str, bytes)):
        kind = type(first)
        for position, value in enumerate(column):
            if not isinstance(value, kind):
                raise _mismatch(position, path_of(index), f"expected {kind.__name__}", type(value).__name__)
        return list(column)
    if dataclasses.is_dataclass(first) and not isinstance(first, type):
        return _collate_dataclass(column, path_of(index), alloc)
    raise CollateError(
        f"field `{path_of(index)}`: default_collate cannot batch {type(first).__name__} values "
        "(expected NumPy/JAX arrays, numbers, strings, or dicts/tuples/lists/dataclasses of them); "
        "convert the sample in a transform or pass a collate_fn",
        position=0,
        path=path_of(index),
    )


def _mismatch(position: int, path: str, expected: str, got: str) -> CollateError:
    where = f"field `{path}`: " if path else ""
    return CollateError(
        f"{where}{expected}, got {got}", position=position, path=path, detail=f"{expected}, got {got}"
    )


def _stack_arrays(
    column: list[Any], index: int, path_of: Callable[[int], str], alloc: Alloc | None = None
) -> np.ndarray:
    shape, dtype = _shape_dtype(column[0])  # type: ignore[misc]
    for position in range(1, len(column)):
        got = _shape_dtype(column[position])
        if got is None:
            raise _mismatch(position, path_of(index), "expected an array", type(column[position]).__name__)
        if got[0] != shape:
            raise _mismatch(position, path_of(index), f"expected shape {shape}", str(got[0]))
        if got[1] != dtype:
            raise _mismatch(position, path_of(index), f"expected dtype {dtype}", str(got[1]))
    out = alloc((len(column), *shape), dtype) if alloc is not None else None
    if out is not None:
        return np.stack(column, out=out)
    return np.stack(column)


def _stack_numpy_scalars(column: list[Any], index: int, path_of: Callable[[int], str]) -> np.ndarray:
    dtype = column[0].dtype
    for position, value in enumerate(column):
        if not isinstance(value, np.generic) or value.dtype != dtype:
            got = str(value.dtype) if isinstance(value, np.generic) else type(value).__name__
            raise _mismatch(position, path_of(index), f"expected a NumPy {dtype} scalar", got)
    return np.array(column, dtype=dtype)


def _python_dtype(kind: type) -> np.dtype:
    if kind is bool:
        return np.dtype(np.bool_)
    if kind is int:
        return np.dtype(np.int64)
    if kind is float:
        return default_float_dtype()
    return np.dtype(np.complex64)


def _stack_python_scalars(column: list[Any], index: int, path_of: Callable[[int], str]) -> np.ndarray:
    kind = type(column[0])
    for position, value in enumerate(column):
        if type(value) is not kind:
            raise _mismatch(position, path_of(index), f"expected {kind.__name__}", type(value).__name__)
    dtype = _python_dtype(kind)
    if kind is int:
        info = np.iinfo(dtype)
        for position, value in enumerate(column):
            if not info.min <= value <= info.max:
                shown = f"{value}" if abs(value) < 10**30 else f"an int of {value.bit_length()} bits"
                raise _mismatch(
                    position,
                    path_of(index),
                    f"Python ints are collated as {dtype}, whose range is [{info.min}, {info.max}]",
                    f"{shown}; store such values as float, str or an object array and pass a collate_fn",
                )
    return np.array(column, dtype=dtype)


def _collate_dataclass(column: list[Any], path: str, alloc: Alloc | None = None) -> Any:
    kind = type(column[0])
    for position, value in enumerate(column):
        if type(value) is not kind:
            raise _mismatch(position, path, f"expected {kind.__name__}", type(value).__name__)
    out = copy.copy(column[0])
    for f in dataclasses.fields(kind):
        values = [getattr(v, f.name) for v in column]
        object.__setattr__(out, f.name, _collate(values, _join(path, f.name), alloc))
    return out
