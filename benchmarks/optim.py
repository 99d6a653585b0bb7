"""Optimizer update cost on a 10M-parameter pytree: torsh vs optax (both jitted, buffers donated) vs
torch.optim (single-tensor, foreach and fused kernels).

Each candidate applies one update per call to the same parameter tree (8 layers of 1120x1120 weights
plus biases, float32, ~10.0M parameters) with a fixed gradient. Candidates run interleaved in one
process (see _timing.py); the table prints the median µs per update and the ratio to optax.
Target: torsh not slower than optax.

A second table measures the per-call overhead on a small tree (16 layers of 8x8, 32 leaves), where
the cost is dispatch (flattening the named state), not arithmetic.

Run:  python benchmarks/optim.py [--calls 10] [--rounds 7] [--only adam] [--skip-small]
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved, report

from torsh import optim

LAYERS, WIDTH = 8, 1120


def make_tree() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    return {
        f"layer{i}": {
            "weight": rng.normal(size=(WIDTH, WIDTH)).astype(np.float32) * 0.02,
            "bias": np.zeros(WIDTH, np.float32),
        }
        for i in range(LAYERS)
    }


def jax_candidate(step_fn, init_fn, params_np, grads_np):
    """A closure applying one jitted, donated update per call (state carried between calls)."""
    params = jax.tree.map(jnp.asarray, params_np)
    grads = jax.tree.map(jnp.asarray, grads_np)
    carry = {"params": params, "state": init_fn(params)}
    step = jax.jit(step_fn, donate_argnums=(0, 2))

    def call():
        carry["params"], carry["state"] = step(carry["params"], grads, carry["state"])
        return carry["params"]

    return call


def torsh_candidate(opt, params_np, grads_np):
    return jax_candidate(opt.step, opt.init, params_np, grads_np)


def optax_candidate(tx, params_np, grads_np):
    import optax

    def step(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax_candidate(step, tx.init, params_np, grads_np)


def torch_candidate(opt_cls, params_np, grads_np, **kwargs):
    import torch

    leaves = [torch.tensor(x) for x in jax.tree.leaves(params_np)]
    params = [torch.nn.Parameter(x) for x in leaves]
    for p, g in zip(params, jax.tree.leaves(grads_np), strict=True):
        p.grad = torch.tensor(g)
    opt = opt_cls(params, **kwargs)

    def call():
        opt.step()
        return None

    return call


def _torch_kinds():
    import torch

    kinds = {"single-tensor": {"foreach": False}, "foreach": {"foreach": True}}
    probe = torch.nn.Parameter(torch.zeros(2))
    probe.grad = torch.zeros(2)
    try:
        torch.optim.Adam([probe], fused=True).step()
        kinds["fused"] = {"fused": True}
    except (RuntimeError, ValueError):
        pass
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", choices=["adam", "adamw", "sgd"], default=None)
    parser.add_argument("--skip-small", action="store_true", help="skip the small-tree overhead table")
    args = parser.parse_args()

    import optax
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    params = make_tree()
    rng = np.random.default_rng(1)
    grads = jax.tree.map(lambda x: (rng.normal(size=x.shape) * 1e-3).astype(np.float32), params)
    n = sum(x.size for x in jax.tree.leaves(params))
    print(
        f"{n / 1e6:.2f}M parameters in {len(jax.tree.leaves(params))} leaves, jax {jax.__version__}, "
        f"torch {torch.__version__}, optax {optax.__version__}, {os.cpu_count()} CPU cores"
    )
    kinds = _torch_kinds()

    benches = {
        "adam": (optim.Adam(lr=1e-3), optax.adam(1e-3), torch.optim.Adam, {"lr": 1e-3}),
        "adamw": (
            optim.AdamW(lr=1e-3, weight_decay=0.01),
            optax.adamw(1e-3, weight_decay=0.01),
            torch.optim.AdamW,
            {"lr": 1e-3, "weight_decay": 0.01},
        ),
        "sgd": (
            optim.SGD(lr=1e-2, momentum=0.9),
            optax.sgd(1e-2, momentum=0.9),
            torch.optim.SGD,
            {"lr": 1e-2, "momentum": 0.9},
        ),
    }
    for name, (ours, theirs, torch_cls, torch_kwargs) in benches.items():
        if args.only and name != args.only:
            continue
        candidates = {
            "optax (jit, donated)": optax_candidate(theirs, params, grads),
            f"torsh.optim.{type(ours).__name__} (jit, donated)": torsh_candidate(ours, params, grads),
        }
        for kind, flags in kinds.items():
            if kind == "fused" and torch_cls is torch.optim.SGD:
                flags = {"fused": True}
            candidates[f"torch.optim ({kind})"] = torch_candidate(
                torch_cls, params, grads, **torch_kwargs, **flags
            )
        results = interleaved(candidates, calls=args.calls, rounds=args.rounds)
        report(f"{name}: µs per update, {n / 1e6:.1f}M float32 parameters", results, "optax (jit, donated)")

    if not args.skip_small:
        layer = {"weight": np.ones((8, 8), np.float32), "bias": np.zeros(8, np.float32)}
        small = {f"l{i}": dict(layer) for i in range(16)}
        small_grads = jax.tree.map(lambda x: x * 0.01, small)
        candidates = {
            "optax (jit, donated)": optax_candidate(optax.adam(1e-3), small, small_grads),
            "torsh.optim.Adam (jit, donated)": torsh_candidate(optim.Adam(lr=1e-3), small, small_grads),
            "torch.optim (foreach)": torch_candidate(
                torch.optim.Adam, small, small_grads, lr=1e-3, foreach=True
            ),
        }
        results = interleaved(candidates, calls=200 * args.calls, rounds=args.rounds)
        report("adam: µs per update, 32 small leaves (per-call overhead)", results, "optax (jit, donated)")


if __name__ == "__main__":
    main()
