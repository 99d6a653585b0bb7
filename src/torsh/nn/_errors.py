"""Error classes of torsh.nn (subclasses of :mod:`torsh.errors` classes and of the builtin PyTorch raises)."""

from __future__ import annotations

from ..errors import TorshError

__all__ = ["IndexOutOfRangeError", "MissingKeyError", "ValueRangeError"]


class IndexOutOfRangeError(TorshError, IndexError):
    """An index, class target or container position outside its valid range (PyTorch: IndexError).

    Example:
        >>> from torsh import nn
        >>> try:
        ...     nn.Sequential(nn.ReLU())[5]
        ... except nn.IndexOutOfRangeError as e:
        ...     print(e)
        Sequential index 5 is out of range: it has 1 entry (valid indices -1..0)
    """

    __module__ = "torsh.nn"  # its public home (shown in tracebacks)


class ValueRangeError(TorshError, ValueError):
    """Values outside the domain a function accepts (e.g. probabilities outside [0, 1]).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> try:
        ...     nn.functional.binary_cross_entropy(jnp.array([1.5]), jnp.array([1.0]))
        ... except nn.ValueRangeError as e:
        ...     print(str(e).split(" (")[0])
        binary_cross_entropy: all elements of input should be between 0 and 1, got 1.5
    """

    __module__ = "torsh.nn"


class MissingKeyError(TorshError, KeyError):
    """A name not present in a container (``ModuleDict``, named ``Sequential``) (PyTorch: KeyError).

    Example:
        >>> from torsh import nn
        >>> try:
        ...     nn.ModuleDict({"a": nn.ReLU()})["b"]
        ... except nn.MissingKeyError as e:
        ...     print(e)
        ModuleDict has no entry 'b'; keys are ['a']
    """

    __module__ = "torsh.nn"

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""
