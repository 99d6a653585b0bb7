"""Run-directory logs: ``metrics.jsonl``, ``metrics.csv``, ``config.json``, TensorBoard events, a PNG."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pathlib
import time
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError
from ._history import History

__all__ = ["RunLogger", "LOG_KINDS", "read_records"]

LOG_KINDS = ("jsonl", "csv", "tensorboard", "plot")
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
CONFIG_JSON = "config.json"
PLOT_PNG = "curves.png"


def _atomic_write(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _jsonable(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = dataclasses.asdict(config)
    try:
        json.dumps(config)
        return config
    except TypeError:
        return json.loads(json.dumps(config, default=repr))


def check_log(log: Any) -> tuple[str, ...]:
    """Normalise ``fit(log=...)``: a kind, a sequence of kinds, or ``None``/``()``."""
    kinds = (log,) if isinstance(log, str) else tuple(log or ())
    bad = [k for k in kinds if k not in LOG_KINDS]
    if bad:
        raise ConfigError(f"fit: log= accepts {list(LOG_KINDS)}, got {bad}")
    return kinds


class RunLogger:
    """Writes a run's records to its directory. jsonl is appended per record; csv and the plot are
    rewritten (columns may appear later); TensorBoard gets scalars tagged by metric name."""

    def __init__(self, directory: pathlib.Path, kinds: Sequence[str], config: Any = None, title: str = ""):
        self.directory = directory
        self.kinds = tuple(kinds)
        self.title = title
        self._tb: Any = None
        directory.mkdir(parents=True, exist_ok=True)
        if config is not None:
            _atomic_write(
                directory / CONFIG_JSON, json.dumps(_jsonable(config), indent=2, sort_keys=True) + "\n"
            )

    def start(self, history: History, resumed_step: int | None) -> None:
        """Rewrite the files from ``history`` (the checkpointed truth: records after the checkpoint
        that an interrupted run had written are dropped), then open the TensorBoard writer."""
        if "jsonl" in self.kinds:
            _atomic_write(self.directory / METRICS_JSONL, "".join(json.dumps(r) + "\n" for r in history))
        if "csv" in self.kinds:
            self._write_csv(history)
        if "tensorboard" in self.kinds:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:
                raise ConfigError(
                    "fit(log=('tensorboard',)) needs tensorboardX: pip install 'torsh[tensorboard]'"
                ) from None
            # purge_step drops events an interrupted run wrote after its last checkpoint.
            purge = None if resumed_step is None else resumed_step + 1
            # A unique file per writer: tensorboardX names files by the second, and a quick restart
            # would otherwise overwrite the events of the interrupted run.
            suffix = f".{os.getpid()}.{time.time_ns()}"
            self._tb = SummaryWriter(
                str(self.directory / "tensorboard"), purge_step=purge, filename_suffix=suffix
            )

    def write(self, record: dict[str, Any], history: History) -> None:
        """Log one record (already appended to ``history``)."""
        if "jsonl" in self.kinds:
            with open(self.directory / METRICS_JSONL, "a") as f:
                f.write(json.dumps(record) + "\n")
        if "csv" in self.kinds:
            self._write_csv(history)
        if self._tb is not None:
            for k, v in record.items():
                if k not in ("step", "epoch", "time") and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, global_step=record["step"], walltime=None)
            self._tb.flush()

    def plot(self, history: History) -> pathlib.Path | None:
        """Write the curves PNG (``plot`` in the kinds); returns its path."""
        if "plot" not in self.kinds or not history.names():
            return None
        from ._plot import plot_history

        return plot_history(history, self.directory / PLOT_PNG, self.title)

    def _write_csv(self, history: History) -> None:
        columns = ["step", "epoch", "time", *history.names()]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        for r in history:
            writer.writerow({k: r.get(k, "") for k in columns})
        _atomic_write(self.directory / METRICS_CSV, buf.getvalue())

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_records(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a run directory (from ``metrics.jsonl``, else ``metrics.csv``)."""
    run = pathlib.Path(run_dir)
    if not run.is_dir():
        raise ConfigError(f"{run}: not a run directory (no such directory)")
    jsonl, csv_path = run / METRICS_JSONL, run / METRICS_CSV
    if jsonl.exists():
        records = []
        for i, line in enumerate(jsonl.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ConfigError(f"{jsonl}:{i}: not a JSON record: {e.msg}") from None
        return records
    if csv_path.exists():
        with open(csv_path, newline="") as f:
            return [
                {k: float(v) if k != "step" else int(float(v)) for k, v in row.items() if v != ""}
                for row in csv.DictReader(f)
            ]
    raise ConfigError(f"{run}: not a run directory (no {METRICS_JSONL} or {METRICS_CSV})")
