"""Flax NNX candidates (MLP and CNN only): ``nnx`` layers (NHWC convolutions, Flax's layout), an
``nnx.Optimizer`` with optax Adam, ``nnx.jit`` on the train step (the Flax NNX tutorial's loop)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ._workloads import Runner, Unsupported, Workload


def _model(key: str) -> Any:
    from flax import nnx

    rngs = nnx.Rngs(0)
    if key in ("mlp16", "mlp128"):

        class MLP(nnx.Module):
            def __init__(self) -> None:
                self.l0 = nnx.Linear(784, 512, rngs=rngs)
                self.l1 = nnx.Linear(512, 512, rngs=rngs)
                self.l2 = nnx.Linear(512, 10, rngs=rngs)

            def __call__(self, x: jax.Array) -> jax.Array:
                return self.l2(jax.nn.relu(self.l1(jax.nn.relu(self.l0(x)))))

        return MLP()
    if key == "cnn":

        class CNN(nnx.Module):
            def __init__(self) -> None:
                self.c1 = nnx.Conv(3, 32, (3, 3), padding=1, rngs=rngs)
                self.c2 = nnx.Conv(32, 64, (3, 3), padding=1, rngs=rngs)
                self.f1 = nnx.Linear(4096, 128, rngs=rngs)
                self.f2 = nnx.Linear(128, 10, rngs=rngs)

            def __call__(self, x: jax.Array) -> jax.Array:
                x = x.transpose(0, 2, 3, 1)  # the batches are NCHW, as for every candidate
                x = nnx.max_pool(jax.nn.relu(self.c1(x)), (2, 2), (2, 2))
                x = nnx.max_pool(jax.nn.relu(self.c2(x)), (2, 2), (2, 2))
                return self.f2(jax.nn.relu(self.f1(x.reshape(x.shape[0], -1))))

        return CNN()
    raise Unsupported(key)


def make(w: Workload) -> Runner:
    import optax
    from flax import nnx

    model = _model(w.key)
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def step(model: Any, optimizer: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        def loss_fn(m: Any) -> jax.Array:
            logits = m(x)
            return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    xs, ys = w.data
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]

    def run(n: int) -> None:
        for i in range(n):
            loss = step(model, optimizer, *batches[i % len(batches)])
        jax.block_until_ready(loss)

    return run
