"""Trace-time shape and dtype checks from jaxtyping annotations: :func:`shaped`.

A ``forward`` annotated with jaxtyping (``x: Float[Array, "*batch in"]``) and decorated with
``@nn.shaped(dims={"in": "in_features"})`` checks every call's annotated arguments and result against
one table of dimension sizes: names bound from the module's own fields first, then by the arguments
in order, then checked on the result. A mismatch raises :class:`ShapeAnnotationError` (a
:class:`~torsh.errors.ShapeError`) naming the dimension, the argument and both sizes; ``Module.__call__``
prefixes the module path on the way out:

    layers.2 (Linear 512->10): dim "in" is 256 in input [128, 256], expected 512 (in_features)

The checks are plain Python on ``.shape``/``.dtype``: under ``jax.jit`` they run once, while the
function is traced, and the compiled call does not contain them. Eager calls run them every time.

jaxtyping parses the annotation strings (its documented syntax: ``name``, ``3``, ``*name``, ``...``,
``_``, ``#name`` broadcastable, symbolic ``c*k``); this module does the checking itself, so the
messages can say where an expected size came from, and no runtime type checker is needed.
"""

from __future__ import annotations

import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

import jaxtyping
from jaxtyping._array_types import (  # the parsed dims of an annotation (jaxtyping>=0.3)
    _AnonymousDim,
    _AnonymousVariadicDim,
    _FixedDim,
    _NamedDim,
    _NamedVariadicDim,
    _SymbolicDim,
)

from ..errors import ConfigError, DTypeError, ShapeError
from ._utils import shape_str

__all__ = ["ShapeAnnotationError", "shaped"]

F = TypeVar("F", bound=Callable[..., Any])
DimSource = str | Callable[[Any], "int | Sequence[int] | None"]

# jaxtyping's dtype categories in words, for messages.
_KINDS = {
    "Float": "floating-point",
    "Int": "signed integer",
    "UInt": "unsigned integer",
    "Integer": "integer",
    "Bool": "bool",
    "Complex": "complex",
    "Inexact": "floating-point or complex",
    "Real": "real (integer or floating-point)",
    "Num": "numeric",
}

# Names a symbolic dimension (``c*k``, ``h//2``) may use besides the bound dimensions.
_SYMBOLIC_BUILTINS = {"min": min, "max": max, "abs": abs, "prod": math.prod}


class ShapeAnnotationError(ShapeError):
    """An argument or result of a :func:`shaped` function disagrees with its jaxtyping annotation.

    Attributes:
      argument: the parameter name (``"input"``), or ``"output"``/``"output[1]"`` for results.
      dim: the dimension's name in the annotation (``"in"``, ``"*batch"``, ``"c*k"``), the axis size
        for a fixed dimension (``"3"``), or None when the number of axes is wrong.
      got: the size found (a tuple for ``*name`` dimensions; the number of axes when ``dim`` is None).
      expected: the size expected (as ``got``), or None when a symbolic dimension could not be bound.

    Args:
      message: the error text.
      argument: see Attributes.
      dim: see Attributes.
      got: see Attributes.
      expected: see Attributes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> try:
      ...     nn.Linear(4, 2, key=torsh.random.key(0))(jnp.ones((3, 5)))
      ... except nn.ShapeAnnotationError as e:
      ...     print(e)
      ...     print(e.dim, e.got, e.expected)
      Linear 4->2: dim "in" is 5 in input [3, 5], expected 4 (in_features)
      in 5 4
    """

    def __init__(
        self,
        message: str,
        argument: str = "",
        dim: str | None = None,
        got: Any = None,
        expected: Any = None,
    ) -> None:
        super().__init__(message)
        self.argument = argument
        self.dim = dim
        self.got = got
        self.expected = expected


# -- compiled annotations -------------------------------------------------------------------------
_NAMED, _FIXED, _SYMBOLIC, _ANON, _VARIADIC, _ANON_VARIADIC = range(6)


