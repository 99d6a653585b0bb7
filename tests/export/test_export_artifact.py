"""torsh.export: export in this process, run in another that never imports the model code."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.export import ArtifactIntegrityError, ExportError
from torsh.serialize import CorruptFileError, FormatVersionError

HERE = os.path.dirname(__file__)


def _models():
    k = iter(jax.random.split(jax.random.key(0), 16))
    mlp = nn.Sequential(nn.Linear(6, 16, key=next(k)), nn.GELU(), nn.Linear(16, 3, key=next(k)))
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, key=next(k)),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5, key=next(k)),
    )
    # BatchNorm with non-trivial running statistics, as after training.
    bn = cnn[1]
    bn2 = bn.replace(running_mean=jnp.arange(4.0) / 10, running_var=jnp.arange(1.0, 5.0))
    cnn = nn.Sequential(cnn[0], bn2, *list(cnn)[2:])
    enc = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, batch_first=True, key=next(k)), 2
    )
    lstm = _LastStep(nn.LSTM(5, 7, num_layers=2, batch_first=True, key=next(k)))
    from torsh.text.models import GPT2Config, GPT2LMHeadModel
    from torsh.vision.models import resnet18

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=2, n_head=2), key=1)
    return {
        "mlp": (mlp.eval(), (6,)),
        "cnn": (cnn.eval(), (1, 8, 8)),
        "encoder": (enc.eval(), (4, 8)),
        "lstm": (lstm.eval(), (3, 5)),
        "resnet18": (resnet18(num_classes=10).eval(), (3, 32, 32)),
        "gpt2": (gpt2.eval(), (6,)),  # token ids: int32 [batch, seq]
    }


class _LastStep(nn.Module):
    lstm: nn.LSTM

    def __init__(self, lstm):
        self.lstm = lstm

    def forward(self, input):
        out, _ = self.lstm(input)
        return out[:, -1]


@pytest.fixture(scope="module")
def exported_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artifacts")
    models = _models()
    rng = np.random.default_rng(0)
    expected = {}
    for name, (model, feature_shape) in models.items():
        if name == "gpt2":
            example = jnp.zeros((2, *feature_shape), jnp.int32)
            dynamic = {"input": {0: "batch", 1: "seq"}}
            constraints = ("seq <= 16",)  # GPT-2's forward checks its context length
        else:
            example = jnp.zeros((2, *feature_shape), jnp.float32)
            dynamic = {"input": {0: "batch"}}
            constraints = ()
        exp = torsh.export.export(
            model, example, dynamic=dynamic, input_names=["input"], constraints=constraints
        )
        exp.save(folder / f"{name}.torshx")
        live = jax.jit(lambda m, x: m(x))
        if name == "gpt2":  # a different sequence length per case, under one artifact
            for batch in (1, 7):
                x = rng.integers(0, 50, (batch, 3 + batch)).astype(np.int32)
                np.save(folder / f"{name}.in.{batch}.npy", x)
                expected[(name, batch)] = np.asarray(live(model, jnp.asarray(x)))
        else:
            # The live model's rows are independent (eval mode): one compiled call on both cases'
            # rows gives both references (a compile per batch size costs 3.6 s for ResNet-18).
            xs = {batch: rng.standard_normal((batch, *feature_shape)).astype(np.float32) for batch in (1, 7)}
            both = np.asarray(live(model, jnp.asarray(np.concatenate([xs[1], xs[7]]))))
            for batch, rows in ((1, both[:1]), (7, both[1:])):
                np.save(folder / f"{name}.in.{batch}.npy", xs[batch])
                expected[(name, batch)] = rows
    return folder, expected, models


def test_artifacts_run_in_a_process_without_model_code(exported_dir):
    folder, expected, _ = exported_dir
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "_export_serve_child.py"), str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for (name, batch), want in expected.items():
        got = np.load(folder / f"{name}.out.{batch}.npy")
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4, err_msg=f"{name} batch {batch}")


def test_weights_are_stored_beside_the_program_not_baked_in(exported_dir):
    folder, _, models = exported_dir
    info = torsh.export.describe(folder / "mlp.torshx")
    n_weights = sum(int(np.prod(p.shape)) for _, p in models["mlp"][0].named_parameters())
    assert info["weight_bytes"] == 4 * n_weights
    # The program holds no copy of the weights: far smaller than them for a model with many weights.
    big = nn.Linear(256, 256, key=jax.random.key(1)).eval()
    exp = torsh.export.export(big, jnp.ones((1, 256)), input_names=["input"])
    assert len(exp.program) < 64 * 1024 < big.weight.nbytes
    assert info["inputs"] == ["input: float32[batch, 6]"]
    assert info["outputs"] == ["output: float32[batch, 3]"]
    assert info["torsh_version"] == torsh.__version__ and info["jax_version"] == jax.__version__
    assert len(info["sha256"]) == 64


def test_loaded_weights_keep_state_dict_names(exported_dir):
    folder, _, models = exported_dir
    served = torsh.export.load(folder / "cnn.torshx")
    model = models["cnn"][0]
    assert set(served.weights) == set(model.state_dict())
    np.testing.assert_array_equal(served.weights["1.running_var"], model.state_dict()["1.running_var"])


def test_wrong_inputs_name_the_input_and_symbolic_shape(exported_dir):
    folder, _, _ = exported_dir
    served = torsh.export.load(folder / "cnn.torshx")
    with pytest.raises(ShapeError, match=r"input 'input'.*\[batch, 1, 8, 8\].*dimension 2 must be 8"):
        served(np.zeros((2, 1, 9, 8), np.float32))
    with pytest.raises(ShapeError, match="rank 4"):
        served(np.zeros((8, 8), np.float32))
    with pytest.raises(DTypeError, match=r"input 'input': expected dtype float32, got float64"):
        served(np.zeros((2, 1, 8, 8), np.float64))
    with pytest.raises(ConfigError, match="expected 1 inputs"):
        served(np.zeros((2, 1, 8, 8), np.float32), np.zeros(1))
    with pytest.raises(ConfigError, match="unknown inputs"):
        served(y=np.zeros((2, 1, 8, 8), np.float32))


def test_a_shared_symbolic_dimension_must_agree_across_inputs(tmp_path):
    def fn(x, y):
        return x + y

    exp = torsh.export.export(fn, jnp.ones((2, 3)), jnp.ones((2, 3)), dynamic={"x": {0: "n"}, "y": {0: "n"}})
    exp.save(tmp_path / "add.torshx")
    served = torsh.export.load(tmp_path / "add.torshx")
    np.testing.assert_allclose(served(jnp.ones((5, 3)), jnp.ones((5, 3))), 2 * np.ones((5, 3)))
    with pytest.raises(ShapeError, match=r"'n' = 5 in input 'x', got 4"):
        served(jnp.ones((5, 3)), jnp.ones((4, 3)))


def test_bounded_symbolic_dimensions(exported_dir):
    folder, _, models = exported_dir
    served = torsh.export.load(folder / "gpt2.torshx")
    assert served(np.zeros((2, 16), np.int32)).shape == (2, 16, 50)
    with pytest.raises(ShapeError, match=r"'seq' is 17, but the model was exported for seq <= 16"):
        served(np.zeros((2, 17), np.int32))
    with pytest.raises(ExportError, match=r"constraints=\('seq <= 1024',\)"):
        torsh.export.export(
            models["gpt2"][0],
            jnp.zeros((1, 4), jnp.int32),
            dynamic={"input": {1: "seq"}},
            input_names=["input"],
        )


def test_function_with_params_and_dict_outputs(tmp_path):
    params = {"w": jnp.arange(6.0).reshape(2, 3), "b": jnp.ones(3)}

    def fn(p, x):
        h = x @ p["w"] + p["b"]
        return {"h": h, "sum": h.sum(-1)}

    exp = torsh.export.export(fn, jnp.ones((4, 2)), params=params, dynamic={"x": {0: "batch"}})
    assert sorted(exp.weight_names) == ["b", "w"]
    exp.save(tmp_path / "f.torshx")
    out = torsh.export.load(tmp_path / "f.torshx")(jnp.ones((3, 2)))
    want = fn(params, jnp.ones((3, 2)))
    np.testing.assert_allclose(out["h"], want["h"])
    np.testing.assert_allclose(out["sum"], want["sum"])


def test_several_platforms_in_one_artifact(tmp_path):
    model = nn.Linear(3, 2, key=jax.random.key(2)).eval()
    exp = torsh.export.export(model, jnp.ones((1, 3)), platforms=("cpu", "cuda"), input_names=["input"])
    assert exp.platforms == ("cpu", "cuda")
    exp.save(tmp_path / "two.torshx")
    served = torsh.export.load(tmp_path / "two.torshx")
    np.testing.assert_allclose(served(jnp.ones((1, 3))), model(jnp.ones((1, 3))), rtol=1e-6)


def test_only_cuda_artifact_on_cpu_says_how_to_export(tmp_path):
    exp = torsh.export.export(lambda x: x * 2, jnp.ones(2), platforms=("cuda",))
    exp.save(tmp_path / "gpu.torshx")
    with pytest.raises(ConfigError, match=r"lowered for \['cuda'\].*platforms=\('cpu'"):
        torsh.export.load(tmp_path / "gpu.torshx")(jnp.ones(2))


def test_training_mode_modules_are_refused_with_the_fix():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    with pytest.raises(ExportError, match=r"1 \(Dropout\) is in training mode.*model.eval\(\)"):
        torsh.export.export(model, jnp.ones((1, 3)))


def test_bad_dynamic_specs():
    with pytest.raises(ExportError, match=r"unknown inputs \['y'\]"):
        torsh.export.export(lambda x: x, jnp.ones(2), dynamic={"y": {0: "b"}})
    with pytest.raises(ExportError, match="axis 3 does not exist"):
        torsh.export.export(lambda x: x, jnp.ones(2), dynamic={"x": {3: "b"}})
    with pytest.raises(ExportError, match="dimension name"):
        torsh.export.export(lambda x: x, jnp.ones(2), dynamic={"x": {0: "not a name"}})


# --- bad artifacts -------------------------------------------------------------------------------


@pytest.fixture
def artifact(tmp_path):
    model = nn.Linear(4, 2, key=jax.random.key(3)).eval()
    path = tmp_path / "m.torshx"
    torsh.export.export(model, jnp.ones((1, 4)), input_names=["input"]).save(path)
    return path


def test_truncated_artifact(artifact):
    data = artifact.read_bytes()
    for cut in (0, 7, len(data) // 2, len(data) - 1):
        artifact.write_bytes(data[:cut])
        with pytest.raises(CorruptFileError):
            torsh.export.load(artifact)


def test_tampered_weights_fail_the_hash(artifact):
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0x40  # the last byte belongs to the last tensor
    artifact.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match="modified after export"):
        torsh.export.load(artifact)
    torsh.export.load(artifact, verify=False)  # an explicit opt-out still loads


def _rewrite_metadata(path, **changes):
    tree = torsh.serialize.load(path)
    meta = torsh.serialize.read_metadata(path)
    meta.update(changes)
    torsh.serialize.save(path, tree, metadata={k: v for k, v in meta.items() if not k.startswith("torsh.")})


def test_newer_format_version(artifact):
    _rewrite_metadata(artifact, format_version="99")
    with pytest.raises(FormatVersionError, match="format version 99 is newer"):
        torsh.export.load(artifact)


def test_tampered_signature_fails_the_hash(artifact):
    meta = torsh.serialize.read_metadata(artifact)
    sig = json.loads(meta["signature"])
    sig["inputs"][0]["shape"] = [1, 5]
    _rewrite_metadata(artifact, signature=json.dumps(sig))
    with pytest.raises(ArtifactIntegrityError):
        torsh.export.load(artifact)


def test_a_plain_safetensors_file_is_not_an_artifact(tmp_path):
    path = tmp_path / "weights.safetensors"
    torsh.save(path, {"w": jnp.ones(2)})
    with pytest.raises(CorruptFileError, match="not a torsh exported artifact"):
        torsh.export.load(path)


def test_input_spec_parsing():
    spec = torsh.export.parse_input_spec("x:batch,3,32,32:float32")
    assert spec.shape == ("batch", 3, 32, 32) and spec.dtype == "float32"
    for bad in ("x:3,3", "x:3,?:float32", "1x:3:float32", "x:3:notadtype"):
        with pytest.raises(ExportError):
            torsh.export.parse_input_spec(bad)
