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
import numpy as np

from .errors import ConfigError, DTypeError, ShapeError, TraceError

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


_SEED_RANGE = (-(2**63), 2**63 - 1)  # what jax.random.key accepts (an int64)
_FOLD_RANGE = (0, 2**32 - 1)  # fold_in's data is a uint32


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _shape(shape: Any, where: str, name: str = "shape") -> tuple[int, ...]:
    """A static shape of non-negative ints (JAX would fail later with a raw compiler error)."""
    dims = (shape,) if _is_int(shape) else shape
    try:
        dims = tuple(dims)
    except TypeError:
        raise ShapeError(
            f"random.{where}: {name} must be an int or a sequence of ints, got {shape!r}"
        ) from None
    for d in dims:
        if not _is_int(d) or d < 0:
            raise ShapeError(f"random.{where}: {name} must be a sequence of non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _check_key(k: Any, where: str, batched: bool = False) -> Any:
    """Reject what is not a PRNG key with a message naming the fix (an int seed is the common case)."""
    if _is_int(k):
        raise ConfigError(
            f"random.{where}: expected a PRNG key as the first argument, got the int {k!r}. torsh's random "
            f"functions take explicit keys: write torsh.random.{where}(torsh.random.key({k}), ...), or "
            "torsh.random.next_key() at construction time"
        )
    if isinstance(k, jax.Array) or hasattr(k, "dtype"):
        dt = getattr(k, "dtype", None)
        typed = jax.dtypes.issubdtype(dt, jax.dtypes.prng_key)
        raw = not typed and np.dtype(dt) == np.uint32 and tuple(k.shape)[-1:] == (2,)  # legacy PRNGKey
        if typed or raw:
            shape = tuple(k.shape) if typed else tuple(k.shape)[:-1]
            if shape and not batched:
                raise ShapeError(
                    f"random.{where}: expected a single key, got an array of keys of shape {list(shape)}; "
                    "index it (keys[0]), or map over it with torsh.vmap"
                )
            return k
        raise ConfigError(
            f"random.{where}: expected a PRNG key (torsh.random.key(seed)), got an array of dtype {dt} and "
            f"shape {list(getattr(k, 'shape', ()))}"
        )
    raise ConfigError(
        f"random.{where}: expected a PRNG key (torsh.random.key(seed)), got {type(k).__name__} {k!r}"
    )


def _float_dtype(dtype: Any, where: str) -> Any:
    from ._dtype import dtype as as_dtype
    from ._dtype import get_default_dtype

    if dtype is None:
        return get_default_dtype()
    d = as_dtype(dtype)
    if not jnp.issubdtype(d, jnp.floating):
        raise DTypeError(f"random.{where}: dtype must be a floating dtype, got {d}")
    return d


def _is_concrete_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


def _check_order(where: str, lo_name: str, lo: Any, hi_name: str, hi: Any, strict: bool) -> None:
    if _is_concrete_number(lo) and _is_concrete_number(hi) and (lo >= hi if strict else lo > hi):
        op = "<" if strict else "<="
        raise ConfigError(
            f"random.{where}: expected {lo_name} {op} {hi_name}, got {lo_name}={lo}, {hi_name}={hi}"
        )


def key(seed: int) -> Key:
    """A new typed PRNG key from an integer seed (``jax.random.key``).

    Example:
      >>> import torsh
      >>> torsh.random.key(0).shape
      ()
    """
    if not _is_int(seed):
        raise ConfigError(f"random.key: seed must be an int, got {type(seed).__name__} {seed!r}")
    if not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
        raise ConfigError(
            f"random.key: seed must be in [{_SEED_RANGE[0]}, {_SEED_RANGE[1]}] (a 64-bit integer), got {seed}"
        )
    return jax.random.key(int(seed))


def split(k: Key, num: int = 2) -> Key:
    """Split a key into ``num`` independent keys (an array of keys; unpack or index it).

    Example:
      >>> import torsh
      >>> a, b = torsh.random.split(torsh.random.key(0))
      >>> torsh.random.split(torsh.random.key(0), 4).shape
      (4,)
    """
    _check_key(k, "split")
    if not _is_int(num) or num < 0:
        raise ConfigError(f"random.split: num must be an int >= 0, got {num!r}")
    return jax.random.split(k, int(num))


def fold_in(k: Key, data: int) -> Key:
    """Derive a key from ``k`` and an integer in ``[0, 2**32 - 1]`` (e.g. a step number, or a traced
    integer array inside ``jit``).

    Example:
      >>> import torsh
      >>> torsh.random.fold_in(torsh.random.key(0), 7).shape
      ()
    """
    _check_key(k, "fold_in")
    if _is_int(data):
        if not _FOLD_RANGE[0] <= data <= _FOLD_RANGE[1]:
            raise ConfigError(
                f"random.fold_in: data must be an int in [0, {_FOLD_RANGE[1]}] "
                "(it is folded in as a uint32), "
                f"got {data}; for a negative or larger number fold in `data % 2**32`, or fold twice"
            )
    elif not (hasattr(data, "dtype") and jnp.issubdtype(data.dtype, jnp.integer)):
        raise ConfigError(
            f"random.fold_in: data must be an integer (a Python int or an integer array), got "
            f"{type(data).__name__} {data!r}"
        )
    return jax.random.fold_in(k, data)


def key_data(k: Key) -> jax.Array:
    """The raw ``uint32`` words of a key (for saving); :func:`wrap_key_data` inverts it."""
    _check_key(k, "key_data", batched=True)
    return jax.random.key_data(k)


def wrap_key_data(data: jax.Array) -> Key:
    """A typed key from raw ``uint32`` words (shape ``[..., 2]``, as :func:`key_data` returns).

    Example:
      >>> import torsh
      >>> k = torsh.random.key(0)
      >>> words = torsh.random.key_data(k)
      >>> bool((torsh.random.key_data(torsh.random.wrap_key_data(words)) == words).all())
      True
    """
    shape, dt = getattr(data, "shape", None), getattr(data, "dtype", None)
    if shape is None or dt is None:
        raise ConfigError(
            f"random.wrap_key_data: expected a uint32 array of shape [..., 2] (from key_data), got "
            f"{type(data).__name__} {data!r}"
        )
    if np.dtype(dt) != np.uint32 or tuple(shape)[-1:] != (2,):
        raise ConfigError(
            f"random.wrap_key_data: expected a uint32 array of shape [..., 2] (from key_data), "
            f"got dtype {dt} "
            f"and shape {list(shape)}"
        )
    return jax.random.wrap_key_data(data)


def normal(k: Key, shape: Shape = (), dtype: Any = None, mean: float = 0.0, std: float = 1.0) -> jax.Array:
    """Normal samples with the given mean and standard deviation (default float dtype).

    Example:
      >>> import torsh
      >>> torsh.random.normal(torsh.random.key(0), (2, 3), std=0.1).shape
      (2, 3)
    """
    _check_key(k, "normal")
    shp, dt = _shape(shape, "normal"), _float_dtype(dtype, "normal")
    if _is_concrete_number(std) and std < 0:
        raise ConfigError(f"random.normal: std must be >= 0, got {std}")
    return mean + std * jax.random.normal(k, shp, dt)


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
    _check_key(k, "truncated_normal")
    shp, dt = _shape(shape, "truncated_normal"), _float_dtype(dtype, "truncated_normal")
    _check_order("truncated_normal", "a", a, "b", b, strict=True)
    if _is_concrete_number(std) and std <= 0:
        raise ConfigError(f"random.truncated_normal: std must be > 0, got {std}")
    lower, upper = (a - mean) / std, (b - mean) / std
    return mean + std * jax.random.truncated_normal(k, lower, upper, shp, dt)


def uniform(k: Key, shape: Shape = (), dtype: Any = None, low: float = 0.0, high: float = 1.0) -> jax.Array:
    """Uniform samples in ``[low, high)``."""
    _check_key(k, "uniform")
    shp, dt = _shape(shape, "uniform"), _float_dtype(dtype, "uniform")
    _check_order("uniform", "low", low, "high", high, strict=False)
    return jax.random.uniform(k, shp, dt, low, high)


def randint(k: Key, shape: Shape, low: int, high: int, dtype: Any = jnp.int32) -> jax.Array:
    """Integers uniformly in ``[low, high)``."""
    _check_key(k, "randint")
    shp = _shape(shape, "randint")
    if _is_concrete_number(low) and _is_concrete_number(high) and high <= low:
        raise ConfigError(f"random.randint: expected low < high, got low={low}, high={high}")
    return jax.random.randint(k, shp, low, high, dtype)


def bernoulli(k: Key, p: float | jax.Array = 0.5, shape: Shape | None = None) -> jax.Array:
    """Booleans that are True with probability ``p`` (in ``[0, 1]``, as ``torch.bernoulli``)."""
    _check_key(k, "bernoulli")
    shp = None if shape is None else _shape(shape, "bernoulli")
    if _is_concrete_number(p) and not 0.0 <= p <= 1.0:
        raise ConfigError(f"random.bernoulli: p must be a probability in [0, 1], got {p}")
    return jax.random.bernoulli(k, p, shp)


def permutation(k: Key, x: int | jax.Array, axis: int = 0) -> jax.Array:
    """A random permutation of ``range(x)`` or of ``x`` along ``axis``."""
    _check_key(k, "permutation")
    if _is_int(x) and x < 0:
        raise ConfigError(f"random.permutation: n must be >= 0, got {x}")
    return jax.random.permutation(k, x, axis=axis)


def categorical(k: Key, logits: jax.Array, axis: int = -1, shape: Shape | None = None) -> jax.Array:
    """Samples from the categorical distributions given by ``logits``."""
    _check_key(k, "categorical")
    shp = None if shape is None else _shape(shape, "categorical")
    return jax.random.categorical(k, logits, axis=axis, shape=shp)


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
        if not _is_int(seed) or not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
            raise ConfigError(
                f"manual_seed: seed must be an int in [{_SEED_RANGE[0]}, {_SEED_RANGE[1]}], got "
                f"{type(seed).__name__} {seed!r}"
            )
        seed = int(seed)
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
