"""Immutable dataclass pytrees with static (configuration) fields.

A :class:`Struct` subclass is a dataclass whose array fields are pytree children and whose
``static`` fields are hashable configuration kept in the tree structure, so it passes through
``jax.jit``, ``jax.grad`` and torsh's transforms with no filtering step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar

import jax
import numpy as np
import optree

from ..errors import ConfigError, FrozenInstanceError
from ._registry import NAMESPACE, InstanceFields, register_struct_node

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
else:  # typing_extensions comes with optree
    from typing_extensions import dataclass_transform

__all__ = ["Struct", "field", "static", "fields", "is_struct"]

_INIT_FLAG = "__torsh_initializing__"
_CONSTRUCTION = threading.local()  # .depth: hand-written __init__s running on this thread
S = TypeVar("S", bound="Struct")


def field(
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    static: bool = False,
    buffer: bool = False,
    inline: bool = False,
    repr: bool = True,
    metadata: dict | None = None,
) -> Any:
    """Declare a field of a :class:`Struct`.

    Args:
        default: As in :func:`dataclasses.field`.
        default_factory: As in :func:`dataclasses.field`.
        static: Configuration, not data: kept in the tree structure (must be hashable); changing it
            retraces jitted functions.
        buffer: A non-trainable data leaf (e.g. BatchNorm running statistics): gradients and optimizers
            skip it, but it is saved and moved like any array.
        inline: Leave this field's name out of dotted paths (containers such as ``Sequential``).
        repr: Show the field in the struct's repr.
        metadata: Extra dataclass metadata.

    Returns:
        A ``dataclasses.Field`` carrying torsh's metadata.

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
    """Shorthand for ``field(static=True, default=...)``: a configuration field kept in the tree structure.

    Args:
        default: The default value (hashable).
        **kwargs: Other arguments of :func:`field`.

    Returns:
        A ``dataclasses.Field`` marked static.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> class Scale(torsh.tree.Struct):
        ...     factor: float = torsh.tree.static(default=2.0)
        ...     def __call__(self, x):
        ...         return x * self.factor
        >>> float(Scale()(jnp.float32(3.0)))
        6.0
        >>> torsh.tree.leaves(Scale())  # static fields are not leaves
        []
    """
    return field(default=default, static=True, **kwargs)


