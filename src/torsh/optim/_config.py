"""Configuration plumbing shared by torsh.optim: the frozen :class:`Config` struct every optimizer,
gradient transformation and schedule is built on, the one argument :class:`Checker` (raising
:class:`torsh.errors.ConfigError` naming the owner, the argument and the value), and a hashable
read-only mapping for static configuration.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, TypeVar

import jax
import numpy as np

from ..errors import ConfigError
from ..tree import Struct

__all__ = ["FrozenDict", "Checker", "Config", "option"]

C = TypeVar("C", bound="Config")


class FrozenDict(Mapping):
    """A read-only, hashable mapping (static configuration inside pytree structures).

    The hash is computed once: JAX hashes the static part of a tree on every jitted call.

    Example:
      >>> from torsh.optim._config import FrozenDict
      >>> d = FrozenDict(eps=1e-8, betas=(0.9, 0.999))
      >>> d["eps"], hash(d) == hash(FrozenDict(betas=(0.9, 0.999), eps=1e-8))
      (1e-08, True)
    """

    __slots__ = ("_data", "_hash")
    _data: dict[Any, Any]
    _hash: int | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        data = dict(*args, **kwargs)
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_hash", None)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash(frozenset(self._data.items()))
            object.__setattr__(self, "_hash", h)
        return h

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, FrozenDict):
            return hash(self) == hash(other) and self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("FrozenDict is immutable")

    def __reduce__(self) -> tuple[Any, ...]:  # __setattr__ refuses pickle's default slot restore
        return (FrozenDict, (self._data,))

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._data.items()) + "}"

    def replace(self, **changes: Any) -> FrozenDict:
        """A copy with some entries changed."""
        return FrozenDict({**self._data, **changes})


def _scalar(x: Any) -> Any:
    """A concrete 0-d numpy/JAX array as a Python number (hyperparameters are static configuration)."""
    if getattr(x, "shape", None) == () and hasattr(x, "item") and not isinstance(x, jax.core.Tracer):
        dtype = getattr(x, "dtype", None)
        if dtype is not None and np.dtype(dtype).kind in "fiu":
            return x.item()
    return x


def _is_real_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


class Checker:
    """Argument checks for one owner (``"Adam"``, ``"Adam param group 'no_decay'"``, ``"schedules.linear"``).

    Every failed check raises ``ConfigError("<owner>: <name> must be <what>, got <value>")``; every
    passed check returns the value normalised (Python ``float``/``int``/``bool``/tuple), so configuration
    stays hashable and compares by value.

    Args:
      owner: what is being configured, the first word of every message.

    Example:
      >>> from torsh.optim._config import Checker
      >>> check = Checker("Adam")
      >>> check.betas("betas", [0.9, 0.999]), check.count("T_max", 10)
      ((0.9, 0.999), 10)
      >>> check.positive("eps", 0.0)
      Traceback (most recent call last):
      ...
      torsh.errors.ConfigError: Adam: eps must be a finite number > 0, got 0.0
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner

    def fail(self, name: str, expected: str, value: Any) -> None:
        """Raise ``ConfigError("<owner>: <name> must be <expected>, got <value>")``."""
        raise ConfigError(f"{self.owner}: {name} must be {expected}, got {value!r}")

    def conflict(self, message: str) -> None:
        """Arguments that are valid alone but not together."""
        raise ConfigError(f"{self.owner}: {message}")

    def number(self, name: str, value: Any) -> float:
        """A real number (not NaN, not a bool); infinities pass."""
        value = _scalar(value)
        if not _is_real_number(value) or math.isnan(value):
            self.fail(name, "a real number", value)
        return float(value)

    def finite(self, name: str, value: Any) -> float:
        """A finite real number."""
        v = self.number(name, value)
        if math.isinf(v):
            self.fail(name, "a finite real number", value)
        return v

    def nonneg(self, name: str, value: Any) -> float:
        """A finite number >= 0."""
        v = self.number(name, value)
        if not v >= 0.0 or math.isinf(v):
            self.fail(name, "a finite number >= 0", value)
        return v

    def positive(self, name: str, value: Any) -> float:
        """A finite number > 0."""
        v = self.number(name, value)
        if not v > 0.0 or math.isinf(v):
            self.fail(name, "a finite number > 0", value)
        return v

    def unit_interval(self, name: str, value: Any, closed_right: bool = False) -> float:
        """A number in [0, 1) (a decay rate), or in [0, 1] with ``closed_right``."""
        v = self.number(name, value)
        ok = 0.0 <= v <= 1.0 if closed_right else 0.0 <= v < 1.0
        if not ok:
            self.fail(name, "in [0, 1]" if closed_right else "in [0, 1)", value)
        return v

    def probability(self, name: str, value: Any) -> float:
        """A number in [0, 1]."""
        return self.unit_interval(name, value, closed_right=True)

    def betas(self, name: str, value: Any) -> tuple[float, float]:
        """A pair of decay rates, each in [0, 1)."""
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            self.fail(name, "a pair (beta1, beta2)", value)
        b1 = self.unit_interval(f"{name}[0]", value[0])
        b2 = self.unit_interval(f"{name}[1]", value[1])
        return (b1, b2)

    def flag(self, name: str, value: Any) -> bool:
        """``True`` or ``False`` (not 0/1)."""
        if not isinstance(value, bool):
            self.fail(name, "True or False", value)
        return value

    def integer(self, name: str, value: Any, minimum: int = 0) -> int:
        """An integer >= ``minimum`` (not a bool)."""
        value = _scalar(value)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
            self.fail(name, f"an integer >= {minimum}", value)
        return int(value)

    def count(self, name: str, value: Any) -> int:
        """An integer >= 1 (a number of steps, a period, a history size)."""
        return self.integer(name, value, 1)

    def choice(self, name: str, value: Any, options: tuple) -> Any:
        """One of ``options``."""
        if value not in options:
            self.fail(name, f"one of {options}", value)
        return value

    def function(self, name: str, value: Any) -> Callable:
        """A callable."""
        if not callable(value):
            self.fail(name, "a function", value)
        return value

    def optional(self, name: str, value: Any, check: Callable[[str, Any], Any]) -> Any:
        """``None``, or a value passing ``check``."""
        return None if value is None else check(name, value)

    def schedule_or(self, name: str, value: Any, check: Callable[[str, Any], Any]) -> Any:
        """A hyperparameter that is a number (validated by ``check``) or a schedule (a function of the
        step) whose value at step 0 passes ``check``."""
        if callable(value):
            try:
                # eagerly even inside a trace: param groups are checked when first used, maybe under jit
                with jax.ensure_compile_time_eval():
                    first = float(value(0))
            except Exception as e:
                raise ConfigError(
                    f"{self.owner}: {name} is a schedule, but calling it at step 0 failed: "
                    f"{type(e).__name__}: {e}"
                ) from e
            check(f"{name}(0)", first)
            return value
        return check(name, value)

    def lr(self, name: str, value: Any) -> float | Callable:
        """A learning rate: a number >= 0 or a schedule (a function of the step, checked at step 0)."""
        return self.schedule_or(name, value, self.nonneg)


