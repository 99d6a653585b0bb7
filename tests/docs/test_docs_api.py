"""The API reference (docs/api/*.md, rendered by mkdocstrings) covers every public name.

A public module (found as in the docstring test: no ``_``-prefixed part) is covered when a page
renders it (``::: module``), or when a page renders the names its ``__all__`` lacks elsewhere
(``::: module`` with ``options: members: [...]``), or when every name of its ``__all__`` is
re-exported (the same object, listed in ``__all__``) by a covered parent package. Every API page
is in the site's navigation. The site itself is built with ``mkdocs build --strict`` in .ci/run.
"""

from __future__ import annotations

import pathlib
import re
import sys
import types

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import _docs_docstring_rules as rules

ROOT = pathlib.Path(__file__).resolve().parents[2]
API = ROOT / "docs" / "api"
_DIRECTIVE = re.compile(r"^:::\s*(?P<module>\S+)(?P<options>(?:\n[ \t]+.*)*)", re.M)
_MEMBERS = re.compile(r"members:\s*\[(?P<names>[^\]]*)\]")


def rendered() -> dict[str, set[str] | None]:
    """``{module: None}`` for whole pages, ``{module: {names}}`` for pages limited to members."""
    out: dict[str, set[str] | None] = {}
    for page in API.glob("*.md"):
        for m in _DIRECTIVE.finditer(page.read_text()):
            members = _MEMBERS.search(m.group("options"))
            names = None if members is None else {n.strip() for n in members.group("names").split(",")}
            previous = out.get(m.group("module"), set())
            out[m.group("module")] = None if names is None or previous is None else previous | names
    return out


def uncovered(pages: dict[str, set[str] | None], modules: list[types.ModuleType]) -> dict[str, list[str]]:
    """``{module: names not on the site}`` for modules with an ``__all__``."""
    by_name = {m.__name__: m for m in modules}
    covered: dict[str, bool] = {}

    def missing(mod: types.ModuleType) -> list[str]:
        names = list(getattr(mod, "__all__", []))
        page = pages.get(mod.__name__, set())
        if page is None:
            return []
        parent = by_name.get(mod.__name__.rpartition(".")[0])
        out = []
        for n in names:
            if n in page:
                continue
            in_parent = (
                parent is not None
                and is_covered(parent)
                and n in getattr(parent, "__all__", [])
                and getattr(parent, n, None) is getattr(mod, n, None)
            )
            if not in_parent:
                out.append(n)
        return out

    def is_covered(mod: types.ModuleType) -> bool:
        if mod.__name__ not in covered:
            covered[mod.__name__] = not missing(mod)
        return covered[mod.__name__]

    return {m.__name__: missing(m) for m in modules if hasattr(m, "__all__") and missing(m)}


def test_every_public_name_is_in_the_api_reference():
    gaps = uncovered(rendered(), rules.public_modules("torsh"))
    assert not gaps, (
        "public names that no docs/api page renders (add `::: module` to a page, or re-export them "
        f"from a documented package): {gaps}"
    )


def test_every_api_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(p.name for p in API.glob("*.md"))
    assert [p for p in pages if f"api/{p}" not in nav] == []


def test_coverage_rule_on_a_toy_tree():
    parent = types.ModuleType("pkg")
    child = types.ModuleType("pkg.sub")
    child.f, child.g = len, abs
    child.__all__ = ["f", "g"]
    parent.f = len
    parent.__all__ = ["f"]
    assert uncovered({"pkg": None}, [parent, child]) == {"pkg.sub": ["g"]}
    assert uncovered({"pkg": None, "pkg.sub": {"g"}}, [parent, child]) == {}
    assert uncovered({}, [parent, child]) == {"pkg": ["f"], "pkg.sub": ["f", "g"]}
