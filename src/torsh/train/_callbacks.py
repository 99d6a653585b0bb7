"""Callbacks of :func:`torsh.train.fit` and early stopping."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._history import History

__all__ = ["Callback", "EarlyStopping"]


class Callback:
    """Hooks called by :func:`torsh.train.fit`; override the ones you need.

    Callbacks must not keep state that a resumed run needs: derive it from ``history`` (which is
    checkpointed) so that a restarted run behaves exactly like an uninterrupted one.
    """

    def on_fit_start(self, state: Any, history: History) -> None:
        """Before the first step (also after resuming)."""

    def on_step_end(self, state: Any, logs: Mapping[str, Any], step: int) -> None:
        """After every step; ``logs`` are device arrays (reading them waits for the step)."""

    def on_epoch_end(self, state: Any, record: dict[str, Any], history: History) -> bool | None:
        """After every epoch with its training record; return ``True`` to stop training."""

    def on_eval_end(self, state: Any, metrics: dict[str, float], history: History) -> bool | None:
        """After every evaluation (already in ``history``); return ``True`` to stop training."""

    def on_fit_end(self, state: Any, history: History) -> None:
        """After the last step."""


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` evaluations.

    Stateless: the decision is recomputed from the history, so a resumed run stops where the
    uninterrupted one would. Like Keras' ``EarlyStopping`` / Lightning's, a NaN value never improves.

    Example:
      >>> from torsh.train import EarlyStopping, History
      >>> stop = EarlyStopping("val_loss", patience=2)
      >>> h = History([{"step": s, "val_loss": v} for s, v in enumerate([1.0, 0.5, 0.6, 0.55])])
      >>> stop.should_stop(h)
      True
    """

    def __init__(
        self, monitor: str = "val_loss", *, mode: str = "min", patience: int = 5, min_delta: float = 0.0
    ):
        if mode not in ("min", "max"):
            raise ConfigError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ConfigError(f"EarlyStopping: patience must be an int >= 1, got {patience!r}")
        if not isinstance(min_delta, (int, float)) or min_delta < 0:
            raise ConfigError(f"EarlyStopping: min_delta must be a number >= 0, got {min_delta!r}")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, float(min_delta)

    def should_stop(self, history: History) -> bool:
        """Whether the last ``patience`` values of ``monitor`` all failed to improve on the best before."""
        values = [r[self.monitor] for r in history if self.monitor in r]
        best = math.inf if self.mode == "min" else -math.inf
        since = 0
        for v in values:
            better = v < best - self.min_delta if self.mode == "min" else v > best + self.min_delta
            if better and not math.isnan(v):
                best, since = v, 0
            else:
                since += 1
        return since >= self.patience

    def on_eval_end(self, state: Any, metrics: dict[str, float], history: History) -> bool:
        if self.monitor not in metrics:
            raise ConfigError(
                f"EarlyStopping: monitored metric {self.monitor!r} is not among the evaluation results "
                f"{sorted(metrics)}"
            )
        return self.should_stop(history)

    def __repr__(self) -> str:
        return (
            f"EarlyStopping({self.monitor!r}, mode={self.mode!r}, patience={self.patience}, "
            f"min_delta={self.min_delta})"
        )