Check = str | Callable[[Checker, str, Any], Any] | None
"""How a :func:`option` is validated: the name of a :class:`Checker` method taking ``(name, value)``
(``"positive"``, ``"betas"``, ``"lr"``...), or ``fn(checker, name, value) -> normalised value``."""


def option(
    default: Any = dataclasses.MISSING,
    check: Check = None,
    *,
    kw_only: bool = False,
    default_factory: Any = dataclasses.MISSING,
    repr: bool = True,
) -> Any:
    """Declare a static, validated field of a :class:`Config` (an optimizer hyperparameter).

    Args:
      default: the default value (hashable; tuples, not lists).
      check: a :class:`Checker` method name (``"positive"``) or ``fn(checker, name, value)``; it
        runs at construction, on :meth:`Config.replace` and on every param group's override.
      kw_only: keyword-only in the generated constructor (PyTorch's arguments after ``*``).
      default_factory: as in :func:`dataclasses.field`.
      repr: show the field in ``repr``.

    Returns:
      A dataclass field (assign it in the class body).

    Example:
      >>> from torsh.optim._config import Config, option
      >>> class Decay(Config):
      ...     rate: float = option(0.9, "unit_interval")
      ...     verbose: bool = option(False, "flag", kw_only=True)
      >>> Decay(0.5) == Decay(rate=0.5), Decay(0.5)
      (True, Decay(rate=0.5))
      >>> Decay(1.5)
      Traceback (most recent call last):
      ...
      torsh.errors.ConfigError: Decay: rate must be in [0, 1), got 1.5
    """
    md = {"static": True, "buffer": False, "inline": False, "check": check}
    return dataclasses.field(
        default=default, default_factory=default_factory, kw_only=kw_only, repr=repr, metadata=md
    )


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _inherited_field(cls: type, name: str) -> dataclasses.Field | None:
    for base in cls.__mro__[1:]:
        found = getattr(base, "__dataclass_fields__", {}).get(name)
        if found is not None:
            return found
    return None


def _run_check(spec: Check, check: Checker, name: str, value: Any) -> Any:
    if spec is None:
        return value
    if isinstance(spec, str):
        return getattr(check, spec)(name, value)
    return spec(check, name, value)


_HASH = "__torsh_hash__"
_KEY = "__torsh_key__"
_CACHE = "__torsh_cache__"


