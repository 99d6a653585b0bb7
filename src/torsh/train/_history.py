"""``History``: the list of records a training run produced (train means, evaluations)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError

__all__ = ["History"]

_INDEX = ("step", "epoch", "time")


class History:
    """Records of a run, oldest first; each a dict with ``step``, ``epoch``, ``time`` and metric values.

    Training records hold the means of the step's logs since the previous training record (``loss``);
    evaluation records hold the evaluation results (``val_loss``, ``val_acc``).

    Example:
      >>> from torsh.train import History
      >>> h = History([{"step": 10, "epoch": 1.0, "time": 0.5, "loss": 0.9},
      ...              {"step": 10, "epoch": 1.0, "time": 0.6, "val_acc": 0.8},
      ...              {"step": 20, "epoch": 2.0, "time": 1.0, "loss": 0.4, "val_acc": 0.9}])
      >>> h["loss"], h.steps("val_acc"), h.best("val_acc", mode="max")
      ([0.9, 0.4], [10, 20], (20, 0.9))
    """

    def __init__(self, records: list[dict[str, Any]] | None = None) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in (records or [])]

    def append(self, record: dict[str, Any]) -> None:
        """Add one record (a dict with at least ``step``)."""
        self.records.append(dict(record))

    def names(self) -> list[str]:
        """Every metric name seen, in order of first appearance (without step/epoch/time)."""
        seen: dict[str, None] = {}
        for r in self.records:
            for k in r:
                if k not in _INDEX:
                    seen.setdefault(k, None)
        return list(seen)

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.names() and name not in _INDEX:
            raise KeyError(f"History has no metric {name!r}; it has {self.names()}")
        return [r[name] for r in self.records if name in r]

    def steps(self, name: str) -> list[int]:
        """The steps at which ``name`` was recorded."""
        return [r["step"] for r in self.records if name in r]

    def last(self, name: str | None = None) -> Any:
        """The latest value of ``name`` (or the latest record), ``None`` if there is none."""
        if name is None:
            return dict(self.records[-1]) if self.records else None
        values = [r[name] for r in self.records if name in r]
        return values[-1] if values else None

    def best(self, name: str, mode: str = "min") -> tuple[int, float] | None:
        """``(step, value)`` of the best ``name`` (earliest on ties; NaN never wins), or ``None``."""
        if mode not in ("min", "max"):
            raise ConfigError(f"History.best: mode must be 'min' or 'max', got {mode!r}")
        best: tuple[int, float] | None = None
        for r in self.records:
            v = r.get(name)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            if best is None or (v < best[1] if mode == "min" else v > best[1]):
                best = (r["step"], v)
        return best

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, History) and self.records == other.records

    def __repr__(self) -> str:
        return f"History({len(self.records)} records, metrics {self.names()})"

    def to_json(self) -> str:
        """Exact JSON (floats round-trip through ``repr``)."""
        return json.dumps(self.records, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> History:
        return cls(json.loads(text))
