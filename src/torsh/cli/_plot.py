"""``torsh plot RUN_DIR [RUN_DIR ...] [-o OUT.png] [--metrics a,b]``."""

from __future__ import annotations

import argparse
import pathlib

from ..errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "runs", nargs="+", metavar="RUN_DIR", help="run directories (with metrics.jsonl or metrics.csv)"
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="the PNG to write (default: compare.png, or the run's curves.png)",
    )
    parser.add_argument("--metrics", default=None, help="comma-separated metric names to plot (default: all)")
    return parser


def run_from_args(ns: argparse.Namespace) -> int:
    from ..train._logging import read_records
    from ..train._plot import plot_runs

    wanted = [m.strip() for m in ns.metrics.split(",") if m.strip()] if ns.metrics else None
    runs: dict[str, list[dict]] = {}
    for run in ns.runs:
        path = pathlib.Path(run)
        records = read_records(path)
        if wanted is not None:
            names = {k for r in records for k in r}
            missing = [m for m in wanted if m not in names]
            if missing:
                raise ConfigError(
                    f"{path}: no metric(s) {missing}; it has {sorted(names - {'step', 'epoch', 'time'})}"
                )
            records = [
                {k: v for k, v in r.items() if k in ("step", "epoch", "time") or k in wanted} for r in records
            ]
        label = path.resolve().name
        while label in runs:
            label += "'"
        runs[label] = records
    if ns.output:
        out = pathlib.Path(ns.output)
    elif len(ns.runs) == 1:
        out = pathlib.Path(ns.runs[0]) / "curves.png"
    else:
        out = pathlib.Path("compare.png")
    if out.suffix.lower() != ".png":
        raise ConfigError(f"torsh plot: the output must be a .png file, got {out}")
    plot_runs(runs, out, title=" vs ".join(runs))
    print(out)
    return 0
