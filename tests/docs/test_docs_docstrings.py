"""Every public callable of torsh has a complete Google-style docstring (issue 18).

The rules are in tests/docs/_docs_docstring_rules.py (its module docstring is the reference): a one-line
summary; ``Args:`` when there are parameters; ``Returns:`` when something is returned; ``Raises:``
naming every torsh error class the callable (or a private helper it calls) raises itself; an
``Example:`` with a ``>>>`` doctest (run by ``pytest --doctest-modules``). Error classes need a
summary and an example; properties a summary.

Known offenders are listed in tests/docs/docstring_allowlist.txt, one ``module:qualname`` per line
(the module that defines the object: the file to edit). The list may only SHRINK:

* an offender that is not listed fails ``test_public_docstrings_follow_the_rules`` (all of them are
  reported at once, grouped by module), so new public API is documented from the start;
* a listed name that now follows the rules (or no longer exists) fails
  ``test_allowlist_has_no_fixed_entries``: delete its line. ``python tests/docs/test_docs_docstrings.py
  --prune`` deletes every such line (it never adds one).

Print the offenders of one package: ``python tests/docs/test_docs_docstrings.py torsh.vision``.
"""

from __future__ import annotations

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _docs_docstring_rules as rules

ALLOWLIST = pathlib.Path(__file__).with_name("docstring_allowlist.txt")


def read_allowlist() -> set[str]:
    """The ``module:qualname`` entries of the allowlist (comments and blank lines skipped)."""
    lines = (ln.split("#", 1)[0].strip() for ln in ALLOWLIST.read_text().splitlines())
    return {ln for ln in lines if ln}


@pytest.fixture(scope="module")
def found() -> list[rules.Offence]:
    return rules.offences("torsh")


def test_public_docstrings_follow_the_rules(found):
    allowed = read_allowlist()
    new = [o for o in found if o.key not in allowed]
    assert not new, (
        f"{len(new)} public objects break the docstring rules (see tests/docs/_docs_docstring_rules.py); "
        f"fix them (do not add them to {ALLOWLIST.name}):\n" + rules.report(new)
    )


def test_allowlist_has_no_fixed_entries(found):
    stale = sorted(read_allowlist() - {o.key for o in found})
    assert not stale, (
        f"these entries of {ALLOWLIST} follow the rules now (or are gone): delete their lines "
        f"(or run `python {__file__} --prune`):\n" + "\n".join(stale)
    )


def _ok(x: int) -> int:
    """Add one.

    Args:
      x: a number.

    Returns:
      ``x + 1``.

    Raises:
      ConfigError: ``x`` is negative.

    Example:
      >>> _ok(1)
      2
    """
    from torsh.errors import ConfigError

    if x < 0:
        raise ConfigError("x must be >= 0")
    return x + 1


def _bad(x: int) -> int:
    """Add one.
    Args:
      x: a number.
    """
    from torsh.errors import ConfigError

    if x < 0:
        raise ConfigError("x must be >= 0")
    return x + 1


def _helper_raises(x):
    from torsh.errors import ShapeError

    if x:
        raise ShapeError("bad")


def _calls_helper(x) -> None:
    """Check x.

    Args:
      x: a value.

    Example:
      >>> _calls_helper(0)
    """
    _helper_raises(x)


def test_rules_on_known_examples():
    assert rules.check_callable(_ok) == []
    assert rules.check_callable(_bad) == [
        "summary is not one line followed by a blank line",
        "no Returns:",
        "no Raises: (raises ConfigError)",
        "no Example:",
    ]
    # A private helper's raise counts; `-> None` needs no Returns.
    assert rules.check_callable(_calls_helper) == ["no Raises: (raises ShapeError)"]
    assert rules.check_callable(lambda: None) == ["no docstring"]


def test_rules_on_classes_and_errors():
    from torsh.errors import ConfigError, TorshError

    class Layer:
        """A layer.

        Args:
          n: width.

        Raises:
          TorshError: ``n`` is negative (any base class of the raised error may be named).

        Example:
          >>> Layer(1).n
          1
        """

        def __init__(self, n: int):
            if n < 0:
                raise ConfigError("n")
            self.n = n

        def forward(self, x):  # documented by the class
            return x

        def __call__(self, x):
            return self.forward(x)

    class Oops(TorshError):
        """Something failed."""

    assert rules.check_class(Layer) == []
    assert rules.check_class(Oops) == ["no Example:"]
    assert rules._documented_by_class(Layer, "forward")


def _prune() -> int:
    keep = {o.key for o in rules.offences("torsh")}
    lines = ALLOWLIST.read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.split("#", 1)[0].strip() or ln.split("#", 1)[0].strip() in keep]
    ALLOWLIST.write_text("".join(kept))
    return len(lines) - len(kept)


if __name__ == "__main__":
    if sys.argv[1:] == ["--prune"]:
        print(f"removed {_prune()} fixed entries from {ALLOWLIST}")
    else:
        prefix = sys.argv[1] if len(sys.argv) > 1 else "torsh"
        offs = [o for o in rules.offences("torsh") if o.module == prefix or o.module.startswith(prefix + ".")]
        print(rules.report(offs))
        print(f"{len(offs)} offenders under {prefix}")
