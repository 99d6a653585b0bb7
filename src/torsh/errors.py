"""The torsh error hierarchy.

Every error torsh raises on purpose derives from :class:`TorshError`, and also from the builtin
exception a Python user would expect (``ValueError`` for a bad value, ``TypeError`` for a bad type), so
``except ValueError`` keeps working. Messages say what was expected, what was got, and where.

Example:
    >>> import torsh
    >>> try:
    ...     torsh.device("tpu:0")
    ... except torsh.errors.DeviceError as e:
    ...     print(type(e).__name__)
    DeviceError
"""

from __future__ import annotations

__all__ = [
    "TorshError",
    "ConfigError",
    "ShapeError",
    "DTypeError",
    "DeviceError",
    "BackendUnavailableError",
    "TreeError",
    "FrozenInstanceError",
    "TraceError",
    "CheckpointError",
    "DataError",
    "DistributedError",
]


class TorshError(Exception):
    """Base class of every error torsh raises deliberately."""


class ConfigError(TorshError, ValueError):
    """An invalid argument or hyperparameter (names the argument and the value)."""


class ShapeError(TorshError, ValueError):
    """An array has the wrong rank or size (names the place, the expected and the received shape)."""


class DTypeError(TorshError, TypeError):
    """An array has the wrong dtype."""


class DeviceError(TorshError, RuntimeError):
    """An unknown, malformed or unavailable device."""


class BackendUnavailableError(DeviceError):
    """A platform (CUDA, Metal) whose XLA plugin is not installed; the message names the install command."""


class TreeError(TorshError, ValueError):
    """Two pytrees that should match do not, or a pytree is malformed."""


class FrozenInstanceError(TorshError, AttributeError):
    """An attempt to mutate an immutable torsh struct or module; use ``.replace(...)`` instead."""


class TraceError(TorshError, RuntimeError):
    """Something that only makes sense eagerly was called inside a traced (jit/grad/vmap) function."""


class CheckpointError(TorshError, OSError):
    """A file or checkpoint that cannot be read or written (names the file and the key)."""


class DataError(TorshError, RuntimeError):
    """A data-loading failure: a worker error, a dead or stalled worker, samples that do not collate."""


class DistributedError(TorshError, RuntimeError):
    """A multi-device or multi-process setup problem."""
