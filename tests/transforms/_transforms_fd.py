"""Central finite differences in float64 numpy: the independent reference for every derivative test.

The functions under test are written against an array namespace ``xp`` so the same formula runs in
numpy (for these differences) and in jax.numpy (for the transforms); no JAX code is involved here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EPS = 1e-6  # first derivatives: truncation ~EPS**2, round-off ~1e-16/EPS
EPS2 = 1e-4  # second derivatives: truncation ~EPS2**2, round-off ~1e-16/EPS2**2


def gradient(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """d f / d x for scalar ``f`` at ``x`` (any shape)."""
    x = np.asarray(x, np.float64)
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        out[i] = (float(f(up)) - float(f(down))) / (2 * eps)
    return out


def jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = EPS) -> np.ndarray:
    """J[out_index + in_index] = d f[out_index] / d x[in_index]."""
    x = np.asarray(x, np.float64)
    out_shape = np.shape(f(x))
    jac = np.zeros(out_shape + x.shape)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        jac[(Ellipsis, *i)] = (np.asarray(f(up)) - np.asarray(f(down))) / (2 * eps)
    return jac


def hessian(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = EPS2) -> np.ndarray:
    """H[i + j] = d^2 f / dx_i dx_j by the four-point central formula."""
    x = np.asarray(x, np.float64)
    out = np.zeros(x.shape + x.shape)
    for i in np.ndindex(x.shape):
        for j in np.ndindex(x.shape):
            total = 0.0
            for si, sj, sign in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
                p = x.copy()
                p[i] += si * h
                p[j] += sj * h
                total += sign * float(f(p))
            out[i + j] = total / (4 * h * h)
    return out
