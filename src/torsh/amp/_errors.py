"""Errors of :mod:`torsh.amp`."""

from __future__ import annotations

from ..errors import ConfigError

__all__ = ["PolicyError"]


class PolicyError(ConfigError):
    """A precision policy that cannot be used: a bad policy string, override key or unmatched pattern.

    Bad dtypes (an unknown name, an integer compute dtype) raise :class:`torsh.errors.DTypeError`.

    Example:
      >>> from torsh import amp
      >>> try:
      ...     amp.Policy.parse("params=float32,precision=bfloat16")
      ... except amp.PolicyError as e:
      ...     print(str(e).split(";")[0])
      amp.Policy.parse('params=float32,precision=bfloat16'): unknown key 'precision'
    """
