"""The quickstart trains a real model on real digits to >= 90% test accuracy."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_quickstart_reaches_90_percent():
    pytest.importorskip("sklearn", reason="the quickstart needs scikit-learn (examples/test extra)")
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--epochs", "8"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    final = [line for line in result.stdout.splitlines() if line.startswith("final test accuracy")]
    assert final, result.stdout
    accuracy = float(final[0].split(":")[1].split("%")[0])
    assert accuracy >= 90.0, result.stdout
    assert "epoch   1" in result.stdout  # progress is printed
    assert "restored: keys ['0.weight', '0.bias', '3.weight', '3.bias']" in result.stdout  # PyTorch's names
