"""`torsh export MODULE:FACTORY ...` on the command line, and `torsh inspect` of the artifact."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.cli import main

FACTORY = textwrap.dedent(
    """
    import torsh
    from torsh import nn

    def make():
        torsh.manual_seed(1)
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    """
)


def _torsh(args, cwd):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-m", "torsh.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("proj")
    (root / "mymodels.py").write_text(FACTORY)
    torsh.manual_seed(7)  # "trained" weights: different from the factory's initial ones
    model = torsh.nn.Sequential(torsh.nn.Linear(4, 8), torsh.nn.Tanh(), torsh.nn.Linear(8, 3))
    torsh.save(root / "w.safetensors", model)
    return root, model


def test_export_command_writes_an_artifact_with_the_given_weights(project):
    root, model = project
    proc = _torsh(
        [
            "export",
            "mymodels:make",
            "--weights",
            "w.safetensors",
            "--input",
            "x:batch,4:float32",
            "-o",
            "m.torshx",
        ],
        root,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote m.torshx" in proc.stdout
    served = torsh.export.load(root / "m.torshx")
    assert [str(s) for s in served.inputs] == ["x: float32[batch, 4]"]
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(served(x), model(jnp.asarray(x)), rtol=1e-5, atol=1e-6)
    proc = _torsh(["inspect", "m.torshx"], root)
    assert proc.returncode == 0, proc.stderr
    assert "x: float32[batch, 4]" in proc.stdout and "output: float32[batch, 3]" in proc.stdout


def test_export_command_errors_are_one_line(project, capsys, monkeypatch):
    root, _ = project
    # One error through a real `python -m torsh.cli` process (the exit status and stderr a shell sees) ...
    proc = _torsh(["export", "nosuchmod:make", "--input", "x:4:float32", "-o", "a.torshx"], root)
    assert proc.returncode == 1, proc.stderr
    assert "cannot import 'nosuchmod'" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # ... the others through the same entry point in this process (a process start each costs ~3 s);
    # the working directory and import path are the subprocess's.
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "mymodels", raising=False)
    for args, message in [
        (
            ["export", "nosuchmod:make", "--input", "x:4:float32", "-o", "a.torshx"],
            "cannot import 'nosuchmod'",
        ),
        (["export", "mymodels:nope", "--input", "x:4:float32", "-o", "a.torshx"], "has no attribute 'nope'"),
        (["export", "mymodels:make", "--input", "x:4", "-o", "a.torshx"], "NAME:DIM,DIM,...:DTYPE"),
        (["export", "mymodels:make", "--input", "x:batch,4:float32", "-o", "a.vmfb"], "fixed sizes"),
        (["export", "mymodels:make", "--input", "x:2,4:float32", "-o", "a.bin"], "unknown output format"),
    ]:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 1, (args, err)
        assert message in err and "Traceback" not in err, err
    sys.modules.pop("mymodels", None)
