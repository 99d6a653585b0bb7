"""CheckpointManager in a multi-process job, simulated in one process: the process index/count are
monkeypatched and ``torsh.distributed.barrier`` recorded. Only process 0 writes, commits, applies
retention and cleans leftovers; every process gathers and meets at ``torsh-ckpt-<step>`` after the
commit (at once, or in ``wait()`` / the next save with ``async_save``), even when the write fails.
The real 2-process run is tests/distributed/test_distributed_multiprocess.py."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.errors import CheckpointError
from torsh.serialize import BackgroundSaveError, CheckpointManager, _checkpoint, _names


@pytest.fixture
def as_process(monkeypatch):
    """``as_process(i)``: make this process look like process ``i`` of 2; returns the barrier log."""
    log: list[str] = []
    monkeypatch.setattr(torsh.distributed, "barrier", lambda name="torsh_barrier": log.append(name))

    def become(index: int) -> list[str]:
        monkeypatch.setattr(jax, "process_count", lambda: 2)
        monkeypatch.setattr(jax, "process_index", lambda: index)
        return log

    return become


def _items(step: int) -> dict:
    return {
        "model": {"w": jnp.full((3, 2), float(step)), "b": jnp.arange(3.0)},
        "rng": jax.random.fold_in(jax.random.key(0), step),
        "data": {"index": step},
    }


def _like() -> dict:
    return {
        "model": {"w": jnp.zeros((3, 2)), "b": jnp.zeros(3)},
        "rng": jax.random.key(1),
        "data": {"index": 0},
    }


def _steps(path) -> list[str]:
    return sorted(n for n in os.listdir(path) if n.startswith("step_"))


def test_only_process_0_writes_and_all_pass_the_barrier(tmp_path, as_process):
    log = as_process(1)
    CheckpointManager(tmp_path).save(5, _items(5))
    assert os.listdir(tmp_path) == [] and log == ["torsh-ckpt-5"]

    log = as_process(0)
    CheckpointManager(tmp_path).save(5, _items(5))
    assert _steps(tmp_path) == ["step_00000005"] and log == ["torsh-ckpt-5", "torsh-ckpt-5"]

    # Either process restores what process 0 wrote.
    for index in (0, 1):
        as_process(index)
        got = CheckpointManager(tmp_path).restore("latest", like=_like())
        np.testing.assert_array_equal(got["model"]["w"], np.full((3, 2), 5.0))
        assert got["data"] == {"index": 5}
        np.testing.assert_array_equal(jax.random.key_data(got["rng"]), jax.random.key_data(_items(5)["rng"]))


def test_barrier_comes_after_the_commit(tmp_path, as_process, monkeypatch):
    seen: list[list[str]] = []
    monkeypatch.setattr(torsh.distributed, "barrier", lambda name="": seen.append(_steps(tmp_path)))
    as_process(0)
    CheckpointManager(tmp_path).save(7, _items(7))
    assert seen == [["step_00000007"]]


def test_async_save_barriers_in_wait_and_before_the_next_save(tmp_path, as_process):
    for index in (1, 0):
        log = as_process(index)
        log.clear()
        ckpt = CheckpointManager(tmp_path / str(index), async_save=True)
        ckpt.save(1, _items(1))
        assert log == []  # the gather is synchronous, the barrier waits for the background write
        ckpt.save(2, _items(2))
        assert log == ["torsh-ckpt-1"]
        ckpt.wait()
        assert log == ["torsh-ckpt-1", "torsh-ckpt-2"]
        ckpt.wait()  # owed once
        assert log == ["torsh-ckpt-1", "torsh-ckpt-2"]
        ckpt.close()
        assert _steps(tmp_path / str(index)) == ([] if index else ["step_00000001", "step_00000002"])


def test_retention_and_leftover_cleanup_only_on_process_0(tmp_path, as_process, monkeypatch):
    as_process(0)
    for step in (1, 2):
        CheckpointManager(tmp_path).save(step, _items(step))
    dead = _names.temp_name(_names.TMP_PREFIX, "step_00000009")
    monkeypatch.setattr(_checkpoint, "owner_is_dead", lambda name: name == dead)
    os.mkdir(tmp_path / dead)

    as_process(1)
    ckpt = CheckpointManager(tmp_path, keep=1)
    assert (tmp_path / dead).is_dir()
    ckpt.save(3, _items(3))
    assert _steps(tmp_path) == ["step_00000001", "step_00000002"]  # process 1 deletes nothing

    as_process(0)
    ckpt = CheckpointManager(tmp_path, keep=1)
    assert not (tmp_path / dead).exists()
    ckpt.save(3, _items(3))
    assert _steps(tmp_path) == ["step_00000003"]


def test_a_failed_write_still_reaches_the_barrier(tmp_path, as_process, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_checkpoint, "write_file", broken)
    log = as_process(0)
    with pytest.raises(CheckpointError, match="saving step 4 failed: disk full"):
        CheckpointManager(tmp_path).save(4, _items(4))
    assert log == ["torsh-ckpt-4"] and _steps(tmp_path) == []

    ckpt = CheckpointManager(tmp_path, async_save=True)
    ckpt.save(4, _items(4))
    with pytest.raises(BackgroundSaveError, match="step 4 failed"):
        ckpt.wait()
    assert log == ["torsh-ckpt-4", "torsh-ckpt-4"]
    ckpt.close()


def test_leaving_the_with_block_on_an_error_does_not_wait_at_the_barrier(tmp_path, as_process):
    log = as_process(0)
    with pytest.raises(KeyError):
        with CheckpointManager(tmp_path, async_save=True) as ckpt:
            ckpt.save(1, _items(1))
            raise KeyError("training crashed")
    assert log == [] and _steps(tmp_path) == ["step_00000001"]


def test_arrays_sharded_over_other_processes_are_gathered(monkeypatch):
    """A non-fully-addressable array goes through ``torsh.distributed.to_host``; typed keys keep
    their type; arrays this process holds whole are left alone."""
    gathered = []

    def fake_to_host(x):
        gathered.append(x.dtype)
        return np.asarray(x)

    monkeypatch.setattr(torsh.distributed, "to_host", fake_to_host)
    remote = {"w": jnp.ones(2), "key": jax.random.key(3)}
    monkeypatch.setattr(type(remote["w"]), "is_fully_addressable", property(lambda self: False))
    out = _checkpoint._gather({"w": remote["w"], "key": remote["key"], "n": 3})
    assert isinstance(out["w"], np.ndarray) and out["n"] == 3
    assert jax.dtypes.issubdtype(out["key"].dtype, jax.dtypes.prng_key)
    np.testing.assert_array_equal(jax.random.key_data(out["key"]), jax.random.key_data(remote["key"]))
    assert sorted(str(d) for d in gathered) == ["float32", "uint32"]
