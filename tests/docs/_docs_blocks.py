"""Extract and run the ```python blocks of a Markdown guide (used by test_docs_guides.py).

Rules for guide authors:

* Every block fenced with exactly ```` ```python ```` runs. Blocks of one file run in order in one
  namespace, in a fresh process whose working directory is a temporary directory (files a guide
  writes, such as ``runs/exp1``, land there), so a later block may use names an earlier one defined.
* Code that is not meant to run uses another fence: ```` ```text ````, ```` ```bash ````,
  ```` ```pycon ```` (doctest-style sessions), or the Python of another library that is not a test
  dependency.
* A ```` ```python ```` block that must be shown but not run (rare: prefer another fence) is preceded
  by the line ``<!-- docs-test: skip -->``.
* A block that needs an optional extra is preceded by ``<!-- docs-test: requires MODULE ... -->``
  (importable module names, e.g. ``onnxruntime jax2onnx``): it runs when all of them can be
  imported and is skipped, with a note on stdout, otherwise. Later blocks must not depend on it.
  The test extra installs every extra, so CI runs these blocks.

Run one file by hand: ``python tests/docs/_docs_blocks.py docs/migration_pytorch.md``. Tracebacks
point at the Markdown file's own line numbers.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import re
import sys
import types

SKIP_MARKER = "<!-- docs-test: skip -->"
_REQUIRES = re.compile(r"^<!-- docs-test: requires ((?:[\w.]+ ?)+)-->$")
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^`\n]*)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced code block: its language, source (dedented) and first line number (1-based)."""

    lang: str
    source: str
    line: int
    skipped: bool
    requires: tuple[str, ...] = ()


def blocks(text: str) -> list[Block]:
    """All fenced blocks of a Markdown text, in order (nested fences are not supported)."""
    lines = text.splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, ticks, info = m.group("indent"), m.group("ticks"), m.group("info").strip()
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != ticks:
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: unclosed code fence {ticks}{info}")
        body = [ln[len(indent) :] if ln.startswith(indent) else ln.lstrip() for ln in lines[start:j]]
        prev = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        lang = info.split()[0] if info else ""
        req = _REQUIRES.match(prev)
        requires = tuple(req.group(1).split()) if req else ()
        out.append(Block(lang, "\n".join(body) + "\n", start + 1, prev == SKIP_MARKER, requires))
        i = j + 1
    return out


def python_blocks(path: pathlib.Path) -> list[Block]:
    """The blocks of ``path`` that run: fenced ```python and not marked to skip."""
    return [b for b in blocks(path.read_text()) if b.lang == "python" and not b.skipped]


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package ("iree" of "iree.runtime")
        return False


def run_file(path: pathlib.Path) -> int:
    """Execute the runnable blocks of ``path`` in order in one namespace; returns the block count."""
    # A real module in sys.modules: dataclasses (nn.Module, tree.Struct) look up their class's module.
    module = types.ModuleType("__docs__")
    module.__file__ = str(path)
    sys.modules["__docs__"] = module
    namespace = module.__dict__
    found = python_blocks(path)
    for block in found:
        missing = [m for m in block.requires if not _installed(m)]
        if missing:
            print(f"{path}:{block.line}: block skipped, not installed: {', '.join(missing)}")
            continue
        # Leading newlines make tracebacks and compile errors name the Markdown line.
        code = compile("\n" * (block.line - 1) + block.source, str(path), "exec")
        exec(code, namespace)
    return len(found)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        n = run_file(pathlib.Path(arg).resolve())
        print(f"{arg}: {n} python blocks ran")
