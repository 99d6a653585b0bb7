"""Recipe ``digits-mlp``: a 64-256-10 MLP with dropout on scikit-learn's digits (about 20 s on a CPU)."""

from __future__ import annotations

import dataclasses
import pathlib

import torsh
from torsh import nn

from ._digits import train_digits

DESCRIPTION = "MLP 64-256-10 (GELU, dropout) on scikit-learn's 8x8 digits, offline; ~97% test accuracy"


@dataclasses.dataclass
class Config:
    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    hidden: int = 256
    dropout: float = 0.1
    seed: int = 0
    tensorboard: bool = False


def build_model(config: Config) -> nn.Module:
    torsh.manual_seed(config.seed)
    return nn.Sequential(
        nn.Linear(64, config.hidden), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(config.hidden, 10)
    )


def run(config: Config, out: pathlib.Path, *, resume: bool = True, progress: bool = True) -> dict[str, float]:
    return train_digits(config, out, build_model(config), image=False, resume=resume, progress=progress)
