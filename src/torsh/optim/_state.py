"""Optimizer states: named :class:`torsh.tree.Struct` pytrees, saved and loaded by dotted names.

A state is a plain pytree of arrays plus static configuration, so ``torsh.tree.flatten_with_path``
names every array (``exp_avg.0.weight``, ``step``, ``lr.default``) and any serialiser that saves
pytrees by path (safetensors) can save it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from ..errors import DTypeError, ShapeError, TreeError
from ..tree import Struct, array_summary

__all__ = ["OptState", "state_dict", "load_state_dict"]

T = TypeVar("T")
_MAX_LISTED = 8


_MAX_SHOWN = 12


def _leaf_text(x: Any) -> str:
    if getattr(x, "ndim", 1) == 0 and not isinstance(x, jax.core.Tracer):
        return f"{array_summary(x)}({np.asarray(x)!s})"
    return array_summary(x)


def _summarise(value: Any, indent: str) -> str:
    """Repr of a state field: nested states as structs, parameter-shaped trees as
    ``{dotted_name: f32[3,4]}`` (scalars with their value), mappings of mappings one per line."""
    inner = indent + "  "
    if isinstance(value, OptState):
        return value.__torsh_repr__(indent)
    if (
        isinstance(value, (tuple, list, Mapping))
        and value
        and all(isinstance(v, OptState) for v in (value.values() if isinstance(value, Mapping) else value))
    ):
        items = value.items() if isinstance(value, Mapping) else enumerate(value)
        body = ",\n".join(f"{inner}{k!r}: {v.__torsh_repr__(inner)}" for k, v in items)
        return "{\n" + body + f"\n{indent}}}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return _leaf_text(value)
    if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
        body = ",\n".join(f"{inner}{k!r}: {dict(v)!r}" for k, v in value.items())
        return "{\n" + body + f"\n{indent}}}"
    pairs, _ = _tree.flatten_with_path(value)
    if not any(hasattr(x, "shape") for _, x in pairs):
        return repr(value)
    entries = [f"{name!r}: {_leaf_text(x) if hasattr(x, 'shape') else repr(x)}" for name, x in pairs]
    more = len(entries) - _MAX_SHOWN
    if more > 0:
        entries = [*entries[:_MAX_SHOWN], f"... ({more} more)"]
    one_line = "{" + ", ".join(entries) + "}"
    if len(one_line) + len(indent) <= 100:
        return one_line
    return "{\n" + ",\n".join(inner + e for e in entries) + f"\n{indent}}}"


class OptState(Struct):
    """Base class of optimizer and gradient-transformation states.

    Subclasses declare their fields (``step``, ``lr``, ``exp_avg``, ...). Per-parameter fields are
    trees shaped like the parameters with ``None`` at leaves that are not trained.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.Adam(lr=1e-3).init({"w": jnp.zeros(3)})
      >>> sorted(state.state_dict())
      ['exp_avg.w', 'exp_avg_sq.w', 'lr.default', 'step']
    """

    def state_dict(self) -> dict[str, jax.Array]:
        """The arrays of this state by dotted name (see :func:`torsh.optim.state_dict`).

        Returns:
            ``{dotted_name: array}``, ready for :func:`torsh.save`.

        Example:
            >>> import jax.numpy as jnp
            >>> from torsh import optim
            >>> state = optim.SGD(lr=0.1, momentum=0.9).init({"w": jnp.ones(2)})
            >>> sorted(state.state_dict())
            ['lr.default', 'momentum_buffer.w', 'step']
        """
        return state_dict(self)

    def load_state_dict(self: T, values: Mapping[str, Any]) -> T:
        """A copy of this state with arrays from ``values`` (validated; see :func:`load_state_dict`).

        Args:
            values: ``{dotted_name: array}`` as produced by :meth:`state_dict`.

        Returns:
            A new state of this structure holding ``values``.

        Example:
            >>> import jax.numpy as jnp
            >>> from torsh import optim
            >>> state = optim.SGD(lr=0.1).init({"w": jnp.ones(2)})
            >>> restored = state.load_state_dict({**state.state_dict(), "step": jnp.array(5)})
            >>> int(restored.state_dict()["step"])
            5
        """
        return load_state_dict(self, values)

    def __torsh_repr__(self, indent: str = "") -> str:
        inner = indent + "  "
        parts = [f"{inner}{name}={_summarise(value, inner)}" for name, value in self.__iter_fields__()]
        if not parts:
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(\n" + ",\n".join(parts) + f"\n{indent})"


def state_dict(state: Any) -> dict[str, jax.Array]:
    """Flatten a state (any pytree) into ``{dotted_name: array}``.

    Args:
      state: an optimizer state, a chain state, or any pytree of arrays.

    Returns:
      A dict in leaf order; keys follow the parameters' dotted names, e.g. ``exp_avg.0.weight``.

    Raises:
      TreeError: two leaves would get the same name (dict keys containing dots).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.SGD(lr=0.1, momentum=0.9)
      >>> list(optim.state_dict(opt.init({"layer": {"weight": jnp.ones(2)}})))
      ['step', 'lr.default', 'momentum_buffer.layer.weight']
    """
    pairs, _ = _tree.flatten_with_path(state)
    out: dict[str, jax.Array] = {}
    for name, value in pairs:
        if name in out:
            raise TreeError(
                f"state_dict: two entries are both named {name!r} (a dict key that contains a dot?); "
                "rename the parameter so dotted names are unique"
            )
        out[name] = value
    return out


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


_PY_KINDS = {"b": (bool,), "i": (int,), "u": (int,), "f": (int, float), "c": (int, float, complex)}


def _as_array(name: str, value: Any, like: Any) -> Any:
    """``value`` as an array; Python numbers are accepted for entries of a compatible kind."""
    if isinstance(value, (bool, int, float, complex)):
        kind = np.dtype(like.dtype).kind
        allowed = _PY_KINDS.get(kind, ())
        if (isinstance(value, bool) and kind != "b") or not isinstance(value, allowed):
            raise DTypeError(
                f"load_state_dict: {name!r} expected {np.dtype(like.dtype)}, got Python "
                f"{type(value).__name__} {value!r}"
            )
        return np.asarray(value, dtype=like.dtype)
    if not hasattr(value, "shape") or not hasattr(value, "dtype"):
        raise DTypeError(
            f"load_state_dict: {name!r} expected an array of {np.dtype(like.dtype)}, "
            f"got {type(value).__name__}"
        )
    return value


def load_state_dict(like: T, values: Mapping[str, Any]) -> T:
    """Rebuild the state ``like`` with the arrays of ``values``.

    ``like`` is a state of the right structure, e.g. from ``opt.init(params)``.

    Keys, shapes and dtypes are all checked before anything is built, and every mismatch of a kind is
    reported at once.

    Args:
      like: the template state; its static configuration and structure are kept.
      values: ``{dotted_name: array}`` as produced by :func:`state_dict` (numpy or JAX arrays; Python
        numbers for scalar entries).

    Returns:
      A new state with the loaded arrays (placed with the template's shardings).

    Raises:
      TreeError: missing or unexpected keys (both listed).
      ShapeError: arrays whose shape differs from the template (named, with both shapes).
      DTypeError: arrays whose dtype differs from the template.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Adam(lr=1e-3)
      >>> state = opt.init({"w": jnp.zeros(2)})
      >>> sd = dict(state.state_dict(), step=jnp.int32(7))
      >>> int(optim.load_state_dict(state, sd).step)
      7
    """
    if not isinstance(values, Mapping):
        raise TreeError(f"load_state_dict: expected a mapping of name -> array, got {type(values).__name__}")
    pairs, spec = _tree.flatten_with_path(like)
    expected = [name for name, _ in pairs]
    expected_set = set(expected)
    missing = [n for n in expected if n not in values]
    unexpected = [str(k) for k in values if k not in expected_set]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys: {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {_listing(unexpected)}")
        raise TreeError(
            f"load_state_dict into {type(like).__name__}: " + "; ".join(parts) + " (was it saved from an "
            "optimizer with the same configuration, for parameters with the same names?)"
        )
    arrays, shape_errors, dtype_errors = [], [], []
    for name, template in pairs:
        value = _as_array(name, values[name], template)
        if tuple(value.shape) != tuple(template.shape):
            shape_errors.append(f"{name!r}: expected {list(template.shape)}, got {list(value.shape)}")
        elif np.dtype(value.dtype) != np.dtype(template.dtype):
            dtype_errors.append(f"{name!r}: expected {np.dtype(template.dtype)}, got {np.dtype(value.dtype)}")
        arrays.append(value)
    if shape_errors:
        raise ShapeError(f"load_state_dict: shape mismatch for {_listing(shape_errors)}")
    if dtype_errors:
        raise DTypeError(f"load_state_dict: dtype mismatch for {_listing(dtype_errors)}")
    placed = []
    for value, (_, template) in zip(arrays, pairs, strict=True):
        if isinstance(template, jax.Array) and not isinstance(template, jax.core.Tracer):
            placed.append(jax.device_put(value, template.sharding))
        else:
            placed.append(jnp.asarray(value))
    return _tree.unflatten(spec, placed)
