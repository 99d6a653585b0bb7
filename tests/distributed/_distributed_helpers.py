"""Helpers shared by the tests of torsh.distributed (subprocess environments, paths)."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent
HANG_GUARD_SECONDS = 600  # only stops a hung run; never a timing assertion


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without device-count settings that would leak into a child, plus ``extra``."""
    env = dict(os.environ)
    env.pop("JAX_NUM_CPU_DEVICES", None)
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env
