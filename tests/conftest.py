"""Shared test setup.

* Tests run in JAX's default 32-bit mode, as users do. Checks that need float64 (finite differences)
  use the ``x64`` fixture, which enables 64-bit mode only inside that test.
* hypothesis profiles (``_hypothesis_budget.py``): "ci" (default) keeps the suite fast;
  ``--hypothesis-profile=thorough`` (or ``HYPOTHESIS_PROFILE=thorough``) runs 12x the examples. Tests
  never hard-code ``max_examples``; expensive ones use ``examples(n)`` from ``_hypothesis_budget``.
* Test folders are not packages: pytest puts each test's folder (and this one) on ``sys.path``, so
  helper modules are imported by their bare name and every module name is unique across tests/
  (test files ``tests/<pkg>/test_<pkg>_<module>.py``, helpers ``tests/<pkg>/_<pkg>_<what>.py``).
"""

from __future__ import annotations

import os

import jax
import pytest
from _hypothesis_budget import register_profiles
from hypothesis import settings

register_profiles()
# (pytest's --hypothesis-profile, applied after this file is imported, takes precedence)
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
