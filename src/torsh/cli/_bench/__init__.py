"""``torsh bench``: the side-by-side suite of training steps (issue 14), also run by benchmarks/suite.py.

torsh vs hand-written JAX + optax vs Equinox vs Flax NNX vs PyTorch eager vs ``torch.compile``, each
where installed, in one process with interleaved rounds, on: MLP 784-512-512-10 at B=16 (plus torsh's
``train.scan_steps`` with 16 steps per call) and B=128, the 2-conv CNN (3x32x32, B=64), ResNet-18
(3x64x64), a 2-layer Transformer LM (B=16, T=128, d=256) and the LSTM LM (bptt 35, B=20, 2x200). Every
candidate trains the same model on the same NumPy batches with Adam (shapes in ``_workloads.py``).

Output: a markdown table of median ms/step, CPU ms/step and ratios to hand-written JAX and PyTorch
eager, with the machine's description. ``benchmarks/suite.py`` (source checkouts) adds rows measured
in fresh processes (DataLoader, cold vs warm compile cache) and keeps ``benchmarks/results/`` and the
README section. Nothing here is a test: ratios are reported, never asserted.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._workloads import Runner, Unsupported, Workload, workloads

__all__: list[str] = []  # private: the CLI's `bench` subcommand and benchmarks/suite.py use it

# candidate key -> (row name, distribution needed, factory "module:function")
CANDIDATES: dict[str, tuple[str, str, str]] = {
    "torsh": ("torsh", "jax", "_torsh:make"),
    "scan": ("torsh scan_steps (16 steps per call)", "jax", "_torsh:make_scan"),
    "jax": ("hand-written JAX + optax", "optax", "_jax:make"),
    "equinox": ("Equinox", "equinox", "_equinox:make"),
    "flax": ("Flax NNX", "flax", "_flax:make"),
    "torch": ("PyTorch eager", "torch", "_torch:make"),
    "torch_compile": ("torch.compile", "torch", "_torch:make_compiled"),
}
QUICK = ("mlp16",)
JAX_ROW, TORCH_ROW = CANDIDATES["jax"][0], CANDIDATES["torch"][0]
Row = dict[str, Any]
# extra workload key -> (rounds, quick) -> rows; benchmarks/suite.py adds the fresh-process ones
Extra = Callable[[int, bool], list[Row]]


def installed(name: str) -> bool:
    """Whether distribution ``name`` can be imported (a candidate is skipped otherwise)."""
    return importlib.util.find_spec(name) is not None


def _factory(spec: str) -> Callable[[Workload], Runner]:
    module, fn = spec.split(":")
    factory: Callable[[Workload], Runner] = getattr(importlib.import_module(f"{__name__}.{module}"), fn)
    return factory


def run_training(
    keys: Sequence[str],
    candidates: Sequence[str],
    rounds: int,
    quick: bool,
    steps: int | None = None,
    log: Callable[[str], None] = print,
) -> list[Row]:
    """Median ms/step of every candidate on every workload.

    Rows are ``{workload, candidate, ms, cpu_ms, first_s}``.
    """
    rows: list[Row] = []
    specs = workloads()
    for key in keys:
        w = specs[key]
        n = steps or (w.quick_steps if quick else w.steps)
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
        for r in range(rounds):  # rotating order: machine noise hits every candidate alike
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start, cpu_start = time.perf_counter(), time.process_time()
                runners[name](n)
                samples[name].append((time.perf_counter() - start) / n * 1e3)
                cpu[name].append((time.process_time() - cpu_start) / n * 1e3)
        log(f"{w.title}: {rounds} rounds x {n} steps, load {os.getloadavg()[0]:.1f}")
        rows += [
            {
                "workload": w.title,
                "candidate": name,
                "ms": statistics.median(samples[name]),
                "cpu_ms": statistics.median(cpu[name]),
                "first_s": first[name],
            }
            for name in names
        ]
        runners.clear()
    return rows


def machine_info() -> dict[str, str]:
    """The machine and library versions a results table is written with."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = [f"python {platform.python_version()}"]
    for dist in ("jax", "jaxlib", "optax", "equinox", "flax", "torch"):
        if installed(dist):
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