class _ArraySpec:
    """One jaxtyping array annotation, flattened for a fast check."""

    __slots__ = ("dims", "dtypes", "dtype_name", "seen", "variadic", "text")

    def __init__(self, ann: type) -> None:
        dims: list[tuple[int, Any, bool, str]] = []  # (kind, name | size | code, broadcastable, label)
        self.variadic: int | None = None
        for i, d in enumerate(ann.dims):  # type: ignore[attr-defined]
            if isinstance(d, _NamedVariadicDim):
                dims.append((_VARIADIC, d.name, d.broadcastable, f"*{d.name}"))
                self.variadic = i
            elif isinstance(d, _AnonymousVariadicDim):
                dims.append((_ANON_VARIADIC, None, False, "..."))
                self.variadic = i
            elif isinstance(d, _NamedDim):
                dims.append((_NAMED, d.name, d.broadcastable, d.name))
            elif isinstance(d, _FixedDim):
                dims.append((_FIXED, d.size, d.broadcastable, str(d.size)))
            elif isinstance(d, _SymbolicDim):
                code = compile(d.elem, f"<dim {d.elem}>", "eval")
                dims.append((_SYMBOLIC, code, d.broadcastable, d.elem))
            elif isinstance(d, _AnonymousDim):
                dims.append((_ANON, None, False, "_"))
            else:  # a jaxtyping version with a dim kind this module does not know
                raise ConfigError(f"nn.shaped: unsupported jaxtyping dimension {d!r} in {ann.__name__}")
        self.dims = tuple(dims)
        dtypes = ann.dtypes  # type: ignore[attr-defined]
        self.dtypes = frozenset(dtypes) if isinstance(dtypes, (tuple, list)) else None  # None: Shaped
        self.seen: set[Any] = set()  # dtype objects already accepted (str(dtype) costs more than a lookup)
        self.dtype_name = ann.dtype.__name__  # type: ignore[attr-defined]
        self.text = "[" + ", ".join(label for *_, label in dims) + "]"


# A node of an argument's annotation: an array, an optional one, a tuple of nodes, or an unchecked value.
_Node = _ArraySpec | tuple


def _compile(ann: Any, where: str) -> _Node | None:
    """The check for one annotation, or None when nothing in it is a jaxtyping array."""
    if isinstance(ann, type) and issubclass(ann, jaxtyping.AbstractArray):
        return _ArraySpec(ann)
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is typing.Union or origin is types.UnionType:
        inner = [a for a in args if a is not type(None)]
        nodes = [n for n in (_compile(a, where) for a in inner) if n is not None]
        if not nodes:
            return None
        if len(nodes) > 1 or len(inner) > 1:
            raise ConfigError(
                f"nn.shaped: {where} is annotated {ann}; only `ArrayAnnotation | None` unions are checked"
            )
        return ("optional", nodes[0])
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            node = _compile(args[0], where)
            return None if node is None else ("tuple...", node)
        items = tuple(_compile(a, where) for a in args)
        return None if all(n is None for n in items) else ("tuple", items)
    return None


class _Spec:
    """What to check for one decorated function: its parameters' and result's annotations."""

    __slots__ = ("params", "varargs", "result", "any")

    def __init__(self, fn: Callable) -> None:
        try:
            hints = typing.get_type_hints(fn)
        except Exception as e:  # NameError & co: an annotation that does not evaluate
            raise ConfigError(
                f"nn.shaped: the annotations of {fn.__qualname__} do not evaluate ({type(e).__name__}: {e}); "
                "import the names they use (jaxtyping's Float, jax.Array ...) at module level"
            ) from e
        self.params: list[tuple[int | None, str, _Node]] = []  # (position or None, name, node)
        self.varargs: tuple[int, str, _Node] | None = None
        position = 0
        for p in inspect.signature(fn).parameters.values():
            node = _compile(hints[p.name], f"argument {p.name!r}") if p.name in hints else None
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                if node is not None:
                    self.params.append((position, p.name, node))
                position += 1
            elif p.kind is p.VAR_POSITIONAL and node is not None:
                self.varargs = (position, p.name, node)
            elif p.kind is p.KEYWORD_ONLY and node is not None:
                self.params.append((None, p.name, node))
        self.result = _compile(hints["return"], "the result") if "return" in hints else None
        self.any = bool(self.params) or self.varargs is not None or self.result is not None


