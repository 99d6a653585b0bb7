"""Child process of test_checkpoint_resume.py: train, checkpoint, resume.

Usage:
  python resume_child.py first  DIR         train N steps, checkpoint step N into DIR
  python resume_child.py second DIR OUT     restore DIR's latest checkpoint, train N more, save to OUT
  python resume_child.py full   DIR OUT     train 2N steps without interruption, save to OUT

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


def setup(seed: int):
    torsh.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 3))
    opt = optim.AdamW(lr=optim.schedules.cosine_annealing(3e-2, T_max=4 * N), weight_decay=0.01)
    rng = np.random.default_rng(0)
    dataset = data.ArrayDataset(rng.standard_normal((96, 5)).astype(np.float32), rng.integers(0, 3, 96))
    loader = data.DataLoader(dataset, batch_size=16, shuffle=True, seed=7)
    return model, opt, opt.init(model), jax.random.key(seed), loader


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
    if mode == "first":
        model, opt, state, key, loader = setup(0)
        model, state, key = train(model, opt, state, key, loader, N)
        with CheckpointManager(directory, async_save=True) as ckpt:
            ckpt.save(N, {"model": model, "opt": state, "rng": key, "data": loader.state_dict()})
    elif mode == "second":
        model, opt, state, key, loader = setup(1)  # different initial values: all must come from the file
        like = {"model": model, "opt": state, "rng": key, "data": loader.state_dict()}
        restored = CheckpointManager(directory).restore("latest", like=like)
        loader.load_state_dict(restored["data"])
        model, state, key = train(restored["model"], opt, restored["opt"], restored["rng"], loader, N)
        torsh.save(sys.argv[3], {"model": model, "opt": state, "rng": key, "data": loader.state_dict()})
    else:
        model, opt, state, key, loader = setup(0)
        model, state, key = train(model, opt, state, key, loader, 2 * N)
        torsh.save(sys.argv[3], {"model": model, "opt": state, "rng": key, "data": loader.state_dict()})


if __name__ == "__main__":
    main()
