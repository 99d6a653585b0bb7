"""ONNX (jax2onnx + ONNX Runtime) and IREE (llvm-cpu .vmfb) paths of torsh.export."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import nn
from torsh.export import ExportError, UnsupportedOperationError

pytest.importorskip("jax2onnx", reason="the onnx extra (jax2onnx) is part of the test extra")


def _mlp():
    k1, k2 = jax.random.split(jax.random.key(0))
    return nn.Sequential(nn.Linear(6, 16, key=k1), nn.GELU(), nn.Linear(16, 3, key=k2)).eval()


def _lstm_last():
    lstm = nn.LSTM(5, 7, batch_first=True, key=jax.random.key(1)).eval()
    return lambda x: lstm(x)[0][:, -1]


ONNX_CHILD = r"""
import glob, sys
import numpy as np
import onnxruntime as ort          # the serving process: ONNX Runtime and numpy only
for path in sorted(glob.glob(sys.argv[1] + "/*.onnx")):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for inp in sorted(glob.glob(path[:-5] + ".in.*.npy")):
        (out,) = session.run(None, {"x": np.load(inp)})
        np.save(inp.replace(".in.", ".out."), out)
assert "jax" not in sys.modules and "torsh" not in sys.modules
"""


def test_onnx_mlp_and_lstm_equal_the_live_model_in_another_process(tmp_path):
    rng = np.random.default_rng(0)
    cases = [(_mlp(), (6,)), (_lstm_last(), (3, 5))]  # jax2onnx's start-up (~plugin imports) dominates
    expected = {}
    for i, (model, feature_shape) in enumerate(cases):
        torsh.export.to_onnx(
            model,
            np.zeros((2, *feature_shape), np.float32),
            input_names=["x"],
            dynamic={"x": {0: "batch"}},
            path=tmp_path / f"m{i}.onnx",
        )
        for batch in (1, 7):  # one symbolic-batch model
            x = rng.standard_normal((batch, *feature_shape)).astype(np.float32)
            np.save(tmp_path / f"m{i}.in.{batch}.npy", x)
            expected[(i, batch)] = np.asarray(model(jnp.asarray(x)))
    child = tmp_path / "serve_onnx.py"
    child.write_text(ONNX_CHILD)
    proc = subprocess.run(
        [sys.executable, str(child), str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for (i, batch), want in expected.items():
        got = np.load(tmp_path / f"m{i}.out.{batch}.npy")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_onnx_export_leaves_jax_numpy_untouched():
    # jax2onnx 0.17 replaces jnp.cumsum at import with a wrapper refusing jnp.cumsum(x, axis).
    before = (jnp.cumsum, jax.lax.cumsum)
    torsh.export.to_onnx(lambda x: jnp.cumsum(x, 0) * 2, jnp.ones(3))
    assert (jnp.cumsum, jax.lax.cumsum) == before
    np.testing.assert_allclose(jnp.cumsum(jnp.ones((2, 3)), -1), [[1, 2, 3], [1, 2, 3]])


def test_onnx_lists_every_unsupported_primitive():
    import jax.extend

    def fn(x, a):  # a raw threefry hash and gamma sampling: two primitives jax2onnx has no converter for
        bits = jax.extend.random.threefry_2x32(jnp.array([1, 2], jnp.uint32), x)
        return bits.astype(jnp.float32) + jax.random.gamma(jax.random.key(0), a)

    args = (jnp.ones(4, jnp.uint32), jnp.ones(4))
    missing = torsh.export.unsupported_onnx_primitives(fn, *args)
    assert {"threefry2x32", "random_gamma"} <= set(missing)
    with pytest.raises(UnsupportedOperationError, match="cannot convert these JAX primitives") as info:
        torsh.export.to_onnx(fn, *args)
    assert all(p in str(info.value) for p in missing)


def test_onnx_graph_that_onnxruntime_cannot_run_is_an_export_error():
    # jax2onnx maps torsh's NCHW max-pool window (1, 1, 2, 2) to an ONNX MaxPool that ONNX Runtime
    # refuses: the export-time check turns that into a clear error instead of a failure in production.
    pool = nn.MaxPool2d(2).eval()
    with pytest.raises(UnsupportedOperationError, match="does not run in ONNX Runtime"):
        torsh.export.to_onnx(pool, jnp.ones((1, 1, 4, 4)))


def test_onnx_converts_convolutions_that_have_cpu_specific_formulations():
    # Grouped, small-map and strided 1x1 convolutions run as torsh's own formulations on CPU,
    # selected with lax.platform_dependent; ONNX has no platform switch, so export traces the
    # portable XLA convolution instead (and the live model keeps its CPU path afterwards).
    from torsh.nn.functional import _conv

    torsh.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1, groups=4),  # depthwise (grouped CPU path)
        nn.Conv2d(8, 8, 3, padding=1),  # 3x3 map: small-map product path
        nn.Conv2d(8, 6, 1, stride=2),  # strided 1x1
        nn.Flatten(),
        nn.Linear(24, 2),
    ).eval()
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 4, 3, 3)), jnp.float32)
    assert _conv._prefers_shifted_products((3, 3), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1))
    assert torsh.export.unsupported_onnx_primitives(model, x) == []
    torsh.export.to_onnx(model, x)  # check=True: ONNX Runtime's numbers equal the live model's
    assert "platform_index" in str(jax.make_jaxpr(model)(x))


def test_onnx_refuses_training_mode_and_unknown_dynamic_names():
    with pytest.raises(ExportError, match="training mode"):
        torsh.export.to_onnx(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.1)), jnp.ones((1, 2)))
    with pytest.raises(ExportError, match="unknown inputs"):
        torsh.export.to_onnx(lambda x: x + 1, jnp.ones(2), dynamic={"y": {0: "b"}})


IREE_CHILD = r"""
import sys
import numpy as np
import iree.runtime as rt          # the serving process: IREE's runtime and numpy only
vmfb = open(sys.argv[1], "rb").read()
ctx = rt.SystemContext(config=rt.Config("local-task"))
ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, vmfb))
(name,) = [n for n in ctx.modules.keys() if n != "hal"]
out = ctx.modules[name].main(np.load(sys.argv[2]))
np.save(sys.argv[3], out.to_host())
assert "jax" not in sys.modules and "torsh" not in sys.modules
"""


def test_iree_vmfb_runs_without_jax_and_equals_the_live_model(tmp_path):
    pytest.importorskip("iree.compiler", reason="the iree extra is part of the test extra")
    k1, k2 = jax.random.split(jax.random.key(4))
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, key=k1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 5, key=k2),
    ).eval()
    x = np.random.default_rng(1).standard_normal((2, 1, 8, 8)).astype(np.float32)
    vmfb_path = tmp_path / "cnn.vmfb"
    torsh.export.to_iree(cnn, x, path=vmfb_path)
    np.save(tmp_path / "x.npy", x)
    child = tmp_path / "serve.py"
    child.write_text(IREE_CHILD)
    proc = subprocess.run(
        [sys.executable, str(child), str(vmfb_path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    want = np.asarray(cnn(jnp.asarray(x)))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), want, rtol=1e-4, atol=1e-5)
    # The documented command line for C/embedded users gives the same numbers.
    tool = os.path.join(os.path.dirname(sys.executable), "iree-run-module")
    if os.path.exists(tool):
        proc = subprocess.run(
            [
                tool,
                f"--module={vmfb_path}",
                "--device=local-task",
                "--function=main",
                f"--input=@{tmp_path / 'x.npy'}",
                f"--output=@{tmp_path / 'y2.npy'}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        np.testing.assert_allclose(np.load(tmp_path / "y2.npy"), want, rtol=1e-4, atol=1e-5)
