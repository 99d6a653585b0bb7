"""Initial values without one XLA compile per parameter shape.

``jax.random.uniform(key, shape)`` is a jitted program specialised on ``shape``: building an MLP
784-512-512-10 compiled six threefry programs (0.6-1.1 s each on the 2-core CI machine, 3.2 s for the
first ``nn.Linear``). Here every draw is cut into fixed chunks of ``CHUNK`` numbers, chunk ``i`` drawn
from ``fold_in(key, i)`` by ONE compiled program per (distribution, dtype); the chunks are joined
and shaped on the host and copied to the device once. The numbers are a deterministic function of
the key and the shape, as before (they differ from ``jax.random.uniform(key, shape)``'s).

Inside a trace (``jit``, ``eval_shape``, ``vmap`` of a constructor) the key is a tracer: the same
chunks are then drawn in the traced program (``vmap`` over the chunk index), so a layer built under
``jit`` holds the same values as one built eagerly.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

CHUNK = 1 << 16  # 256 KiB of float32: generating a whole chunk for a 10-element bias costs ~0.2 ms


def traced(key: Any) -> bool:
    """Whether ``key`` is a tracer (the caller must then draw with ``jax.random`` in the trace)."""
    return isinstance(key, jax.core.Tracer)


def _one_chunk(key: jax.Array, index: jax.Array, low: Any, high: Any, kind: str, dtype: Any) -> jax.Array:
    k = jax.random.fold_in(key, index)
    if kind == "uniform":
        return jax.random.uniform(k, (CHUNK,), dtype)
    if kind == "normal":
        return jax.random.normal(k, (CHUNK,), dtype)
    return jax.random.truncated_normal(k, low, high, (CHUNK,), dtype)


_compiled_chunk = jax.jit(_one_chunk, static_argnames=("kind", "dtype"))


def draw(
    kind: str, key: Any, shape: tuple[int, ...], dtype: Any, low: float = -2.0, high: float = 2.0
) -> Any:
    """``shape`` numbers of ``kind``: 'uniform' on [0, 1), 'normal', or 'truncated' to [low, high].

    A numpy array (drawn chunk by chunk by one compiled program), or a traced array with the same
    values when ``key`` is a tracer.
    """
    n = math.prod(shape)
    count = -(-n // CHUNK)
    wide = np.dtype(jnp.promote_types(dtype, jnp.float32))  # float32, or float64 under x64
    if traced(key):
        index = jnp.arange(count, dtype=jnp.uint32)
        chunks = jax.vmap(lambda i: _one_chunk(key, i, low, high, kind, wide))(index)
        return chunks.reshape(-1)[:n].reshape(shape)
    lo, hi = np.asarray(low, wide), np.asarray(high, wide)
    parts = [
        np.asarray(_compiled_chunk(key, np.uint32(i), lo, hi, kind=kind, dtype=wide)) for i in range(count)
    ]
    flat = np.concatenate(parts) if count > 1 else (parts[0] if parts else np.zeros(0, wide))
    return flat[:n].reshape(shape)


def to_device(values: np.ndarray, dtype: Any) -> jax.Array:
    """``values`` cast to ``dtype`` on the host, then copied to the default device.

    ``jax.device_put`` copies; ``jnp.asarray`` would compile an identity program per shape.
    """
    return jax.device_put(values.astype(np.dtype(dtype)))


def array_module(values: Any) -> Any:
    """``numpy`` for a host draw, ``jax.numpy`` for a traced one: the caller writes its formula once."""
    return np if isinstance(values, np.ndarray) else jnp


def finish(values: Any, dtype: Any) -> jax.Array:
    """The initialiser's result in ``dtype``: host values copied to the device, traced ones cast."""
    return to_device(values, dtype) if isinstance(values, np.ndarray) else values.astype(dtype)
