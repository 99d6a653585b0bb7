"""Hypothesis profiles, and example budgets that follow the active profile.

``tests/conftest.py`` registers the profiles defined here and loads one: ``ci`` (the default: 25
examples, derandomized, so CI is fast and reproducible) or ``thorough`` (300 examples, random), chosen
with ``pytest --hypothesis-profile=thorough`` or ``HYPOTHESIS_PROFILE=thorough``.

Tests do not hard-code ``max_examples`` (a number would cap the thorough profile too). A test whose
examples are expensive (each one compiles a new XLA program) asks for its count *under the ci
profile* with :func:`examples`; every other profile scales it by its own ``max_examples``::

    from _hypothesis_budget import examples

    @settings(max_examples=examples(8))  # 8 under "ci", 96 under "thorough"
    @given(...)
    def test_something_that_compiles_per_example(...): ...
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["CI_EXAMPLES", "PROFILES", "examples", "register_profiles"]

CI_EXAMPLES = 25

PROFILES: dict[str, settings] = {
    "ci": settings(
        max_examples=CI_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=True,
    ),
    "thorough": settings(
        max_examples=12 * CI_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    ),
}


def register_profiles() -> None:
    """Register every profile of :data:`PROFILES` with hypothesis."""
    for name, profile in PROFILES.items():
        settings.register_profile(name, profile)


def examples(ci_count: int) -> int:
    """``max_examples`` for a test that runs ``ci_count`` examples under the ci profile.

    The active profile's ``max_examples`` scaled by ``ci_count / CI_EXAMPLES`` (at least 1): the ci
    run is unchanged and ``--hypothesis-profile=thorough`` multiplies it like every other test. Call it
    at decoration time (module import), after conftest has loaded the profile.
    """
    if not isinstance(ci_count, int) or ci_count < 1:
        raise ValueError(f"examples: ci_count must be a positive int, got {ci_count!r}")
    return max(1, round(ci_count * settings.default.max_examples / CI_EXAMPLES))
