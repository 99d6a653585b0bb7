"""torsh.train: TrainState, fit/train_epoch/evaluate, resume in-process, logs, callbacks, masks."""

from __future__ import annotations

import csv
import json
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss

import torsh
from torsh import data, metrics, nn, optim, train
from torsh.errors import ConfigError
from torsh.nn import functional as F

RNG = np.random.default_rng(0)
X = RNG.normal(size=(44, 5)).astype(np.float32)
Y = (X[:, 0] - X[:, 2] > 0).astype(np.int32)
TRAIN = data.ArrayDataset(X[:30], Y[:30])
TEST = data.ArrayDataset(X[30:], Y[30:])  # 14 rows: batches of 4 leave a short last batch


def _state(seed: int = 0) -> train.TrainState:
    torsh.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Dropout(0.1), nn.Linear(8, 2))
    return train.TrainState.create(model=model, opt=optim.Adam(lr=1e-2), key=torsh.random.key(seed))


def _step(state, batch):
    x, y = batch
    loss, grads = torsh.value_and_grad(lambda m: F.cross_entropy(m(x, key=state.key), y))(state.model)
    return state.apply_gradients(grads), {"loss": loss}


EVAL_TRACES = []


def _eval(state, batch):
    EVAL_TRACES.append(1)  # runs once per compilation
    x, y = batch.data
    logits = state.model.eval()(x)
    return {"loss": F.cross_entropy(logits, y, reduction="none"), "preds": logits, "target": y}


STEP = torsh.jit(_step, donate="state")
EVAL = torsh.jit(_eval)


def _loader(**kw):
    return data.DataLoader(TRAIN, batch_size=4, shuffle=True, seed=3, drop_last=True, **kw)


def _eval_loader():
    return data.DataLoader(TEST, batch_size=4, pad_last=True)


def _leaves_equal(a, b):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# -- TrainState ---------------------------------------------------------------------------------------
def test_train_state_apply_gradients_matches_the_optimizer():
    state = _state()
    grads = jax.tree.map(jnp.ones_like, state.model)
    new = jax.jit(lambda s, g: s.apply_gradients(g))(state, grads)  # a pytree through jit; opt is static
    model, opt_state = jax.jit(state.opt.step)(state.model, grads, state.opt_state)
    for a, b in zip(
        jax.tree.leaves((new.model, new.opt_state)), jax.tree.leaves((model, opt_state)), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6)  # two programs: XLA may fuse differently (1 ulp)
    assert int(new.step) == 1 and new.opt == state.opt
    assert not np.array_equal(jax.random.key_data(new.key), jax.random.key_data(state.key))


def test_train_state_extras_and_errors():
    s = train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.1), ema=jnp.zeros(2))
    assert s.ema.shape == (2,)
    assert s.replace(ema=jnp.ones(2)).ema.tolist() == [1.0, 1.0]
    with pytest.raises(ConfigError, match="unknown field"):
        s.replace(nope=1)
    with pytest.raises(AttributeError, match="extras \\['ema'\\]"):
        _ = s.nope
    with pytest.raises(ConfigError, match="optimizer"):
        train.TrainState.create(model={"w": jnp.ones(2)}, opt="adam")
    with pytest.raises(ConfigError, match="typed PRNG key"):
        train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.1), key=0)
    with pytest.raises(ConfigError, match="clash"):
        train.TrainState.create(model={"w": jnp.ones(2)}, opt=optim.SGD(lr=0.1), step=1)


