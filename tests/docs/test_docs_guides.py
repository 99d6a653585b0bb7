"""Every ```python block of the guides below runs, blocks of one file in order in one namespace.

Conventions (also in tests/docs/_docs_blocks.py): only blocks fenced ```` ```python ```` run; code
that is not meant to run uses ```` ```text ````/```` ```bash ````/```` ```pycon ```` fences (or
another library's code that is not a test dependency), or the line ``<!-- docs-test: skip -->``
right before a ```` ```python ```` fence. Each file runs in its own process (a fresh
``torsh.manual_seed`` stream and JAX configuration, as a reader pasting the page would have) with
a temporary working directory, so files a guide writes do not land in the repository.

A guide is listed here only when its blocks form a complete program; guides whose blocks are
fragments (``model``/``loader`` defined elsewhere) are listed in ``NOT_RUN`` with the reason, so a
new page is never silently left out.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from _docs_blocks import SKIP_MARKER, blocks, python_blocks

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

GUIDES = [
    "migration_pytorch.md",
    "migration_jax.md",
    "performance.md",
    "backends.md",
    "tutorials/digits.md",
    "tutorials/finetune.md",
    "tutorials/fsdp.md",
    "tutorials/char_gpt.md",
    "tutorials/export.md",
    # existing pages whose blocks form a complete program
    "index.md",
    "cli.md",
    "metrics.md",
    "nn_sequence.md",
    "train.md",
    "vision.md",
    "export.md",
    "optim.md",
    "foundation.md",
    "debug.md",
    "serialize.md",
    "text.md",
    "vision_models.md",
    "clusters.md",
    "distributed.md",
    "data.md",
    "nn.md",
    "nn_conv.md",
    "amp.md",
]

# Guides whose python blocks do not run as written, with the first reason found (2026-12-01).
# Making one runnable (define the missing names in an earlier block, or fence fragments as ```text)
# and moving it to GUIDES is the remaining work of issue 18 for that page.
NOT_RUN: dict[str, str] = {}


# Environment of pages that say how they are run (the page states it for the reader too).
EIGHT_CPU_DEVICES = {"XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
PAGE_ENV = {
    "distributed.md": EIGHT_CPU_DEVICES,  # "run this page on 8 simulated CPU devices"
    "clusters.md": EIGHT_CPU_DEVICES,  # one process of a job with 8 devices per process
}


def _run(
    md: pathlib.Path, cwd: pathlib.Path, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(extra_env or {})
    env.setdefault("TORSH_COMPILE_CACHE", "0")  # no writes to the user's cache from the docs
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    script = pathlib.Path(__file__).parent / "_docs_blocks.py"
    return subprocess.run(
        [sys.executable, str(script), str(md)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("guide", GUIDES)
def test_guide_python_blocks_run(guide, tmp_path):
    md = DOCS / guide
    assert python_blocks(md), f"{guide} has no runnable python block"
    proc = _run(md, tmp_path, PAGE_ENV.get(guide))
    assert proc.returncode == 0, f"{guide} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"


def test_every_guide_is_run_or_explained():
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md") if python_blocks(p)}
    unlisted = sorted(pages - set(GUIDES) - set(NOT_RUN))
    assert not unlisted, f"add these pages to GUIDES or NOT_RUN in {__file__}: {unlisted}"


def test_extractor_rules(tmp_path):
    text = textwrap.dedent(
        f"""\
        intro
        ```python
        a = 1
        ```
        ```text
        not python
        ```
        {SKIP_MARKER}
        ```python
        raise SystemExit("must not run")
        ```
        1. a list item with an indented block:

           ```python
           b = a + 1
           ```
        """
    )
    md = tmp_path / "page.md"
    md.write_text(text)
    assert [b.lang for b in blocks(text)] == ["python", "text", "python", "python"]
    run = python_blocks(md)
    assert [b.source for b in run] == ["a = 1\n", "b = a + 1\n"]
    assert [b.line for b in run] == [3, 15]


def test_blocks_needing_a_missing_extra_are_skipped(tmp_path):
    md = tmp_path / "extra.md"
    md.write_text(
        "```python\nx = 1\n```\n\n<!-- docs-test: requires json no_such_module.sub -->\n"
        "```python\nraise SystemExit('must not run')\n```\n\n<!-- docs-test: requires json -->\n"
        "```python\nassert x == 1\nprint('ran with json')\n```\n"
    )
    assert [b.requires for b in python_blocks(md)] == [(), ("json", "no_such_module.sub"), ("json",)]
    proc = _run(md, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{md}:7: block skipped, not installed: no_such_module.sub" in proc.stdout
    assert "ran with json" in proc.stdout


def test_failures_name_the_markdown_line(tmp_path):
    md = tmp_path / "bad.md"
    md.write_text("# t\n\n```python\nx = 1\n```\n\ntext\n\n```python\ny = x +\n```\n")
    proc = _run(md, tmp_path)
    assert proc.returncode != 0
    assert f'File "{md}", line 10' in proc.stderr
