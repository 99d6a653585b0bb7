"""Mixed precision on the digits CNN: float32 against bfloat16 compute (torsh.amp), same everything else.

The model is the ``digits-cnn`` recipe's (2 conv + 2 fc, dropout), on scikit-learn's ``load_digits``
(offline) with its train/validation/test split; AdamW with a cosine schedule. Each precision trains
from the same initial weights and data order per seed; the bfloat16 run is the unchanged model
wrapped by ``amp.apply(model, "params=float32,compute=bfloat16,output=float32")``. Prints the final
test accuracy and loss per run and the median time of a training step (after compilation).

Run:  python examples/amp_digits.py [--epochs 10] [--seeds 0 1 2] [--policies float32 bf16]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import amp, data, optim
from torsh.nn import functional as F
from torsh.train.recipes import digits_cnn
from torsh.train.recipes._digits import load_split

POLICIES = {"float32": None, "bf16": "params=float32,compute=bfloat16,output=float32"}


def run(policy: str | None, seed: int, epochs: int) -> dict[str, float]:
    config = digits_cnn.Config(seed=seed, epochs=epochs)
    train_set, _, test_set = load_split(seed, image=True)
    model: Any = digits_cnn.build_model(config)
    if policy is not None:
        model = amp.apply(model, policy)
    loader = data.DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, seed=seed)
    total = epochs * len(loader)
    opt = optim.AdamW(
        lr=optim.schedules.cosine_annealing(config.lr, T_max=total), weight_decay=config.weight_decay
    )
    opt_state = opt.init(model)

    @torsh.jit(donate=("model", "opt_state"))
    def step(model, opt_state, x, y, key):
        loss, grads = torsh.value_and_grad(lambda m: F.cross_entropy(m(x, key=key), y))(model)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    @torsh.jit
    def evaluate(model, x, y):
        logits = model.eval()(x)
        return F.cross_entropy(logits, y), jnp.mean(jnp.argmax(logits, -1) == y)

    key = torsh.random.key(seed + 1000)
    times, cpu = [], []
    for _ in range(epochs):
        for x, y in loader:
            key, sub = jax.random.split(key)
            start, start_cpu = time.perf_counter(), time.process_time()
            model, opt_state, loss = step(model, opt_state, x, y, sub)
            loss.block_until_ready()
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    x_test, y_test = (np.stack(a) for a in zip(*(test_set[i] for i in range(len(test_set))), strict=True))
    test_loss, test_acc = evaluate(model, jnp.asarray(x_test), jnp.asarray(y_test))
    return {
        "test_acc": float(test_acc),
        "test_loss": float(test_loss),
        "step_ms": 1000 * statistics.median(times[5:]),  # the first steps include compilation
        # CPU time of this process per step (all XLA threads): robust on a shared machine
        "cpu_ms": 1000 * statistics.median(cpu[5:]),
        "compile_s": times[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, {args.epochs} epochs")
    results: dict[str, list[dict[str, float]]] = {}
    for name in args.policies:
        for seed in args.seeds:
            r = run(POLICIES[name], seed, args.epochs)
            results.setdefault(name, []).append(r)
            print(
                f"{name:8s} seed {seed}: test acc {100 * r['test_acc']:.2f}%  "
                f"test loss {r['test_loss']:.4f}  step {r['step_ms']:.2f} ms (median)  "
                f"cpu {r['cpu_ms']:.1f} ms  "
                f"first step {r['compile_s']:.1f} s",
                flush=True,
            )
    for name, rs in results.items():
        accs = [100 * r["test_acc"] for r in rs]
        print(
            f"{name:8s} mean over {len(rs)} seeds: test acc {statistics.mean(accs):.2f}% "
            f"(min {min(accs):.2f}), test loss {statistics.mean(r['test_loss'] for r in rs):.4f}, "
            f"step {statistics.median(r['step_ms'] for r in rs):.2f} ms, "
            f"cpu {statistics.median(r['cpu_ms'] for r in rs):.1f} ms"
        )


if __name__ == "__main__":
    main()
