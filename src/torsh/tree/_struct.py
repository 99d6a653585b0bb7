"""Immutable dataclass pytrees with static (configuration) fields.

A :class:`Struct` subclass is a dataclass whose array fields are pytree children and whose
``static`` fields are hashable configuration kept in the tree structure, so it passes through
``jax.jit``, ``jax.grad`` and torsh's transforms with no filtering step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator
from typing import Any, TypeVar

from ..errors import ConfigError, FrozenInstanceError
from ._registry import register_struct_node

__all__ = ["Struct", "field", "static", "fields", "is_struct"]

_INIT_FLAG = "__torsh_initializing__"
S = TypeVar("S", bound="Struct")


def field(
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    static: bool = False,
    buffer: bool = False,
    inline: bool = False,
    repr: bool = True,  # noqa: A002 - mirrors dataclasses.field
    metadata: dict | None = None,
) -> Any:
    """Declare a field of a :class:`Struct`.

    Args:
      default, default_factory: as in :func:`dataclasses.field`.
      static: configuration, not data: kept in the tree structure (must be hashable); changing it
        retraces jitted functions.
      buffer: a non-trainable data leaf (e.g. BatchNorm running statistics): gradients and optimizers
        skip it, but it is saved and moved like any array.
      inline: leave this field's name out of dotted paths (containers such as ``Sequential``).
      metadata: extra dataclass metadata.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> class Affine(torsh.tree.Struct):
      ...     scale: jnp.ndarray
      ...     name: str = torsh.tree.field(static=True, default="affine")
      >>> Affine(jnp.ones(2)).name
      'affine'
    """
    md = dict(metadata or {})
    md.update(static=static, buffer=buffer, inline=inline)
    return dataclasses.field(default=default, default_factory=default_factory, repr=repr, metadata=md)


def static(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """Shorthand for ``field(static=True, default=...)``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> class Scale(torsh.tree.Struct):
      ...     factor: float = torsh.tree.static(2.0)
      ...     def __call__(self, x):
      ...         return x * self.factor
      >>> float(Scale()(jnp.float32(3.0)))
      6.0
    """
    return field(default=default, static=True, **kwargs)


def fields(struct: Struct | type[Struct]) -> tuple[dataclasses.Field, ...]:
    """The dataclass fields of a struct (instance or class)."""
    return dataclasses.fields(struct)


def is_struct(x: Any) -> bool:
    """True for instances of :class:`Struct`."""
    return isinstance(x, Struct)


def _wrap_init(init: Any) -> Any:
    """Allow attribute assignment while ``__init__`` runs (including nested super() calls), then freeze."""

    @functools.wraps(init)
    def __init__(self: Struct, *args: Any, **kwargs: Any) -> None:
        d = self.__dict__
        depth = d.get(_INIT_FLAG, 0)
        d[_INIT_FLAG] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            if depth:
                d[_INIT_FLAG] = depth
            else:
                del d[_INIT_FLAG]
        if not depth:
            self._torsh_check_init()

    __init__.__torsh_wrapped__ = True  # type: ignore[attr-defined]
    return __init__


class Struct:
    """Base class of immutable dataclass pytrees (torsh modules, optimizer states, ...).

    Annotated class attributes become fields. Fields are pytree children (arrays or subtrees) unless
    declared ``static`` (hashable configuration). A subclass may define its own ``__init__`` (assigning
    ``self.x = ...`` is allowed while it runs); otherwise a field-wise one is generated. After
    construction the instance is frozen: use :meth:`replace` to derive a changed copy.

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> class Line(torsh.tree.Struct):
      ...     slope: jax.Array
      ...     offset: jax.Array
      ...     label: str = torsh.tree.static("line")
      ...     def __call__(self, x):
      ...         return self.slope * x + self.offset
      >>> line = Line(jnp.float32(2.0), jnp.float32(1.0))
      >>> float(jax.jit(lambda m, x: m(x))(line, 3.0))
      7.0
      >>> float(line.replace(offset=jnp.float32(0.0))(3.0))
      6.0
    """

    __torsh_data_fields__: tuple[str, ...] = ()
    __torsh_static_fields__: tuple[str, ...] = ()
    __torsh_buffer_fields__: frozenset[str] = frozenset()
    __torsh_custom_init__: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_init = "__init__" in cls.__dict__
        # A constructor written by hand (here or in a parent) is kept; otherwise generate a field-wise one.
        inherits_custom = getattr(cls, "__torsh_custom_init__", False)
        cls.__torsh_custom_init__ = own_init or inherits_custom
        dataclasses.dataclass(cls, init=not (own_init or inherits_custom), repr=False, eq=False)
        if "__init__" in cls.__dict__:
            cls.__init__ = _wrap_init(cls.__dict__["__init__"])  # type: ignore[method-assign]
        all_fields = dataclasses.fields(cls)
        data = tuple(f.name for f in all_fields if not f.metadata.get("static", False))
        meta = tuple(f.name for f in all_fields if f.metadata.get("static", False))
        cls.__torsh_data_fields__ = data
        cls.__torsh_static_fields__ = meta
        cls.__torsh_buffer_fields__ = frozenset(f.name for f in all_fields if f.metadata.get("buffer", False))
        inline = frozenset(f.name for f in all_fields if f.metadata.get("inline", False))
        register_struct_node(cls, data, meta, inline)

    # -- immutability -------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if _INIT_FLAG in self.__dict__:
            object.__setattr__(self, name, value)
            return
        raise FrozenInstanceError(
            f"{type(self).__name__} is immutable: cannot set {name!r}. "
            f"Use `obj = obj.replace({name}=...)` to get a changed copy."
        )

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"{type(self).__name__} is immutable: cannot delete {name!r}.")

    def _torsh_check_init(self) -> None:
        d = self.__dict__
        missing = [f.name for f in dataclasses.fields(self) if f.name not in d]
        if missing:
            raise ConfigError(
                f"{type(self).__name__}.__init__ did not set field(s) {missing}; every declared field "
                "must be assigned (use None for an absent array)."
            )
        for name in self.__torsh_static_fields__:
            value = d[name]
            try:
                hash(value)
            except TypeError:
                raise ConfigError(
                    f"{type(self).__name__}.{name} is a static field and must be hashable; got "
                    f"{type(value).__name__} {value!r} (use a tuple instead of a list)."
                ) from None

    # -- functional updates -------------------------------------------------------------------
    def replace(self: S, **changes: Any) -> S:
        """Return a copy with some fields replaced (the original is unchanged)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}.replace: unknown field(s) {unknown}; fields are {sorted(names)}"
            )
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        for name in self.__torsh_static_fields__:
            if name in changes:
                new._torsh_check_init()
                break
        return new

    def __copy__(self: S) -> S:
        return self.replace()

    def __deepcopy__(self: S, memo: dict) -> S:
        import copy

        new = object.__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __iter_fields__(self) -> Iterator[tuple[str, Any]]:
        for f in dataclasses.fields(self):
            yield f.name, self.__dict__[f.name]

    def __repr__(self) -> str:
        from ._repr import struct_repr

        return struct_repr(self)
