"""The torsh command line: info, inspect, plot, convert, bench, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch as stt
import torch

import torsh
from torsh import nn
from torsh.cli import COMMANDS, build_parser, main

SRC = str(pathlib.Path(__file__).parents[2] / "src")


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- main: exit codes -------------------------------------------------------------------------------
def test_usage_errors_exit_2_and_launch_stays_registered(capsys):
    assert "launch" in COMMANDS and {"info", "train", "inspect", "plot", "bench", "convert"} <= set(COMMANDS)
    assert main([]) == 2
    for argv in (["nope"], ["inspect"], ["train", "--sett", "x"], ["bench", "--only", "resnet"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
    capsys.readouterr()
    ns = build_parser().parse_args(["launch", "-n", "2", "x.py"])
    assert ns.command == "launch" and ns.nprocs == 2


def test_console_entry_prints_one_line_error_and_exit_1(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    env = {**os.environ, "PYTHONPATH": SRC}
    p = subprocess.run(
        [sys.executable, "-m", "torsh.cli", "inspect", str(bad)], capture_output=True, text=True, env=env
    )
    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("torsh: error: ") and str(bad) in lines[0]
    assert "Traceback" not in p.stderr


# -- info ---------------------------------------------------------------------------------------------
def test_info(capsys):
    code, out, _ = _run(capsys, "info")
    assert code == 0
    for text in ("torsh 0.1.0", "jax ", "python ", "devices:", "cpu:0", "default device: cpu:0", "XLA_FLAGS",
                 "compile cache:", "extras:", "plot", "tensorboard", "job: single-process"):  # fmt: skip
        assert text in out, text
    code, out, _ = _run(capsys, "info", "--json")
    doc = json.loads(out)
    assert doc["versions"]["jax"] and doc["devices"][0]["device"] == "cpu:0"
    assert doc["extras"]["plot"]["matplotlib"]  # installed here
    summary = torsh.distributed.environment_summary()
    assert {k: doc["job"][k] for k in summary} == json.loads(json.dumps(summary, default=str))


# -- inspect ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("inspect") / "model.safetensors"
    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    torsh.save(
        path, {"model": model, "step": 7, "half": jnp.ones((2, 2), jnp.bfloat16)}, metadata={"run": "x"}
    )
    return path


def test_inspect_file_table_and_json(capsys, model_file):
    code, out, _ = _run(capsys, "inspect", str(model_file))
    assert code == 0
    assert "model.0.weight" in out and "float32" in out and "[4, 3]" in out and "48" in out
    assert "half" in out and "bfloat16" in out and "step" in out and "run=x" in out
    assert "total: 5 arrays, 30 elements, 112 B" in out  # 12+4+8+2 float32, 4 bfloat16
    code, out, _ = _run(capsys, "inspect", str(model_file), "--json")
    doc = json.loads(out)
    info = torsh.serialize.inspect(model_file)
    rows = {r["key"]: r for r in doc["entries"]}
    assert set(rows) == set(info)
    for key, e in info.items():
        assert rows[key]["bytes"] == e.nbytes and rows[key]["dtype"] == e.dtype
    assert doc["total"]["bytes"] == 48 + 16 + 32 + 8 + 8 and doc["metadata"] == {"run": "x"}
    assert rows["step"]["value"] == 7


def test_inspect_checkpoint_directory(capsys, tmp_path):
    with torsh.serialize.CheckpointManager(tmp_path / "ckpt") as m:
        m.save(10, {"model": {"w": jnp.ones((2, 3))}, "data": {"epoch": 1}}, metrics={"val_acc": 0.5})
        m.save(20, {"model": {"w": jnp.ones((2, 3))}, "data": {"epoch": 2}}, metrics={"val_acc": 0.75})
    for target in (tmp_path / "ckpt", tmp_path / "ckpt" / "latest", tmp_path):  # run dir: checkpoints/ absent
        if target == tmp_path:
            (tmp_path / "checkpoints").symlink_to(tmp_path / "ckpt")
        code, out, _ = _run(capsys, "inspect", str(target))
        assert code == 0 and "step 20" in out and "val_acc=0.75" in out and "item 'model'" in out
    code, out, _ = _run(capsys, "inspect", str(tmp_path / "ckpt" / "step_00000010"), "--json")
    doc = json.loads(out)
    assert doc["step"] == 10 and doc["items"]["model"]["entries"][0]["shape"] == [2, 3]


def test_inspect_bad_paths_and_corrupt_files(capsys, tmp_path, model_file):
    code, _, err = _run(capsys, "inspect", str(tmp_path / "missing.safetensors"))
    assert code == 1 and err.startswith("torsh: error: ") and "no such file" in err
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(model_file.read_bytes()[:-20])
    code, _, err = _run(capsys, "inspect", str(truncated))
    assert code == 1 and err.count("\n") == 1 and str(truncated) in err
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    code, _, err = _run(capsys, "inspect", str(empty_dir))
    assert code == 1 and "not a safetensors file" in err
    with pytest.raises(torsh.errors.CheckpointError):  # --debug: the real exception
        main(["inspect", str(truncated), "--debug"])


# -- plot ---------------------------------------------------------------------------------------------
def test_plot_runs(capsys, tmp_path):
    for name, k in (("a", 1.0), ("b", 0.5)):
        run = tmp_path / name
        run.mkdir()
        records = [
            {"step": s, "epoch": s / 10, "time": 0.1 * s, "loss": k / s, "val_acc": 1 - k / s}
            for s in (10, 20, 30)
        ]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out_png = tmp_path / "cmp.png"
    code, out, _ = _run(capsys, "plot", str(tmp_path / "a"), str(tmp_path / "b"), "-o", str(out_png))
    assert code == 0 and out.strip() == str(out_png)
    assert out_png.read_bytes()[:4] == b"\x89PNG" and out_png.stat().st_size > 5000
    code, _, err = _run(capsys, "plot", str(tmp_path / "a"), "--metrics", "val_f1")
    assert code == 1 and "no metric(s) ['val_f1']" in err
    code, _, err = _run(capsys, "plot", str(tmp_path / "nope"))
    assert code == 1 and "not a run directory" in err
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "metrics.jsonl").write_text("{broken\n")
    code, _, err = _run(capsys, "plot", str(tmp_path / "c"))
    assert code == 1 and "metrics.jsonl:1" in err


# -- convert ------------------------------------------------------------------------------------------
def test_convert_pytorch_state_dict(capsys, tmp_path):
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    tm(torch.randn(5, 3))  # running stats change
    src = tmp_path / "w.pth"
    torch.save({"epoch": 3, "state_dict": tm.state_dict()}, src)
    dst = tmp_path / "w.safetensors"
    code, out, _ = _run(capsys, "convert", str(src), str(dst))
    assert code == 0 and "entry 'state_dict'" in out
    back = stt.load_file(dst)
    ref = tm.state_dict()
    assert set(back) == set(ref)
    for k, v in ref.items():
        assert torch.equal(back[k], v), k
    # the torsh twin loads it strictly and computes the same
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    model = torsh.load(dst, like=model).eval()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(model(x)), tm.eval()(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    # bfloat16 survives bit for bit
    torch.save({"w": torch.randn(3, 2).to(torch.bfloat16)}, tmp_path / "b.pt")
    assert main(["convert", str(tmp_path / "b.pt"), str(tmp_path / "b.safetensors")]) == 0
    assert torch.equal(stt.load_file(tmp_path / "b.safetensors")["w"], torch.load(tmp_path / "b.pt")["w"])


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_convert_refuses_code_and_bad_files(capsys, tmp_path):
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"w": _Evil()}, f, protocol=2)  # torch.load's own protocol: no extra warning
    code, _, err = _run(capsys, "convert", str(evil), str(tmp_path / "e.safetensors"))
    assert code == 1 and "weights_only=True" in err and not (tmp_path / "e.safetensors").exists()
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a pytorch file")
    code, _, err = _run(capsys, "convert", str(garbage), str(tmp_path / "g.safetensors"))
    assert code == 1 and str(garbage) in err
    code, _, err = _run(capsys, "convert", str(tmp_path / "missing.pth"), str(tmp_path / "m.safetensors"))
    assert code == 1 and "no such file" in err
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pth")
    (tmp_path / "exists.safetensors").write_bytes(b"x")
    code, _, err = _run(capsys, "convert", str(tmp_path / "ok.pth"), str(tmp_path / "exists.safetensors"))
    assert code == 1 and "--force" in err
    code, _, err = _run(capsys, "convert", str(tmp_path / "ok.pth"), str(tmp_path / "out.bin"))
    assert code == 1 and ".safetensors" in err
    code, _, err = _run(
        capsys, "convert", str(tmp_path / "ok.pth"), str(tmp_path / "k.safetensors"), "--key", "model"
    )
    assert code == 1 and "no entry 'model'" in err


# -- bench --------------------------------------------------------------------------------------------
def test_bench_runs_the_suite_and_formats_ratios(capsys, tmp_path):
    from torsh.cli._bench import format_training, torsh_over_budget

    # the suite is a benchmark, not a test: run torsh's MLP rows (plain and scan_steps) for real, once
    out_md = tmp_path / "bench.md"
    argv = [
        "bench",
        "--quick",
        "--rounds",
        "1",
        "--steps",
        "16",
        "--candidates",
        "torsh,scan",
        "-o",
        str(out_md),
    ]
    code, out, _ = _run(capsys, *argv)
    page = out_md.read_text()
    assert code == 0 and "machine:" in page and "cores" in page and "torsh bench" in page
    for name in ("| torsh |", "| torsh scan_steps (16 steps per call) |"):
        row = next(line for line in page.splitlines() if name in line)
        assert float(row.strip("|").split("|")[2]) > 0
    rows = [
        {"workload": "w", "candidate": "torsh", "ms": 2.0, "cpu_ms": 1.5, "first_s": 1.0},
        {"workload": "w", "candidate": "hand-written JAX + optax", "ms": 1.0, "cpu_ms": 1.0, "first_s": 1.0},
        {"workload": "w", "candidate": "PyTorch eager", "ms": 4.0, "cpu_ms": 8.0, "first_s": 0.0},
    ]
    assert "| w | torsh | 2.0 | 2.00x | 0.50x | 1.5 | 1.0 s |" in format_training(rows)
    assert torsh_over_budget(rows) == ["w: 2.00x"]
    for bad in (["--candidates", "tf"], ["--only", "resnet"], ["--only", ""]):
        with pytest.raises(SystemExit) as e:
            main(["bench", *bad])
        assert e.value.code == 2 and "unknown" in capsys.readouterr().err
