"""Hyperparameter plumbing shared by the optimizers: a hashable read-only mapping for static
configuration, and argument checks that raise :class:`torsh.errors.ConfigError` naming the argument
and the value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from ..errors import ConfigError
from ..tree import Struct

__all__ = ["FrozenDict", "Checker", "Config"]


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

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in self._data.items()) + "}"

    def replace(self, **changes: Any) -> FrozenDict:
        """A copy with some entries changed."""
        return FrozenDict({**self._data, **changes})


class Config(Struct):
    """A frozen :class:`torsh.tree.Struct` of static, validated configuration (schedules, LBFGS, EMA...).

    Declare every field with ``torsh.tree.static()`` and validate it with a :class:`Checker` in the
    constructor. Two configs are equal, and hash alike, when they are of the same type with equal
    fields, so they can be closed over by jitted functions or sit in another config's static fields.
    A config with an unhashable value (e.g. a mask given as a dict tree) hashes by identity.

    Example:
      >>> from torsh.tree import static
      >>> from torsh.optim._config import Config
      >>> class Halve(Config):
      ...     factor: float = static(0.5)
      >>> Halve() == Halve() and hash(Halve()) == hash(Halve()) and Halve() != Halve(0.25)
      True
    """

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__[name] for name in type(self).__torsh_static_fields__)

    def __eq__(self, other: object) -> bool:
        return self is other or (type(self) is type(other) and self._values() == other._values())  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        try:
            return hash((type(self), self._values()))
        except TypeError:  # an unhashable value: equal configs are then told apart by identity
            return id(self)


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
    """Argument checks for one owner (``"Adam"`` or ``"Adam param group 'no_decay'"``).

    Every failed check raises ``ConfigError("<owner>: <name> must be <what>, got <value>")``.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner

    def fail(self, name: str, expected: str, value: Any) -> None:
        raise ConfigError(f"{self.owner}: {name} must be {expected}, got {value!r}")

    def conflict(self, message: str) -> None:
        """Arguments that are valid alone but not together."""
        raise ConfigError(f"{self.owner}: {message}")

    def number(self, name: str, value: Any) -> float:
        value = _scalar(value)
        if not _is_real_number(value) or math.isnan(value):
            self.fail(name, "a real number", value)
        return float(value)

    def nonneg(self, name: str, value: Any) -> float:
        v = self.number(name, value)
        if not v >= 0.0 or math.isinf(v):
            self.fail(name, "a finite number >= 0", value)
        return v

    def positive(self, name: str, value: Any) -> float:
        v = self.number(name, value)
        if not v > 0.0 or math.isinf(v):
            self.fail(name, "a finite number > 0", value)
        return v

    def finite(self, name: str, value: Any) -> float:
        """A finite real number of either sign."""
        v = self.number(name, value)
        if math.isinf(v):
            self.fail(name, "a finite number", value)
        return v

    def interval(
        self, name: str, value: Any, low: float, high: float, closed: tuple[bool, bool] = (True, True)
    ) -> float:
        """A number between ``low`` and ``high``; ``closed`` says which ends are included."""
        v = self.number(name, value)
        above = v >= low if closed[0] else v > low
        below = v <= high if closed[1] else v < high
        if not (above and below):
            left, right = "[" if closed[0] else "(", "]" if closed[1] else ")"
            self.fail(name, f"in {left}{low:g}, {high:g}{right}", value)
        return v

    def unit_interval(self, name: str, value: Any, closed_right: bool = False) -> float:
        v = self.number(name, value)
        ok = 0.0 <= v <= 1.0 if closed_right else 0.0 <= v < 1.0
        if not ok:
            self.fail(name, "in [0, 1]" if closed_right else "in [0, 1)", value)
        return v

    def betas(self, name: str, value: Any) -> tuple[float, float]:
        if not isinstance(value, (tuple, list)) or len(value) != 2:
            self.fail(name, "a pair (beta1, beta2)", value)
        b1 = self.unit_interval(f"{name}[0]", value[0])
        b2 = self.unit_interval(f"{name}[1]", value[1])
        return (b1, b2)

    def flag(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail(name, "True or False", value)
        return value

    def integer(self, name: str, value: Any, minimum: int = 0) -> int:
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
            self.fail(name, f"an integer >= {minimum}", value)
        return int(value)

    def choice(self, name: str, value: Any, options: tuple) -> Any:
        if value not in options:
            self.fail(name, f"one of {options}", value)
        return value

    def schedule_or(self, name: str, value: Any, check: Callable[[str, Any], float]) -> float | Callable:
        """A hyperparameter that is a number (validated by ``check``) or a schedule whose value at step 0
        passes ``check``."""
        if callable(value):
            try:
                first = float(value(0))
            except Exception as e:  # noqa: BLE001 - report any failure of the user's schedule
                raise ConfigError(
                    f"{self.owner}: {name} is a schedule, but calling it at step 0 failed: "
                    f"{type(e).__name__}: {e}"
                ) from e
            check(f"{name}(0)", first)
            return value
        return check(name, value)

    def lr(self, name: str, value: Any) -> float | Callable:
        """A learning rate: a number >= 0 or a schedule (a function of the step, checked at step 0)."""
        if callable(value):
            try:
                first = float(value(0))
            except Exception as e:  # noqa: BLE001 - report any failure of the user's schedule
                raise ConfigError(
                    f"{self.owner}: {name} is a schedule, but calling it at step 0 failed: "
                    f"{type(e).__name__}: {e}"
                ) from e
            if not (first >= 0.0) or math.isinf(first):
                self.fail(f"{name}(0)", "a finite number >= 0", first)
            return value
        return self.nonneg(name, value)