# -- fit ----------------------------------------------------------------------------------------------
def test_fit_equals_a_hand_written_loop_and_logs(tmp_path):
    state, history = train.fit(
        STEP, _state(), _loader(), epochs=2, eval_fn=EVAL, eval_loader=_eval_loader(),
        metrics={"acc": metrics.Accuracy()}, log_dir=tmp_path, log=("jsonl", "csv"), progress=False,
        config={"lr": 1e-2},
    )  # fmt: skip
    # the same steps by hand
    ref, loader, losses = _state(), _loader(), []
    for _ in range(2):
        epoch = []
        for batch in loader:
            ref, logs = STEP(ref, batch)
            epoch.append(np.float32(logs["loss"]))
        losses.append(epoch)
    _leaves_equal(state, ref)
    assert history.steps("loss") == [7, 14] and history.steps("val_acc") == [7, 14]
    np.testing.assert_allclose(history["loss"], [np.mean(e) for e in losses], rtol=1e-6)
    # evaluation over all 14 rows (short batch padded and masked) equals sklearn on the full set
    logits = np.asarray(state.model.eval()(X[30:]))
    assert history["val_acc"][-1] == pytest.approx(accuracy_score(Y[30:], logits.argmax(-1)))
    probs = np.asarray(jax.nn.softmax(logits))
    assert history["val_loss"][-1] == pytest.approx(log_loss(Y[30:], probs, labels=[0, 1]), rel=1e-5)
    # files: jsonl == history, csv has every column, the resolved config
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == history.records
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["step", "epoch", "time", "loss", "val_loss", "val_acc"]
    assert [int(r["step"]) for r in rows] == [7, 7, 14, 14]
    assert json.loads((tmp_path / "config.json").read_text()) == {"lr": 0.01}


def test_pad_last_evaluation_compiles_once():
    state = _state()
    EVAL_TRACES.clear()
    loader = _eval_loader()
    with warnings.catch_warnings():
        warnings.simplefilter("error", torsh.transforms.RecompileWarning)
        a = train.evaluate(EVAL, state, loader, metrics={"acc": metrics.Accuracy()}, prefix="val_")
        b = train.evaluate(EVAL, state, loader, metrics={"acc": metrics.Accuracy()}, prefix="val_")
    assert len(EVAL_TRACES) <= 1 and a == b  # 4 batches incl. a padded one: at most one trace
    # without pad_last the short last batch compiles again, and the warning says so
    plain = data.DataLoader(TEST, batch_size=4)
    fn = torsh.jit(
        lambda state, batch: {
            "loss": F.cross_entropy(state.model.eval()(batch[0]), batch[1], reduction="none")
        }
    )
    with pytest.warns(torsh.transforms.RecompileWarning, match=r"float32\[4,5\] -> float32\[2,5\]"):
        c = train.evaluate(fn, state, plain)
    assert c["loss"] == pytest.approx(a["val_loss"], rel=1e-6)


class _Crash(train.Callback):
    def __init__(self, at):
        self.at = at

    def on_step_end(self, state, logs, step):
        if step == self.at:
            raise RuntimeError("crash")


def test_resume_in_process_with_steps_mid_epoch(tmp_path):
    full, h_full = train.fit(STEP, _state(), _loader(), steps=17, progress=False, log=None, log_every=5)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(RuntimeError, match="crash"):  # dies at step 10, last checkpoint at step 8
        train.fit(STEP, _state(), _loader(), steps=17, checkpoint=ckpt, save_every=4, progress=False,
                  log_every=5, callbacks=[_Crash(10)])  # fmt: skip
    # the same call again continues from step 8 (mid epoch 2) with a fresh loader and state
    resumed, h = train.fit(STEP, _state(seed=1), _loader(), steps=17, checkpoint=ckpt, save_every=4,
                           progress=False, log_every=5)  # fmt: skip
    _leaves_equal(resumed, full)
    strip = lambda recs: [{k: v for k, v in r.items() if k != "time"} for r in recs]
    assert strip(h.records) == strip(h_full.records)
    # a finished run restarted returns at once, the same
    again, h2 = train.fit(STEP, _state(seed=2), _loader(), steps=17, checkpoint=ckpt, progress=False)
    _leaves_equal(again, full)
    assert strip(h2.records) == strip(h_full.records)
    # a longer run (steps=20) from that checkpoint continues the same trajectory
    longer, _ = train.fit(STEP, _state(), _loader(), steps=20, checkpoint=ckpt, progress=False, log=None)
    ref, _ = train.fit(STEP, _state(), _loader(), steps=20, progress=False, log=None)
    _leaves_equal(longer, ref)