# -- checking -------------------------------------------------------------------------------------
class _Memo:
    """The sizes bound so far in one call: name -> (size or tuple of sizes, where it was bound)."""

    __slots__ = ("sizes", "deferred")

    def __init__(self) -> None:
        self.sizes: dict[str, tuple[Any, Any]] = {}
        self.deferred: list[tuple[tuple, str, int, tuple]] = []  # symbolic dims, checked once all are bound


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # symbolic sizes (jax.export) that cannot be compared: leave them to XLA
        return True


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _axes(n: int) -> str:
    return "1 axis" if n == 1 else f"{n} axes"


def _fmt(size: Any) -> str:
    return shape_str(size) if isinstance(size, tuple) else str(size)


def _mismatch(
    label: str, got: Any, arg: str, shape: tuple, expected: Any, source: Any
) -> ShapeAnnotationError:
    what = f'dims "{label}" are' if isinstance(got, tuple) else f'dim "{label}" is'
    return ShapeAnnotationError(
        f"{what} {_fmt(got)} in {arg} {shape_str(shape)}, expected {_fmt(expected)} ({_source(source)})",
        argument=arg,
        dim=label,
        got=got,
        expected=expected,
    )


def _bind(memo: _Memo, name: str, label: str, got: Any, arg: str, shape: tuple, broadcast: bool) -> None:
    if broadcast and got == 1:
        return
    bound = memo.sizes.get(name)
    if bound is None:
        memo.sizes[name] = (got, f"as in {arg}")
    else:
        want = bound[0]
        if got != want if type(got) is int and type(want) is int else not _same(got, want):
            raise _mismatch(label, got, arg, shape, want, bound[1])


def _check_array(spec: _ArraySpec, x: Any, arg: str, memo: _Memo) -> None:
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is None or dtype is None:  # not an array: the function's own checks say what it needs
        return
    if type(shape) is not tuple:
        shape = tuple(shape)
    if spec.dtypes is not None and dtype not in spec.seen:
        if str(dtype) in spec.dtypes:
            spec.seen.add(dtype)
        else:
            kind = _KINDS.get(spec.dtype_name, spec.dtype_name)
            raise DTypeError(
                f"{arg} is {dtype} {shape_str(shape)}, expected {_article(kind)} {kind} array "
                f"({spec.dtype_name} {spec.text})"
            )
    dims = spec.dims
    n, v = len(shape), spec.variadic
    if (n != len(dims)) if v is None else (n < len(dims) - 1):
        want = len(dims) if v is None else len(dims) - 1
        need = _axes(want) if v is None else f"at least {_axes(want)}"
        raise ShapeAnnotationError(
            f"{arg} has shape {shape_str(shape)} ({_axes(n)}), expected {spec.text} ({need})",
            argument=arg,
            got=n,
            expected=want,
        )
    tail = len(dims) - 1 - v if v is not None else 0
    for i, (kind, what, broadcast, label) in enumerate(dims):
        if v is not None and i == v:
            if kind == _VARIADIC:
                _bind(memo, "*" + what, label, shape[v : n - tail], arg, shape, False)
            continue
        axis = i if v is None or i < v else n - (len(dims) - i)
        size = shape[axis]
        if kind == _NAMED:
            _bind(memo, what, label, size, arg, shape, broadcast)
        elif kind == _FIXED:
            if not _same(size, what) and not (broadcast and size == 1):
                raise _mismatch(label, size, arg, shape, what, f"axis {axis} of {spec.text}")
        elif kind == _SYMBOLIC:
            memo.deferred.append((dims[i], arg, axis, shape))


