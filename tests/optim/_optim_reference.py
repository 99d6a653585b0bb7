"""Trajectory comparison of torsh optimizers against torch.optim (and optax).

Both sides start from identical float32 parameters and receive the identical stream of gradients
(drawn with numpy up front, so the comparison isolates the update rule). torsh runs all steps in one
jitted ``lax.scan`` (compiled once per configuration); torch runs its eager optimizer. Every step's
parameters are compared.

Tolerance: ``rtol=1e-5`` with an absolute floor of ``1e-6`` times the leaf's scale, for entries that
pass through zero during the run (a relative comparison of a value that is zero up to rounding is
meaningless).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

RTOL = 1e-5
ATOL_SCALE = 1e-6
STEPS = 200

# dict keys sorted, the order in which torsh flattens a dict; each leaf gets a different gradient scale
SHAPES = {"b": (3,), "s": (), "w": (4, 3)}
GRAD_SCALE = {"b": 0.01, "s": 10.0, "w": 1.0}


def make_params(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=shape).astype(np.float32) for k, shape in SHAPES.items()}


def grad_stream(seed: int = 1, steps: int = STEPS, shapes: dict | None = None) -> dict[str, np.ndarray]:
    """``{leaf: array (steps, *shape)}`` of float32 gradients."""
    rng = np.random.default_rng(seed)
    shapes = shapes or SHAPES
    return {
        k: (rng.normal(size=(steps, *shape)) * GRAD_SCALE.get(k, 1.0) + 0.1).astype(np.float32)
        for k, shape in shapes.items()
    }


def torch_trajectory(
    make_opt: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    params: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    make_scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    groups: Callable[[dict[str, torch.nn.Parameter]], list] | None = None,
) -> dict[str, np.ndarray]:
    """Parameters after every step, ``{leaf: (steps, *shape)}``."""
    tparams = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    opt = make_opt(groups(tparams) if groups else list(tparams.values()))
    sched = make_scheduler(opt) if make_scheduler else None
    steps = next(iter(grads.values())).shape[0]
    out = {k: np.empty((steps, *v.shape), v.dtype) for k, v in params.items()}
    for i in range(steps):
        for k, p in tparams.items():
            p.grad = torch.tensor(grads[k][i])
        opt.step()
        if sched is not None:
            sched.step()
        for k, p in tparams.items():
            out[k][i] = p.detach().numpy()
    return out


def torsh_trajectory(
    opt: Any, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Parameters after every step of ``opt.step``, all steps in one jitted scan."""
    p0 = {k: jnp.asarray(v) for k, v in params.items()}

    @jax.jit
    def run(p0, grads):
        def body(carry, g):
            p, s = opt.step(carry[0], g, carry[1])
            return (p, s), p

        return jax.lax.scan(body, (p0, opt.init(p0)), grads)[1]

    out = run(p0, {k: jnp.asarray(v) for k, v in grads.items()})
    return {k: np.asarray(v) for k, v in out.items()}


def optax_trajectory(
    tx: Any, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    import optax

    p0 = {k: jnp.asarray(v) for k, v in params.items()}

    @jax.jit
    def run(p0, grads):
        def body(carry, g):
            updates, s = tx.update(g, carry[1], carry[0])
            p = optax.apply_updates(carry[0], updates)
            return (p, s), p

        return jax.lax.scan(body, (p0, tx.init(p0)), grads)[1]

    out = run(p0, {k: jnp.asarray(v) for k, v in grads.items()})
    return {k: np.asarray(v) for k, v in out.items()}


def assert_trajectories_close(
    actual: dict[str, np.ndarray],
    expected: dict[str, np.ndarray],
    rtol: float = RTOL,
    atol_scale: float = ATOL_SCALE,
) -> None:
    """Compare every step; on failure name the leaf and the first step that differs."""
    assert set(actual) == set(expected)
    for k in expected:
        a = np.asarray(actual[k], np.float64)
        e = np.asarray(expected[k], np.float64)
        assert a.shape == e.shape, (k, a.shape, e.shape)
        atol = atol_scale * max(1.0, float(np.max(np.abs(e))))
        bad = ~np.isclose(a, e, rtol=rtol, atol=atol)
        if bad.any():
            step = int(np.argwhere(bad.reshape(bad.shape[0], -1).any(axis=1))[0, 0])
            diff = np.abs(a[step] - e[step])
            raise AssertionError(
                f"leaf {k!r} first differs at step {step + 1}: max abs diff {diff.max():.3g}, "
                f"max rel diff {(diff / np.maximum(np.abs(e[step]), 1e-30)).max():.3g}\n"
                f"torsh: {a[step].ravel()[:6]}\nref:   {e[step].ravel()[:6]}"
            )