def test_early_stopping_and_keep_best(tmp_path):
    class Scripted(train.Callback):  # a val metric that peaks at the 2nd evaluation
        def __init__(self):
            self.calls = []

        def on_eval_end(self, state, results, history):
            self.calls.append(results["val_loss"])

    values = iter([0.5, 0.3, 0.4, 0.45, 0.6, 0.7, 0.8, 0.9])

    def eval_fn(state, batch):
        return {"loss": jnp.float32(next(values))}

    one = [jnp.zeros(1)]
    spy = Scripted()
    stop = train.EarlyStopping("val_loss", patience=2)
    state, history = train.fit(
        lambda s, b: (s + 1, {"loss": jnp.float32(0)}), jnp.int32(0), [jnp.zeros(1)] * 3, epochs=10,
        eval_fn=eval_fn, eval_loader=one, callbacks=[stop, spy], checkpoint=tmp_path / "c",
        best_metric="val_loss", best_mode="min", keep=1, progress=False, log=None,
    )  # fmt: skip
    assert history["val_loss"] == pytest.approx([0.5, 0.3, 0.4, 0.45])  # stopped after 2 bad evals
    assert int(state) == 12
    manager = torsh.serialize.CheckpointManager(tmp_path / "c")
    assert manager.all_steps() == [6, 12]  # the latest and the best (val_loss 0.3 at step 6)
    assert manager.metrics(6)["val_loss"] == pytest.approx(0.3)
    # restarting a stopped run does not train further
    state2, history2 = train.fit(
        lambda s, b: (s + 1, {"loss": jnp.float32(0)}), jnp.int32(0), [jnp.zeros(1)] * 3, epochs=10,
        eval_fn=eval_fn, eval_loader=one, callbacks=[stop], checkpoint=tmp_path / "c", progress=False,
        log=None,
    )  # fmt: skip
    assert int(state2) == 12 and len(history2) == len(history)


def test_fit_argument_errors(tmp_path):
    s, loader = _state(), _loader()
    with pytest.raises(ConfigError, match="exactly one of epochs= or steps="):
        train.fit(STEP, s, loader)
    with pytest.raises(ConfigError, match="epochs must be an int >= 1"):
        train.fit(STEP, s, loader, epochs=0)
    with pytest.raises(ConfigError, match="eval_fn and eval_loader go together"):
        train.fit(STEP, s, loader, epochs=1, eval_fn=EVAL)
    with pytest.raises(ConfigError, match="log= accepts"):
        train.fit(STEP, s, loader, epochs=1, log=("wandb",))
    with pytest.raises(ConfigError, match="must return \\(state, logs\\)"):
        train.fit(lambda st, b: st, jnp.int32(0), [1], epochs=1, progress=False, log=None)
    with pytest.raises(ConfigError, match="yielded no batches"):
        train.fit(lambda st, b: (st, {}), jnp.int32(0), [], epochs=1, progress=False, log=None)
    with pytest.raises(ConfigError, match="profile steps must be"):
        train.fit(STEP, s, loader, epochs=1, profile=(3, 1, tmp_path))
    # a checkpoint directory of another program
    train.fit(
        lambda st, b: (st + 1, {}), jnp.int32(0), [1, 2], epochs=1, checkpoint=tmp_path / "x", progress=False
    )
    with pytest.raises(train.ResumeError, match="different program"):
        train.fit(STEP, _state(), _loader(), epochs=1, checkpoint=tmp_path / "x", progress=False)


