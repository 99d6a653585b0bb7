"""Child process of test_serialize_checkpoint_resume.py: train, checkpoint, resume.

Usage:
  python _serialize_resume_child.py first  DIR      train N steps, checkpoint step N into DIR
  python _serialize_resume_child.py second DIR OUT  restore DIR's latest checkpoint, train N more, save to OUT
  python _serialize_resume_child.py full   DIR OUT  train 2N steps without interruption, save to OUT

Training uses torsh.nn (with dropout, so the RNG key matters), torsh.optim.AdamW with a schedule
(so the optimizer step and moments matter) and a shuffling torsh.data.DataLoader stopped mid-epoch
(so the loader position matters).
"""

from __future__ import annotations

import sys

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import data, nn, optim
from torsh.serialize import CheckpointManager

N = 9  # 6 batches per epoch: the checkpoint falls in the middle of the second epoch


def build(seed: int):
    """Model, optimizer state and RNG key (traceable: the keys are explicit)."""
    k1, k2, key = jax.random.split(jax.random.key(seed), 3)
    model = nn.Sequential(nn.Linear(5, 16, key=k1), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 3, key=k2))
    return model, OPT.init(model), key


def loader():
    rng = np.random.default_rng(0)
    dataset = data.ArrayDataset(rng.standard_normal((96, 5)).astype(np.float32), rng.integers(0, 3, 96))
    return data.DataLoader(dataset, batch_size=16, shuffle=True, seed=7)


OPT = optim.AdamW(lr=optim.schedules.cosine_annealing(3e-2, T_max=4 * N), weight_decay=0.01)


def make_step(opt):
    def loss_fn(model, x, y, key):
        return nn.functional.cross_entropy(model(x, key=key), y)

    @jax.jit
    def train_step(model, state, x, y, key):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, y, key)
        model, state = opt.step(model, grads, state)
        return model, state, loss

    return train_step


def train(model, opt, state, key, loader, steps: int):
    train_step = make_step(opt)
    done = 0
    while done < steps:
        for x, y in loader:
            key, sub = jax.random.split(key)
            model, state, _ = train_step(model, state, jnp.asarray(x), jnp.asarray(y), sub)
            done += 1
            if done == steps:
                break
    return model, state, key


def main() -> None:
    mode, directory = sys.argv[1], sys.argv[2]
    batches = loader()
    if mode == "first":
        model, state, key = jax.jit(build, static_argnums=0)(0)  # one compilation, not one per op
        model, state, key = train(model, OPT, state, key, batches, N)
        with CheckpointManager(directory, async_save=True) as ckpt:
            ckpt.save(N, {"model": model, "opt": state, "rng": key, "data": batches.state_dict()})
    elif mode == "second":
        # Nothing is initialised: like= is abstract (shapes, dtypes and structure from jax.eval_shape),
        # so every value must come from the checkpoint.
        model, state, key = jax.eval_shape(lambda: build(1))
        like = {"model": model, "opt": state, "rng": key, "data": batches.state_dict()}
        restored = CheckpointManager(directory).restore("latest", like=like)
        batches.load_state_dict(restored["data"])
        model, state, key = train(restored["model"], OPT, restored["opt"], restored["rng"], batches, N)
        torsh.save(sys.argv[3], {"model": model, "opt": state, "rng": key, "data": batches.state_dict()})
    else:
        model, state, key = jax.jit(build, static_argnums=0)(0)  # one compilation, not one per op
        model, state, key = train(model, OPT, state, key, batches, 2 * N)
        torsh.save(sys.argv[3], {"model": model, "opt": state, "rng": key, "data": batches.state_dict()})


if __name__ == "__main__":
    main()
