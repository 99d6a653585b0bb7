"""``torsh bench [--quick] [--only NAME] [-o FILE]``: one side-by-side benchmark suite.

Workloads (training steps with Adam, median ms/step over interleaved rounds in one process):

* ``mlp``: MLP 784-512-512-10 at batch 16 — torsh, torsh ``scan_steps`` (16 steps per call),
  hand-written JAX + optax, PyTorch eager;
* ``cnn``: 2 conv + 2 fc on 3x32x32 at batch 64 — torsh, hand-written JAX + optax, PyTorch eager.

Candidates whose libraries are not installed (optax, torch) are left out. Each candidate runs the
same number of steps per round, in rotating order, so machine noise hits all alike. Nothing here is
a test: ratios are printed, never asserted. ``benchmarks/suite.py`` is a thin wrapper of this module.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["run_suite", "format_table", "machine_info"]

Runner = Callable[[int], None]  # run n steps and wait for them


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--quick", action="store_true", help="few rounds and steps (a smoke run, ~1 minute)")
    parser.add_argument("--only", choices=("mlp", "cnn"), action="append", help="run only these workloads")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7, quick 3)")
    parser.add_argument(
        "--steps", type=int, default=None, help="steps per round and candidate (default per workload)"
    )
    parser.add_argument(
        "--candidates",
        default=None,
        help="comma-separated subset of: torsh, scan, jax, torch (default: all that are installed)",
    )
    parser.add_argument("-o", "--output", default=None, help="also write the markdown table to this file")
    return parser


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# -- MLP 784-512-512-10 ----------------------------------------------------------------------------------
def _mlp_data(batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, batch, 784)).astype(np.float32), rng.integers(0, 10, size=(n, batch)).astype(
        np.int32
    )


def _torsh_mlp(xs: np.ndarray, ys: np.ndarray, scan_k: int | None = None) -> Runner:
    import jax

    import torsh
    from torsh import nn, optim, train

    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    state = train.TrainState.create(model=model, opt=optim.Adam(lr=1e-3))

    def step(state: Any, batch: Any) -> Any:
        x, y = batch
        loss, grads = torsh.value_and_grad(lambda m: nn.functional.cross_entropy(m(x), y))(state.model)
        return state.apply_gradients(grads), {"loss": loss}

    box = {"state": state}
    if scan_k is None:
        fn = torsh.jit(step, donate="state")
        batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]

        def run(n: int) -> None:
            s = box["state"]
            for i in range(n):
                s, logs = fn(s, batches[i % len(batches)])
            jax.block_until_ready(s)
            box["state"] = s
    else:
        fn = train.scan_steps(step, scan_k)
        groups = [
            jax.device_put(
                train.stack_batches(list(zip(xs[i : i + scan_k], ys[i : i + scan_k], strict=True)))
            )
            for i in range(0, len(xs) - scan_k + 1, scan_k)
        ]

        def run(n: int) -> None:  # n steps = n / k calls
            s = box["state"]
            for i in range(max(1, n // scan_k)):
                s, logs = fn(s, groups[i % len(groups)])
            jax.block_until_ready(s)
            box["state"] = s

    return run


def _jax_mlp(xs: np.ndarray, ys: np.ndarray) -> Runner:
    import jax
    import jax.numpy as jnp
    import optax

    key = jax.random.key(0)
    sizes = [(784, 512), (512, 512), (512, 10)]
    params = []
    for fan_in, fan_out in sizes:
        key, k1, k2 = jax.random.split(key, 3)
        bound = 1 / np.sqrt(fan_in)
        params.append(
            {
                "w": jax.random.uniform(k1, (fan_out, fan_in), minval=-bound, maxval=bound),
                "b": jax.random.uniform(k2, (fan_out,), minval=-bound, maxval=bound),
            }
        )
    tx = optax.adam(1e-3)
    opt_state = tx.init(params)

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        h = x
        for i, layer in enumerate(p):
            h = h @ layer["w"].T + layer["b"]
            if i < len(p) - 1:
                h = jax.nn.relu(h)
        return -jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1).mean()

    def step(p: Any, s: Any, x: Any, y: Any) -> Any:
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"p": params, "s": opt_state}

    def run(n: int) -> None:
        p, s = box["p"], box["s"]
        for i in range(n):
            p, s, loss = step(p, s, *batches[i % len(batches)])
        jax.block_until_ready(p)
        box["p"], box["s"] = p, s

    return run


def _torch_mlp(xs: np.ndarray, ys: np.ndarray) -> Runner:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 512),
        torch.nn.ReLU(),
        torch.nn.Linear(512, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.from_numpy(x), torch.from_numpy(y).long()) for x, y in zip(xs, ys, strict=True)]

    def run(n: int) -> None:
        for i in range(n):
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

    return run


# -- CNN: 2 conv + 2 fc, 3x32x32 -------------------------------------------------------------------------
def _cnn_data(batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, batch, 3, 32, 32)).astype(np.float32),
        rng.integers(0, 10, size=(n, batch)).astype(np.int32),
    )


def _torsh_cnn(xs: np.ndarray, ys: np.ndarray) -> Runner:
    import jax

    import torsh
    from torsh import nn, optim, train

    torsh.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10),
    )  # fmt: skip
    state = train.TrainState.create(model=model, opt=optim.Adam(lr=1e-3))

    @torsh.jit(donate="state")
    def step(state: Any, x: Any, y: Any) -> Any:
        loss, grads = torsh.value_and_grad(lambda m: nn.functional.cross_entropy(m(x), y))(state.model)
        return state.apply_gradients(grads), loss

    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"state": state}

    def run(n: int) -> None:
        s = box["state"]
        for i in range(n):
            s, loss = step(s, *batches[i % len(batches)])
        jax.block_until_ready(s)
        box["state"] = s

    return run


def _jax_cnn(xs: np.ndarray, ys: np.ndarray) -> Runner:
    import jax
    import jax.numpy as jnp
    import optax

    def uniform(key: Any, shape: tuple[int, ...], fan_in: int) -> Any:
        b = 1 / np.sqrt(fan_in)
        return jax.random.uniform(key, shape, minval=-b, maxval=b)

    ks = jax.random.split(jax.random.key(0), 8)
    params = {
        "c1w": uniform(ks[0], (32, 3, 3, 3), 27), "c1b": uniform(ks[1], (32,), 27),
        "c2w": uniform(ks[2], (64, 32, 3, 3), 288), "c2b": uniform(ks[3], (64,), 288),
        "f1w": uniform(ks[4], (128, 4096), 4096), "f1b": uniform(ks[5], (128,), 4096),
        "f2w": uniform(ks[6], (10, 128), 128), "f2b": uniform(ks[7], (10,), 128),
    }  # fmt: skip

    def conv(x: Any, w: Any, b: Any) -> Any:
        y = jax.lax.conv_general_dilated(
            x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        return y + b[None, :, None, None]

    def pool(x: Any) -> Any:
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss_fn(p: Any, x: Any, y: Any) -> Any:
        h = pool(jax.nn.relu(conv(x, p["c1w"], p["c1b"])))
        h = pool(jax.nn.relu(conv(h, p["c2w"], p["c2b"])))
        h = h.reshape(h.shape[0], -1)
        h = jax.nn.relu(h @ p["f1w"].T + p["f1b"])
        logits = h @ p["f2w"].T + p["f2b"]
        return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1).mean()

    tx = optax.adam(1e-3)

    def step(p: Any, s: Any, x: Any, y: Any) -> Any:
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    step = jax.jit(step, donate_argnums=(0, 1))
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"p": params, "s": tx.init(params)}

    def run(n: int) -> None:
        p, s = box["p"], box["s"]
        for i in range(n):
            p, s, loss = step(p, s, *batches[i % len(batches)])
        jax.block_until_ready(p)
        box["p"], box["s"] = p, s

    return run


def _torch_cnn(xs: np.ndarray, ys: np.ndarray) -> Runner:
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(64 * 8 * 8, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.from_numpy(x), torch.from_numpy(y).long()) for x, y in zip(xs, ys, strict=True)]

    def run(n: int) -> None:
        for i in range(n):
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    return run


# -- the suite -------------------------------------------------------------------------------------------
def _workloads(quick: bool) -> dict[str, dict[str, Any]]:
    have_optax, have_torch = _installed("optax"), _installed("torch")
    mlp = _mlp_data(16, 64)
    cnn = _cnn_data(64, 4)
    mlp_c: dict[str, Callable[[], Runner]] = {
        "torsh": lambda: _torsh_mlp(*mlp),
        "torsh scan_steps(k=16)": lambda: _torsh_mlp(*mlp, scan_k=16),
    }
    cnn_c: dict[str, Callable[[], Runner]] = {"torsh": lambda: _torsh_cnn(*cnn)}
    if have_optax:
        mlp_c["hand-written JAX + optax"] = lambda: _jax_mlp(*mlp)
        cnn_c["hand-written JAX + optax"] = lambda: _jax_cnn(*cnn)
    if have_torch:
        mlp_c["PyTorch eager"] = lambda: _torch_mlp(*mlp)
        cnn_c["PyTorch eager"] = lambda: _torch_cnn(*cnn)
    return {
        "mlp": {
            "title": "MLP 784-512-512-10, batch 16, Adam",
            "candidates": mlp_c,
            "steps": 64 if quick else 256,
        },
        "cnn": {
            "title": "CNN 2 conv + 2 fc, 3x32x32, batch 64, Adam",
            "candidates": cnn_c,
            "steps": 4 if quick else 12,
        },
    }


_KINDS = {"torsh": "torsh", "scan": "torsh scan_steps", "jax": "hand-written JAX", "torch": "PyTorch"}


def _kind(name: str) -> str:
    for kind, prefix in sorted(_KINDS.items(), key=lambda kv: -len(kv[1])):
        if name.startswith(prefix):
            return kind
    return name


def run_suite(
    quick: bool = False,
    only: list[str] | None = None,
    rounds: int | None = None,
    steps: int | None = None,
    candidates: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the workloads; returns rows ``{"workload", "candidate", "ms", "compile_s"}``."""
    rounds = rounds or (3 if quick else 7)
    unknown = sorted(set(candidates or ()) - set(_KINDS))
    if unknown:
        from ..errors import ConfigError

        raise ConfigError(f"torsh bench: unknown candidate(s) {unknown}; choose from {sorted(_KINDS)}")
    rows = []
    for key, spec in _workloads(quick).items():
        if only and key not in only:
            continue
        if steps:
            spec["steps"] = steps
        runners: dict[str, Runner] = {}
        compile_s: dict[str, float] = {}
        for name, make in spec["candidates"].items():
            if candidates and _kind(name) not in candidates:
                continue
            t0 = time.perf_counter()
            runners[name] = make()
            runners[name](spec["steps"] if "scan" in name else 2)  # compile and warm up
            compile_s[name] = time.perf_counter() - t0
        samples: dict[str, list[float]] = {name: [] for name in runners}
        names = list(runners)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                t0 = time.perf_counter()
                runners[name](spec["steps"])
                samples[name].append((time.perf_counter() - t0) / spec["steps"] * 1e3)
        log(f"{spec['title']}: {rounds} rounds x {spec['steps']} steps")
        for name in names:
            rows.append(
                {
                    "workload": spec["title"],
                    "candidate": name,
                    "ms": statistics.median(samples[name]),
                    "compile_s": compile_s[name],
                }
            )
    return rows


