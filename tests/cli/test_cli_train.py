"""torsh train: built-in recipes (a short digits-mlp run), --resume, user recipe files, bad input."""

from __future__ import annotations

import json
import pathlib
import textwrap

import pytest

from torsh.cli import main
from torsh.train import RecipeError, apply_overrides, list_recipes, load_recipe


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_and_show_config(capsys):
    code, out, _ = _run(capsys, "train", "--list")
    assert code == 0 and "digits-cnn" in out and "digits-mlp" in out
    assert set(list_recipes()) >= {"digits-cnn", "digits-mlp"}
    code, out, _ = _run(capsys, "train", "digits-cnn", "--set", "epochs=3", "channels=8,16", "--show-config")
    assert code == 0 and "epochs (int) = 3" in out and "channels (tuple[int, ...]) = (8, 16)" in out


def test_digits_mlp_one_epoch_then_resume(capsys, tmp_path):
    out_dir = tmp_path / "mlp"
    argv = ["train", "digits-mlp", "--out", str(out_dir), "--set", "epochs=1", "hidden=32", "--no-progress"]
    code, out, _ = _run(capsys, *argv)
    assert code == 0
    final = next(line for line in out.splitlines() if line.startswith("final:"))
    acc = float(final.split("test_acc ")[1].split("%")[0]) / 100
    assert 0.2 < acc <= 1.0  # one epoch (22 steps) of a small MLP: well above chance (0.1)
    assert f"plot: {out_dir / 'curves.png'}" in out
    for name in ("metrics.jsonl", "metrics.csv", "config.json", "curves.png", "model.safetensors"):
        assert (out_dir / name).stat().st_size > 0, name
    assert json.loads((out_dir / "config.json").read_text())["hidden"] == 32
    records = [json.loads(x) for x in (out_dir / "metrics.jsonl").read_text().splitlines()]
    # evaluation during training reads the validation hold-out; the final line reports the test split
    assert 0.2 < records[-1]["val_acc"] <= 1.0 and "val_acc" in records[-1] and "test_acc" not in records[-1]
    assert any(p.name.startswith("step_") for p in (out_dir / "checkpoints").iterdir())
    # the same command again refuses to overwrite; --resume finds the run finished and reports it
    code, _, err = _run(capsys, *argv)
    assert code == 1 and "--resume" in err and err.startswith("torsh: error: ")
    code, out2, _ = _run(capsys, *argv, "--resume")
    assert (
        code == 0
        and next(x for x in out2.splitlines() if x.startswith("final:")).split("(")[0] == final.split("(")[0]
    )


def test_user_recipe_file(capsys, tmp_path):
    recipe = tmp_path / "my_recipe.py"
    recipe.write_text(
        textwrap.dedent("""
        import dataclasses, pathlib
        import jax.numpy as jnp
        from torsh import train

        DESCRIPTION = "count to n"

        @dataclasses.dataclass
        class Config:
            n: int = 3
            scale: float = 1.0

        def run(config, out, *, resume=True, progress=True):
            step = lambda s, b: (s + config.scale, {"loss": jnp.float32(1.0) / (s + 1)})
            state, history = train.fit(step, jnp.float32(0), [0] * config.n, epochs=1, log_dir=out,
                                       progress=progress, config=config)
            return {"total": float(state)}
    """)
    )
    code, out, _ = _run(
        capsys, "train", str(recipe), "--out", str(tmp_path / "run"), "--set", "n=4", "scale=0.5"
    )
    assert code == 0 and "final: total 2" in out
    assert json.loads((tmp_path / "run" / "config.json").read_text()) == {"n": 4, "scale": 0.5}


def test_bad_recipes_and_overrides(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "digits-rnn")
    assert code == 1 and "unknown recipe 'digits-rnn'" in err and "digits-cnn" in err
    code, _, err = _run(capsys, "train", str(tmp_path / "missing.py"))
    assert code == 1 and "no such file" in err
    broken = tmp_path / "broken.py"
    broken.write_text("DESCRIPTION = 'x'\n")
    code, _, err = _run(capsys, "train", str(broken))
    assert code == 1 and "must define Config" in err
    raising = tmp_path / "raising.py"
    raising.write_text("raise ValueError('boom')\n")
    code, _, err = _run(capsys, "train", str(raising))
    assert code == 1 and "ValueError: boom" in err
    code, _, err = _run(capsys, "train", "digits-mlp", "--set", "epoch=2")
    assert code == 1 and "no field 'epoch'" in err and "epochs (int)" in err and "lr (float)" in err
    code, _, err = _run(capsys, "train", "digits-mlp", "--set", "lr=fast")
    assert code == 1 and "--set lr=fast: expected a float" in err
    code, _, err = _run(capsys, "train", "digits-mlp", "--set", "tensorboard=maybe")
    assert code == 1 and "expected a bool" in err
    code, _, err = _run(capsys, "train", "digits-mlp", "--set", "epochs")
    assert code == 1 and "key=value" in err
    code, _, err = _run(capsys, "train")
    assert code == 1 and "--list" in err
    cfg = load_recipe("digits-cnn").Config()
    with pytest.raises(RecipeError, match="--set channels=a: expected an int"):
        apply_overrides(cfg, ["channels=a,b"])
    assert apply_overrides(cfg, ["tensorboard=yes", "channels=4,8"]).channels == (4, 8)
    assert pathlib.Path  # recipes load without side effects (nothing trained above)
