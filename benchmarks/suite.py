"""The side-by-side suite (issue 14): ``torsh bench``'s training-step rows plus, in fresh processes,
the DataLoader (2 process workers, crop+flip+normalise of 32x32 images: steady ms/batch and time to
the first batch, vs PyTorch's DataLoader) and compile times of the Transformer LM (cold vs warm
persistent compilation cache).

The training steps (torsh vs hand-written JAX + optax vs Equinox vs Flax NNX vs PyTorch eager vs
``torch.compile``; workloads and candidates) live in the installed package, ``torsh/cli/_bench/``,
so that ``torsh bench`` and this script are one suite. This script adds the rows that need the
scripts of this folder, writes ``benchmarks/results/<date>-<host>.md`` and regenerates the suite
section of ``benchmarks/README.md``. ``--quick`` is a smoke run (MLP B=16 only, few steps, no
torch.compile, nothing written unless ``-o``). Nothing here asserts a time.

Run:  python benchmarks/suite.py [--quick] [--only mlp16,cnn,...,data,compile] [--candidates torsh,jax,...]
      [--rounds N] [-o FILE] [--no-readme]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from torsh.cli import _bench

HERE = Path(__file__).resolve().parent
TORCH_ROW = _bench.TORCH_ROW
README_BEGIN, README_END = "<!-- suite:begin -->", "<!-- suite:end -->"


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
    """First train + eval step of the Transformer LM in fresh processes: cold vs warm compile cache,
    and warm with the steps' programs stored under ``program_key`` (what ``torsh train`` recipes do)."""
    sys.path.insert(0, str(HERE))
    from compile_cache import measure

    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as keyed_cache:
        cold = measure("lm", cache, enabled=True)
        measure("lm", keyed_cache, enabled=True, keyed=True)  # compiles and stores the programs
        warm_runs, keyed_runs = [], []
        for _ in range(warm):
            warm_runs.append(measure("lm", cache, enabled=True))
            keyed_runs.append(measure("lm", keyed_cache, enabled=True, keyed=True))
    rows = [{"what": "cold (empty cache)", "s": cold["first_steps_s"], "vs_cold": 1.0}]
    for what, runs in (
        ("warm (cache filled by the cold run)", warm_runs),
        ("warm, stored programs (`torsh.jit(program_key=...)`)", keyed_runs),
    ):
        s = statistics.median(r["first_steps_s"] for r in runs)
        rows.append({"what": what, "s": s, "vs_cold": cold["first_steps_s"] / s})
    return rows


def compile_table(compile_rows: list[dict[str, Any]]) -> str:
    if not compile_rows:
        return ""
    return "\n".join(
        [
            "Compile time, Transformer LM (2 layers, B=16, T=128, d=256, AdamW, dropout 0.1), first train + "
            "eval step in a fresh process (`benchmarks/compile_cache.py`):",
            "",
            "| persistent compilation cache | first steps (s) | vs cold |",
            "| --- | ---: | ---: |",
            *(f"| {r['what']} | {r['s']:.1f} | {r['vs_cold']:.1f}x faster |" for r in compile_rows),
        ]
    )


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    _bench.add_arguments(parser, extras=("data", "compile"))
    parser.add_argument("--no-readme", action="store_true", help="do not regenerate benchmarks/README.md")
    args = parser.parse_args(argv)
    compile_rows: list[dict[str, Any]] = []

    def compile_extra(rounds: int, quick: bool) -> list[dict[str, Any]]:
        compile_rows[:] = run_compile(1)
        return []

    command = "python benchmarks/suite.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text, out = _bench.run(
        args,
        command.rstrip(),
        extras={"data": lambda rounds, quick: run_data(max(1, rounds // 2), quick), "compile": compile_extra},
        extra_text=lambda: compile_table(compile_rows),
        default_output=HERE / "results" / f"{datetime.date.today():%Y-%m-%d}-{platform.node()}.md",
    )
    print(text)
    if out is not None:
        print(f"written to {out}")
        if not args.no_readme and not args.quick:
            update_readme(out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
