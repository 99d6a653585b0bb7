"""Cost of trace-time shape checks (``nn.shaped``): an annotated vs an unannotated MLP, per call.

The same MLP (``--layers`` Linear layers of width ``--width`` with ReLU between, batch ``--batch``) is
built twice from the same weights:

* **annotated**: ``nn.Linear``, whose ``forward`` is ``@nn.shaped`` (jaxtyping ``"*batch in"`` ->
  ``"*batch out"``, ``in``/``out`` bound from the layer's fields);
* **plain**: a Linear subclass whose ``forward`` is the undecorated function (no checks).

Each is called eagerly (checks run on every call) and under ``jax.jit`` (checks run at trace only;
the compiled call should cost the same). Candidates run interleaved in one process; the table prints
the median µs per call and the ratio to the plain model. Process CPU time is measured (``--wall``
for wall time), so other jobs on a shared machine do not count.

Run:  python benchmarks/shapes.py [--rounds 7] [--calls 200] [--layers 4] [--width 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp

import torsh
from torsh import nn

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved, report, use_cpu_clock


class PlainLinear(nn.Linear):
    """nn.Linear without the shape checks: the same forward, undecorated."""

    forward = nn.Linear.forward.__wrapped__  # type: ignore[attr-defined]


def mlp(linear: type[nn.Linear], layers: int, width: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods += [linear(width, width, key=torsh.random.key(i))]
        if i < layers - 1:
            mods += [nn.ReLU()]
    return nn.Sequential(*mods)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--wall", action="store_true", help="wall time instead of process CPU time")
    args = p.parse_args()
    if not args.wall:
        use_cpu_clock()

    annotated = mlp(nn.Linear, args.layers, args.width)
    plain = mlp(PlainLinear, args.layers, args.width)
    x = jnp.ones((args.batch, args.width))
    assert jnp.array_equal(annotated(x), plain(x))  # same weights, same result

    run = jax.jit(lambda m, x: m(x))
    print(f"MLP: {args.layers} Linear {args.width}->{args.width}, batch {args.batch}; jax {jax.__version__}")
    eager = interleaved(
        {"plain, eager": lambda: plain(x), "annotated, eager": lambda: annotated(x)}, args.calls, args.rounds
    )
    report("eager call (checks run every call)", eager, "plain, eager")
    jitted = interleaved(
        {"plain, jax.jit": lambda: run(plain, x), "annotated, jax.jit": lambda: run(annotated, x)},
        args.calls * 5,
        args.rounds,
    )
    report("jitted call (checks ran once, at trace)", jitted, "plain, jax.jit")


if __name__ == "__main__":
    main()
