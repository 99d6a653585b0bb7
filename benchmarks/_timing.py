"""Shared timing helpers for the benchmark scripts (not a test: nothing here asserts a time)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax

CLOCK = time.perf_counter


def use_cpu_clock() -> None:
    """Measure process CPU time (all threads) instead of wall time: on a machine shared with other
    jobs, wall time counts the time this process waits for a core; CPU time does not."""
    global CLOCK
    CLOCK = time.process_time


def per_call_us(fn: Callable[[], Any], calls: int) -> float:
    """Mean µs per call over ``calls`` calls, blocking on the last result only."""
    gc.disable()
    try:
        start = CLOCK()
        for _ in range(calls):
            out = fn()
        jax.block_until_ready(out)
        return (CLOCK() - start) / calls * 1e6
    finally:
        gc.enable()


def interleaved(candidates: dict[str, Callable[[], Any]], calls: int, rounds: int) -> dict[str, float]:
    """Median µs per call of each candidate; candidates run in turn every round so that machine noise
    (other processes on a shared machine) hits them alike."""
    for fn in candidates.values():  # compile and warm up
        for _ in range(max(10, calls // 10)):
            jax.block_until_ready(fn())
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(per_call_us(candidates[name], calls))
    return {name: statistics.median(v) for name, v in samples.items()}


def report(title: str, results: dict[str, float], baseline: str) -> None:
    base = results[baseline]
    print(f"\n{title}")
    print(f"  {'candidate':<34} {'µs/call':>10} {'vs ' + baseline:>18}")
    for name, us in results.items():
        print(f"  {name:<34} {us:>10.1f} {us / base:>17.2f}x")
