"""torsh quickstart: train a small MLP on real handwritten digits, offline.

Data: scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten digits, shipped with the package).
Model: an immutable pytree of parameters; training uses torsh's transforms (``value_and_grad``,
``jit`` with donated arguments) and explicit randomness.

Run:  python examples/quickstart.py [--epochs 30] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import torsh


class MLP(torsh.tree.Struct):
    """Two-layer perceptron with PyTorch's Linear layout (weight is [out, in])."""

    w1: jax.Array
    b1: jax.Array
    w2: jax.Array
    b2: jax.Array

    def __init__(self, n_in: int, n_hidden: int, n_out: int, *, key: jax.Array) -> None:
        k1, k2, k3, k4 = torsh.random.split(key, 4)
        bound1, bound2 = 1 / np.sqrt(n_in), 1 / np.sqrt(n_hidden)  # PyTorch's default Linear init
        self.w1 = torsh.random.uniform(k1, (n_hidden, n_in), low=-bound1, high=bound1)
        self.b1 = torsh.random.uniform(k2, (n_hidden,), low=-bound1, high=bound1)
        self.w2 = torsh.random.uniform(k3, (n_out, n_hidden), low=-bound2, high=bound2)
        self.b2 = torsh.random.uniform(k4, (n_out,), low=-bound2, high=bound2)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = jax.nn.gelu(x @ self.w1.T + self.b1)
        return h @ self.w2.T + self.b2


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits)
    return -jnp.take_along_axis(logp, labels[:, None], axis=1).mean()


def load_data(seed: int) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)  # pixel values are 0..16
    y = digits.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 5
    return x[n_test:], y[n_test:], x[:n_test], y[:n_test]


def main() -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torsh.manual_seed(args.seed)
    x_train, y_train, x_test, y_test = load_data(args.seed)
    model = MLP(64, 128, 10, key=torsh.random.next_key())
    velocity = torsh.tree.zeros_like(model)
    print(f"digits: {len(x_train)} train / {len(x_test)} test; model: {torsh.tree.count(model):,} parameters")

    def loss_fn(model: MLP, x: jax.Array, y: jax.Array) -> jax.Array:
        return cross_entropy(model(x), y)

    @torsh.jit(donate=("model", "velocity"))
    def train_step(model, velocity, x, y):
        loss, grads = torsh.value_and_grad(loss_fn)(model, x, y)
        velocity = torsh.tree.map(lambda v, g: 0.9 * v + g, velocity, grads)  # SGD with momentum
        model = torsh.tree.map(lambda p, v: p - args.lr * v, model, velocity)
        return model, velocity, loss

    @torsh.jit
    def accuracy(model, x, y):
        return (model(x).argmax(-1) == y).mean()

    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    n_batches = len(x_train) // args.batch_size
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_train))
        total = 0.0
        for b in range(n_batches):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            model, velocity, loss = train_step(model, velocity, x_train[idx], y_train[idx])
            total += float(loss)
        if epoch == 1 or epoch % 5 == 0 or epoch == args.epochs:
            acc = float(accuracy(model, x_test, y_test))
            print(f"epoch {epoch:3d}  loss {total / n_batches:.4f}  test accuracy {acc:.2%}")
    test_acc = float(accuracy(model, x_test, y_test))
    print(f"final test accuracy: {test_acc:.2%} ({time.perf_counter() - start:.1f} s)")
    return test_acc


if __name__ == "__main__":
    main()
