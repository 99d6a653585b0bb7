"""Explicit randomness: keys, samplers, and a construction-time key stream.

torsh follows JAX: every random function takes a key, and a traced function receives its keys as
arguments. For convenience at *construction* time (initialising a model), ``torsh.manual_seed(n)``
seeds a thread-safe stream and :func:`next_key` hands out fresh keys from it. Calling the stream
inside ``jit``/``grad``/``vmap`` raises :class:`~torsh.errors.TraceError`: a key drawn while tracing
would be baked into the compiled function and repeat on every call.

Example:
    >>> import torsh
    >>> torsh.manual_seed(0)
    >>> k1, k2 = torsh.random.next_key(), torsh.random.next_key()
    >>> bool((torsh.random.normal(k1, (3,)) != torsh.random.normal(k2, (3,))).all())
    True
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .errors import ConfigError, TraceError

__all__ = [
    "Key",
    "key",
    "split",
    "fold_in",
    "key_data",
    "wrap_key_data",
    "normal",
    "uniform",
    "randint",
    "bernoulli",
    "permutation",
    "categorical",
    "truncated_normal",
    "manual_seed",
    "next_key",
    "initial_seed",
    "is_tracing",
]

Key = jax.Array
Shape = Sequence[int] | int


def _shape(shape: Shape) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _float_dtype(dtype: Any) -> Any:
    from ._dtype import get_default_dtype

    return get_default_dtype() if dtype is None else dtype


def key(seed: int) -> Key:
    """A new typed PRNG key from an integer seed (``jax.random.key``).

    Example:
      >>> import torsh
      >>> torsh.random.key(0).shape
      ()
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"random.key: seed must be an int, got {type(seed).__name__} {seed!r}")
    return jax.random.key(seed)


def split(k: Key, num: int = 2) -> Key:
    """Split a key into ``num`` independent keys (an array of keys; unpack or index it)."""
    return jax.random.split(k, num)


def fold_in(k: Key, data: int) -> Key:
    """Derive a key from ``k`` and an integer (e.g. a step number)."""
    return jax.random.fold_in(k, data)


def key_data(k: Key) -> jax.Array:
    """The raw ``uint32`` words of a key (for saving); :func:`wrap_key_data` inverts it."""
    return jax.random.key_data(k)


def wrap_key_data(data: jax.Array) -> Key:
    """A typed key from raw ``uint32`` words."""
    return jax.random.wrap_key_data(data)


def normal(k: Key, shape: Shape = (), dtype: Any = None, mean: float = 0.0, std: float = 1.0) -> jax.Array:
    """Normal samples with the given mean and standard deviation (default float dtype)."""
    return mean + std * jax.random.normal(k, _shape(shape), _float_dtype(dtype))


def truncated_normal(
    k: Key,
    shape: Shape = (),
    dtype: Any = None,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
) -> jax.Array:
    """Normal samples truncated to ``[a, b]`` (absolute bounds, as ``torch.nn.init.trunc_normal_``)."""
    lower, upper = (a - mean) / std, (b - mean) / std
    return mean + std * jax.random.truncated_normal(k, lower, upper, _shape(shape), _float_dtype(dtype))


def uniform(k: Key, shape: Shape = (), dtype: Any = None, low: float = 0.0, high: float = 1.0) -> jax.Array:
    """Uniform samples in ``[low, high)``."""
    return jax.random.uniform(k, _shape(shape), _float_dtype(dtype), low, high)


def randint(k: Key, shape: Shape, low: int, high: int, dtype: Any = jnp.int32) -> jax.Array:
    """Integers uniformly in ``[low, high)``."""
    if high <= low:
        raise ConfigError(f"random.randint: expected low < high, got low={low}, high={high}")
    return jax.random.randint(k, _shape(shape), low, high, dtype)


def bernoulli(k: Key, p: float | jax.Array = 0.5, shape: Shape | None = None) -> jax.Array:
    """Booleans that are True with probability ``p``."""
    return jax.random.bernoulli(k, p, None if shape is None else _shape(shape))


def permutation(k: Key, x: int | jax.Array, axis: int = 0) -> jax.Array:
    """A random permutation of ``range(x)`` or of ``x`` along ``axis``."""
    return jax.random.permutation(k, x, axis=axis)


def categorical(k: Key, logits: jax.Array, axis: int = -1, shape: Shape | None = None) -> jax.Array:
    """Samples from the categorical distributions given by ``logits``."""
    return jax.random.categorical(k, logits, axis=axis, shape=None if shape is None else _shape(shape))


# -- the construction-time key stream ---------------------------------------------------------------


def is_tracing() -> bool:
    """True while JAX is tracing (inside ``jit``, ``grad``, ``vmap``, ...)."""
    try:
        from jax._src import core

        return not core.trace_state_clean()
    except (ImportError, AttributeError):  # pragma: no cover - fallback for a changed private API
        return isinstance(jnp.zeros(()) + 0, jax.core.Tracer)


class _KeyStream:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seed = 0
        self._base: Key | None = None
        self._counter = 0

    def seed(self, seed: int) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(f"manual_seed: seed must be an int, got {type(seed).__name__} {seed!r}")
        with self._lock:
            self._seed, self._base, self._counter = seed, None, 0

    def next(self) -> Key:
        if is_tracing():
            raise TraceError(
                "torsh.random.next_key() was called inside a traced function (jit/grad/vmap/scan). "
                "The key would be frozen into the compiled code and repeat on every call. Pass a key "
                "into the function as an argument instead, e.g. train_step(..., key=torsh.random.next_key())."
            )
        with self._lock:
            if self._base is None:
                self._base = jax.random.key(self._seed)
            counter = self._counter
            self._counter += 1
            base = self._base
        return jax.random.fold_in(base, counter)


_STREAM = _KeyStream()


def manual_seed(seed: int) -> None:
    """Seed the construction-time key stream (like ``torch.manual_seed``). Returns nothing.

    Example:
      >>> import torsh
      >>> torsh.manual_seed(42); a = torsh.random.next_key()
      >>> torsh.manual_seed(42); b = torsh.random.next_key()
      >>> bool((torsh.random.key_data(a) == torsh.random.key_data(b)).all())
      True
    """
    _STREAM.seed(seed)


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed` (0 by default)."""
    return _STREAM._seed


def next_key() -> Key:
    """The next key of the construction-time stream; thread-safe; raises inside traced functions."""
    return _STREAM.next()
