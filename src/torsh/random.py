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
    """A new typed PRNG key from an integer seed (``jax.random.key``; torch's ``Generator().manual_seed``).

    Args:
        seed: An int in the 64-bit range.

    Returns:
        A scalar typed key (shape ``()``) to pass to the samplers or to :func:`split`.

    Raises:
        ConfigError: If ``seed`` is not an int or does not fit in 64 bits.

    Example:
        >>> import torsh
        >>> k = torsh.random.key(0)
        >>> k.shape
        ()
        >>> torsh.random.normal(k, (2, 3)).shape
        (2, 3)
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

    Args:
        k: A single PRNG key.
        num: How many keys to make (``>= 0``).

    Returns:
        An array of ``num`` keys, shape ``(num,)``.

    Raises:
        ConfigError: If ``k`` is not a key (an int seed, say) or ``num`` is not an int ``>= 0``.
        ShapeError: If ``k`` is an array of keys instead of one key.

    Example:
        >>> import torsh
        >>> params_key, dropout_key = torsh.random.split(torsh.random.key(0))
        >>> torsh.random.split(torsh.random.key(0), 4).shape
        (4,)
    """
    _check_key(k, "split")
    if not _is_int(num) or num < 0:
        raise ConfigError(f"random.split: num must be an int >= 0, got {num!r}")
    return jax.random.split(k, int(num))


