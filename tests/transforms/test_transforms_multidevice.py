"""pmap over 8 simulated CPU devices equals vmap; collectives match numpy; static/donate by name;
size errors. All checks run in ONE subprocess (XLA_FLAGS must be set before JAX starts); see
_transforms_pmap_checks8.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import _transforms_pmap_checks8
import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_transforms_pmap_checks8.py")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("pmap8") / "results.json"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    env.pop("TORSH_DEVICE", None)
    proc = subprocess.run(
        [sys.executable, SCRIPT, str(out)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0 and out.exists(), f"the 8-device script failed:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(out.read_text())


@pytest.mark.parametrize("name", sorted(_transforms_pmap_checks8.CHECKS))
def test_on_8_devices(results, name):
    assert name in results, f"check {name} did not run"
    assert results[name]["ok"], f"check {name} failed on 8 devices:\n{results[name]['error']}"
