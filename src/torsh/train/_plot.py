"""PNG plots of training curves (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["plot_history", "plot_runs"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            "plotting needs matplotlib: pip install 'torsh[plot]' (or pass log=... without 'plot')"
        ) from None
    matplotlib.use("Agg", force=False)  # keep an interactive backend the user selected
    import matplotlib.pyplot as plt

    return plt


def _panels(names: Sequence[str]) -> list[list[str]]:
    """Group metric names into panels: ``loss`` with ``val_loss``, ``acc`` with ``val_acc``..."""
    groups: dict[str, list[str]] = {}
    for n in names:
        base = n[4:] if n.startswith("val_") else n
        groups.setdefault(base, []).append(n)
    return list(groups.values())


def _draw(
    series: dict[str, dict[str, tuple[list[float], list[float]]]], path: pathlib.Path, title: str
) -> None:
    """``series[run][metric] = (steps, values)``; one panel per metric family, one line per run+metric."""
    plt = _pyplot()
    names: list[str] = []
    for metrics in series.values():
        for n in metrics:
            if n not in names:
                names.append(n)
    if not names:
        raise ConfigError(f"plot: nothing to plot for {path} (no metric values recorded yet)")
    panels = _panels(names)
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        for run, metrics in series.items():
            for n in panel:
                if n in metrics:
                    xs, ys = metrics[n]
                    label = n if len(series) == 1 else f"{run}: {n}"
                    ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3, label=label)
        ax.set_title(panel[0][4:] if panel[0].startswith("val_") else panel[0])
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, path)  # a reader (or a kill) never sees half a PNG


def _series(records: Sequence[dict[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in records:
        for k, v in r.items():
            if k in ("step", "epoch", "time") or not isinstance(v, (int, float)) or isinstance(v, bool):
                continue
            xs, ys = out.setdefault(k, ([], []))
            xs.append(r["step"])
            ys.append(float(v))
    return out


def plot_history(records: Iterable[dict[str, Any]], path: str | os.PathLike, title: str = "") -> pathlib.Path:
    """Write a PNG of every metric in ``records`` (a :class:`History` or list of records) against step.

    Args:
      records: the run's records (dicts with ``step`` and metric values).
      path: the PNG to write.
      title: the figure's title.

    Returns:
      ``path`` as a :class:`pathlib.Path`.

    Raises:
      ConfigError: matplotlib is not installed, or there is nothing to plot.

    Example:
      >>> import os, tempfile
      >>> from torsh.train import plot_history
      >>> path = plot_history([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}],
      ...                     os.path.join(tempfile.mkdtemp(), "curves.png"))
      >>> path.stat().st_size > 1000
      True
    """
    path = pathlib.Path(path)
    _draw({"run": _series(list(records))}, path, title)
    return path


def plot_runs(
    runs: Mapping[str, Iterable[dict[str, Any]]], path: str | os.PathLike, title: str = ""
) -> pathlib.Path:
    """Write a PNG comparing several runs (``{label: records}``), one line per run and metric.

    Args:
      runs: ``{label: records}`` (each a :class:`History` or list of records).
      path: the PNG to write.
      title: the figure's title.

    Returns:
      ``path`` as a :class:`pathlib.Path`.

    Raises:
      ConfigError: matplotlib is not installed, or there is nothing to plot.

    Example:
      >>> import os, tempfile
      >>> from torsh.train import plot_runs
      >>> runs = {"lr=0.1": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0}],
      ...         "lr=0.01": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.8}]}
      >>> plot_runs(runs, os.path.join(tempfile.mkdtemp(), "runs.png")).suffix
      '.png'
    """
    path = pathlib.Path(path)
    _draw({label: _series(list(recs)) for label, recs in runs.items()}, path, title)
    return path
