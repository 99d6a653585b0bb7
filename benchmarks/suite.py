"""The side-by-side suite (issue 14): torsh vs hand-written JAX + optax vs Equinox vs Flax NNX vs
PyTorch eager vs ``torch.compile``, each where installed, in one process with interleaved rounds.

Workloads (training steps, Adam, cross-entropy; shapes in ``_suite_common.py``): MLP 784-512-512-10
at B=16 and B=128, the 2-conv CNN (3x32x32, B=64), ResNet-18 (3x64x64), a 2-layer Transformer LM
(B=16, T=128, d=256), the LSTM LM (bptt 35, batch 20, 2x200); plus, each in fresh processes, the
DataLoader (2 process workers, crop+flip+normalise of 32x32 images: steady ms/batch and time to
the first batch, vs PyTorch's DataLoader) and compile times of the Transformer LM (cold vs warm
persistent compilation cache).

Output: a markdown table of median ms/step and ratios, written with the machine's description to
``benchmarks/results/<date>-<host>.md``; ``benchmarks/README.md``'s suite section is regenerated
from it. ``--quick`` is a smoke run (MLP B=16 only, few steps, no torch.compile, nothing written
unless ``-o``). Nothing here asserts a time: ratios are reported, never tested.

Run:  python benchmarks/suite.py [--quick] [--only mlp16,cnn,...,data,compile] [--candidates torsh,jax,...]
      [--rounds N] [-o FILE] [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _suite_common import Runner, Unsupported, Workload, workloads  # noqa: E402 - after the path

# candidate key -> (row name, module needed, factory "module:function")
CANDIDATES: dict[str, tuple[str, str, str]] = {
    "torsh": ("torsh", "jax", "_suite_torsh:make"),
    "jax": ("hand-written JAX + optax", "optax", "_suite_jax:make"),
    "equinox": ("Equinox", "equinox", "_suite_equinox:make"),
    "flax": ("Flax NNX", "flax", "_suite_flax:make"),
    "torch": ("PyTorch eager", "torch", "_suite_torch:make"),
    "torch_compile": ("torch.compile", "torch", "_suite_torch:make_compiled"),
}
EXTRA = ("data", "compile")  # workloads measured in fresh processes
QUICK = ("mlp16",)
JAX_ROW, TORCH_ROW = CANDIDATES["jax"][0], CANDIDATES["torch"][0]
README_BEGIN, README_END = "<!-- suite:begin -->", "<!-- suite:end -->"


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _factory(spec: str) -> Callable[[Workload], Runner]:
    module, fn = spec.split(":")
    return getattr(__import__(module), fn)


# -- training steps, in this process ---------------------------------------------------------------------
def run_training(
    keys: list[str],
    candidates: list[str],
    rounds: int,
    quick: bool,
    log: Callable[[str], None],
) -> list[dict[str, Any]]:
    """Median ms/step of every candidate on every workload; rows ``{workload, candidate, ms, first_s}``."""
    rows: list[dict[str, Any]] = []
    specs = workloads()
    for key in keys:
        w = specs[key]
        steps = w.quick_steps if quick else w.steps
        runners: dict[str, Runner] = {}
        first: dict[str, float] = {}
        for cand in candidates:
            name, _, factory = CANDIDATES[cand]
            start = time.perf_counter()
            try:
                runner = _factory(factory)(w)
            except Unsupported:
                continue
            runner(1)  # trace + compile + one step
            first[name] = time.perf_counter() - start
            runner(1)  # warm
            runners[name] = runner
            log(f"  {w.title}: {name} ready after {first[name]:.1f} s")
        samples: dict[str, list[float]] = {name: [] for name in runners}
        cpu: dict[str, list[float]] = {name: [] for name in runners}
        names = list(runners)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start, cpu_start = time.perf_counter(), time.process_time()
                runners[name](steps)
                samples[name].append((time.perf_counter() - start) / steps * 1e3)
                cpu[name].append((time.process_time() - cpu_start) / steps * 1e3)
        log(f"{w.title}: {rounds} rounds x {steps} steps, load {os.getloadavg()[0]:.1f}")
        rows += [
            {
                "workload": w.title,
                "candidate": n,
                "ms": statistics.median(samples[n]),
                "cpu_ms": statistics.median(cpu[n]),
                "first_s": first[n],
            }
            for n in names
        ]
        runners.clear()
    return rows


# -- data loader and compile times, in fresh processes ---------------------------------------------------
def _json_child(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_data(rounds: int, quick: bool) -> list[dict[str, Any]]:
    """benchmarks/data.py's children: torch vs torsh DataLoader, 2 process workers, interleaved."""
    n, batch = (2048, 256) if quick else (10240, 256)
    script = str(HERE / "data.py")
    libs = ["torch", "torsh"]
    steady: dict[str, list[float]] = {lib: [] for lib in libs}
    first: dict[str, list[float]] = {lib: [] for lib in libs}
    for r in range(rounds):
        for lib in libs[r % 2 :] + libs[: r % 2]:
            common = ["--n", str(n), "--batch-size", str(batch)]
            res = _json_child([sys.executable, script, *common, "--epochs", "2", "--child", lib, "2", "shm"])
            steady[lib].append(1e3 * batch / res["steady"])
            child = ["--other-work", "0", "--first-batch-child", lib, "process"]
            fb = _json_child([sys.executable, script, *common, *child])
            first[lib].append(fb["immediate"])
    title = f"DataLoader, 2 process workers, crop+flip+normalise 32x32, batch {batch} (ms/batch)"
    return [
        {"workload": title, "candidate": {"torch": TORCH_ROW + " DataLoader", "torsh": "torsh"}[lib],
         "ms": statistics.median(steady[lib]), "first_s": statistics.median(first[lib])}
        for lib in libs
    ]  # fmt: skip


