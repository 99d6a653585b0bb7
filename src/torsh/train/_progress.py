"""Progress display for training: a tqdm bar per epoch on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "format_record"]


def format_record(record: dict[str, Any]) -> str:
    parts = []
    for k, v in record.items():
        if k in ("step", "epoch", "time"):
            continue
        parts.append(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class Progress:
    """One training run's display. ``enabled=False`` prints nothing.

    On a terminal: a tqdm bar per epoch (steps, ETA) with running loss, steps/s and samples/s in the
    postfix. Otherwise: a plain line every ``interval`` seconds and at the end of each epoch.
    Step rates exclude time spent compiling (reported on its own line instead).
    """

    def __init__(self, enabled: bool = True, *, stream: TextIO | None = None, interval: float = 10.0):
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stdout
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self._bar: Any = None

    def print(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def start_epoch(self, label: str, total: int | None, done: int) -> None:
        self._label, self._total, self._done = label, total, done
        self._steps = 0
        self._samples = 0
        self._busy = 0.0  # seconds of stepping, compile time excluded
        self._t_last = time.perf_counter()
        self._t_print = self._t_last
        if self.tty:
            from tqdm import tqdm

            # tqdm's own rate would count compile time; the postfix has steps/s and samples/s without it
            fmt = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
            if total is None:
                fmt = "{desc}: {n_fmt} steps [{elapsed}{postfix}]"
            self._bar = tqdm(
                total=total,
                initial=done,
                desc=label,
                unit="step",
                file=self.stream,
                dynamic_ncols=True,
                leave=True,
                bar_format=fmt,
            )

    def step(self, samples: int, compile_seconds: float, running: Any) -> None:
        """One step done; ``running()`` returns the running means (called only when displayed)."""
        now = time.perf_counter()
        self._busy += max(now - self._t_last - compile_seconds, 0.0)
        self._t_last = now
        self._steps += 1
        self._samples += samples
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(1)
            if now - self._t_print >= 0.5:
                self._t_print = now
                self._bar.set_postfix_str(self._postfix(running()), refresh=False)
        elif now - self._t_print >= self.interval:
            self._t_print = now
            where = (
                f"{self._done + self._steps}/{self._total}" if self._total else f"{self._done + self._steps}"
            )
            self.print(f"{self._label} step {where}  {self._postfix(running())}")

    def _postfix(self, means: dict[str, float]) -> str:
        rates = ""
        if self._busy > 0:
            rates = f"  {self._steps / self._busy:.1f} steps/s  {self._samples / self._busy:.0f} samples/s"
        return format_record(means) + rates

    def end_epoch(self, record: dict[str, Any] | None) -> None:
        if self._bar is not None:
            if record is not None:
                self._bar.set_postfix_str(self._postfix({k: v for k, v in record.items()}), refresh=True)
            self._bar.close()
            self._bar = None
        elif self.enabled and record is not None:
            self.print(f"{self._label} done: step {record['step']}  {self._postfix(record)}")
