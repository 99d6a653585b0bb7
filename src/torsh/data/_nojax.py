"""What the worker path needs from torsh's JAX-side modules, without importing JAX.

A loader worker process imports only :mod:`torsh.data`'s loading code (datasets, ``.map``, collation,
batch transport), so it starts in ~0.1 s instead of paying JAX's ~2 s import. These helpers answer
the few questions that code asks about JAX objects without importing JAX: when ``jax`` is not
imported in a process, no ``jax.Array`` can exist there, and torsh's default dtype is still float32.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["NAMESPACE", "is_jax_array", "is_array", "default_float_dtype"]

# torsh's optree namespace; equal to ``torsh.tree.NAMESPACE`` (tests check), spelled out here because
# importing torsh.tree imports JAX.
NAMESPACE = "torsh"


def is_jax_array(x: Any) -> bool:
    """``isinstance(x, jax.Array)``, without importing JAX when it is not imported yet."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


def is_array(x: Any) -> bool:
    """A NumPy or JAX array."""
    return isinstance(x, np.ndarray) or is_jax_array(x)


def default_float_dtype() -> np.dtype:
    """``torsh.get_default_dtype()``; float32 when torsh's dtype module was never imported here."""
    dtypes = sys.modules.get("torsh._dtype")
    return np.dtype(np.float32) if dtypes is None else np.dtype(dtypes.get_default_dtype())
