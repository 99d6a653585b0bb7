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

    Example:
      >>> from torsh.train import Callback, History
      >>> class StopAtLoss(Callback):
      ...     def on_epoch_end(self, state, record, history):
      ...         return record["loss"] < 0.1          # True stops training
      >>> StopAtLoss().on_epoch_end(None, {"epoch": 3, "loss": 0.05}, History())
      True
    """

    def on_fit_start(self, state: Any, history: History) -> None:
        """Before the first step (also after resuming).

        Args:
          state: the training state (restored, when resuming).
          history: the records so far (empty for a new run).

        Example:
          >>> from torsh.train import Callback, History
          >>> Callback().on_fit_start(None, History())     # the default does nothing
        """

    def on_step_end(self, state: Any, logs: Mapping[str, Any], step: int) -> None:
        """After every step; ``logs`` are device arrays (reading them waits for the step).

        Args:
          state: the state after the step.
          logs: what the step function returned as logs.
          step: the global step number (1 after the first step).

        Example:
          >>> from torsh.train import Callback
          >>> class Print(Callback):
          ...     def on_step_end(self, state, logs, step):
          ...         print(step, float(logs["loss"]))
          >>> Print().on_step_end(None, {"loss": 0.5}, 1)
          1 0.5
        """

    def on_epoch_end(self, state: Any, record: dict[str, Any], history: History) -> bool | None:
        """After every epoch with its training record; return ``True`` to stop training.

        Args:
          state: the state at the end of the epoch.
          record: the epoch's record (``epoch``, ``step``, mean training logs...).
          history: every record so far.

        Returns:
          ``True`` to stop after this epoch; ``None``/``False`` to go on.

        Example:
          >>> from torsh.train import Callback, History
          >>> Callback().on_epoch_end(None, {"epoch": 1}, History()) is None
          True
        """

    def on_eval_end(self, state: Any, metrics: dict[str, float], history: History) -> bool | None:
        """After every evaluation (already in ``history``); return ``True`` to stop training.

        Args:
          state: the evaluated state.
          metrics: the evaluation results (``val_loss``, ``val_acc``...).
          history: every record so far, this evaluation's included.

        Returns:
          ``True`` to stop training; ``None``/``False`` to go on.

        Raises:
          ConfigError: (:class:`EarlyStopping`) the monitored metric is not among ``metrics``.

        Example:
          >>> from torsh.train import EarlyStopping, History
          >>> h = History([{"step": 1, "val_loss": 1.0}, {"step": 2, "val_loss": 1.1}])
          >>> EarlyStopping("val_loss", patience=1).on_eval_end(None, {"val_loss": 1.1}, h)
          True
        """

    def on_fit_end(self, state: Any, history: History) -> None:
        """After the last step.

        Args:
          state: the final state.
          history: every record of the run.

        Example:
          >>> from torsh.train import Callback, History
          >>> Callback().on_fit_end(None, History())       # the default does nothing
        """


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` evaluations.

    Stateless: the decision is recomputed from the history, so a resumed run stops where the
    uninterrupted one would. Like Keras' ``EarlyStopping`` / Lightning's, a NaN value never improves.

    Args:
      monitor: the history key to watch (an evaluation metric such as ``"val_loss"``).
      mode: ``"min"`` or ``"max"``: which direction is an improvement.
      patience: how many evaluations without improvement stop training.
      min_delta: an improvement must exceed this.

    Raises:
      ConfigError: an unknown ``mode``, ``patience`` < 1 or a negative ``min_delta``; (during
        :func:`fit`) a ``monitor`` the evaluation does not produce.

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
        """Whether the last ``patience`` values of ``monitor`` all failed to improve on the best before.

        Args:
          history: the run's records; those without ``monitor`` are skipped.

        Returns:
          ``True`` to stop.

        Example:
          >>> from torsh.train import EarlyStopping, History
          >>> h = History([{"step": s, "acc": v} for s, v in enumerate([0.5, 0.7, 0.69])])
          >>> EarlyStopping("acc", mode="max", patience=2).should_stop(h)
          False
        """
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