def _check_deferred(memo: _Memo) -> None:
    """Symbolic dims (``c*k``), after every name of the arguments (or the result) is bound."""
    if not memo.deferred:
        return
    names = {k: v for k, (v, _) in memo.sizes.items() if not k.startswith("*")}
    for (_, code, broadcast, label), arg, axis, shape in memo.deferred:
        size = shape[axis]
        try:
            want = eval(
                code, {"__builtins__": _SYMBOLIC_BUILTINS}, names
            )  # code compiled from the annotation
        except NameError as e:
            raise ShapeAnnotationError(
                f'dim "{label}" of {arg} {shape_str(shape)} uses a name that no argument or field '
                f"binds ({e})",
                argument=arg,
                dim=label,
                got=size,
            ) from None
        if not _same(size, want) and not (broadcast and size == 1):
            used = ", ".join(f"{k}={names[k]}" for k in code.co_names if k in names)
            raise _mismatch(label, size, arg, shape, want, used or "its expression")
    memo.deferred.clear()


def _check_node(node: _Node, value: Any, arg: str, memo: _Memo) -> None:
    if isinstance(node, _ArraySpec):
        _check_array(node, value, arg, memo)
        return
    kind, inner = node
    if kind == "optional":
        if value is not None:
            _check_node(inner, value, arg, memo)
    elif isinstance(value, (tuple, list)):
        items = inner if kind == "tuple" else (inner,) * len(value)
        if len(items) == len(value):
            for j, (sub, item) in enumerate(zip(items, value, strict=True)):
                if sub is not None:
                    _check_node(sub, item, f"{arg}[{j}]", memo)


def _seed(memo: _Memo, owner: Any, dims: Mapping[str, DimSource]) -> None:
    """Bind the dims that come from the module's configuration (``{"in": "in_features"}``)."""
    for name, source in dims.items():
        value = getattr(owner, source) if isinstance(source, str) else source(owner)
        if value is None:
            continue
        if isinstance(value, (tuple, list)):
            memo.sizes["*" + name] = (tuple(value), (owner, source))
        else:
            memo.sizes[name] = (value, (owner, source))


def _source(where: Any) -> str:
    """Where a bound size came from, for the message (built only when a check fails)."""
    if isinstance(where, str):  # "as in x"
        return where
    owner, source = where
    if isinstance(source, str):
        return source  # the field name: "in_features"
    # a function of the module; its docstring says what it computes ("proj_size or hidden_size")
    cls = type(owner).__name__
    doc = (getattr(source, "__doc__", None) or "").strip().splitlines()
    return f"{cls}: {doc[0].rstrip('.')}" if doc else f"{cls}'s configuration"


def _check_inputs(
    spec: _Spec, owner_dims: Mapping[str, DimSource] | None, args: tuple, kwargs: dict
) -> _Memo:
    memo = _Memo()
    if owner_dims:
        _seed(memo, args[0], owner_dims)
    for position, name, node in spec.params:
        if position is not None and position < len(args):
            _check_node(node, args[position], name, memo)
        elif name in kwargs:
            _check_node(node, kwargs[name], name, memo)
    if spec.varargs is not None:
        start, name, node = spec.varargs
        for j, value in enumerate(args[start:]):
            _check_node(node, value, f"{name}[{j}]", memo)
    _check_deferred(memo)
    return memo


def _check_result(spec: _Spec, memo: _Memo, out: Any) -> None:
    if spec.result is not None:
        _check_node(spec.result, out, "output", memo)
        _check_deferred(memo)


# -- the decorator --------------------------------------------------------------------------------
def _check_dims(dims: Any) -> dict[str, DimSource]:
    if not isinstance(dims, Mapping) or not all(
        isinstance(k, str) and (isinstance(v, str) or callable(v)) for k, v in dims.items()
    ):
        raise ConfigError(
            "nn.shaped(dims=...): expected a mapping from dimension names to field names or functions of "
            f'the module, e.g. {{"in": "in_features"}}; got {dims!r}'
        )
    return dict(dims)


