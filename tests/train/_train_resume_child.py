"""A small training program for the resume tests: ``python _train_resume_child.py RUN_DIR OUT [KILL_AT]``.

Trains an MLP with dropout on tiny random data with ``fit`` (checkpoint every 3 steps, evaluation
every epoch), then writes the final state and the history (wall times removed) to OUT. With
KILL_AT, the process SIGKILLs itself right after that step (a crash at a step boundary); the tests
also kill it from outside at random times.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

import torsh
from torsh import data, nn, optim, train
from torsh.nn import functional as F


def run(run_dir: str, out: str, kill_at: int | None = None) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32)
    train_loader = data.DataLoader(data.ArrayDataset(x[:30], y[:30]), batch_size=4, shuffle=True, seed=1)
    eval_loader = data.DataLoader(data.ArrayDataset(x[30:], y[30:]), batch_size=4)
    torsh.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))
    state = train.TrainState.create(model=model, opt=optim.Adam(lr=1e-2), key=torsh.random.key(3))

    @torsh.jit(donate="state")
    def train_step(state, batch):
        xb, yb = batch
        loss_fn = lambda m: F.cross_entropy(m(xb, key=state.key), yb)
        loss, grads = torsh.value_and_grad(loss_fn)(state.model)
        return state.apply_gradients(grads), {"loss": loss}

    @torsh.jit
    def eval_step(state, batch):
        xb, yb = batch
        logits = state.model.eval()(xb)
        return {"loss": F.cross_entropy(logits, yb, reduction="none"), "acc": (logits.argmax(-1) == yb)}

    class Killer(train.Callback):
        def on_step_end(self, state, logs, step):
            if step == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    print("started", flush=True)
    state, history = train.fit(
        train_step,
        state,
        train_loader,
        epochs=4,
        eval_fn=eval_step,
        eval_loader=eval_loader,
        checkpoint=run_dir,
        save_every=3,
        keep=2,
        progress=False,
        callbacks=[Killer()],
        log=("jsonl", "csv"),
    )
    torsh.save(out, {"model": state.model, "opt": state.opt_state, "step": state.step, "key": state.key})
    records = [{k: v for k, v in r.items() if k != "time"} for r in history]
    with open(out + ".json", "w") as f:
        json.dump(records, f)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
