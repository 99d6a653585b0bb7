"""``torsh train RECIPE [--out DIR] [--set key=value ...] [--resume] [--list]``."""

from __future__ import annotations

import argparse
import pathlib
import time

from ..errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("recipe", nargs="?", help="a built-in recipe name (see --list) or a recipe .py file")
    parser.add_argument("--out", default=None, metavar="DIR", help="run directory (default: runs/RECIPE)")
    parser.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override config fields, type-checked (e.g. --set epochs=5 lr=1e-3)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    parser.add_argument("--list", action="store_true", help="list the built-in recipes and exit")
    parser.add_argument("--show-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    return parser


def _latest_step(checkpoints: pathlib.Path) -> int | None:
    if not checkpoints.is_dir():
        return None
    steps = [
        int(p.name[5:]) for p in checkpoints.iterdir() if p.name.startswith("step_") and p.name[5:].isdigit()
    ]
    return max(steps) if steps else None


def run_from_args(ns: argparse.Namespace) -> int:
    from ..train import _recipes

    if ns.list:
        recipes = _recipes.list_recipes()
        width = max(map(len, recipes), default=0)
        for name, description in recipes.items():
            print(f"{name:<{width}}  {description}")
        return 0
    if not ns.recipe:
        raise ConfigError(
            "torsh train: give a recipe name or file (torsh train --list shows the built-in ones)"
        )
    recipe = _recipes.load_recipe(ns.recipe)
    config = _recipes.apply_overrides(recipe.Config(), ns.overrides)
    if ns.show_config:
        for name, type_name, value in _recipes.describe_config(config):
            print(f"{name} ({type_name}) = {value!r}")
        return 0
    name = pathlib.Path(ns.recipe).stem.replace("_", "-") if ns.recipe.endswith(".py") else ns.recipe
    out = pathlib.Path(ns.out) if ns.out else pathlib.Path("runs") / name
    existing = _latest_step(out / "checkpoints")
    if existing is not None and not ns.resume:
        raise ConfigError(
            f"{out} already holds a run (checkpoint at step {existing}); pass --resume to continue it, or "
            "--out NEW_DIR for a new run"
        )
    from .. import compile_cache

    compile_cache.enable_default()
    progress = not ns.no_progress
    if progress:
        print(f"torsh train {name} -> {out}")
    start = time.perf_counter()
    results = recipe.run(config, out, resume=ns.resume, progress=progress)
    elapsed = time.perf_counter() - start
    if not isinstance(results, dict):
        raise ConfigError(
            f"recipe {ns.recipe}: run() must return a dict of final metrics, got {type(results).__name__}"
        )
    summary = "  ".join(
        f"{k} {v:.2%}"
        if "acc" in k and isinstance(v, float)
        else f"{k} {v:.4g}"
        if isinstance(v, float)
        else f"{k} {v}"
        for k, v in results.items()
    )
    print(f"final: {summary}  ({elapsed:.1f} s)")
    plot = out / "curves.png"
    if plot.exists():
        print(f"plot: {plot}")
    print(f"run directory: {out}")
    return 0
