"""Error classes of torsh.nn (subclasses of :mod:`torsh.errors` classes and of the builtin PyTorch raises)."""

from __future__ import annotations

from ..errors import TorshError

__all__ = ["IndexOutOfRangeError", "MissingKeyError", "ValueRangeError"]


class IndexOutOfRangeError(TorshError, IndexError):
    """An index, class target or container position outside its valid range (PyTorch: IndexError)."""

    __module__ = "torsh.nn"  # its public home (shown in tracebacks)


class ValueRangeError(TorshError, ValueError):
    """Values outside the domain a function accepts (e.g. probabilities outside [0, 1])."""

    __module__ = "torsh.nn"


class MissingKeyError(TorshError, KeyError):
    """A name not present in a container (``ModuleDict``, named ``Sequential``) (PyTorch: KeyError)."""

    __module__ = "torsh.nn"

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
