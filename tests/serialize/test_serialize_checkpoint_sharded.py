"""Arrays sharded over 8 (simulated CPU) devices save and restore, also onto a different device layout
(by like='s shardings, abstract ShapeDtypeStructs or an explicit sharding=); run in a subprocess so
that XLA_FLAGS takes effect before JAX starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_serialize_sharded_child.py")


@pytest.mark.slow
def test_sharded_arrays_round_trip_across_layouts():
    env = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=8")
    result = subprocess.run([sys.executable, CHILD], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stderr[-4000:]
