"""Fixtures for tests/distributed: one 8-device subprocess runs every check in _distributed_checks8.py.

JAX fixes its device count when it starts, so multi-device code runs in a fresh interpreter with
``XLA_FLAGS=--xla_force_host_platform_device_count=8``; starting it once for all checks keeps the
suite fast (each interpreter start plus compilation costs seconds on a small machine).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _distributed_helpers import HANG_GUARD_SECONDS, HERE, subprocess_env


@pytest.fixture(scope="session")
def checks8(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    """``(out_dir, results)`` of the 8-device checks (results: name -> {"ok", "error"})."""
    out_dir = tmp_path_factory.mktemp("checks8")
    proc = subprocess.run(
        [sys.executable, str(HERE / "_distributed_checks8.py"), str(out_dir)],
        env=subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    results_file = out_dir / "results.json"
    if proc.returncode != 0 or not results_file.exists():
        pytest.fail(f"the 8-device check run failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return out_dir, json.loads(results_file.read_text())
