"""``StepTimer``: wall time per step, measured after the step's results are ready."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["StepTimer"]


class StepTimer:
    """Call a step through the timer to record its wall time (the clock stops at ``block_until_ready``).

    The first ``skip`` calls (compilation, warm-up) are recorded in :attr:`warmup`, not in
    :attr:`times`. JAX dispatches asynchronously, so without the block a "step time" would only
    measure dispatch; blocking costs the overlap of host and device work, so use the timer to
    measure, not in production loops.

    Args:
      skip: the number of first calls kept apart in :attr:`warmup`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import train
      >>> timer = train.StepTimer(skip=1)
      >>> step = jax.jit(lambda s, x: (s + x, {}))
      >>> s = jnp.float32(0)
      >>> for _ in range(4):
      ...     s, _ = timer(step, s, jnp.float32(1))
      >>> len(timer.times), float(s)
      (3, 4.0)
    """

    def __init__(self, skip: int = 1) -> None:
        self.skip = skip
        self.warmup: list[float] = []
        self.times: list[float] = []

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        jax.block_until_ready(out)
        elapsed = time.perf_counter() - start
        (self.warmup if len(self.warmup) < self.skip else self.times).append(elapsed)
        return out

    def median(self) -> float:
        """Median seconds per step (``nan`` before any timed step).

        Returns:
          Seconds.

        Example:
          >>> from torsh import train
          >>> timer = train.StepTimer(skip=0)
          >>> timer.times.extend([0.001, 0.003, 0.002])       # as recorded by calls
          >>> timer.median()
          0.002
        """
        return statistics.median(self.times) if self.times else float("nan")

    def mean(self) -> float:
        """Mean seconds per step (``nan`` before any timed step).

        Returns:
          Seconds.

        Example:
          >>> from torsh import train
          >>> timer = train.StepTimer(skip=0)
          >>> timer.times.extend([0.001, 0.003, 0.002])       # as recorded by calls
          >>> round(timer.mean(), 6)
          0.002
        """
        return statistics.fmean(self.times) if self.times else float("nan")

    def summary(self) -> str:
        """One line: median, mean and minimum per step, the step count and the warm-up time.

        Returns:
          ``"median 1.23 ms/step, mean 1.30 ms, min 1.10 ms over 100 steps (first 1: 2.10 s)"``.

        Example:
          >>> from torsh import train
          >>> timer = train.StepTimer(skip=0)
          >>> timer.times.extend([0.001, 0.003, 0.002])       # as recorded by calls
          >>> timer.summary()
          'median 2.00 ms/step, mean 2.00 ms, min 1.00 ms over 3 steps'
        """
        if not self.times:
            return "no timed steps"
        warm = f" (first {len(self.warmup)}: {sum(self.warmup):.2f} s)" if self.warmup else ""
        return (
            f"median {self.median() * 1e3:.2f} ms/step, mean {self.mean() * 1e3:.2f} ms, "
            f"min {min(self.times) * 1e3:.2f} ms over {len(self.times)} steps{warm}"
        )

    def reset(self) -> None:
        """Forget every recorded time (warm-up included).

        Example:
          >>> from torsh import train
          >>> timer = train.StepTimer(skip=0)
          >>> timer.times.extend([0.001, 0.003, 0.002])       # as recorded by calls
          >>> timer.reset()
          >>> timer.times
          []
        """
        self.warmup.clear()
        self.times.clear()
