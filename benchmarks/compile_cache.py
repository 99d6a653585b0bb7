"""Cold vs warm start of the same training program: JAX's persistent compilation cache via torsh.

Each measurement is a fresh Python process (as a user restarting a script or ``torsh train``): it
builds the model, then times its first training step and first evaluation step (trace + lower +
XLA compile or cache load + run) and reports the compile-event seconds JAX records. "cold" starts
with an empty cache directory, "warm" reuses the directory the cold run filled, "off" runs with
``TORSH_COMPILE_CACHE=0``. The "program" rows jit both steps with ``program_key=`` (a stored
executable, loaded without tracing or lowering; ``torsh train`` recipes do this), in a cache
directory of their own: "program cold" compiles and stores, "program warm" loads.

Programs:
* ``cnn``: the ``digits-cnn`` recipe's train and eval steps (AdamW, dropout; 1x8x8, batch 32);
* ``lm``: a 2-layer Transformer LM training step (B=16, T=128, d=256, 4 heads, vocab 1024, AdamW,
  dropout 0.1) — issue 14's compile-time target.

Run:  python benchmarks/compile_cache.py [--programs cnn,lm] [--warm 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def _child(program: str) -> None:
    t_start = time.perf_counter()
    import jax
    import numpy as np

    import torsh
    from torsh import compile_cache, optim, train
    from torsh.nn import functional as F
    from torsh.train._fit import compile_seconds

    compile_cache.enable_default()
    compile_seconds()  # start listening to JAX's compile events
    t_import = time.perf_counter() - t_start
    torsh.manual_seed(0)
    if program == "cnn":
        from torsh.train.recipes import digits_cnn

        model = digits_cnn.build_model(digits_cnn.Config())
        x = np.zeros((32, 1, 8, 8), np.float32)
        y = np.zeros((32,), np.int32)
    else:
        from _compile_lm import LM, T

        model = LM()
        x = np.zeros((16, T), np.int32)
        y = np.zeros((16, T), np.int32)
    state = train.TrainState.create(model=model, opt=optim.AdamW(lr=1e-3), key=torsh.random.key(0))

    def loss_fn(m, xb, yb, key):
        out = m(xb, key=key)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1))

    key = f"benchmarks/compile_cache/{program}" if os.environ.get("BENCH_PROGRAM_KEY") == "1" else None

    @torsh.jit(donate="state", program_key=key and key + "/train")
    def train_step(state, batch):
        xb, yb = batch
        loss, grads = torsh.value_and_grad(loss_fn)(state.model, xb, yb, state.key)
        return state.apply_gradients(grads), {"loss": loss}

    @torsh.jit(program_key=key and key + "/eval")
    def eval_step(state, batch):
        xb, yb = batch
        out = state.model.eval()(xb)
        return {"loss": F.cross_entropy(out.reshape(-1, out.shape[-1]), yb.reshape(-1))}

    c0 = compile_seconds()
    t0 = time.perf_counter()
    state, logs = train_step(state, (x, y))
    jax.block_until_ready(state)
    out = eval_step(state, (x, y))
    jax.block_until_ready(out)
    first = time.perf_counter() - t0
    print(
        json.dumps({"import_s": t_import, "first_steps_s": first, "compile_events_s": compile_seconds() - c0})
    )


def measure(program: str, cache: str, enabled: bool, keyed: bool = False) -> dict[str, float]:
    """One fresh process: ``{"import_s", "first_steps_s", "compile_events_s"}`` (also used by suite.py).

    ``keyed``: jit the steps with ``program_key=`` (stored executables).
    """
    env = dict(os.environ, TORSH_CACHE_DIR=cache, TORSH_COMPILE_CACHE="1" if enabled else "0")
    env["BENCH_PROGRAM_KEY"] = "1" if keyed else "0"
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    p = subprocess.run(
        [sys.executable, __file__, "--child", program], env=env, capture_output=True, text=True, check=False
    )
    if p.returncode != 0:
        raise SystemExit(f"child failed:\n{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def measure_starts(program: str, warm: int, with_off: bool = True) -> dict[str, dict[str, float]]:
    """Fresh-process starts of ``program``: ``{"off", "cold", "warm", "program cold", "program warm"}``
    (``off`` only with ``with_off``; warm rows: medians of ``warm`` runs, the two kinds interleaved so
    that both see the same machine load). Also used by suite.py."""
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as keyed_cache:
        if with_off:
            rows["off"] = measure(program, cache, enabled=False)
        rows["cold"] = measure(program, cache, enabled=True)
        keyed_cold = measure(program, keyed_cache, enabled=True, keyed=True)  # compiles and stores
        warm_runs, keyed_runs = [], []
        for _ in range(warm):
            warm_runs.append(measure(program, cache, enabled=True))
            keyed_runs.append(measure(program, keyed_cache, enabled=True, keyed=True))
    rows["warm"] = {k: statistics.median(r[k] for r in warm_runs) for k in keyed_cold}
    rows["program cold"] = keyed_cold
    rows["program warm"] = {k: statistics.median(r[k] for r in keyed_runs) for k in keyed_cold}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", default="cnn,lm")
    parser.add_argument("--warm", type=int, default=2, help="warm runs (the median is reported)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    print(f"jax {__import__('jax').__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("| program | cache | first train+eval step (s) | compile events (s) | speed-up vs cold |")
    print("| --- | --- | ---: | ---: | ---: |")
    for program in args.programs.split(","):
        rows = measure_starts(program, args.warm)
        cold = rows["cold"]
        for name, r in rows.items():
            speed = cold["first_steps_s"] / r["first_steps_s"]
            print(
                f"| {program} | {name} | {r['first_steps_s']:.2f} | {r['compile_events_s']:.2f} "
                f"| {speed:.1f}x |"
            )


if __name__ == "__main__":
    main()
