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

    Args:
      records: initial records (copied), oldest first.

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
        """Add one record (a dict with at least ``step``).

        Args:
          record: the record (copied).

        Example:
          >>> from torsh.train import History
          >>> h = History()
          >>> h.append({"step": 1, "loss": 0.5})
          >>> len(h), h.last("loss")
          (1, 0.5)
        """
        self.records.append(dict(record))

    def names(self) -> list[str]:
        """Every metric name seen, in order of first appearance (without step/epoch/time).

        Returns:
          The names.

        Example:
          >>> from torsh.train import History
          >>> h = History([{"step": 1, "loss": 0.9}, {"step": 1, "val_acc": 0.7},
          ...              {"step": 2, "loss": 0.5, "val_acc": 0.8}])
          >>> h.names()
          ['loss', 'val_acc']
        """
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
        """The steps at which ``name`` was recorded.

        Args:
          name: a metric name.

        Returns:
          The steps, oldest first (the x axis for ``history[name]``).

        Example:
          >>> from torsh.train import History
          >>> h = History([{"step": 1, "loss": 0.9}, {"step": 1, "val_acc": 0.7},
          ...              {"step": 2, "loss": 0.5, "val_acc": 0.8}])
          >>> h.steps("val_acc"), h["val_acc"]
          ([1, 2], [0.7, 0.8])
        """
        return [r["step"] for r in self.records if name in r]

    def last(self, name: str | None = None) -> Any:
        """The latest value of ``name`` (or the latest record), ``None`` if there is none.

        Args:
          name: a metric name, or ``None`` for the whole latest record.

        Returns:
          The value, a copy of the record, or ``None``.

        Example:
          >>> from torsh.train import History
          >>> h = History([{"step": 1, "loss": 0.9}, {"step": 1, "val_acc": 0.7},
          ...              {"step": 2, "loss": 0.5, "val_acc": 0.8}])
          >>> h.last("val_acc"), h.last()
          (0.8, {'step': 2, 'loss': 0.5, 'val_acc': 0.8})
        """
        if name is None:
            return dict(self.records[-1]) if self.records else None
        values = [r[name] for r in self.records if name in r]
        return values[-1] if values else None

    def best(self, name: str, mode: str = "min") -> tuple[int, float] | None:
        """``(step, value)`` of the best ``name`` (earliest on ties; NaN never wins), or ``None``.

        Args:
          name: a metric name.
          mode: ``"min"`` or ``"max"``.

        Returns:
          ``(step, value)``, or ``None`` when ``name`` was never recorded.

        Raises:
          ConfigError: an unknown ``mode``.

        Example:
          >>> from torsh.train import History
          >>> h = History([{"step": 1, "loss": 0.9}, {"step": 1, "val_acc": 0.7},
          ...              {"step": 2, "loss": 0.5, "val_acc": 0.8}])
          >>> h.best("loss"), h.best("val_acc", mode="max"), h.best("val_loss")
          ((2, 0.5), (2, 0.8), None)
        """
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
        """Exact JSON (floats round-trip through ``repr``).

        Returns:
          A JSON list of the records (NaN as ``NaN``).

        Example:
          >>> from torsh.train import History
          >>> History([{"step": 1, "loss": 0.1}]).to_json()
          '[{"step": 1, "loss": 0.1}]'
        """
        return json.dumps(self.records, allow_nan=True)

    @classmethod
    def from_json(cls, text: str) -> History:
        """The history :meth:`to_json` wrote.

        Args:
          text: the JSON text.

        Returns:
          A :class:`History` equal to the one written.

        Example:
          >>> from torsh.train import History
          >>> h = History([{"step": 1, "loss": float("nan")}])
          >>> History.from_json(h.to_json()).last("loss")
          nan
        """
        return cls(json.loads(text))
