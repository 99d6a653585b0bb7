"""torsh.nn, torsh.nn.functional and torsh.tree export exactly their ``__all__``, declared in one place."""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest

PACKAGES = ["torsh.nn", "torsh.nn.functional", "torsh.tree"]


@pytest.mark.parametrize("name", PACKAGES)
def test_star_import_exports_exactly_all(name: str) -> None:
    namespace: dict = {}
    exec(f"from {name} import *", namespace)  # raises if __all__ names something missing
    exported = {k for k in namespace if k != "__builtins__"}
    package = importlib.import_module(name)
    assert len(package.__all__) == len(set(package.__all__)), "a name is listed twice"
    assert exported == set(package.__all__)


@pytest.mark.parametrize("name", PACKAGES)
def test_init_is_one_import_block_and_one_all(name: str) -> None:
    """No exports appended after ``__all__``, no module-level ``__getattr__``: what you read is it."""
    tree = ast.parse(inspect.getsource(importlib.import_module(name)))
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    kinds = [type(n).__name__ for n in body]
    assert kinds[-1] == "Assign" and set(kinds[:-1]) <= {"Import", "ImportFrom"}, kinds
    target = body[-1].targets[0]
    assert isinstance(target, ast.Name) and target.id == "__all__"
    assert isinstance(body[-1].value, ast.List)
    assert all(isinstance(e, ast.Constant) for e in body[-1].value.elts)


def test_public_layers_and_functions_are_exported() -> None:
    """Every layer class defined in torsh.nn's modules and every function of nn.functional is listed."""
    import torsh.nn as nn
    import torsh.nn.functional as F

    for package in (nn, F):
        for module_name in {
            obj.__module__
            for obj in vars(package).values()
            if callable(obj) and getattr(obj, "__module__", "").startswith(package.__name__ + ".")
        }:
            module = importlib.import_module(module_name)
            missing = [n for n in getattr(module, "__all__", []) if n not in package.__all__]
            assert not missing, f"{module_name} lists {missing} but {package.__name__}.__all__ does not"
