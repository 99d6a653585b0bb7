"""Run-directory logs: TensorBoard events read back, the curves PNG, purge on resume, run plots."""

from __future__ import annotations

import jax.numpy as jnp
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import torsh
from torsh import train


def _step(s, b):
    return s + 1, {"loss": 1.0 / (s + b)}


STEP = torsh.jit(_step)


def _evaluate(s, b):
    return {"acc": s / 10.0 + b * 0}


EVAL = torsh.jit(_evaluate)


def _scalars(directory):
    acc = EventAccumulator(str(directory))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tensorboard_events_and_plot(tmp_path):
    batches = [jnp.float32(1.0)] * 3
    state, history = train.fit(
        STEP, jnp.float32(0), batches, epochs=2, eval_fn=EVAL, eval_loader=[jnp.float32(0)],
        log_dir=tmp_path, log=("jsonl", "csv", "tensorboard", "plot"), progress=False,
    )  # fmt: skip
    scalars = _scalars(tmp_path / "tensorboard")
    assert [s for s, _ in scalars["loss"]] == [3, 6]
    assert [v for _, v in scalars["loss"]] == pytest.approx(history["loss"])
    assert scalars["val_acc"] == [(3, pytest.approx(0.3)), (6, pytest.approx(0.6))]
    png = tmp_path / "curves.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_tensorboard_purges_events_after_the_checkpoint_on_resume(tmp_path):
    class Crash(train.Callback):
        def on_step_end(self, state, logs, step):
            if step == 5:
                raise RuntimeError("crash")

    kwargs = dict(
        epochs=3,
        checkpoint=tmp_path / "ckpt",
        log_dir=tmp_path,
        log=("tensorboard",),
        log_every=1,
        progress=False,
    )
    with pytest.raises(RuntimeError):  # records for steps 1..5 written, checkpoint at step 3
        train.fit(STEP, jnp.float32(0), [jnp.float32(1.0)] * 3, callbacks=[Crash()], **kwargs)
    train.fit(STEP, jnp.float32(0), [jnp.float32(1.0)] * 3, **kwargs)
    steps = [s for s, _ in _scalars(tmp_path / "tensorboard")["loss"]]
    assert steps == list(range(1, 10))  # steps 4 and 5 of the crashed run were purged, not doubled


def test_plot_runs_and_read_records(tmp_path):
    from torsh.train._logging import read_records

    for name, scale in (("a", 1.0), ("b", 2.0)):
        train.fit(
            STEP, jnp.float32(0), [jnp.float32(scale)] * 2, epochs=3, log_dir=tmp_path / name, progress=False
        )
    out = train.plot_runs({n: read_records(tmp_path / n) for n in "ab"}, tmp_path / "cmp.png")
    assert out.stat().st_size > 5000
    with pytest.raises(torsh.errors.ConfigError, match="not a run directory"):
        read_records(tmp_path / "nope")
