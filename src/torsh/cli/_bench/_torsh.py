"""torsh candidates of the suite: the PyTorch-style model, ``TrainState`` + Adam, one ``torsh.jit``
step with the state donated (what a user writes following docs/train.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import torsh
from torsh import nn, optim, train
from torsh.nn import functional as F

from ._workloads import Runner, Unsupported, Workload


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip


class _TransformerLM(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        self.embed = nn.Embedding(c["vocab"], c["d"])
        layer = nn.TransformerEncoderLayer(c["d"], c["heads"], c["ff"], dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, c["layers"])
        self.head = nn.Linear(c["d"], c["vocab"])

    def forward(self, tokens: jax.Array) -> jax.Array:
        t = tokens.shape[1]
        causal = jnp.triu(jnp.full((t, t), -jnp.inf), 1)
        return self.head(self.encoder(self.embed(tokens), mask=causal))


class _LSTMLM(nn.Module):
    def __init__(self, c: dict[str, Any]) -> None:
        self.embed = nn.Embedding(c["vocab"], c["embed"])
        self.rnn = nn.LSTM(c["embed"], c["hidden"], c["layers"])
        self.head = nn.Linear(c["hidden"], c["vocab"])

    def forward(self, tokens: jax.Array) -> jax.Array:  # time-major [T, N]
        out, _ = self.rnn(self.embed(tokens))
        return self.head(out)


def _ce(logits: jax.Array, y: jax.Array) -> jax.Array:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def _runner(model: Any, w: Workload, stateful: bool = False) -> Runner:
    state = train.TrainState.create(model=model, opt=optim.Adam(lr=1e-3))

    def loss_fn(m: Any, x: jax.Array, y: jax.Array) -> Any:
        if stateful:  # BatchNorm: the forward pass also returns the model with new running statistics
            out, m = nn.stateful(m)(x)
            return _ce(out, y), m
        return _ce(m(x), y), None

    @torsh.jit(donate="state")
    def step(state: Any, x: jax.Array, y: jax.Array) -> Any:
        (loss, new_model), grads = torsh.value_and_grad(loss_fn, has_aux=True)(state.model, x, y)
        if new_model is not None:
            state = state.replace(model=new_model)
        return state.apply_gradients(grads), loss

    xs, ys = w.data
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"state": state}

    def run(n: int) -> None:
        s = box["state"]
        for i in range(n):
            s, loss = step(s, *batches[i % len(batches)])
        jax.block_until_ready(s)
        box["state"] = s

    return run


def make(w: Workload) -> Runner:
    torsh.manual_seed(0)
    builders: dict[str, Callable[[], Runner]] = {
        "mlp16": lambda: _runner(_mlp(), w),
        "mlp128": lambda: _runner(_mlp(), w),
        "cnn": lambda: _runner(_cnn(), w),
        "resnet18": lambda: _runner(_resnet18(w.config["classes"]), w, stateful=True),
        "tlm": lambda: _runner(_TransformerLM(w.config), w),
        "lstm": lambda: _runner(_LSTMLM(w.config), w),
    }
    if w.key not in builders:
        raise Unsupported(w.key)
    return builders[w.key]()


def _resnet18(classes: int) -> nn.Module:
    from torsh.vision.models import resnet18

    return resnet18(num_classes=classes)


SCAN_K = 16  # optimizer steps per call of the scan_steps candidate


def make_scan(w: Workload) -> Runner:
    """MLP at B=16 with ``train.scan_steps``: SCAN_K steps per compiled call (issue 14, goal 5)."""
    if w.key != "mlp16":
        raise Unsupported(w.key)
    torsh.manual_seed(0)
    state = train.TrainState.create(model=_mlp(), opt=optim.Adam(lr=1e-3))

    def step(state: Any, batch: Any) -> Any:
        x, y = batch
        loss, grads = torsh.value_and_grad(lambda m: _ce(m(x), y))(state.model)
        return state.apply_gradients(grads), {"loss": loss}

    fn = train.scan_steps(step, SCAN_K)
    xs, ys = w.data
    groups = [
        jax.device_put(train.stack_batches(list(zip(xs[i : i + SCAN_K], ys[i : i + SCAN_K], strict=True))))
        for i in range(0, len(xs) - SCAN_K + 1, SCAN_K)
    ]
    box = {"state": state}

    def run(n: int) -> None:  # n steps = n / SCAN_K calls
        s = box["state"]
        for i in range(max(1, n // SCAN_K)):
            s, _ = fn(s, groups[i % len(groups)])
        jax.block_until_ready(s)
        box["state"] = s

    return run
