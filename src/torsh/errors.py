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
    """Base class of every error torsh raises deliberately; catch it to handle any torsh input error.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.zeros(2, -3)
        ... except torsh.errors.TorshError as e:
        ...     print(type(e).__name__, "-", e)
        ConfigError - expected a shape of non-negative ints, got (2, -3)
    """


class ConfigError(TorshError, ValueError):
    """Raised for an invalid argument or hyperparameter (names the argument and the value); a ``ValueError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.random.key(1.5)
        ... except torsh.errors.ConfigError as e:
        ...     print(e)
        random.key: seed must be an int, got float 1.5
    """


class ShapeError(TorshError, ValueError):
    """Raised when an array has the wrong rank or size (names the place, the expected and the received shape).

    It is a ``ValueError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.full((2,), torsh.ones(3))
        ... except torsh.errors.ShapeError as e:
        ...     print(str(e)[:64])
        full: fill_value must be a number or a 0-d array, got an array o
    """


class DTypeError(TorshError, TypeError):
    """Raised when an array or value has the wrong dtype; a ``TypeError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.tensor(["a", "b"])
        ... except torsh.errors.DTypeError as e:
        ...     print(e)
        tensor: expected numeric or boolean data, got an array of strings (dtype <U1)
    """


class DeviceError(TorshError, RuntimeError):
    """Raised for an unknown, malformed or unavailable device; a ``RuntimeError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.device("tpu:0")
        ... except torsh.errors.DeviceError as e:
        ...     print(type(e).__name__)
        DeviceError
    """


class BackendUnavailableError(DeviceError):
    """Raised when a platform's XLA plugin (CUDA, Metal) is not installed (a :class:`DeviceError`).

    The message names the install command.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.device("metal")  # on a machine without jax-metal
        ... except torsh.errors.BackendUnavailableError as e:
        ...     print(e)
        metal is not available: its XLA plugin is not installed; install it with: pip install "torsh[metal]"
    """


class TreeError(TorshError, ValueError):
    """Raised when two pytrees that should match do not, or a pytree is malformed; a ``ValueError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.tree.unflatten(torsh.tree.structure((1.0, 2.0)), [1.0])
        ... except torsh.errors.TreeError as e:
        ...     print(e)
        unflatten: the structure has 2 leaves, got 1 values
    """


class FrozenInstanceError(TorshError, AttributeError):
    """Raised on an attempt to mutate an immutable torsh struct or module; use ``.replace(...)`` instead.

    It is an ``AttributeError``.

    Example:
        >>> import torsh
        >>> class Point(torsh.tree.Struct):
        ...     x: float
        >>> p = Point(x=1.0)
        >>> try:
        ...     p.x = 2.0
        ... except torsh.errors.FrozenInstanceError:
        ...     p = p.replace(x=2.0)
        >>> p.x
        2.0
    """


class TraceError(TorshError, RuntimeError):
    """Raised when something that only makes sense eagerly is called inside a traced (jit/grad/vmap) function.

    It is a ``RuntimeError``.

    Example:
        >>> import torsh
        >>> @torsh.jit
        ... def noisy(x):
        ...     return x + torsh.random.normal(torsh.random.next_key(), ())
        >>> try:
        ...     noisy(1.0)
        ... except torsh.errors.TraceError:
        ...     print("pass a key as an argument instead")
        pass a key as an argument instead
    """


class CheckpointError(TorshError, OSError):
    """Raised for a file or checkpoint that cannot be read or written; an ``OSError``.

    The message names the file and, where it applies, the key.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.load("/no/such/model.safetensors")
        ... except torsh.errors.CheckpointError as e:
        ...     print(e)
        /no/such/model.safetensors: no such file
    """


class DataError(TorshError, RuntimeError):
    """Raised when loading data fails: a worker error, a dead or stalled worker, samples that don't collate.

    It is a ``RuntimeError``.

    Example:
        >>> import numpy as np, torsh
        >>> try:
        ...     torsh.data.default_collate([np.zeros(2), np.zeros(3)])
        ... except torsh.errors.DataError as e:
        ...     print(type(e).__name__, "-", e)
        CollateError - expected shape (2,), got (3,)
    """


class DistributedError(TorshError, RuntimeError):
    """Raised for a multi-device or multi-process setup problem (mesh, sharding, launch); a ``RuntimeError``.

    Example:
        >>> import torsh
        >>> try:
        ...     torsh.distributed.mesh({"data": 1000})  # more devices than the machine has
        ... except torsh.errors.DistributedError as e:
        ...     print(type(e).__name__)
        MeshError
    """