def buffer(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """Declare a buffer field: an array that is saved and moved with the module but never trained.

    Public as :func:`torsh.nn.buffer` (it lives here so that type checkers know it as a field
    specifier of :class:`Struct`). Write the default as a keyword (``buffer(default=None)``): type
    checkers do not read a positional default.

    Args:
      default: the field's default value (a keyword for type checkers; positional works at run time).
      **kwargs: the other arguments of :func:`field` (``default_factory``, ``repr``, ``metadata``...).

    Returns:
      A dataclass field marked as a buffer.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import nn
      >>> class Scaler(nn.Module):
      ...     scale: jax.Array = nn.buffer()
      ...     def forward(self, x):
      ...         return x * self.scale
      >>> [name for name, _ in Scaler(jnp.float32(2.0)).named_buffers()]
      ['scale']
    """
    return field(default=default, buffer=True, **kwargs)


def fields(struct: Struct | type[Struct]) -> tuple[dataclasses.Field, ...]:
    """The dataclass fields of a struct (instance or class).

    Args:
        struct: A :class:`Struct` subclass or instance.

    Returns:
        A tuple of ``dataclasses.Field`` in declaration order.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> class Point(torsh.tree.Struct):
        ...     x: jnp.ndarray
        ...     label: str = torsh.tree.static(default="p")
        >>> [f.name for f in torsh.tree.fields(Point)]
        ['x', 'label']
    """
    return dataclasses.fields(struct)


def is_struct(x: Any) -> bool:
    """True for instances of :class:`Struct` (torsh modules and optimizer states included).

    Args:
        x: Any value.

    Returns:
        Whether ``x`` is a struct instance.

    Example:
        >>> import torsh
        >>> from torsh import nn
        >>> torsh.tree.is_struct(nn.Linear(2, 2, key=torsh.random.key(0))), torsh.tree.is_struct({"w": 1})
        (True, False)
    """
    return isinstance(x, Struct)


def _is_reserved(name: str) -> bool:
    """Bookkeeping entries of ``__dict__`` that are not fields."""
    return name.startswith("__torsh") and name.endswith("__")


class _Frozen:
    """Hash/equality key of an unhashable static value (a list, dict, argparse.Namespace...).

    Compared by value (a deep tuple copy taken at construction); objects with neither a hash nor a
    ``__dict__`` are compared by identity. The value itself is kept for the instance.
    """

    __slots__ = ("key", "_hash")

    def __init__(self, value: Any) -> None:
        self.key = _deep_freeze(value)
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return type(other) is _Frozen and self._hash == other._hash and self.key == other.key


def _deep_freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return (dict, tuple((_deep_freeze(k), _deep_freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return (type(v), tuple(_deep_freeze(x) for x in v))
    if isinstance(v, (set, frozenset)):
        return (frozenset, frozenset(_deep_freeze(x) for x in v))
    try:
        hash(v)
        return v
    except TypeError:
        pass
    if hasattr(v, "__dict__"):
        return (type(v), _deep_freeze(vars(v)))
    return (id, id(v))


def _static_key(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return _Frozen(value)


def _is_data_leaf(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, Struct))


def _classify(owner: str, name: str, value: Any) -> bool:
    """True if an attribute assigned in ``__init__`` is data (a child), False if static configuration.

    Data: arrays, structs/modules, ``None`` and containers (list/tuple/dict) of them. Static: every
    other value (numbers, strings, tuples of numbers, functions, config objects).
    """
    if value is None or _is_data_leaf(value):
        return True
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        raise ConfigError(
            f"{owner}.{name} is a torch tensor; torsh modules hold JAX arrays: assign "
            f"`jnp.asarray({name}.detach().cpu().numpy())`, or load torch weights with load_state_dict"
        )
    leaves = optree.tree_leaves(value, is_leaf=lambda x: isinstance(x, Struct), namespace=NAMESPACE)
    data = [_is_data_leaf(x) for x in leaves]
    if not any(data):
        return False
    if all(data):
        return True
    other = next(x for x, is_data in zip(leaves, data, strict=True) if not is_data)
    raise ConfigError(
        f"{owner}.{name} mixes arrays/modules with other values (e.g. {type(other).__name__} {other!r:.40}); "
        "a field is either data (arrays, modules, containers of them) or static configuration: split it "
        "into two attributes (wrap functions as nn.Lambda(fn))"
    )


def constructing() -> bool:
    """True while a hand-written ``__init__`` of a struct or module runs on this thread."""
    return getattr(_CONSTRUCTION, "depth", 0) > 0


def _wrap_init(init: Any) -> Any:
    """Allow attribute assignment while ``__init__`` runs (including nested super() calls), then freeze."""

    @functools.wraps(init)
    def __init__(self: Struct, *args: Any, **kwargs: Any) -> None:
        d = self.__dict__
        depth = d.get(_INIT_FLAG, 0)
        d[_INIT_FLAG] = depth + 1
        _CONSTRUCTION.depth = getattr(_CONSTRUCTION, "depth", 0) + 1
        try:
            init(self, *args, **kwargs)
        finally:
            _CONSTRUCTION.depth -= 1
            if depth:
                d[_INIT_FLAG] = depth
            else:
                del d[_INIT_FLAG]
        if not depth:
            self._torsh_check_init()

    __init__.__torsh_wrapped__ = True  # type: ignore[attr-defined]
    return __init__


@contextlib.contextmanager
def _module_in_sys_modules(cls: type) -> Iterator[None]:
    """Make ``sys.modules[cls.__module__]`` exist while ``dataclasses`` processes ``cls``.

    With ``from __future__ import annotations`` the annotations are strings, and ``dataclasses`` looks
    up the defining module in ``sys.modules`` to tell ``ClassVar``/``InitVar`` apart; code run by
    ``exec(src, {"__name__": "nb"})`` (notebooks, ``runpy``-like tools) has no such module, and
    ``dataclasses`` crashes. A stand-in module with the defining code's globals is registered for the
    duration (found on the stack: the frame running the ``class`` statement), then removed.
    """
    name = cls.__module__
    if name in sys.modules:
        yield
        return
    stand_in = types.ModuleType(name)
    frame: types.FrameType | None = sys._getframe(
        2
    )  # this generator <- contextmanager's __enter__ <- __init_subclass__ ...
    while frame is not None and frame.f_globals.get("__name__") != name:
        frame = frame.f_back
    if frame is not None:
        stand_in.__dict__.update(frame.f_globals)
    sys.modules[name] = stand_in
    try:
        yield
    finally:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]


@dataclass_transform(eq_default=False, field_specifiers=(field, static, buffer, dataclasses.field))
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
      ...     label: str = torsh.tree.static(default="line")
      ...     def __call__(self, x):
      ...         return self.slope * x + self.offset
      >>> line = Line(jnp.float32(2.0), jnp.float32(1.0))
      >>> float(jax.jit(lambda m, x: m(x))(line, 3.0))
      7.0
      >>> float(line.replace(offset=jnp.float32(0.0))(3.0))
      6.0
    """

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by dataclass(); for type checkers
    __torsh_data_fields__: tuple[str, ...] = ()
    __torsh_static_fields__: tuple[str, ...] = ()
    __torsh_buffer_fields__: frozenset[str] = frozenset()
    __torsh_custom_init__: bool = False
    __torsh_init_declared__: bool | None = None
    # Open classes (modules) turn attributes assigned in __init__ without annotations into fields.
    __torsh_open__: bool = False

    def __init_subclass__(cls, *, init: bool | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own_init = "__init__" in cls.__dict__
        # A constructor written by hand (here or in a parent) is kept; otherwise generate a field-wise one.
        inherits_custom = getattr(cls, "__torsh_custom_init__", False)
        if init is not None and not isinstance(init, bool):
            raise ConfigError(f"class {cls.__name__}(..., init=...): expected True or False, got {init!r}")
        if init is False and not (own_init or inherits_custom):
            raise ConfigError(
                f"class {cls.__name__}(..., init=False): no parent defines __init__ to keep; drop init=False "
                "for the generated field-wise constructor, or write __init__"
            )
        custom = own_init or (inherits_custom and init is not True)
        cls.__torsh_custom_init__ = custom
        cls.__torsh_init_declared__ = init  # the class keyword as written (None: not given)
        with _module_in_sys_modules(cls):
            dataclasses.dataclass(cls, init=not custom, repr=False, eq=False)
        if "__init__" in cls.__dict__:
            cls.__init__ = _wrap_init(cls.__dict__["__init__"])  # type: ignore[method-assign]
        all_fields = dataclasses.fields(cls)
        data = tuple(f.name for f in all_fields if not f.metadata.get("static", False))
        meta = tuple(f.name for f in all_fields if f.metadata.get("static", False))
        cls.__torsh_data_fields__ = data
        cls.__torsh_static_fields__ = meta
        cls.__torsh_buffer_fields__ = frozenset(f.name for f in all_fields if f.metadata.get("buffer", False))
        inline = frozenset(f.name for f in all_fields if f.metadata.get("inline", False))
        register_struct_node(cls, data, meta, inline, open_=cls.__torsh_open__)

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
        for name in type(self).__torsh_static_fields__:
            value = d[name]
            try:
                hash(value)
            except TypeError:
                raise ConfigError(
                    f"{type(self).__name__}.{name} is a static field and must be hashable; got "
                    f"{type(value).__name__} {value!r} (use a tuple instead of a list)."
                ) from None
        if self.__torsh_open__:
            self._torsh_collect_instance_fields()
        else:
            declared = type(self).__dataclass_fields__
            extra = [n for n in d if n not in declared and not _is_reserved(n) and n != _INIT_FLAG]
            if extra:
                raise ConfigError(
                    f"{type(self).__name__}.__init__ set attribute(s) {extra} that are not fields: a "
                    "torsh.tree.Struct keeps only annotated fields, so they would be lost in jit/grad. "
                    f"Annotate them in the class body (`{extra[0]}: jax.Array`, or "
                    f"`{extra[0]}: int = torsh.tree.static()` for configuration), or subclass nn.Module, "
                    "which turns attributes assigned in __init__ into fields"
                )

    def _torsh_collect_instance_fields(self) -> None:
        """Record the attributes ``__init__`` set without class annotations as per-instance fields."""
        cls = type(self)
        d = self.__dict__
        old = d.get("__torsh_extra__")
        buffers = d.pop("__torsh_new_buffers__", None)
        if buffers is None:
            buffers = old.buffers if old is not None else frozenset()
        declared = cls.__dataclass_fields__
        extra = [n for n in d if n not in declared and not _is_reserved(n) and n != _INIT_FLAG]
        for key in (
            "__torsh_extra__",
            "__torsh_data_fields__",
            "__torsh_static_fields__",
            "__torsh_buffer_fields__",
        ):
            d.pop(key, None)
        if not extra:
            return
        for n in extra:
            if not n.isidentifier():
                raise ConfigError(f"{cls.__name__}: attribute name {n!r} is not an identifier")
        owner = cls.__name__
        data = tuple(n for n in extra if _classify(owner, n, d[n]))
        static = tuple(n for n in extra if n not in data)
        bad = sorted(b for b in buffers if b in static)
        if bad:
            raise ConfigError(
                f"{owner}: buffer(s) {bad} must be arrays, got {[type(d[b]).__name__ for b in bad]}"
            )
        values = tuple(d[n] for n in static)
        x = InstanceFields(
            cls,
            data,
            static,
            values,
            tuple(_static_key(v) for v in values),
            frozenset(b for b in buffers if b in data),
        )
        d["__torsh_extra__"] = x
        d["__torsh_data_fields__"] = x.all_data
        d["__torsh_static_fields__"] = x.all_static
        d["__torsh_buffer_fields__"] = x.all_buffers

    def _torsh_field_names(self) -> tuple[str, ...]:
        """Declared fields, then the fields this instance added in ``__init__``."""
        names = tuple(f.name for f in dataclasses.fields(self))
        x = self.__dict__.get("__torsh_extra__")
        return names if x is None else (*names, *x.data, *x.static)

    # -- functional updates -------------------------------------------------------------------
    def replace(self: S, **changes: Any) -> S:
        """Return a copy with some fields replaced (the original is unchanged), like ``dataclasses.replace``.

        Args:
            **changes: New values by field name.

        Returns:
            The changed copy.

        Raises:
            ConfigError: If a name is not a field, or a new static value is not hashable.

        Example:
            >>> import torsh, jax.numpy as jnp
            >>> from torsh import nn
            >>> layer = nn.Linear(3, 2, key=torsh.random.key(0))
            >>> zeroed = layer.replace(bias=jnp.zeros(2))
            >>> zeroed.bias.tolist(), bool((layer.bias == zeroed.bias).all())
            ([0.0, 0.0], False)
        """
        names = set(self._torsh_field_names())
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}.replace: unknown field(s) {unknown}; fields are {sorted(names)}"
            )
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(changes)
        cls = type(self)
        if any(name in changes for name in cls.__torsh_static_fields__):
            new._torsh_check_init()  # re-checks hashability (and re-collects instance fields)
        elif cls.__torsh_open__ and any(name not in cls.__dataclass_fields__ for name in changes):
            new._torsh_collect_instance_fields()  # an instance field may change kind (None -> array)
        return new

    def __copy__(self: S) -> S:
        return self.replace()

    def __deepcopy__(self: S, memo: dict) -> S:
        import copy

        new = object.__new__(type(self))
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    def __iter_fields__(self) -> Iterator[tuple[str, Any]]:
        for name in self._torsh_field_names():
            yield name, self.__dict__[name]

    def __repr__(self) -> str:
        from ._repr import struct_repr

        return struct_repr(self)