@overload
def shaped(fn: F, /) -> F: ...
@overload
def shaped(*, dims: Mapping[str, DimSource] | None = None) -> Callable[[F], F]: ...
def shaped(fn: Any = None, /, *, dims: Mapping[str, DimSource] | None = None) -> Any:
    """Check a function's jaxtyping-annotated arguments and result, consistently, on every Python call.

    Decorate a module's ``forward`` (or any function). Annotated arguments are checked in order, then
    the result, against one table of dimension sizes per call: a name bound by one argument (``batch``)
    must have the same size everywhere else in that call. ``dims`` binds names from the module's own
    fields before the arguments are read, so the message can say what the layer expects::

        dim "in" is 256 in input [128, 256], expected 512 (in_features)

    Under ``jax.jit`` the checks run once, when the function is traced; the compiled call costs
    nothing extra. Eager calls pay them each time (a few microseconds per layer; see
    ``benchmarks/shapes.py``). Unannotated arguments and non-array values are not checked.

    Args:
      fn: the function (when used as ``@nn.shaped`` without arguments).
      dims: dimension name -> a field name of the first argument (the module: ``"in_features"``), or
        a function of it returning an int, a tuple of ints (binds a ``*name`` dimension) or None
        (leaves the name free).

    Returns:
      The wrapped function (or a decorator, when called with ``dims=`` only).

    Raises:
      ShapeAnnotationError: (at call time) an axis size differs from the bound size, or the number of
        axes is wrong.
      DTypeError: (at call time) an array's dtype is not one the annotation allows (``Float``, ``Int``...).
      ConfigError: ``dims`` is not a mapping of names to field names/functions, or (at the first call)
        the annotations do not evaluate.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxtyping import Array, Float
      >>> from torsh import nn
      >>> class Mix(nn.Module):
      ...     w: jax.Array
      ...     features: int = nn.static()
      ...     def __init__(self, features):
      ...         self.features = features
      ...         self.w = jnp.ones(features)
      ...     @nn.shaped(dims={"d": "features"})
      ...     def forward(
      ...         self, x: Float[Array, "batch d"], y: Float[Array, "batch d"]
      ...     ) -> Float[Array, "batch"]:
      ...         return (x * y * self.w).sum(-1)
      >>> Mix(3)(jnp.ones((2, 3)), jnp.ones((2, 3))).shape
      (2,)
      >>> try:
      ...     Mix(3)(jnp.ones((2, 3)), jnp.ones((4, 3)))
      ... except nn.ShapeAnnotationError as e:
      ...     print(e)
      Mix: dim "batch" is 4 in y [4, 3], expected 2 (as in x)
    """
    owner_dims = _check_dims(dims) if dims is not None else None
    if fn is None:
        return functools.partial(_decorate, dims=owner_dims)
    return _decorate(fn, owner_dims)


def _decorate(fn: Any, dims: dict[str, DimSource] | None) -> Any:
    owner_dims = dims
    if not callable(fn):
        raise ConfigError(f"nn.shaped: expected a function to decorate, got {type(fn).__name__}")
    cache: list[_Spec] = []

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        spec = cache[0] if cache else _compiled(fn, cache)
        if not spec.any:
            return fn(*args, **kwargs)
        memo = _check_inputs(spec, owner_dims, args, kwargs)
        out = fn(*args, **kwargs)
        _check_result(spec, memo, out)
        return out

    checked.__torsh_shaped__ = True  # type: ignore[attr-defined]
    return checked


def _compiled(fn: Callable, cache: list[_Spec]) -> _Spec:
    # Annotations are read at the first call, not at decoration: under ``from __future__ import
    # annotations`` they may name things defined after the class.
    cache.append(_Spec(fn))
    return cache[0]
