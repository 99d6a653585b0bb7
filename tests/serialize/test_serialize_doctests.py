"""The examples in torsh.serialize's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["torsh.serialize", "torsh.serialize._api", "torsh.serialize._checkpoint"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