def test_progress_plain_lines_and_compile_report(capsys):
    # A new program on every run (the salt is a constant in it), so the persistent compilation cache
    # that an earlier fit in this process may have switched on cannot make the compile vanish; the
    # SVD makes it take a measurable fraction of a second.
    salt = float(time.time_ns() % 1_000_003)

    def heavy_step(s, b):
        spread = jnp.linalg.svd(b.T @ b + salt, compute_uv=False).sum()
        return s + b.sum() + 0 * spread, {"loss": b.mean()}

    step = torsh.jit(heavy_step)
    batches = [jnp.ones((2, 3)) * i for i in range(4)]
    train.fit(step, jnp.float32(0), batches, epochs=2, progress=True, log=None)
    out = capsys.readouterr().out
    assert "compiled heavy_step in" in out  # compile time reported on its own line
    assert "epoch 1/2 done: step 4" in out and "epoch 2/2 done: step 8" in out
    assert "steps/s" in out and "samples/s" in out
    train.fit(step, jnp.float32(0), batches, epochs=1, progress=False, log=None)
    assert capsys.readouterr().out == ""


def test_train_epoch_alone():
    state, logs = train.train_epoch(STEP, _state(), _loader(), progress=False)
    assert int(state.step) == 7 and set(logs) == {"loss"}


def test_profile_writes_a_trace(tmp_path):
    step = torsh.jit(lambda s, b: (s + b, {"loss": b}))
    train.fit(step, jnp.float32(0), [jnp.float32(1)] * 4, epochs=1, profile=(1, 3, tmp_path / "prof"),
              progress=False, log=None)  # fmt: skip
    traces = list((tmp_path / "prof").rglob("*.xplane.pb"))
    assert traces and traces[0].stat().st_size > 0


# -- history, early stopping alone, timer --------------------------------------------------------------
def test_history_and_early_stopping_units():
    h = train.History(
        [{"step": 1, "val_acc": 0.5}, {"step": 2, "val_acc": float("nan")}, {"step": 3, "val_acc": 0.7}]
    )
    assert h.best("val_acc", "max") == (3, 0.7) and h.best("val_acc", "min") == (1, 0.5)
    assert train.History.from_json(h.to_json()).records[0] == h.records[0]
    with pytest.raises(KeyError, match="has no metric"):
        h["nope"]
    stop = train.EarlyStopping("val_acc", mode="max", patience=1, min_delta=0.1)
    assert stop.should_stop(train.History([{"step": 1, "val_acc": 0.5}, {"step": 2, "val_acc": 0.55}]))
    assert not stop.should_stop(train.History([{"step": 1, "val_acc": 0.5}, {"step": 2, "val_acc": 0.65}]))
    with pytest.raises(ConfigError):
        train.EarlyStopping(patience=0)


def test_step_timer_blocks_and_skips_warmup():
    timer = train.StepTimer(skip=2)
    f = jax.jit(lambda x: x @ x)
    x = jnp.ones((64, 64))
    for _ in range(5):
        y = timer(f, x)
    assert len(timer.warmup) == 2 and len(timer.times) == 3 and y.shape == (64, 64)
    assert 0 < timer.median() < 10 and "over 3 steps" in timer.summary()


def test_resume_mid_epoch_with_a_plain_list_loader(tmp_path):
    step = torsh.jit(lambda s, b: (s * 2 + b, {"loss": b}))  # order-sensitive
    batches = [jnp.float32(v) for v in (1, 2, 3)]
    full, h_full = train.fit(step, jnp.float32(0), batches, epochs=3, progress=False, log=None)
    kwargs = dict(epochs=3, checkpoint=tmp_path / "c", save_every=2, progress=False, log=None)
    with pytest.raises(RuntimeError, match="crash"):  # checkpoints at steps 2 and 4 (mid-epoch), dies at 5
        train.fit(step, jnp.float32(0), batches, callbacks=[_Crash(5)], **kwargs)
    resumed, h = train.fit(step, jnp.float32(0), batches, **kwargs)
    assert float(resumed) == float(full)
    assert [r["loss"] for r in h] == [r["loss"] for r in h_full]
