"""``parameters_to_vector`` and ``vector_to_parameters`` (``torch.nn.utils.convert_parameters``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar, overload

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from .. import _walk
from ..module import Module

__all__ = ["parameters_to_vector", "vector_to_parameters"]

M = TypeVar("M", bound=Module)


def _arrays(parameters: Any, fn: str) -> list[jax.Array]:
    if isinstance(parameters, Module):
        return list(parameters.parameters())
    if _walk.is_array(parameters):
        raise ConfigError(
            f"{fn}: expected an iterable of arrays (model.parameters()) or a module, got a single array; "
            "wrap it in a list"
        )
    if not isinstance(parameters, Iterable):
        raise ConfigError(
            f"{fn}: expected an iterable of arrays or a module, got {type(parameters).__name__}"
        )
    out = list(parameters)
    bad = [i for i, p in enumerate(out) if not _walk.is_array(p)]
    if bad:
        raise ConfigError(f"{fn}: expected arrays, got {type(out[bad[0]]).__name__} at position {bad[0]}")
    return out


def parameters_to_vector(parameters: Iterable[jax.Array] | Module) -> jax.Array:
    """One 1-D array holding every parameter, flattened and concatenated (``torch.nn.utils``).

    Args:
      parameters: arrays (``model.parameters()``) or a module (its parameters, buffers excluded).

    Returns:
      The concatenation of the flattened arrays (dtype promoted as ``jnp.concatenate`` does).

    Raises:
      ConfigError: not an iterable of arrays (or a module).

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> from torsh.nn.utils import parameters_to_vector
      >>> parameters_to_vector(nn.Linear(3, 2, key=0).parameters()).shape
      (8,)
    """
    arrays = _arrays(parameters, "parameters_to_vector")
    if not arrays:
        return jnp.zeros((0,))
    return jnp.concatenate([jnp.ravel(p) for p in arrays])


@overload
def vector_to_parameters(vec: jax.Array, parameters: M) -> M: ...
@overload
def vector_to_parameters(vec: jax.Array, parameters: Iterable[jax.Array]) -> list[jax.Array]: ...
def vector_to_parameters(vec: jax.Array, parameters: Any) -> Any:
    """Split a 1-D array into arrays shaped like ``parameters`` (``torch.nn.utils``, but pure).

    PyTorch copies into the parameters in place; torsh returns the new values: a module with its
    parameters replaced (given a module), or a list of arrays (given arrays). Each piece takes the
    dtype of the parameter it replaces. ``vec`` must have exactly as many elements as the parameters.

    Args:
      vec: a 1-D array, e.g. from :func:`parameters_to_vector`.
      parameters: a module, or the arrays whose shapes to use.

    Returns:
      The module with new parameters, or a list of arrays.

    Raises:
      ConfigError: ``vec`` is not an array, or ``parameters`` not arrays/a module.
      ShapeError: ``vec`` is not 1-D or its length differs from the number of parameter elements.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils import vector_to_parameters
      >>> layer = vector_to_parameters(jnp.arange(8.0), nn.Linear(3, 2, key=0))
      >>> layer.weight.tolist(), layer.bias.tolist()
      ([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], [6.0, 7.0])
    """
    fn = "vector_to_parameters"
    if not _walk.is_array(vec):
        raise ConfigError(f"{fn}: expected vec to be an array, but got: {type(vec).__name__}")
    arrays = _arrays(parameters, fn)
    total = sum(int(np.prod(p.shape)) for p in arrays)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ShapeError(
            f"{fn}: expected a 1-D vec of {total} elements (the parameters' total), "
            f"got shape {list(vec.shape)}"
        )
    pieces = []
    start = 0
    for p in arrays:
        n = int(np.prod(p.shape))
        pieces.append(vec[start : start + n].reshape(p.shape).astype(p.dtype))
        start += n
    if not isinstance(parameters, Module):
        return pieces
    names = [name for name, _ in parameters.named_parameters()]
    return parameters.replace(**dict(zip(names, pieces, strict=True)))
