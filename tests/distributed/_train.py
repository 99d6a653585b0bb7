"""Shared training code for the multi-device and multi-process tests (imported by the subprocess
scripts, so it must not create arrays at import time)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import distributed as dist
from torsh import nn

D_IN, D_HIDDEN, D_OUT, BATCH, STEPS = 16, 64, 16, 32, 10

# name -> (mesh shape, plan factory)
CONFIGS: dict[str, tuple[dict[str, int], Any]] = {
    "dp": ({"data": 8}, lambda: dist.data_parallel()),
    "fsdp": ({"data": 8}, lambda: dist.fsdp()),
    "tp": ({"model": 8}, lambda: dist.tensor_parallel()),
    "2d": ({"data": 4, "model": 2}, lambda: dist.data_model_parallel()),
    "2d_fsdp": ({"data": 4, "model": 2}, lambda: dist.data_model_parallel(fsdp=True)),
}


def make_mlp(seed: int = 0) -> nn.Module:
    """An MLP whose Linear layers carry Megatron logical names (column- then row-parallel)."""
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    return nn.Sequential(
        nn.Linear(D_IN, D_HIDDEN, axes=("mlp", "embed"), key=k1),
        nn.GELU(),
        nn.Linear(D_HIDDEN, D_HIDDEN // 2, axes=("embed", "mlp"), key=k2),
        nn.Tanh(),
        nn.Linear(D_HIDDEN // 2, D_OUT, key=k3),  # default names ("out", "in"): replicated by the presets
    )


def batches(steps: int = STEPS, seed: int = 1) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(BATCH, D_IN)).astype(np.float32), rng.normal(size=(BATCH, D_OUT)).astype(np.float32))
        for _ in range(steps)
    ]


# --- AdamW (PyTorch's update rule), written out until torsh.optim lands ---------------------------
LR, BETAS, EPS, WEIGHT_DECAY = 1e-2, (0.9, 0.999), 1e-8, 0.01


def adamw_init(params: Any) -> dict[str, Any]:
    return {
        "mu": jax.tree.map(jnp.zeros_like, params),
        "nu": jax.tree.map(jnp.zeros_like, params),
        "count": jnp.zeros((), jnp.int32),
    }


def adamw_step(params: Any, grads: Any, state: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    b1, b2 = BETAS
    count = state["count"] + 1
    mu = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, state["mu"], grads)
    nu = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, state["nu"], grads)
    c1, c2 = 1 - b1 ** count.astype(jnp.float32), 1 - b2 ** count.astype(jnp.float32)

    def update(p: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
        p = p * (1 - LR * WEIGHT_DECAY)
        return p - LR * (m / c1) / (jnp.sqrt(v / c2) + EPS)

    return jax.tree.map(update, params, mu, nu), {"mu": mu, "nu": nu, "count": count}


def loss_fn(model: nn.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((model(x) - y) ** 2)


def train_step(model: nn.Module, state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
    loss, grads = torsh.value_and_grad(loss_fn)(model, x, y)
    model, state = adamw_step(model, grads, state)
    return model, state, loss


def train(config: str | None, steps: int = STEPS) -> dict[str, Any]:
    """Train for ``steps`` on one device (``config=None``) or on a mesh; returns host results.

    In a multi-process job each process feeds only its rows of every batch
    (:func:`torsh.distributed.local_batch_slice`) and every process gets the full results.
    """
    model = make_mlp()
    state = adamw_init(model)
    data = batches(steps)
    if config is None:
        step = torsh.jit(train_step, donate=("model", "state"))
        placed: dict[str, Any] = {}
    else:
        shape, make_plan = CONFIGS[config]
        mesh, plan = dist.mesh(shape), make_plan()
        model, state = dist.shard(model, mesh, plan), dist.shard(state, mesh, plan)
        placed = {"model": dist.sharding_of(model), "state": dist.sharding_of(state)}
        step = torsh.jit(
            train_step, donate=("model", "state"), out_shardings=(placed["model"], placed["state"], None)
        )
        rows = dist.local_batch_slice(BATCH, mesh, plan)
        data = [dist.shard_batch((x[rows], y[rows]), mesh, plan) for x, y in data]
    losses = []
    for x, y in data:
        model, state, loss = step(model, state, x, y)
        losses.append(loss)
    return {
        "model": model,
        "state": state,
        "placed": placed,
        "params": dist.to_host(model.state_dict()),
        "losses": np.asarray([float(dist.to_host(loss)) for loss in losses]),
    }
