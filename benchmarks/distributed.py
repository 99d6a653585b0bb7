"""Step time and per-device memory of one training step on 1, 2, 4 and 8 devices.

The same MLP and AdamW step run under each layout (data parallel, FSDP, Megatron tensor parallel)
on meshes of 1, 2, 4 and 8 devices. Each device count runs in its own process (JAX fixes the device
count at start-up); the parent prints one table with, per layout and device count:

* step ms: median wall time of a jitted step (model, optimizer state and batch already placed);
* state/device: parameter + optimizer-state bytes on the fullest device (``torsh.distributed.describe``);
* peak/device: XLA's peak memory estimate of the step's per-device program (``torsh.explain``;
  model and state are donated, as in a real training loop);
* ratios to 1 device.

On CPU the "devices" are simulated and share the machine's cores, so there is no speed-up to expect:
the point is the memory per device (FSDP and TP divide it, DP does not) and the overhead of the
collectives. On a machine with N accelerators the same script runs unchanged on the first N devices.

Run:  python benchmarks/distributed.py [--devices 1 2 4 8] [--steps 20] [--width 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LAYOUTS = ("dp", "fsdp", "tp")


def worker(n: int, width: int, layers: int, batch: int, steps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import torsh
    from torsh import distributed as dist
    from torsh import nn, optim

    if len(jax.devices()) < n:
        return {"skipped": f"only {len(jax.devices())} devices"}
    devices = jax.devices()[:n]

    def make_model() -> nn.Sequential:  # fresh arrays per layout: the step donates them
        keys = jax.random.split(jax.random.key(0), 2 * layers)
        blocks = []
        for i in range(layers):  # Megatron pairs: column-parallel up, row-parallel down
            blocks += [
                nn.Linear(width, 4 * width, axes=("mlp", "embed"), key=keys[2 * i]),
                nn.GELU(),
                nn.Linear(4 * width, width, axes=("embed", "mlp"), key=keys[2 * i + 1]),
            ]
        return nn.Sequential(*blocks)

    opt = optim.AdamW(lr=1e-3)

    def loss_fn(model, x, y):
        return jnp.mean((model(x) - y) ** 2)

    def step(model, state, x, y):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, y)
        model, state = opt.step(model, grads, state)
        return model, state, loss

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, width)).astype(np.float32)
    y = rng.normal(size=(batch, width)).astype(np.float32)
    plans = {
        "dp": (dist.data_parallel(), "data"),
        "fsdp": (dist.fsdp(), "data"),
        "tp": (dist.tensor_parallel(), "model"),
    }
    out = {}
    for name in LAYOUTS:
        plan, axis = plans[name]
        mesh = dist.mesh({axis: n}, devices=devices)
        model0 = make_model()
        model = dist.shard(model0, mesh, plan)
        state = dist.shard(opt.init(model0), mesh, plan)
        xs, ys = dist.shard_batch((x, y), mesh, plan)
        jitted = torsh.jit(
            step,
            donate=("model", "state"),
            out_shardings=(dist.sharding_of(model), dist.sharding_of(state), None),
        )
        report = jitted.explain(model, state, xs, ys)
        resident = dist.describe({"model": model, "state": state})
        m, s = model, state
        for _ in range(3):  # compile and warm up
            m, s, loss = jitted(m, s, xs, ys)
        jax.block_until_ready(loss)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            m, s, loss = jitted(m, s, xs, ys)
            jax.block_until_ready(loss)
            times.append(time.perf_counter() - start)
        out[name] = {
            "step_ms": statistics.median(times) * 1e3,
            "state_bytes": resident.max_device_bytes,
            "total_state_bytes": resident.total_bytes,
            "peak_bytes": report.peak_memory_bytes,
        }
    return {"platform": jax.default_backend(), "layouts": out}


def mib(n: float) -> str:
    return f"{n / 2**20:8.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.width, args.layers, args.batch, args.steps)))
        return

    results = {}
    for n in args.devices:
        env = dict(os.environ)
        env.pop("JAX_NUM_CPU_DEVICES", None)
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n}".strip()
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            str(n),
            "--width",
            str(args.width),
            "--layers",
            str(args.layers),
            "--batch",
            str(args.batch),
            "--steps",
            str(args.steps),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"{n} devices: worker failed\n{proc.stderr}", file=sys.stderr)
            continue
        results[n] = json.loads(proc.stdout.strip().splitlines()[-1])

    params = 2 * args.layers * 4 * args.width * args.width
    print(
        f"MLP: {args.layers} blocks of {args.width}->{4 * args.width}->{args.width} "
        f"({params / 1e6:.1f} M weights), AdamW, batch {args.batch}; median of {args.steps} steps"
    )
    platform = next((r.get("platform") for r in results.values() if "platform" in r), "?")
    print(f"platform: {platform}\n")
    header = (
        f"{'layout':<6} {'devices':>7} {'step ms':>9} {'vs 1':>6} {'state/device':>14} {'vs 1':>6} "
        f"{'peak/device':>14} {'vs 1':>6}"
    )
    print(header)
    print("-" * len(header))
    for layout in LAYOUTS:
        base = None
        for n, r in results.items():
            if "skipped" in r:
                print(f"{layout:<6} {n:>7}  skipped: {r['skipped']}")
                continue
            row = r["layouts"][layout]
            base = base or row
            print(
                f"{layout:<6} {n:>7} {row['step_ms']:>9.2f} {row['step_ms'] / base['step_ms']:>5.2f}x "
                f"{mib(row['state_bytes']):>14} {row['state_bytes'] / base['state_bytes']:>5.2f}x "
                f"{mib(row['peak_bytes']):>14} {row['peak_bytes'] / base['peak_bytes']:>5.2f}x"
            )
        print()


if __name__ == "__main__":
    main()
