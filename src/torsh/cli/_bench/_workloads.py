"""Workloads of the suite (``torsh bench``, benchmarks/suite.py): shapes, data, the runner protocol.

Every candidate trains the same model on the same NumPy batches with Adam (lr 1e-3) and a
cross-entropy loss. A candidate is a function ``make(workload) -> Runner``; ``Runner(n)`` runs ``n``
training steps and waits for the result. Candidates raise :class:`Unsupported` for a workload they
do not implement (the table then shows no row).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Runner = Callable[[int], None]


class Unsupported(Exception):
    """This candidate has no implementation of this workload."""


@dataclass
class Workload:
    key: str
    title: str
    steps: int  # steps per round and candidate
    quick_steps: int
    make_data: Callable[[], tuple[np.ndarray, np.ndarray]]
    config: dict[str, Any] = field(default_factory=dict)
    _data: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(xs, ys)``: a few batches stacked on axis 0, generated once and shared by candidates."""
        if self._data is None:
            self._data = self.make_data()
        return self._data


def _images(n: int, batch: int, shape: tuple[int, ...], classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    xs = g.standard_normal((n, batch, *shape), dtype=np.float32)
    return xs, g.integers(0, classes, size=(n, batch)).astype(np.int32)


def _tokens(n: int, shape: tuple[int, int], vocab: int, time_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Token batches and their next-token targets (``time_axis`` of one batch is the sequence)."""
    g = np.random.default_rng(0)
    seq = g.integers(0, vocab, size=(n, *shape)).astype(np.int32)
    return seq, np.roll(seq, -1, axis=1 + time_axis)


# Transformer LM and LSTM LM configurations (issue 14; word_language_model's shapes for the LSTM).
TLM = {"batch": 16, "seq": 128, "d": 256, "heads": 4, "ff": 1024, "layers": 2, "vocab": 1024}
LSTM = {"bptt": 35, "batch": 20, "hidden": 200, "embed": 200, "layers": 2, "vocab": 10000}
RESNET = {"batch": 16, "size": 64, "classes": 10}


def workloads() -> dict[str, Workload]:
    return {
        w.key: w
        for w in (
            Workload("mlp16", "MLP 784-512-512-10, B=16", 256, 32, lambda: _images(16, 16, (784,))),
            Workload("mlp128", "MLP 784-512-512-10, B=128", 64, 8, lambda: _images(8, 128, (784,))),
            Workload("cnn", "CNN 2 conv + 2 fc, 3x32x32, B=64", 12, 2, lambda: _images(4, 64, (3, 32, 32))),
            Workload(
                "resnet18",
                f"ResNet-18, 3x64x64, B={RESNET['batch']}",
                4,
                1,
                lambda: _images(2, RESNET["batch"], (3, RESNET["size"], RESNET["size"])),
                RESNET,
            ),
            Workload(
                "tlm",
                "Transformer LM, 2 layers, B=16, T=128, d=256",
                6,
                1,
                lambda: _tokens(2, (TLM["batch"], TLM["seq"]), TLM["vocab"], 1),
                TLM,
            ),
            Workload(
                "lstm",
                "LSTM LM, 2x200, bptt 35, B=20, vocab 10k",
                12,
                2,
                lambda: _tokens(4, (LSTM["bptt"], LSTM["batch"]), LSTM["vocab"], 0),
                LSTM,
            ),
        )
    }
