"""Dispatch cost of a jitted step on a 16-layer model: torsh.jit vs jax.jit (vs Equinox, Flax NNX).

The computation is tiny (16 layers of 8x8) so the numbers are the per-call overhead of each
library's jit wrapper: flattening the model, cache lookup, unflattening outputs. Candidates run
interleaved in one process; the table prints the median µs per call and the ratio to ``jax.jit`` on
the same arrays held in plain lists/dicts. Target: torsh.jit within 1.2x of jax.jit.

Run:  python benchmarks/dispatch.py [--calls 2000] [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved, report, use_cpu_clock

import torsh

LAYERS, WIDTH = 16, 8


def torsh_model() -> tuple[object, str]:
    """nn.Sequential of nn.Linear when torsh.nn is available, else an equivalent Struct."""
    try:
        from torsh import nn

        layers = [nn.Linear(WIDTH, WIDTH, key=torsh.random.key(i)) for i in range(LAYERS)]
        return nn.Sequential(*layers), "torsh.nn.Sequential"
    except (ImportError, AttributeError):

        class Linear(torsh.tree.Struct):
            weight: jax.Array
            bias: jax.Array
            in_features: int = torsh.tree.static()
            out_features: int = torsh.tree.static()

            def __call__(self, x):
                return x @ self.weight.T + self.bias

        class Sequential(torsh.tree.Struct):
            layers: tuple = torsh.tree.field(inline=True)

            def __call__(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x

        layers = tuple(
            Linear(jnp.ones((WIDTH, WIDTH)) * 0.1, jnp.zeros(WIDTH), WIDTH, WIDTH) for _ in range(LAYERS)
        )
        return Sequential(layers), "torsh.tree.Struct model"


def forward_plain(params, x):
    for p in params:
        x = x @ p["weight"].T + p["bias"]
    return x


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall time")
    args = parser.parse_args()
    if args.cpu_time:
        use_cpu_clock()

    model, model_kind = torsh_model()
    params = [
        {"weight": layer.weight, "bias": layer.bias}
        for layer in torsh.tree.leaves(model, is_leaf=lambda n: hasattr(n, "weight") and hasattr(n, "bias"))
    ]
    x = jnp.ones((4, WIDTH))

    # Step A: forward pass, scalar out. Step B: an update-like step returning the whole model.
    scale = lambda tree: jax.tree.map(lambda a: a * 0.999, tree)
    jax_fwd = jax.jit(lambda p, x: forward_plain(p, x).sum())
    jax_upd = jax.jit(lambda p, x: (scale(p), forward_plain(p, x).sum()))
    torsh_fwd = torsh.jit(lambda m, x: m(x).sum())
    torsh_upd = torsh.jit(lambda m, x: (scale(m), m(x).sum()), donate=())
    jax_on_torsh_fwd = jax.jit(lambda m, x: m(x).sum())

    fwd = {
        "jax.jit (lists of dicts)": lambda: jax_fwd(params, x),
        f"torsh.jit ({model_kind})": lambda: torsh_fwd(model, x),
        f"jax.jit ({model_kind})": lambda: jax_on_torsh_fwd(model, x),
    }
    upd = {
        "jax.jit (lists of dicts)": lambda: jax_upd(params, x),
        f"torsh.jit ({model_kind})": lambda: torsh_upd(model, x),
    }

    try:
        import equinox as eqx

        eqx_model = [eqx.nn.Linear(WIDTH, WIDTH, key=jax.random.key(i)) for i in range(LAYERS)]

        def eqx_forward(m, x):
            for layer in m:
                x = jax.vmap(layer)(x)
            return x

        eqx_fwd = eqx.filter_jit(lambda m, x: eqx_forward(m, x).sum())
        eqx_upd = eqx.filter_jit(lambda m, x: (scale(m), eqx_forward(m, x).sum()))
        fwd["equinox.filter_jit"] = lambda: eqx_fwd(eqx_model, x)
        upd["equinox.filter_jit"] = lambda: eqx_upd(eqx_model, x)
    except ImportError:
        print("(equinox not installed: skipped)")

    try:
        from flax import nnx

        class NNXStack(nnx.Module):
            def __init__(self, rngs):
                self.layers = nnx.List([nnx.Linear(WIDTH, WIDTH, rngs=rngs) for _ in range(LAYERS)])

            def __call__(self, x):
                for layer in self.layers:
                    x = layer(x)
                return x

        nnx_model = NNXStack(nnx.Rngs(0))
        nnx_fwd = nnx.jit(lambda m, x: m(x).sum())
        fwd["flax nnx.jit"] = lambda: nnx_fwd(nnx_model, x)
    except (ImportError, AttributeError) as e:
        print(f"(flax nnx unavailable: {e})")

    clock = "process CPU time" if args.cpu_time else "wall time"
    print(f"jax {jax.__version__}, {clock}, {LAYERS} layers of {WIDTH}x{WIDTH}, devices: {jax.devices()}")
    report("A. forward, scalar output", interleaved(fwd, args.calls, args.rounds), "jax.jit (lists of dicts)")
    report(
        "B. update step, returns the model",
        interleaved(upd, args.calls, args.rounds),
        "jax.jit (lists of dicts)",
    )


if __name__ == "__main__":
    main()
