"""Equinox candidates (MLP and CNN only): ``eqx.nn`` layers, ``eqx.filter_jit`` over model + optax
state, per-sample models ``vmap``-ed over the batch (Equinox's convention)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._workloads import Runner, Unsupported, Workload


def _model(key: str) -> Any:
    import equinox as eqx

    ks = jax.random.split(jax.random.key(0), 4)
    if key in ("mlp16", "mlp128"):
        return eqx.nn.MLP(784, 10, 512, 2, activation=jax.nn.relu, key=ks[0])
    if key == "cnn":
        relu = eqx.nn.Lambda(jax.nn.relu)
        return eqx.nn.Sequential([
            eqx.nn.Conv2d(3, 32, 3, padding=1, key=ks[0]), relu, eqx.nn.MaxPool2d(2, 2),
            eqx.nn.Conv2d(32, 64, 3, padding=1, key=ks[1]), relu, eqx.nn.MaxPool2d(2, 2),
            eqx.nn.Lambda(jnp.ravel), eqx.nn.Linear(4096, 128, key=ks[2]), relu,
            eqx.nn.Linear(128, 10, key=ks[3]),
        ])  # fmt: skip
    raise Unsupported(key)


def make(w: Workload) -> Runner:
    import equinox as eqx
    import optax

    model = _model(w.key)
    tx = optax.adam(1e-3)
    opt_state = tx.init(eqx.filter(model, eqx.is_array))

    def loss_fn(m: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        logits = jax.vmap(m)(x)
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1).mean()

    @eqx.filter_jit(donate="all")
    def step(m: Any, o: Any, x: jax.Array, y: jax.Array) -> Any:
        loss, g = eqx.filter_value_and_grad(loss_fn)(m, x, y)
        updates, o = tx.update(g, o, eqx.filter(m, eqx.is_array))
        return eqx.apply_updates(m, updates), o, loss

    xs, ys = w.data
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"m": model, "o": opt_state}

    def run(n: int) -> None:
        m, o = box["m"], box["o"]
        for i in range(n):
            m, o, loss = step(m, o, *batches[i % len(batches)])
        jax.block_until_ready(eqx.filter(m, eqx.is_array))
        box.update(m=m, o=o)

    return run
