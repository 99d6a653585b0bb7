"""torsh quickstart: train an MLP on real handwritten digits, offline, the way DESIGN.md sketches it.

Data: scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten digits, shipped with the package),
served by ``torsh.data.DataLoader``. Model: ``torsh.nn`` layers (an immutable pytree). Training:
``torsh.value_and_grad`` + ``torsh.optim.AdamW`` inside one ``torsh.jit`` step with donated model
and optimizer state; Dropout gets explicit keys. At the end the model is saved to safetensors
(PyTorch-style keys), loaded back, and checked to give the same accuracy.

Run:  python examples/quickstart.py [--epochs 20] [--seed 0] [--out quickstart_model.safetensors]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import torsh
from torsh import data, nn, optim
from torsh.nn import functional as F


def load_digits_split(seed: int) -> tuple[data.ArrayDataset, data.ArrayDataset]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixel values are 0..16
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 5
    return data.ArrayDataset(x[n_test:], y[n_test:]), data.ArrayDataset(x[:n_test], y[:n_test])


def main() -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="where to save the model (default: a temporary file)")
    parser.add_argument("--progress", action="store_true", help="show a tqdm progress bar per epoch")
    args = parser.parse_args()

    torsh.manual_seed(args.seed)  # seeds construction-time keys only
    train_set, test_set = load_digits_split(args.seed)
    model = nn.Sequential(
        nn.Linear(64, 256),
        nn.GELU(),
        nn.Dropout(0.1),
        nn.Linear(256, 10),
    )
    print(
        f"digits: {len(train_set)} train / {len(test_set)} test; model: {model.num_parameters():,} parameters"
    )

    def loss_fn(model, x, y, key):
        logits = model(x, key=key)  # randomness is an explicit argument
        return F.cross_entropy(logits, y)

    opt = optim.AdamW(lr=args.lr, weight_decay=0.01)
    state = opt.init(model)

    @torsh.jit(donate=("model", "state"))
    def train_step(model, state, x, y, key):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, y, key)  # grads has the model's structure
        model, state = opt.step(model, grads, state)  # pure: returns new values
        return model, state, loss

    @torsh.jit
    def correct(model, x, y):
        return (model(x).argmax(-1) == y).sum()

    def accuracy(model) -> float:
        model = model.eval()  # Dropout off; no key needed
        loader = data.DataLoader(test_set, batch_size=256)
        return sum(int(correct(model, x, y)) for x, y in loader) / len(test_set)

    loader = data.DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        seed=args.seed,
        progress=args.progress,
    )
    data_key = torsh.random.key(args.seed)
    start = time.perf_counter()
    step = 0
    for epoch in range(1, args.epochs + 1):
        loader.set_epoch(epoch)
        total, batches = 0.0, 0
        for x, y in loader:
            model, state, loss = train_step(model, state, x, y, torsh.random.fold_in(data_key, step))
            total, batches, step = total + float(loss), batches + 1, step + 1
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            print(
                f"epoch {epoch:3d}  loss {total / batches:.4f}  test accuracy {accuracy(model):.2%}"
                f"  lr {float(optim.get_lr(state)['default']):.1e}"
            )
    test_acc = accuracy(model)
    print(f"final test accuracy: {test_acc:.2%} ({time.perf_counter() - start:.1f} s)")

    path = args.out or os.path.join(tempfile.mkdtemp(), "quickstart_model.safetensors")
    torsh.save(path, model)  # keys like "0.weight", "3.bias", as PyTorch names them
    restored = torsh.load(path, like=model)
    assert accuracy(restored) == test_acc
    print(f"saved to {path} and restored: keys {list(restored.state_dict())}")
    return test_acc


if __name__ == "__main__":
    main()
