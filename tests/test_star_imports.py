"""Every public package's star import exports exactly its ``__all__``; ``import torsh`` imports no JAX.

One fresh interpreter does the imports (so nothing imported by other tests hides a missing import),
and reports what it saw as JSON; the tests below read that report.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import torsh

PACKAGES = ["torsh"] + sorted(
    m.name
    for m in pkgutil.walk_packages(torsh.__path__, "torsh.")
    if m.ispkg and not any(part.startswith("_") for part in m.name.split("."))
)

# Packages that break a rule today, with whom to ask; strict: the test fails once they are fixed, so
# the entry is removed then.
KNOWN_STARRED: dict[str, str] = {}
KNOWN_NO_ALL: dict[str, str] = {}

_PROBE = textwrap.dedent(
    """
    import importlib, json, sys
    report = {}
    import torsh
    report["import_torsh_loads_jax"] = "jax" in sys.modules
    torsh.errors, torsh.__version__
    report["errors_load_jax"] = "jax" in sys.modules
    torsh.ones(2)
    report["ones_loads_jax"] = "jax" in sys.modules
    for name in json.loads(sys.argv[1]):
        namespace = {}
        try:
            exec(f"from {name} import *", namespace)
        except Exception as exc:
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        module = importlib.import_module(name)
        report[name] = {
            "exported": sorted(k for k in namespace if k != "__builtins__"),
            "all": list(getattr(module, "__all__", [])) if hasattr(module, "__all__") else None,
            "dir_missing": sorted(set(getattr(module, "__all__", ())) - set(dir(module))),
        }
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(PACKAGES)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_torsh_loads_jax_only_when_an_array_api_is_used(report):
    assert report["import_torsh_loads_jax"] is False
    assert report["errors_load_jax"] is False
    assert report["ones_loads_jax"] is True


def _params(known: dict[str, str]) -> list[Any]:
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=known[name]))
        if name in known
        else name
        for name in PACKAGES
    ]


@pytest.mark.parametrize("name", _params(KNOWN_NO_ALL))
def test_star_import_exports_exactly_all(report, name):
    seen = report[name]
    assert "error" not in seen, f"from {name} import * failed: {seen.get('error')}"
    assert seen["all"] is not None, f"{name} has no __all__"
    assert len(seen["all"]) == len(set(seen["all"])), f"{name}.__all__ lists a name twice"
    assert seen["exported"] == sorted(seen["all"])
    assert seen["dir_missing"] == [], f"dir({name}) misses {seen['dir_missing']}"


def _init_tree(name: str) -> ast.Module:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None
    return ast.parse(Path(spec.origin).read_text())


def _all_writes(tree: ast.Module) -> list[ast.AST]:
    writes: list[ast.AST] = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in targets
        ):
            writes.append(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "__all__"
        ):
            writes.append(node)
    return writes


@pytest.mark.parametrize("name", _params({**KNOWN_STARRED, **KNOWN_NO_ALL}))
def test_all_is_one_literal_list(name):
    writes = _all_writes(_init_tree(name))
    assert len(writes) == 1, f"{name}: __all__ is written {len(writes)} times (one literal list expected)"
    (write,) = writes
    assert isinstance(write, ast.Assign) and isinstance(write.value, (ast.List, ast.Tuple))
    assert all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in write.value.elts)


def _type_checking_names(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            return {
                alias.asname or alias.name
                for stmt in node.body
                if isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names
            }
    return set()


@pytest.mark.parametrize("name", ["torsh", "torsh.data"])
def test_lazy_package_names_agree(name):
    """The lazy loaders' tables, the type checkers' import block and ``__all__`` name the same things."""
    module = importlib.import_module(name)
    lazy = set(module._ORIGIN) | set(getattr(module, "_SUBMODULES", ()))
    public = set(module.__all__) - {"__version__"}
    assert lazy == public
    assert _type_checking_names(_init_tree(name)) == public
    for attr in sorted(public):
        assert getattr(module, attr) is not None


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        torsh.no_such_name  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError, match="torsh.data' has no attribute"):
        torsh.data.no_such_name  # noqa: B018


def test_importing_every_package_starts_no_jax_backend():
    """No package creates an array or queries devices at import: torsh.distributed.init() (and
    JAX's device-count flags) must still work after `import torsh.<anything>`."""
    probe = textwrap.dedent(
        """
        import importlib, json, sys
        for name in json.loads(sys.argv[1]):
            importlib.import_module(name)
        from jax._src import xla_bridge
        print(xla_bridge.backends_are_initialized())
        """
    )
    names = [p for p in PACKAGES if p not in ("torsh.train.recipes",)]
    out = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(names)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False", "an import started JAX's backends (an array made at import time)"