def machine_info() -> str:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = [f"jax {jax.__version__}"]
    if _installed("torch"):
        import torch

        versions.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    if _installed("optax"):
        import optax

        versions.append(f"optax {optax.__version__}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{cpu}, {os.cpu_count()} cores, load {load:.1f}; python {platform.python_version()}, "
        + ", ".join(versions)
    )


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: ms/step and ratios to hand-written JAX and PyTorch eager per workload."""
    lines = [
        "| workload | candidate | ms/step | vs hand JAX | vs PyTorch eager | first call (compile) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    by_workload: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_workload.setdefault(r["workload"], {})[r["candidate"]] = r
    for workload, cands in by_workload.items():
        jax_ms = cands.get("hand-written JAX + optax", {}).get("ms")
        torch_ms = cands.get("PyTorch eager", {}).get("ms")
        for name, r in cands.items():
            vs_jax = f"{r['ms'] / jax_ms:.2f}x" if jax_ms else "—"
            vs_torch = f"{r['ms'] / torch_ms:.2f}x" if torch_ms else "—"
            lines.append(
                f"| {workload} | {name} | {r['ms']:.3f} | {vs_jax} | {vs_torch} | {r['compile_s']:.2f} s |"
            )
    lines.append("")
    lines.append("Ratios are time per step relative to the baseline: below 1.00x is faster.")
    return "\n".join(lines)


def run_from_args(ns: argparse.Namespace) -> int:
    from .. import compile_cache

    compile_cache.enable_default()
    info = machine_info()
    print(f"machine: {info}")
    wanted = [c.strip() for c in ns.candidates.split(",") if c.strip()] if ns.candidates else None
    rows = run_suite(quick=ns.quick, only=ns.only, rounds=ns.rounds, steps=ns.steps, candidates=wanted)
    table = format_table(rows)
    print()
    print(table)
    if ns.output:
        with open(ns.output, "w") as f:
            f.write(f"machine: {info}\n\n{table}\n")
        print(f"\nwritten to {ns.output}")
    return 0