class Config(Struct):
    """Base of torsh.optim's configuration objects: optimizers, transformations, schedules.

    A frozen :class:`torsh.tree.Struct` whose fields are all static configuration. Annotated class
    attributes become static fields (``lr: float = 1e-3``), or declare them with :func:`option` to
    validate them (``eps: float = option(1e-8, "positive")``) or make them keyword-only. Instances
    are immutable, hashable and compare by type and configuration, so they can be closed over by
    jitted functions, passed as static arguments, or passed *through* ``jax.jit`` (a pytree with no
    leaves). Cross-field rules go in :meth:`_check_combination`.

    Example:
      >>> import jax
      >>> from torsh.optim._config import Config, option
      >>> class Warmup(Config):
      ...     steps: int = option(10, "count")
      ...     peak: float = option(1e-3, "positive")
      >>> w = Warmup(steps=5)
      >>> w == Warmup(5, 1e-3), hash(w) == hash(Warmup(5)), w.replace(steps=7)
      (True, True, Warmup(steps=7, peak=0.001))
      >>> jax.tree.leaves(w)
      []
    """

    #: The first word of error messages (default: the class name).
    _owner: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Plain annotated attributes become static fields; a non-static field is a mistake here.
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if _is_classvar(annotation):
                continue
            value = cls.__dict__.get(name, dataclasses.MISSING)
            if isinstance(value, dataclasses.Field):
                if not value.metadata.get("static", False):
                    raise TypeError(
                        f"{cls.__qualname__}.{name}: fields of a torsh.optim Config are static "
                        "configuration; declare it with optim._config.option(...) or tree.static(...)"
                    )
                continue
            inherited = _inherited_field(cls, name)
            if inherited is None:
                setattr(cls, name, option(value))
            else:  # a new default for an inherited option keeps its check and keyword-only-ness
                setattr(
                    cls,
                    name,
                    option(value, inherited.metadata.get("check"), kw_only=bool(inherited.kw_only)),
                )
        super().__init_subclass__(**kwargs)
        cls.__torsh_checks__ = {
            f.name: f.metadata["check"]
            for f in dataclasses.fields(cls)
            if f.metadata.get("check") is not None
        }

    __torsh_checks__: ClassVar[dict[str, Check]] = {}

    # -- validation ------------------------------------------------------------------------------
    @classmethod
    def _owner_name(cls) -> str:
        return cls._owner or cls.__name__

    @classmethod
    def _check_values(cls, check: Checker, values: dict[str, Any]) -> dict[str, Any]:
        """Run every field's check on ``values`` (a subset of the fields), then
        :meth:`_check_combination` on the result; returns the normalised values."""
        checks = cls.__torsh_checks__
        out = {k: _run_check(checks.get(k), check, k, v) for k, v in values.items()}
        cls._check_combination(check, out)
        return out

    @classmethod
    def _check_combination(cls, check: Checker, values: dict[str, Any]) -> None:
        """Rules across fields (``values`` holds every field, normalised); raise via ``check``.
        May normalise entries of ``values`` in place."""

    def _torsh_check_init(self) -> None:
        d = self.__dict__
        for cached in (_HASH, _KEY, _CACHE):
            d.pop(cached, None)
        names = type(self).__torsh_static_fields__
        if names:
            checked = type(self)._check_values(
                Checker(self._owner_name()), {n: d[n] for n in names if n in d}
            )
            d.update(checked)
        super()._torsh_check_init()

    # -- value semantics -------------------------------------------------------------------------
    def _config_items(self) -> tuple[tuple[str, Any], ...]:
        d = self.__dict__
        return tuple((n, d[n]) for n in type(self).__torsh_static_fields__)

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        assert isinstance(other, Config)
        return hash(self) == hash(other) and self._config_key() == other._config_key()

    def _config_key(self) -> tuple[tuple[str, Any], ...]:
        d = self.__dict__
        key = d.get(_KEY)
        if key is None:  # built once: jit compares static arguments with == on every cache hit
            key = d[_KEY] = self._config_items()
        return key

    def __hash__(self) -> int:
        d = self.__dict__
        h = d.get(_HASH)
        if h is None:  # computed once: jit hashes static arguments on every call
            try:
                h = hash((type(self), self._config_key()))
            except TypeError:  # an unhashable value (a mask given as a dict tree): identity
                h = id(self)
            d[_HASH] = h
        return h

    def __getstate__(self) -> dict[str, Any]:
        # string hashes differ between processes: never pickle the cached hash (or other caches)
        return {k: v for k, v in self.__dict__.items() if k not in (_HASH, _KEY, _CACHE)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def _cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """A value derived from the configuration, computed once per instance (not a field: not
        flattened, dropped by ``replace`` and pickling)."""
        cache = self.__dict__.setdefault(_CACHE, {})
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def __repr__(self) -> str:
        d = self.__dict__
        shown = []
        # PyTorch's order: positional arguments, then keyword-only ones (inherited fields come first)
        for f in sorted(dataclasses.fields(self), key=lambda f: bool(f.kw_only)):
            if not f.repr or f.name not in d:
                continue
            value = d[f.name]
            if f.kw_only and f.default is not dataclasses.MISSING and value == f.default:
                continue  # keyword-only options at their default (maximize=False, param_groups=())
            shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def __torsh_repr__(self, indent: str = "") -> str:
        return repr(self)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed, validated like a new instance.

        Args:
          **changes: new values of fields.

        Returns:
          The changed copy (the original is unchanged).

        Raises:
          ConfigError: an unknown field, or a value its check refuses.

        Example:
          >>> from torsh.optim._config import Config, option
          >>> class Step(Config):
          ...     size: float = option(0.1, "positive")
          >>> Step().replace(size=0.01)
          Step(size=0.01)
        """
        new = super().replace(**changes)
        if not changes:
            new.__dict__.pop(_CACHE, None)
        return new
