"""Flatten / jit dispatch cost: closed (annotated-only) vs open (per-instance fields) registration."""

import statistics
import sys
import time

import jax
import jax.numpy as jnp

import torsh
from torsh import nn
from torsh.tree import register_struct_node


def make(open_):
    class Lin:
        def __call__(self, x):
            return x @ self.weight.T + self.bias

    class Stack:
        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    register_struct_node(
        Lin, ["weight", "bias"], ["training", "frozen", "axes", "in_features", "out_features"], open_=open_
    )
    register_struct_node(Stack, ["layers"], ["training", "frozen", "axes"], open_=open_)
    ls = []
    for _i in range(16):
        lin = object.__new__(Lin)
        lin.__dict__.update(
            weight=jnp.ones((8, 8)) * 0.1,
            bias=jnp.zeros(8),
            training=True,
            frozen=frozenset(),
            axes=(),
            in_features=8,
            out_features=8,
        )
        ls.append(lin)
    s = object.__new__(Stack)
    s.__dict__.update(layers=tuple(ls), training=True, frozen=frozenset(), axes=())
    return s


class TorchStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 8) for _ in range(16)]

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


models = {
    "closed": make(False),
    "open (no instance fields)": make(True),
    "nn.Module, instance fields": TorchStyle(),
}
x = jnp.ones((4, 8))
fns = {}
for k, m in models.items():
    j = jax.jit(lambda m, x: m(x).sum())
    j(m, x)
    t = torsh.jit(lambda m, x: m(x).sum())
    t(m, x)
    fns[f"tree_flatten   {k}"] = (lambda m, x: jax.tree_util.tree_flatten(m), m)
    fns[f"jax.jit        {k}"] = (j, m)
    fns[f"torsh.jit      {k}"] = (t, m)
calls, rounds = int(sys.argv[1]), int(sys.argv[2])
res = {k: [] for k in fns}
for _r in range(rounds):
    for k, (f, m) in fns.items():
        t0 = time.process_time()
        for _ in range(calls):
            f(m, x)
        res[k].append((time.process_time() - t0) / calls * 1e6)
for k, v in res.items():
    print(f"{k:45s} {statistics.median(v):8.2f} us")
