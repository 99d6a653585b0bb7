"""CheckpointManager: save/restore of several items, retention (last N, best N), async saves and their
errors, atomicity when a save fails midway, path-traversal safety, manifest checks, format versions."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import serialize
from torsh.errors import CheckpointError, ConfigError
from torsh.serialize import CheckpointManager, _checkpoint, _names


class Linear(torsh.tree.Struct):
    weight: jax.Array
    bias: jax.Array


def _items(step: int) -> dict:
    model = {"0": Linear(jnp.full((3, 2), float(step)), jnp.arange(3.0) + step)}
    opt = {"step": jnp.int32(step), "mu": {"0": Linear(jnp.zeros((3, 2)), jnp.zeros(3))}, "lr": 1e-3}
    return {
        "model": model,
        "opt": opt,
        "rng": jax.random.fold_in(jax.random.key(0), step),
        "data": {"epoch": step // 10, "index": step * 32, "seed": 0},
    }


def _dirs(path) -> list[str]:
    return sorted(os.listdir(path))


def test_save_and_restore_several_items(tmp_path):
    ckpt = CheckpointManager(tmp_path / "run")
    ckpt.save(10, _items(10), metrics={"loss": 0.5}, metadata={"git": "abc"})
    ckpt.save(20, _items(20), metrics={"loss": 0.25})
    assert ckpt.all_steps() == [10, 20] and ckpt.latest_step() == 20
    like = _items(0)
    for step in (10, 20, "latest"):
        back = ckpt.restore(step, like=like)
        want = _items(20 if step == "latest" else step)
        assert isinstance(back["model"]["0"], Linear)
        assert torsh.tree.allclose(back["model"], want["model"]) and torsh.tree.allclose(
            back["opt"], want["opt"]
        )
        assert back["data"] == want["data"] and back["opt"]["lr"] == 1e-3
        np.testing.assert_array_equal(jax.random.key_data(back["rng"]), jax.random.key_data(want["rng"]))
    assert ckpt.metrics(10) == {"loss": 0.5} and ckpt.item_names() == ["data", "model", "opt", "rng"]
    only = ckpt.restore(10, items=["data"])
    assert only == {"data": {"epoch": 1, "index": 320, "seed": 0}}
    # Each item is a standard safetensors file.
    step_dir = tmp_path / "run" / "step_00000010"
    assert sorted(os.listdir(step_dir)) == [
        "data.safetensors",
        "manifest.json",
        "model.safetensors",
        "opt.safetensors",
        "rng.safetensors",
    ]
    import safetensors.numpy as stn

    np.testing.assert_array_equal(
        stn.load_file(step_dir / "model.safetensors")["0.weight"], np.full((3, 2), 10.0)
    )
    manifest = json.loads((step_dir / "manifest.json").read_text())
    assert manifest["version"] == serialize.CHECKPOINT_FORMAT_VERSION and manifest["metadata"] == {
        "git": "abc"
    }
    assert manifest["items"]["model"]["bytes"] == os.path.getsize(step_dir / "model.safetensors")


def test_restore_errors(tmp_path):
    ckpt = CheckpointManager(tmp_path)
    with pytest.raises(serialize.CheckpointNotFoundError, match="no checkpoints yet"):
        ckpt.restore()
    ckpt.save(1, {"model": {"w": jnp.ones(2)}})
    with pytest.raises(
        serialize.CheckpointNotFoundError, match=r"no checkpoint for step 2; available: \[1\]"
    ):
        ckpt.restore(2)
    with pytest.raises(serialize.CheckpointNotFoundError, match=r"no item\(s\) \['opt'\]"):
        ckpt.restore(1, like={"opt": {}})
    with pytest.raises(
        serialize.StateDictMismatchError, match=r"w: shape in the file is \[2\], expected \[3\]"
    ):
        ckpt.restore(1, like={"model": {"w": jnp.ones(3)}})
    with pytest.raises(CheckpointError, match="step 1 already exists"):
        ckpt.save(1, {"model": {"w": jnp.ones(2)}})
    with pytest.raises(ConfigError, match="non-negative int"):
        ckpt.save(-1, {"model": {}})
    with pytest.raises(ConfigError, match="non-empty dict"):
        ckpt.save(3, {})
    with pytest.raises(ConfigError, match="like= maps item names"):
        ckpt.restore(1, like=[1])


def test_keep_last_n(tmp_path):
    ckpt = CheckpointManager(tmp_path, keep=2)
    for step in range(1, 6):
        ckpt.save(step, {"m": {"w": jnp.full(2, float(step))}})
    assert ckpt.all_steps() == [4, 5]
    assert _dirs(tmp_path) == ["step_00000004", "step_00000005"]  # no leftovers


@pytest.mark.parametrize(("mode", "best", "best_step"), [("min", [2, 4], 2), ("max", [1, 5], 5)])
def test_keep_best_n_plus_last(tmp_path, mode, best, best_step):
    losses = {1: 0.9, 2: 0.1, 3: 0.5, 4: 0.2, 5: 0.95, 6: 0.6}
    ckpt = CheckpointManager(tmp_path, keep_last=1, keep_best=2, best_metric="loss", best_mode=mode)
    for step, loss in losses.items():
        if step == 6:
            ckpt.save(step, {"m": {"w": jnp.ones(1)}})  # no metric: kept only as the latest
        else:
            ckpt.save(step, {"m": {"w": jnp.ones(1)}}, metrics={"loss": loss})
    assert ckpt.all_steps() == sorted({*best, 6})
    assert ckpt.best_step() == best_step


def test_keep_best_alone_still_keeps_the_latest(tmp_path):
    ckpt = CheckpointManager(tmp_path, keep_best=1, best_metric="acc", best_mode="max")
    for step, acc in [(1, 0.5), (2, 0.9), (3, 0.7)]:
        ckpt.save(step, {"m": {"w": jnp.ones(1)}}, metrics={"acc": acc})
    assert ckpt.all_steps() == [2, 3] and ckpt.best_step() == 2


def test_configuration_errors(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        CheckpointManager(tmp_path, keep=1, keep_last=2)
    with pytest.raises(ConfigError, match="positive int"):
        CheckpointManager(tmp_path, keep=0)
    with pytest.raises(ConfigError, match="needs best_metric"):
        CheckpointManager(tmp_path, keep_best=2)
    with pytest.raises(ConfigError, match="'min' or 'max'"):
        CheckpointManager(tmp_path, keep_best=2, best_metric="x", best_mode="lowest")
    with pytest.raises(ConfigError, match="must be a number"):
        CheckpointManager(tmp_path).save(1, {"m": {}}, metrics={"loss": "low"})


@pytest.mark.parametrize(
    "name",
    [
        "../evil",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "..",
        ".hidden",
        "",
        "-rf",
        "x" * 129,
        "CON",
        "nul.txt",
        "a..b",
        3,
    ],
)
def test_item_names_cannot_escape_the_directory(tmp_path, name):
    with pytest.raises(serialize.UnsafePathError, match="not allowed|must be str"):
        CheckpointManager(tmp_path / "run").save(1, {name: {"w": jnp.ones(1)}})
    assert not (tmp_path / "evil").exists() and _dirs(tmp_path / "run") == []


def test_forged_manifests_cannot_point_outside(tmp_path):
    ckpt = CheckpointManager(tmp_path / "run")
    ckpt.save(1, {"model": {"w": jnp.ones(2)}})
    outside = tmp_path / "secret.safetensors"
    serialize.save(outside, {"w": jnp.zeros(2)})
    manifest_path = tmp_path / "run" / "step_00000001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["items"]["../../secret"] = dict(manifest["items"]["model"], file="../../secret.safetensors")
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(serialize.UnsafePathError, match="'../../secret' is not allowed"):
        CheckpointManager(tmp_path / "run").restore(1)
    # A symlink planted in place of an item file is refused too.
    manifest["items"].pop("../../secret")
    manifest_path.write_text(json.dumps(manifest))
    item = tmp_path / "run" / "step_00000001" / "model.safetensors"
    item.unlink()
    item.symlink_to(outside)
    with pytest.raises(serialize.CorruptFileError, match="resolves outside the checkpoint directory"):
        CheckpointManager(tmp_path / "run").restore(1)


def test_newer_checkpoint_format_fails_clearly(tmp_path):
    CheckpointManager(tmp_path).save(1, {"m": {"w": jnp.ones(1)}})
    manifest_path = tmp_path / "step_00000001" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(
        serialize.FormatVersionError, match="format version 99; this torsh reads versions up to 1"
    ):
        CheckpointManager(tmp_path).restore(1)


def test_damaged_items_are_detected(tmp_path):
    CheckpointManager(tmp_path).save(1, {"m": {"w": jnp.arange(64.0)}})
    item = tmp_path / "step_00000001" / "m.safetensors"
    data = bytearray(item.read_bytes())
    data[-1] ^= 0xFF  # same size, different content
    item.write_bytes(bytes(data))
    with pytest.raises(serialize.CorruptFileError, match="sha256 .* does not match the manifest"):
        CheckpointManager(tmp_path).restore(1)
    assert CheckpointManager(tmp_path, verify=False).restore(1)["m"]["w"].shape == (64,)
    item.write_bytes(bytes(data[:-4]))
    with pytest.raises(serialize.CorruptFileError, match="the manifest says"):
        CheckpointManager(tmp_path, verify=False).restore(1)
    (tmp_path / "step_00000001" / "manifest.json").write_text("{not json")
    with pytest.raises(serialize.CorruptFileError, match="not a valid manifest"):
        CheckpointManager(tmp_path).restore(1)


def test_a_failed_save_leaves_previous_checkpoints_and_no_debris(tmp_path, monkeypatch):
    ckpt = CheckpointManager(tmp_path, keep=1)
    ckpt.save(1, {"m": {"w": jnp.ones(2)}})

    def failing_rename(src, dst):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(_checkpoint.os, "rename", failing_rename)
    with pytest.raises(CheckpointError, match="saving step 2 failed: .*Input/output error"):
        ckpt.save(2, {"m": {"w": jnp.zeros(2)}})
    monkeypatch.undo()
    assert _dirs(tmp_path) == ["step_00000001"]
    np.testing.assert_array_equal(ckpt.restore()["m"]["w"], np.ones(2))


def test_leftovers_of_dead_processes_are_cleaned_and_never_listed(tmp_path):
    ckpt = CheckpointManager(tmp_path)
    ckpt.save(1, {"m": {"w": jnp.ones(1)}})
    host = _names._HOST
    dead = tmp_path / f".tmp-step_00000002-{host}-999999999-abcd"
    alive = tmp_path / f".tmp-step_00000003-{host}-1-abcd"  # pid 1 is alive
    other_host = tmp_path / ".trash-step_00000004-elsewhere-5-abcd"
    for d in (dead, alive, other_host):
        (d / "sub").mkdir(parents=True)
        (d / "manifest.json").write_text("{}")
    (tmp_path / "step_5").mkdir()  # non-canonical name
    (tmp_path / "step_00000006").mkdir()  # no manifest: incomplete
    ckpt = CheckpointManager(tmp_path)
    assert not dead.exists() and alive.exists() and other_host.exists()
    assert ckpt.all_steps() == [1]


def test_async_save_returns_before_writing_and_owns_its_copies(tmp_path):
    with CheckpointManager(tmp_path, async_save=True, keep=2) as ckpt:
        host = np.arange(4.0)
        ckpt.save(1, {"m": {"w": host, "j": jnp.ones(3)}})
        host[:] = -1  # the caller reuses its buffer right away
        ckpt.save(2, {"m": {"w": host, "j": jnp.ones(3)}})
        ckpt.wait()
        assert ckpt.all_steps() == [1, 2]
        np.testing.assert_array_equal(
            ckpt.restore(1, like={"m": {"w": np.zeros(4), "j": jnp.zeros(3)}})["m"]["w"], np.arange(4.0)
        )
        for step in range(3, 6):
            ckpt.save(step, {"m": {"w": host, "j": jnp.ones(3)}})
    assert ckpt.all_steps() == [4, 5]


def test_async_save_survives_donation_of_the_saved_arrays(tmp_path):
    step_fn = jax.jit(lambda p: jax.tree_util.tree_map(lambda x: x * 2, p), donate_argnums=0)
    params = {"w": jnp.arange(1024.0), "b": jnp.ones(16)}
    with CheckpointManager(tmp_path, async_save=True) as ckpt:
        for step in range(3):
            ckpt.save(step, {"model": params})
            params = step_fn(params)  # the saved buffers are donated (freed/reused) right away
    for step in range(3):
        back = ckpt.restore(step)["model"]
        np.testing.assert_array_equal(back["w"], np.arange(1024.0) * 2**step)


def test_background_errors_surface_on_the_next_call(tmp_path, monkeypatch):
    ckpt = CheckpointManager(tmp_path, async_save=True)
    ckpt.save(1, {"m": {"w": jnp.ones(2)}})
    ckpt.wait()
    real = _checkpoint.write_file

    def failing_write(path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_checkpoint, "write_file", failing_write)
    ckpt.save(2, {"m": {"w": jnp.ones(2)}})  # returns: the failure happens in the background
    ckpt._pending.exception()  # let it fail
    monkeypatch.setattr(_checkpoint, "write_file", real)
    with pytest.raises(serialize.BackgroundSaveError, match="step 2 failed: .*No space left") as info:
        ckpt.all_steps()
    assert isinstance(info.value.__cause__, OSError)
    assert ckpt.all_steps() == [1]  # reported once; the manager keeps working
    assert _dirs(tmp_path) == ["step_00000001"]
    ckpt.save(2, {"m": {"w": jnp.ones(2)}})
    ckpt.wait()
    assert ckpt.all_steps() == [1, 2]
    # Errors surface from wait() and save() as well.
    monkeypatch.setattr(_checkpoint, "write_file", failing_write)
    ckpt.save(3, {"m": {"w": jnp.ones(2)}})
    with pytest.raises(serialize.BackgroundSaveError):
        ckpt.wait()
    ckpt.save(3, {"m": {"w": jnp.ones(2)}})
    with pytest.raises(serialize.BackgroundSaveError):  # save() waits for the previous one first
        ckpt.save(4, {"m": {"w": jnp.ones(2)}})
    monkeypatch.setattr(_checkpoint, "write_file", real)
    ckpt.close()
    assert ckpt.all_steps() == [1, 2]
