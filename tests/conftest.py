"""Shared test setup.

* Tests run in JAX's default 32-bit mode, as users do. Checks that need float64 (finite differences)
  use the ``x64`` fixture, which enables 64-bit mode only inside that test.
* hypothesis profiles: "ci" (default) keeps the suite fast; HYPOTHESIS_PROFILE=thorough runs more.
"""

from __future__ import annotations

import os

import jax
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("thorough", max_examples=300, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def key():
    """A fresh, test-specific PRNG key."""
    import torsh

    counter = getattr(key, "_counter", 0)
    key._counter = counter + 1
    return torsh.random.key(1234 + counter)


@pytest.fixture
def x64():
    """Enable JAX's 64-bit mode for the duration of one test."""
    with jax.enable_x64(True):
        yield