def fold_in(k: Key, data: int) -> Key:
    """Derive a key from ``k`` and an integer (a step number, a rank, or a traced integer inside ``jit``).

    Args:
        k: A single PRNG key.
        data: An int in ``[0, 2**32 - 1]`` (folded in as a uint32) or an integer array.

    Returns:
        A new key, different for every ``data``.

    Raises:
        ConfigError: If ``k`` is not a key, or ``data`` is not an integer or is out of the uint32 range.
        ShapeError: If ``k`` is an array of keys.

    Example:
        >>> import torsh
        >>> base = torsh.random.key(0)
        >>> step_key = torsh.random.fold_in(base, 7)
        >>> step_key.shape
        ()
        >>> bool((torsh.random.key_data(step_key) != torsh.random.key_data(base)).any())
        True
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
    """The raw ``uint32`` words of a key (for saving); :func:`wrap_key_data` inverts it.

    Args:
        k: A key or an array of keys.

    Returns:
        A ``uint32`` array of shape ``k.shape + (2,)``.

    Raises:
        ConfigError: If ``k`` is not a PRNG key (an array of keys is accepted: it never raises ShapeError).

    Example:
        >>> import torsh
        >>> words = torsh.random.key_data(torsh.random.key(0))
        >>> words.dtype, words.shape
        (dtype('uint32'), (2,))
        >>> torsh.random.key_data(torsh.random.split(torsh.random.key(0), 3)).shape
        (3, 2)
    """
    _check_key(k, "key_data", batched=True)
    return jax.random.key_data(k)


def wrap_key_data(data: jax.Array) -> Key:
    """A typed key from raw ``uint32`` words (shape ``[..., 2]``, as :func:`key_data` returns).

    Args:
        data: A ``uint32`` array whose last dimension is 2.

    Returns:
        A typed key (or array of keys) of shape ``data.shape[:-1]``.

    Raises:
        ConfigError: If ``data`` is not a ``uint32`` array of shape ``[..., 2]``.

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
    """Normal samples with the given mean and standard deviation (``torch.normal`` / ``torch.randn``).

    Args:
        k: A single PRNG key.
        shape: The output shape (an int or a sequence of ints).
        dtype: A floating dtype; the default dtype (``torsh.get_default_dtype()``) if None.
        mean: The mean of the samples.
        std: The standard deviation (``>= 0``).

    Returns:
        An array of ``shape`` and ``dtype``.

    Raises:
        ConfigError: If ``k`` is not a key or ``std < 0``.
        ShapeError: If ``shape`` is not a sequence of non-negative ints, or ``k`` is an array of keys.
        DTypeError: If ``dtype`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> x = torsh.random.normal(torsh.random.key(0), (2, 3), std=0.1)
        >>> x.shape, x.dtype
        ((2, 3), dtype('float32'))
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
    """Normal samples truncated to ``[a, b]`` (absolute bounds, as ``torch.nn.init.trunc_normal_``).

    Args:
        k: A single PRNG key.
        shape: The output shape.
        dtype: A floating dtype; the default dtype if None.
        mean: The mean of the untruncated normal.
        std: Its standard deviation (``> 0``).
        a: The lower bound (absolute, not in standard deviations).
        b: The upper bound.

    Returns:
        An array of ``shape`` with every value in ``[a, b]``.

    Raises:
        ConfigError: If ``k`` is not a key, ``a >= b`` or ``std <= 0``.
        ShapeError: If ``shape`` is not a sequence of non-negative ints.
        DTypeError: If ``dtype`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> x = torsh.random.truncated_normal(torsh.random.key(0), (1000,), std=1.0, a=-1.0, b=1.0)
        >>> bool((x >= -1.0).all() and (x <= 1.0).all())
        True
    """
    _check_key(k, "truncated_normal")
    shp, dt = _shape(shape, "truncated_normal"), _float_dtype(dtype, "truncated_normal")
    _check_order("truncated_normal", "a", a, "b", b, strict=True)
    if _is_concrete_number(std) and std <= 0:
        raise ConfigError(f"random.truncated_normal: std must be > 0, got {std}")
    lower, upper = (a - mean) / std, (b - mean) / std
    return mean + std * jax.random.truncated_normal(k, lower, upper, shp, dt)


def uniform(k: Key, shape: Shape = (), dtype: Any = None, low: float = 0.0, high: float = 1.0) -> jax.Array:
    """Uniform samples in ``[low, high)`` (``torch.rand`` / ``Tensor.uniform_``).

    Args:
        k: A single PRNG key.
        shape: The output shape.
        dtype: A floating dtype; the default dtype if None.
        low: The inclusive lower bound.
        high: The exclusive upper bound (``>= low``).

    Returns:
        An array of ``shape`` with values in ``[low, high)``.

    Raises:
        ConfigError: If ``k`` is not a key or ``low > high``.
        ShapeError: If ``shape`` is not a sequence of non-negative ints.
        DTypeError: If ``dtype`` is not a floating dtype.

    Example:
        >>> import torsh
        >>> x = torsh.random.uniform(torsh.random.key(0), (3,), low=-1.0, high=1.0)
        >>> x.shape, bool((x >= -1).all() and (x < 1).all())
        ((3,), True)
    """
    _check_key(k, "uniform")
    shp, dt = _shape(shape, "uniform"), _float_dtype(dtype, "uniform")
    _check_order("uniform", "low", low, "high", high, strict=False)
    return jax.random.uniform(k, shp, dt, low, high)


def randint(k: Key, shape: Shape, low: int, high: int, dtype: Any = jnp.int32) -> jax.Array:
    """Integers uniformly in ``[low, high)`` (``torch.randint``, with the key first).

    Args:
        k: A single PRNG key.
        shape: The output shape.
        low: The inclusive lower bound.
        high: The exclusive upper bound (``> low``).
        dtype: An integer dtype (int32 by default).

    Returns:
        An integer array of ``shape``.

    Raises:
        ConfigError: If ``k`` is not a key or ``high <= low``.
        ShapeError: If ``shape`` is not a sequence of non-negative ints.

    Example:
        >>> import torsh
        >>> labels = torsh.random.randint(torsh.random.key(0), (5,), 0, 10)
        >>> labels.shape, labels.dtype, bool(((labels >= 0) & (labels < 10)).all())
        ((5,), dtype('int32'), True)
    """
    _check_key(k, "randint")
    shp = _shape(shape, "randint")
    if _is_concrete_number(low) and _is_concrete_number(high) and high <= low:
        raise ConfigError(f"random.randint: expected low < high, got low={low}, high={high}")
    return jax.random.randint(k, shp, low, high, dtype)


def bernoulli(k: Key, p: float | jax.Array = 0.5, shape: Shape | None = None) -> jax.Array:
    """Booleans that are True with probability ``p`` (``torch.bernoulli``; e.g. a dropout mask).

    Args:
        k: A single PRNG key.
        p: The probability of True, in ``[0, 1]`` (a float or an array broadcast to ``shape``).
        shape: The output shape; ``p``'s shape if None.

    Returns:
        A boolean array.

    Raises:
        ConfigError: If ``k`` is not a key or ``p`` is outside ``[0, 1]``.
        ShapeError: If ``shape`` is not a sequence of non-negative ints.

    Example:
        >>> import torsh
        >>> keep = torsh.random.bernoulli(torsh.random.key(0), 0.9, (4, 4))
        >>> keep.shape, keep.dtype
        ((4, 4), dtype('bool'))
        >>> torsh.random.bernoulli(torsh.random.key(0), 1.0, (3,)).tolist()
        [True, True, True]
    """
    _check_key(k, "bernoulli")
    shp = None if shape is None else _shape(shape, "bernoulli")
    if _is_concrete_number(p) and not 0.0 <= p <= 1.0:
        raise ConfigError(f"random.bernoulli: p must be a probability in [0, 1], got {p}")
    return jax.random.bernoulli(k, p, shp)


def permutation(k: Key, x: int | jax.Array, axis: int = 0) -> jax.Array:
    """A random permutation of ``range(x)``, or of the array ``x`` along ``axis`` (``torch.randperm``).

    Args:
        k: A single PRNG key.
        x: An int ``n`` (permute ``range(n)``) or an array to shuffle.
        axis: The axis of ``x`` to shuffle.

    Returns:
        The permuted integers or a shuffled copy of ``x``.

    Raises:
        ConfigError: If ``k`` is not a key or ``x`` is a negative int.
        ShapeError: If ``k`` is an array of keys instead of one key.

    Example:
        >>> import torsh
        >>> order = torsh.random.permutation(torsh.random.key(0), 5)
        >>> sorted(order.tolist())
        [0, 1, 2, 3, 4]
    """
    _check_key(k, "permutation")
    if _is_int(x) and x < 0:
        raise ConfigError(f"random.permutation: n must be >= 0, got {x}")
    return jax.random.permutation(k, x, axis=axis)


def categorical(k: Key, logits: jax.Array, axis: int = -1, shape: Shape | None = None) -> jax.Array:
    """Samples from the categorical distributions given by unnormalised ``logits`` (``torch.multinomial``).

    Args:
        k: A single PRNG key.
        logits: Log-probabilities (up to a constant) along ``axis``.
        axis: The axis of the categories.
        shape: The output shape (must end with the batch shape of ``logits``); the batch shape if None.

    Returns:
        Integer category indices.

    Raises:
        ConfigError: If ``k`` is not a key.
        ShapeError: If ``shape`` is not a sequence of non-negative ints.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> logits = jnp.log(jnp.array([0.0, 0.3, 0.7]))
        >>> idx = torsh.random.categorical(torsh.random.key(0), logits, shape=(6,))
        >>> idx.shape, 0 in idx.tolist()
        ((6,), False)
    """
    _check_key(k, "categorical")
    shp = None if shape is None else _shape(shape, "categorical")
    return jax.random.categorical(k, logits, axis=axis, shape=shp)


# -- the construction-time key stream ---------------------------------------------------------------


def is_tracing() -> bool:
    """True while JAX is tracing (inside ``jit``, ``grad``, ``vmap``, ...).

    Returns:
        Whether the caller runs under a JAX transformation.

    Example:
        >>> import torsh
        >>> torsh.random.is_tracing()
        False
        >>> seen = []
        >>> _ = torsh.jit(lambda x: seen.append(torsh.random.is_tracing()) or x)(1.0)
        >>> seen
        [True]
    """
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
    """Seed the construction-time key stream (like ``torch.manual_seed``).

    Args:
        seed: An int in the 64-bit range; :func:`next_key` then yields the same keys in the same order.

    Raises:
        ConfigError: If ``seed`` is not an int or does not fit in 64 bits.

    Example:
        >>> import torsh
        >>> torsh.manual_seed(42); a = torsh.random.next_key()
        >>> torsh.manual_seed(42); b = torsh.random.next_key()
        >>> bool((torsh.random.key_data(a) == torsh.random.key_data(b)).all())
        True
    """
    _STREAM.seed(seed)


def initial_seed() -> int:
    """The seed last given to :func:`manual_seed` (0 by default), like ``torch.initial_seed``.

    Returns:
        The seed as an int.

    Example:
        >>> import torsh
        >>> torsh.manual_seed(7)
        >>> torsh.random.initial_seed()
        7
    """
    return _STREAM._seed


def next_key() -> Key:
    """The next key of the construction-time stream (thread-safe); use it to build models, not in ``jit``.

    Returns:
        A fresh key; successive calls give different keys, reproducible after :func:`manual_seed`.

    Raises:
        TraceError: If called inside a traced function (``jit``/``grad``/``vmap``/``scan``), where the key
            would be frozen into the compiled code; pass a key in as an argument instead.

    Example:
        >>> import torsh
        >>> torsh.manual_seed(0)
        >>> w = torsh.random.normal(torsh.random.next_key(), (3, 2))
        >>> try:
        ...     torsh.jit(lambda x: x + torsh.random.normal(torsh.random.next_key(), ()))(1.0)
        ... except torsh.errors.TraceError:
        ...     print("pass the key as an argument")
        pass the key as an argument
    """
    return _STREAM.next()
