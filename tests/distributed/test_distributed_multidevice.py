"""8 simulated CPU devices (one subprocess, see conftest.py): every layout trains like one device,
shardings are the requested ones, collectives match numpy, describe reports FSDP bytes = total / N,
errors name the leaf, shape and mesh axis. The checks themselves are in _distributed_checks8.py."""

from __future__ import annotations

import _distributed_checks8
import pytest

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", sorted(_distributed_checks8.CHECKS))
def test_on_8_devices(checks8, name: str) -> None:
    _, results = checks8
    assert name in results, f"check {name} did not run"
    result = results[name]
    assert result["ok"], f"check {name} failed on 8 devices:\n{result['error']}"