def format_training(rows: list[Row]) -> str:
    """Markdown: ms/step, ratios to hand-written JAX and PyTorch eager, CPU ms/step, first step."""
    lines = [
        "| workload | candidate | ms/step | vs hand JAX | vs PyTorch eager | CPU ms/step | first step |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    by_workload: dict[str, dict[str, Row]] = {}
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


def torsh_over_budget(rows: list[Row], budget: float = 1.05) -> list[str]:
    """The workloads where torsh is slower than hand-written JAX by more than ``budget``."""
    by_workload: dict[str, dict[str, float]] = {}
    for r in rows:
        by_workload.setdefault(r["workload"], {})[r["candidate"]] = r["ms"]
    return [
        f"{w}: {c['torsh'] / c[JAX_ROW]:.2f}x"
        for w, c in by_workload.items()
        if "torsh" in c and JAX_ROW in c and c["torsh"] > budget * c[JAX_ROW]
    ]


def report(info: dict[str, str], rows: list[Row], command: str, extra_text: str = "") -> str:
    """The results page: machine, versions, command, the table, what the columns mean."""
    now = datetime.datetime.now(datetime.timezone.utc)
    parts = [
        f"# Benchmark suite: {now:%Y-%m-%d %H:%M} UTC, {info['host']}",
        "",
        f"- machine: {info['cpu']}, {info['cores']} cores; load average (1, 5, 15 min) {info['load']} "
        "at the end",
        f"- versions: {info['versions']}",
        f"- command: `{command}`",
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
    if extra_text:
        parts += ["", extra_text]
    return "\n".join(parts) + "\n"


def _names(what: str, known: list[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what}(s) {unknown or [text]}; expected some of {known}"
            )
        return names

    return parse


def add_arguments(parser: argparse.ArgumentParser, extras: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The suite's options (``torsh bench -h``); ``extras`` are workloads a caller adds."""
    known = [*workloads(), *extras]
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: MLP B=16, few steps, no torch.compile"
    )
    parser.add_argument(
        "--only", default=None, type=_names("workload", known), help="comma-separated: " + ",".join(known)
    )
    parser.add_argument(
        "--candidates",
        default=None,
        type=_names("candidate", list(CANDIDATES)),
        help="comma-separated subset of " + ",".join(CANDIDATES),
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument("--steps", type=int, default=None, help="steps per round and candidate")
    parser.add_argument("-o", "--output", default=None, help="also write the results page to this file")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the PyTorch rows (default: torch's own choice). On a loaded "
        "machine 2 OpenMP threads on 2 busy cores spin against each other: 1 can be 10x faster",
    )
    return parser


def run(
    ns: argparse.Namespace,
    command: str,
    extras: dict[str, Extra] | None = None,
    extra_text: Callable[[], str] = lambda: "",
    default_output: Path | None = None,
) -> tuple[str, Path | None]:
    """Run the workloads ``ns`` selects; write the page after each (a partial run keeps its rows)."""
    extras = extras or {}
    only = ns.only or (list(QUICK) if ns.quick else [*workloads(), *extras])
    wanted = ns.candidates or list(CANDIDATES)
    candidates = [
        c for c in wanted if installed(CANDIDATES[c][1]) and not (ns.quick and c == "torch_compile")
    ]
    rounds = ns.rounds or (2 if ns.quick else 5)
    if ns.torch_threads and installed("torch"):
        import torch

        torch.set_num_threads(ns.torch_threads)
    from ... import compile_cache

    compile_cache.enable_default()  # as `fit` and the CLI: compiled programs are reused across runs
    out = Path(ns.output) if ns.output else (None if ns.quick else default_output)
    rows: list[Row] = []
    text = ""
    for key in only:  # in the order given, the page rewritten after each
        rows += (
            extras[key](rounds, ns.quick)
            if key in extras
            else run_training([key], candidates, rounds, ns.quick, ns.steps)
        )
        text = report(machine_info(), rows, command, extra_text())
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            last = key == only[-1]
            out.write_text(
                text + ("" if last else "\n(partial: the run is still going or was interrupted)\n")
            )
    return text, out


def run_from_args(ns: argparse.Namespace) -> int:
    """``torsh bench``: print the page (and write it with ``-o``)."""
    text, out = run(ns, "torsh bench " + " ".join(sys.argv[2:]))
    print(text)
    if out is not None:
        print(f"written to {out}")
    return 0
