"""Type checkers understand torsh structs and modules (``typing.dataclass_transform`` on Struct).

mypy runs on a small user program: the right constructions type-check, the wrong ones are reported
on the lines marked ``# E: <message part>``, and no others.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[2]

USER_CODE = """
import dataclasses

import jax
import jax.numpy as jnp

import torsh
from torsh import nn


class MLP(torsh.tree.Struct):
    w: jax.Array
    b: jax.Array
    name: str = torsh.tree.static(default="mlp")
    scale: float = torsh.tree.field(static=True, default=1.0)
    tags: tuple[str, ...] = dataclasses.field(default=(), metadata={"static": True})


class Gen(nn.Module):
    w: jax.Array
    stat: jax.Array = nn.buffer(default=None)
    k: int = torsh.tree.static(default=3)

    def forward(self, x: jax.Array) -> jax.Array:
        return x * self.w


class Block(nn.Module):
    fc: nn.Linear

    def __init__(self, d: int, *, key: jax.Array | None = None) -> None:
        super().__init__()
        self.fc = nn.Linear(d, d, key=key)

    def forward(self, x: jax.Array) -> jax.Array:
        return self.fc(x)


class WideBlock(Block, init=False):  # keeps Block.__init__
    pass


class Scale(nn.Module, axes={"w": ("embed",)}):
    w: jax.Array


m = MLP(jnp.ones(2), jnp.zeros(2))
m = MLP(jnp.ones(2), jnp.zeros(2), "x", scale=2.0, tags=("a",))
m2: MLP = m.replace(w=jnp.ones(3))
name: str = m.name
g = Gen(jnp.ones(2))
g = Gen(jnp.ones(2), k=4).eval()
b = Block(3, key=torsh.random.key(0))
w = WideBlock(4)
s = Scale(jnp.ones(2))
layers = [nn.Linear(3, 4), nn.Conv2d(3, 8, 3, stride=2), nn.ConvTranspose1d(2, 2, 3), nn.BatchNorm2d(3)]
more = [nn.MaxPool2d(2), nn.AdaptiveAvgPool1d(4), nn.ZeroPad2d(1), nn.InstanceNorm1d(3), nn.Embedding(4, 2)]
seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
keys = nn.split_key(None, 2)
axes = nn.check_axes(("a", None), (2, 3), name="w")

MLP(jnp.ones(2))  # E: Missing positional argument "b"
MLP(jnp.ones(2), jnp.ones(2), "x", 2.0, (), 1)  # E: Too many arguments
MLP(jnp.ones(2), jnp.ones(2), scal=2.0)  # E: Unexpected keyword argument "scal"
Gen(jnp.ones(2), k="4")  # E: Argument "k" to "Gen" has incompatible type "str"
Gen()  # E: Missing positional argument "w"
Gen(jnp.ones(2), training=False)  # E: Unexpected keyword argument "training"
Block()  # E: Missing positional argument "d"
WideBlock(4, 5)  # E: Too many positional arguments
nn.Conv2d("3", 8, 3)  # E: Argument 1 to "Conv2d" has incompatible type "str"
nn.BatchNorm2d(3, 1e-5, 0.1, True, True, None, None, 1)  # E: Too many
bad: int = m.name  # E: Incompatible types in assignment
"""

CONFIG = """
[mypy]
python_version = 3.11
warn_unused_configs = False
check_untyped_defs = True
# Third-party packages are not under test (and reading jax would take a minute): their names are Any.
[mypy-jax.*,jaxlib.*,numpy.*,optree.*,ml_dtypes.*,safetensors.*,tqdm.*,torch.*,scipy.*,PIL.*]
follow_imports = skip
follow_untyped_imports = True
"""


def _expected(code: str) -> dict[int, str]:
    """Line number (1-based) -> the part of mypy's message expected there."""
    return {
        i: m.group(1).strip()
        for i, line in enumerate(code.splitlines(), start=1)
        if (m := re.search(r"# E: (.*)$", line))
    }


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[str]]:
    tmp = tmp_path_factory.mktemp("typing")
    code = textwrap.dedent(USER_CODE)
    (tmp / "user_code.py").write_text(code)
    (tmp / "mypy.ini").write_text(CONFIG)
    out, err, _ = mypy_api.run(
        [
            "--config-file",
            str(tmp / "mypy.ini"),
            "--cache-dir",
            str(tmp / "cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(tmp / "user_code.py"),
        ]
    )
    assert not err, err
    return code, out.splitlines()


def test_structs_and_modules_type_check(mypy_report: tuple[str, list[str]]) -> None:
    code, lines = mypy_report
    expected = _expected(code)
    got: dict[int, list[str]] = {}
    for line in lines:
        m = re.match(r".*user_code\.py:(\d+): error: (.*)$", line)
        if m:
            got.setdefault(int(m.group(1)), []).append(m.group(2))
    unexpected = {i: msgs for i, msgs in got.items() if i not in expected}
    assert not unexpected, f"mypy rejected correct code: {unexpected}\n" + "\n".join(lines)
    for i, part in expected.items():
        assert any(part in msg for msg in got.get(i, [])), (
            f"line {i}: expected an error containing {part!r}, mypy said {got.get(i)}"
        )


def test_pyright_agrees(tmp_path: Path) -> None:
    pytest.importorskip("pyright")
    code = textwrap.dedent(USER_CODE)
    (tmp_path / "user_code.py").write_text(code)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "basic"}))
    run = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable, "user_code.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    report = json.loads(run.stdout)
    lines = sorted(
        {d["range"]["start"]["line"] + 1 for d in report["generalDiagnostics"] if d["severity"] == "error"}
    )
    assert lines == sorted(_expected(code)), report["generalDiagnostics"]
