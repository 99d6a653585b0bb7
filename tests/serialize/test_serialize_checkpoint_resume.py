"""Resume is exact: N steps, checkpoint, restore in a fresh process, N more steps gives bit-identical
parameters, optimizer state, RNG key and loader position to 2N uninterrupted steps (CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from torsh import serialize

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_serialize_resume_child.py")


def _bits(x) -> object:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        x = jax.random.key_data(x)
    if isinstance(x, (jax.Array, np.ndarray)):
        return (str(x.dtype), x.shape, np.asarray(x).tobytes())
    return x


def _start(*args: str) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen(
        [sys.executable, CHILD, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def _finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-3000:]


@pytest.mark.slow
def test_resume_in_a_fresh_process_is_bit_identical(tmp_path):
    ckpt, resumed, full = str(tmp_path / "ckpt"), str(tmp_path / "resumed.st"), str(tmp_path / "full.st")
    first, uninterrupted = _start("first", ckpt), _start("full", ckpt, full)
    _finish(first)
    _finish(_start("second", ckpt, resumed))
    _finish(uninterrupted)
    a = serialize.load(resumed, flat=True)
    b = serialize.load(full, flat=True)
    assert sorted(a) == sorted(b)
    assert any(k.startswith("opt.exp_avg.") for k in a) and "data.batch" in a and "rng" in a
    for k in a:
        assert _bits(a[k]) == _bits(b[k]), k
    with open(resumed, "rb") as f1, open(full, "rb") as f2:
        assert f1.read() == f2.read()  # the whole files, RNG key data included, are identical
    # The checkpoint was really mid-run: its parameters differ from the final ones.
    mid = serialize.load(os.path.join(ckpt, "step_00000009", "model.safetensors"), flat=True)
    assert not np.array_equal(np.asarray(mid["0.weight"]), np.asarray(a["model.0.weight"]))
    position = serialize.load(os.path.join(ckpt, "step_00000009", "data.safetensors"))
    assert position["batch"] > 0  # the loader was stopped mid-epoch
