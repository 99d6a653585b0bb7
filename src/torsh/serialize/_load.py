"""Turning an opened file into a pytree: as nested dicts, or matched by name against ``like``.

Matching checks every entry before any array is copied, and reports all problems (missing,
unexpected, mis-shaped, mis-typed) in one :class:`StateDictMismatchError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from .._dtype import dtype as _as_dtype
from ..errors import CheckpointError, ConfigError
from ._errors import StateDictMismatchError
from ._host import owned_copy
from ._leaves import is_key_array
from ._place import Placer, Slot, Target, check_paths, like_target, resolve_device, sharding_by_path
from ._reader import FileReader, Stored, key_data_shape

__all__ = ["LoadOptions", "build_tree"]

_SCALAR_TYPES = (bool, int, float, complex, str)


@dataclass(frozen=True)
class LoadOptions:
    strict: bool = True
    cast: bool = False
    dtype: Any = None
    device: Any = None
    sharding: Any = None
    flat: bool = False

    @staticmethod
    def make(strict: bool, cast: bool, dtype: Any, device: Any, sharding: Any, flat: bool) -> LoadOptions:
        if dtype is not None:
            dtype = _as_dtype(dtype)
            if not jnp.issubdtype(dtype, jnp.floating):
                raise ConfigError(f"load: dtype= converts floating arrays and must be floating, got {dtype}")
        if device is not None and sharding is not None:
            raise ConfigError("load: give device= or sharding=, not both")
        return LoadOptions(bool(strict), bool(cast), dtype, resolve_device(device), sharding, bool(flat))


def _scalar_kind(value: Any) -> str:
    for t in _SCALAR_TYPES:
        if isinstance(value, t):
            return t.__name__
    raise TypeError(type(value))


def _dtype_kind(dt: np.dtype) -> str:
    if dt == np.bool_:
        return "bool"
    if jnp.issubdtype(dt, jnp.integer):
        return "int"
    if jnp.issubdtype(dt, jnp.floating):
        return "float"
    if jnp.issubdtype(dt, jnp.complexfloating):
        return "complex"
    return "other"


class _Deferred:
    """An array whose device copy is made in a batch (one transfer per target) by ``Placer.flush``."""

    __slots__ = ("slot", "finish")

    def __init__(self, slot: Slot, finish: Callable[[jax.Array], Any]) -> None:
        self.slot, self.finish = slot, finish

    def result(self) -> Any:
        return self.finish(self.slot.value)


def _resolve(values: list[Any], placer: Placer) -> list[Any]:
    placer.flush()
    return [v.result() if isinstance(v, _Deferred) else v for v in values]


class _Builder:
    """Materialises the leaves of one load (after every check has passed)."""

    def __init__(self, reader: FileReader, opts: LoadOptions) -> None:
        self.reader = reader
        self.opts = opts
        self.placer = Placer()
        self.for_all, self.per_path = sharding_by_path(opts.sharding)
        if self.for_all is None:
            self.for_all = opts.device

    def target(self, path: str, like_leaf: Any = None) -> Target:
        if path in self.per_path:
            return self.per_path[path]
        if self.for_all is not None:
            return self.for_all
        return like_target(like_leaf) if like_leaf is not None else None

    def stored_dtype(self, s: Stored) -> np.dtype:
        """The dtype a stored array has after ``dtype=`` (which converts floating arrays only)."""
        assert s.dtype is not None
        if self.opts.dtype is not None and jnp.issubdtype(s.dtype, jnp.floating):
            return np.dtype(self.opts.dtype)
        return s.dtype

    def array(self, s: Stored, target: Target, dtype: np.dtype | None = None) -> _Deferred:
        view = self.reader.view(s)
        where = f"{self.reader.where}: key {s.key!r}"
        _check_int_range(view, jax.dtypes.canonicalize_dtype(view.dtype), where)
        want = dtype if dtype is not None else self.stored_dtype(s)

        def finish(out: jax.Array) -> jax.Array:
            return out.astype(want) if out.dtype != jax.dtypes.canonicalize_dtype(want) else out

        return _Deferred(self.placer.request(view, target, owned=self.reader.owns_views), finish)

    def key(self, s: Stored, impl: str | None, target: Target) -> _Deferred:
        def finish(data: jax.Array) -> jax.Array:
            keys = jax.random.wrap_key_data(data, impl=impl or s.impl)
            return keys if target is None else jax.device_put(keys, target)

        return _Deferred(self.placer.request(self.reader.view(s), None, owned=self.reader.owns_views), finish)

    def numpy(self, s: Stored, dtype: np.dtype) -> np.ndarray:
        view = self.reader.view(s)
        return (view if self.reader.owns_views else owned_copy(view)).astype(dtype, copy=False)


def build_tree(reader: FileReader, like: Any, opts: LoadOptions) -> Any:
    builder = _Builder(reader, opts)
    if like is None:
        out = _without_like(reader, builder, opts)
    else:
        out = _with_like(reader, builder, like, opts)
    reader.check_unchanged()  # every byte has been read: refuse a file that changed meanwhile
    return out


# -- without like: nested dicts ---------------------------------------------------------------------


def _without_like(reader: FileReader, b: _Builder, opts: LoadOptions) -> Any:
    check_paths(b.per_path, set(reader.stored), f"load {reader.where}")
    flat: dict[str, Any] = {}
    for key, s in reader.stored.items():
        if s.kind == "scalar":
            flat[key] = s.value
        elif s.kind == "key":
            flat[key] = b.key(s, None, b.target(key))
        else:
            flat[key] = b.array(s, b.target(key))
    flat = dict(zip(flat, _resolve(list(flat.values()), b.placer), strict=True))
    if opts.flat:
        return dict(sorted(flat.items()))
    return _nest(flat, reader.where)


def _nest(flat: dict[str, Any], where: str) -> Any:
    if "" in flat and len(flat) == 1:
        return flat[""]  # the saved tree was a single leaf
    root: dict[str, Any] = {}
    for key in sorted(flat):
        parts = key.split(".")
        node = root
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise CheckpointError(
                    f"{where}: key {key!r} nests under {'.'.join(parts[: i + 1])!r}, which is itself a leaf; "
                    "load with flat=True to get the keys as they are"
                )
            node = child
        if parts[-1] in node:
            raise CheckpointError(
                f"{where}: key {key!r} is both a leaf and a prefix of other keys; load with flat=True"
            )
        node[parts[-1]] = flat[key]
    return root


# -- with like: match by name ------------------------------------------------------------------------


def _with_like(reader: FileReader, b: _Builder, like: Any, opts: LoadOptions) -> Any:
    pairs, spec = _tree.flatten_with_path(like, is_leaf=lambda x: isinstance(x, jax.ShapeDtypeStruct))
    like_paths = [p for p, _ in pairs]
    check_paths(b.per_path, set(like_paths), f"load {reader.where}")
    missing: list[str] = []
    mismatched: list[tuple[str, str, str, str]] = []
    makers: list[Callable[[], Any]] = []
    for path, leaf in pairs:
        s = reader.stored.get(path)
        if s is None:
            missing.append(path)
            makers.append(_constant(leaf))
            continue
        maker = _plan(path, s, leaf, b, mismatched)
        makers.append(maker)
    known = set(like_paths)
    unexpected = [k for k in reader.stored if k not in known]
    missing_set = set(missing)
    abstract_missing = [p for p, leaf in pairs if p in missing_set and isinstance(leaf, jax.ShapeDtypeStruct)]
    report_missing = missing if opts.strict else abstract_missing
    report_unexpected = unexpected if opts.strict else []
    if report_missing or report_unexpected or mismatched:
        raise StateDictMismatchError(
            reader.where,
            report_missing,
            report_unexpected,
            mismatched,
            _hint(missing, unexpected, mismatched, opts),
        )
    return _tree.unflatten(spec, _resolve([make() for make in makers], b.placer))


def _hint(missing: list[str], unexpected: list[str], mismatched: list, opts: LoadOptions) -> str:
    hints = []
    if missing and unexpected:
        found = _common_prefix(unexpected, missing)
        if found:
            hints.append(
                f"the file's keys carry an extra prefix {found!r}; load with like={{{found[:-1]!r}: ...}} "
                f"and take [{found[:-1]!r}] of the result"
            )
        found = _common_prefix(missing, unexpected)
        if found:
            hints.append(f"the file's keys lack the prefix {found!r} that the keys of like= have")
    if any(what == "dtype" for _, what, _, _ in mismatched) and not opts.cast:
        hints.append("pass cast=True to convert dtypes to those of like=, or dtype= for floating arrays")
    if (missing or unexpected) and opts.strict and not hints:
        hints.append("pass strict=False to keep like='s value for missing entries and ignore unexpected ones")
    return "; ".join(hints)


def _common_prefix(longer: list[str], shorter: list[str]) -> str | None:
    """A dotted prefix p such that every key of ``shorter`` is ``p + key`` in ``longer``."""
    first = longer[0].split(".")
    targets = set(longer)
    for i in range(1, len(first)):
        prefix = ".".join(first[:i]) + "."
        if all(prefix + k in targets for k in shorter):
            return prefix
    return None


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _plan(path: str, s: Stored, leaf: Any, b: _Builder, mismatched: list) -> Callable[[], Any]:
    """Check one stored entry against its ``like`` leaf; return a function producing the value."""
    opts = b.opts

    def bad(what: str, got: str, expected: str) -> Callable[[], Any]:
        mismatched.append((path, what, got, expected))
        return lambda: None

    # -- PRNG keys
    if is_key_array(leaf) or (
        isinstance(leaf, jax.ShapeDtypeStruct) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
    ):
        impl = str(jax.random.key_impl(leaf)) if isinstance(leaf, jax.Array) else None
        if s.kind == "key":
            if impl is not None and s.impl != impl:
                return bad("PRNG implementation", str(s.impl), impl)
            if s.shape != tuple(leaf.shape):
                return bad("shape", str(list(s.shape or ())), str(list(leaf.shape)))
            return lambda: b.key(s, s.impl, b.target(path, leaf))
        tail = key_data_shape(impl) if impl else None
        if (
            s.kind == "array"
            and impl
            and tail is not None
            and s.dtype == np.uint32
            and s.shape == (*leaf.shape, *tail)
        ):
            return lambda: b.key(s, impl, b.target(path, leaf))  # raw key data, e.g. written by another tool
        return bad("kind", s.describe(), f"PRNG key array {list(leaf.shape)}")

    # -- Python scalars
    if isinstance(leaf, _SCALAR_TYPES) and not isinstance(leaf, np.generic):
        want = _scalar_kind(leaf)
        py_type = (
            type(leaf)
            if type(leaf) in _SCALAR_TYPES
            else {"bool": bool, "int": int, "float": float, "complex": complex, "str": str}[want]
        )
        if s.kind == "scalar":
            got = _scalar_kind(s.value)
            if got == want:
                return lambda: s.value
            if opts.cast and "str" not in (got, want):
                try:
                    value = py_type(s.value)
                except (TypeError, ValueError, OverflowError):  # complex -> float, nan -> int, ...
                    return bad("type", f"Python {got} {s.value!r}"[:80], f"Python {want}")
                return lambda: value
            return bad("type", f"Python {got}", f"Python {want}")
        if s.kind == "array" and s.shape == () and want != "str":
            got = _dtype_kind(b.stored_dtype(s))
            if got == want or (opts.cast and got != "other"):
                raw = s.dtype
                assert raw is not None  # stored arrays always have one
                return lambda: py_type(b.numpy(s, raw)[()].item())
            return bad("type", f"{s.dtype} 0-d array", f"Python {want}")
        return bad("kind", s.describe(), f"Python {want}")

    # -- arrays (jax, numpy, abstract)
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        expected = np.dtype(leaf.dtype)
        shape = tuple(leaf.shape)
        if s.kind == "scalar":
            if (
                shape == ()
                and not isinstance(s.value, str)
                and (opts.cast or _scalar_kind(s.value) == _dtype_kind(expected))
            ):
                try:
                    with np.errstate(all="raise"):
                        value = np.asarray(s.value, dtype=expected)
                except (TypeError, ValueError, OverflowError, FloatingPointError):
                    return bad("value", f"Python {_scalar_kind(s.value)} {s.value!r}"[:80], str(expected))
                return lambda: _scalar_as(leaf, value, b.target(path, leaf))
            return bad("kind", s.describe(), f"{expected} array {list(shape)}")
        if s.kind == "key":
            return bad("kind", s.describe(), f"{expected} array {list(shape)}")
        if s.shape != shape:
            return bad("shape", str(list(s.shape or ())), str(list(shape)))
        stored = b.stored_dtype(s)
        if not (stored == expected or opts.cast or _jax_represents(stored, expected, leaf)):
            return bad("dtype", str(stored), str(expected))
        if isinstance(leaf, np.ndarray):
            return lambda: b.numpy(s, expected)
        if isinstance(leaf, np.generic):
            return lambda: b.numpy(s, expected)[()]
        if stored != expected and _jax_represents(stored, expected, leaf):
            view = b.reader.view(s)
            try:
                _check_int_range(view, expected, path)
            except CheckpointError:
                lo, hi = view.min(), view.max()
                return bad("value range", f"{stored} in [{lo}, {hi}]", f"{expected} (enable jax_enable_x64)")
        return lambda: b.array(s, b.target(path, leaf), expected)

    raise ConfigError(
        f"load: like= leaf {path!r} is a {type(leaf).__qualname__}; expected arrays, PRNG keys, "
        "jax.ShapeDtypeStruct or Python scalars"
    )


def _jax_represents(got: np.dtype, expected: np.dtype, leaf: Any) -> bool:
    """True for integers that JAX's current mode stores as ``expected`` (int64 -> int32 without x64;
    values are range-checked). Floats never convert silently: float64 -> float32 loses precision."""
    if isinstance(leaf, (np.ndarray, np.generic)) or not jnp.issubdtype(got, jnp.integer):
        return False
    return got != expected and jax.dtypes.canonicalize_dtype(got) == expected


def _check_int_range(view: np.ndarray, target: np.dtype, where: str) -> None:
    """JAX's 32-bit mode stores int64 as int32 by wrapping; refuse values that would wrap."""
    if view.dtype == target or not jnp.issubdtype(view.dtype, jnp.integer) or not view.size:
        return
    info = np.iinfo(target)
    lo, hi = view.min(), view.max()
    if lo < info.min or hi > info.max:
        raise CheckpointError(
            f"{where}: {view.dtype} values in [{lo}, {hi}] do not fit {target}, the dtype JAX uses in "
            "32-bit mode; enable jax_enable_x64, or load into numpy arrays (like= with numpy leaves)"
        )


def _scalar_as(leaf: Any, value: np.ndarray, target: Target) -> Any:
    """A stored Python scalar (already converted to ``leaf``'s dtype) as ``leaf``'s kind of array."""
    if isinstance(leaf, np.ndarray):
        return value
    if isinstance(leaf, np.generic):
        return value[()]
    return jax.device_put(value, target)