def run_compile(warm: int) -> list[dict[str, Any]]:
    """First train + eval step of the Transformer LM in fresh processes: cold vs warm compile cache."""
    sys.path.insert(0, str(HERE))
    from compile_cache import measure

    with tempfile.TemporaryDirectory() as cache:
        cold = measure("lm", cache, enabled=True)
        warm_runs = [measure("lm", cache, enabled=True) for _ in range(warm)]
    warm_s = statistics.median(r["first_steps_s"] for r in warm_runs)
    return [
        {"what": "cold (empty cache)", "s": cold["first_steps_s"], "vs_cold": 1.0},
        {
            "what": "warm (cache filled by the cold run)",
            "s": warm_s,
            "vs_cold": cold["first_steps_s"] / warm_s,
        },
    ]


# -- report ----------------------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(
            line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    versions = [f"python {platform.python_version()}"]
    for dist in ("jax", "jaxlib", "optax", "equinox", "flax", "torch"):
        if _installed(dist):
            from importlib.metadata import version

            versions.append(f"{dist} {version(dist)}")
    if "torch" in sys.modules:
        versions.append(f"torch threads {sys.modules['torch'].get_num_threads()}")
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "load": "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg()),
        "versions": ", ".join(versions),
    }


def format_training(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | candidate | ms/step | vs hand JAX | vs PyTorch eager | CPU ms/step | first step |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_workload: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_workload.setdefault(r["workload"], {})[r["candidate"]] = r
    for workload, cands in by_workload.items():
        jax_ms = cands.get(JAX_ROW, {}).get("ms")
        torch_ms = (cands.get(TORCH_ROW) or cands.get(TORCH_ROW + " DataLoader") or {}).get("ms")
        for name, r in cands.items():
            vs_jax = f"{r['ms'] / jax_ms:.2f}x" if jax_ms else "—"
            vs_torch = f"{r['ms'] / torch_ms:.2f}x" if torch_ms else "—"
            cpu = f"{r['cpu_ms']:.1f}" if "cpu_ms" in r else "—"
            first = f"{r['first_s']:.1f} s"
            lines.append(f"| {workload} | {name} | {r['ms']:.1f} | {vs_jax} | {vs_torch} | {cpu} | {first} |")
    return "\n".join(lines)


def torsh_over_budget(rows: list[dict[str, Any]], budget: float = 1.05) -> list[str]:
    """The workloads where torsh is slower than hand-written JAX by more than ``budget``."""
    by_workload: dict[str, dict[str, float]] = {}
    for r in rows:
        by_workload.setdefault(r["workload"], {})[r["candidate"]] = r["ms"]
    return [
        f"{w}: {c['torsh'] / c[JAX_ROW]:.2f}x"
        for w, c in by_workload.items()
        if "torsh" in c and JAX_ROW in c and c["torsh"] > budget * c[JAX_ROW]
    ]


def report(
    info: dict[str, str], rows: list[dict[str, Any]], compile_rows: list[dict[str, Any]], args: str
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    parts = [
        f"# Benchmark suite: {now:%Y-%m-%d %H:%M} UTC, {info['host']}",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores; load average (1, 5, 15 min) {info['load']} "
        "at the end",
        f"- versions: {info['versions']}",
        f"- command: `python benchmarks/suite.py {args}`".rstrip(),
        "",
        format_training(rows),
        "",
        "ms/step: median over interleaved rounds (lower is better); ratios below 1.00x are faster than the "
        "baseline. CPU ms/step: CPU time of this process (all its threads) per step, which does not count "
        'waiting for a core on a shared machine. "first step": building the model and the first step '
        "(trace + compile + run; the persistent compilation caches may be warm from earlier runs). For the "
        "DataLoader, ms per batch in steady state (epoch 2) and, in the last column, the time from "
        "`iter(loader)` to the first batch right after building the loader.",
    ]
    over = torsh_over_budget(rows)
    parts += ["", "torsh rows above 1.05x hand-written JAX: " + ("; ".join(over) if over else "none") + "."]
    if compile_rows:
        parts += [
            "",
            "Compile time, Transformer LM (2 layers, B=16, T=128, d=256, AdamW, dropout 0.1), first train + "
            "eval step in a fresh process (`benchmarks/compile_cache.py`):",
            "",
            "| persistent compilation cache | first steps (s) | vs cold |",
            "| --- | ---: | ---: |",
            *(f"| {r['what']} | {r['s']:.1f} | {r['vs_cold']:.1f}x faster |" for r in compile_rows),
        ]
    return "\n".join(parts) + "\n"


def update_readme(results: Path, text: str, readme: Path = HERE / "README.md") -> None:
    """Replace the suite section of benchmarks/README.md with the latest results."""
    section = (
        f"{README_BEGIN}\n## suite.py — the side-by-side suite (latest run: `results/{results.name}`)\n\n"
        "Regenerated by `python benchmarks/suite.py`; older runs stay in `results/`.\n\n"
        + text.split("\n", 2)[2].strip()
        + f"\n{README_END}"
    )
    old = readme.read_text()
    if README_BEGIN in old:
        new = re.sub(
            re.escape(README_BEGIN) + ".*?" + re.escape(README_END), lambda _: section, old, flags=re.S
        )
    else:  # first run: after the introduction
        head, sep, tail = old.partition("\n## ")
        new = f"{head.rstrip()}\n\n{section}\n\n{sep.lstrip()}{tail}"
    readme.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: MLP B=16, few steps, no torch.compile"
    )
    parser.add_argument(
        "--only", default=None, help="comma-separated workloads: " + ",".join([*workloads(), *EXTRA])
    )
    parser.add_argument(
        "--candidates", default=None, help="comma-separated subset of " + ",".join(CANDIDATES)
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument(
        "-o", "--output", default=None, help="results file (default results/<date>-<host>.md)"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the PyTorch rows (default: torch's own choice). On a loaded "
        "machine 2 OpenMP threads on 2 busy cores spin against each other: 1 can be 10x faster",
    )
    parser.add_argument("--no-readme", action="store_true", help="do not regenerate benchmarks/README.md")
    args = parser.parse_args(argv)
    known = [*workloads(), *EXTRA]
    only = args.only.split(",") if args.only else (list(QUICK) if args.quick else known)
    unknown = sorted(set(only) - set(known))
    wanted = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    unknown += sorted(set(wanted) - set(CANDIDATES))
    if unknown:
        parser.error(
            f"unknown workload(s) or candidate(s) {unknown}; workloads {known}, candidates {list(CANDIDATES)}"
        )
    candidates = [
        c for c in wanted if _installed(CANDIDATES[c][1]) and not (args.quick and c == "torch_compile")
    ]
    rounds = args.rounds or (2 if args.quick else 5)
    if args.torch_threads and _installed("torch"):
        import torch

        torch.set_num_threads(args.torch_threads)
    from torsh import compile_cache

    compile_cache.enable_default()  # as `fit` and the CLI: compiled programs are reused across runs
    command = " ".join(argv if argv is not None else sys.argv[1:])
    default = HERE / "results" / f"{datetime.date.today():%Y-%m-%d}-{platform.node()}.md"
    out = Path(args.output) if args.output else (None if args.quick else default)

    def write(rows: list[dict[str, Any]], compile_rows: list[dict[str, Any]], partial: bool) -> str:
        text = report(machine_info(), rows, compile_rows, command)
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(
                text + ("\n(partial: the run is still going or was interrupted)\n" if partial else "")
            )
        return text

    rows: list[dict[str, Any]] = []
    compile_rows: list[dict[str, Any]] = []
    for key in only:  # in the order given, the results file rewritten after each
        if key == "data":
            rows += run_data(max(1, rounds // 2), args.quick)
        elif key == "compile":
            compile_rows = run_compile(1)
        else:
            rows += run_training([key], candidates, rounds, args.quick, print)
        write(rows, compile_rows, partial=True)
    text = write(rows, compile_rows, partial=False)
    print(text)
    if out is not None:
        print(f"written to {out}")
        if not args.no_readme and not args.quick:
            update_readme(out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
