"""Shared training code for the multi-device and multi-process tests (imported by the subprocess
scripts, so it must not create arrays at import time)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import distributed as dist
from torsh import nn, optim

D_IN, D_HIDDEN, D_OUT, BATCH, STEPS = 16, 64, 16, 32, 10
D_MODEL, N_HEADS, SEQ = 16, 4, 6

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
        (
            rng.normal(size=(BATCH, D_IN)).astype(np.float32),
            rng.normal(size=(BATCH, D_OUT)).astype(np.float32),
        )
        for _ in range(steps)
    ]


def make_transformer(seed: int = 0) -> nn.Module:
    """A Transformer encoder layer (attention heads, MLP and norms carry torsh.nn's logical names)."""
    from torsh.nn.transformer import TransformerEncoderLayer

    layer = TransformerEncoderLayer(
        D_MODEL, N_HEADS, dim_feedforward=2 * D_MODEL, dropout=0.0, batch_first=True, key=jax.random.key(seed)
    )
    # The key part of in_proj_bias adds the same q.b_k to every logit of a softmax row: its gradient is
    # exactly zero, so what it receives is rounding noise, which Adam normalises into lr-sized steps
    # that differ with any change of summation order. Frozen, it cannot hide real differences.
    return layer.freeze("self_attn.in_proj_bias")


def sequence_batches(steps: int = STEPS, seed: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    shape = (BATCH // 2, SEQ, D_MODEL)
    return [
        (rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32))
        for _ in range(steps)
    ]


MODELS = {"mlp": (make_mlp, batches), "transformer": (make_transformer, sequence_batches)}
OPTIMIZER = optim.AdamW(lr=1e-2, weight_decay=0.01)


def loss_fn(model: nn.Module, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((model(x) - y) ** 2)


def train_step(model: nn.Module, state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
    loss, grads = torsh.value_and_grad(loss_fn)(model, x, y)
    model, state = OPTIMIZER.step(model, grads, state)
    return model, state, loss


def train(config: str | None, steps: int = STEPS, model_name: str = "mlp") -> dict[str, Any]:
    """Train ``model_name`` with AdamW for ``steps`` on one device (``config=None``) or on a mesh.

    In a multi-process job each process feeds only its rows of every batch
    (:func:`torsh.distributed.local_batch_slice`) and every process gets the full results.
    """
    make_model, make_data = MODELS[model_name]
    model = make_model()
    state = OPTIMIZER.init(model)
    data = make_data(steps)
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
        rows = dist.local_batch_slice(len(data[0][0]), mesh, plan)
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
