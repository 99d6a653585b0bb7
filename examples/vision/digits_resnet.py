"""A small ResNet on handwritten digits upsampled to 32x32, in plain code (no torsh.train).

The same model, data and augmentation as the ``torsh train digits-resnet`` recipe, written out: a
torsh ``DataLoader`` over ``torsh.vision.datasets.Digits`` with host-side transforms (resize 8x8 ->
32x32, random rotation and crop), a jitted training step with ``torsh.value_and_grad``, BatchNorm
statistics through ``nn.stateful``, ``optim.AdamW`` with a cosine schedule, and evaluation in eval
mode. First it saves a grid of augmented training samples as a PNG (``make_grid``/``save_image``).

Run:  python examples/vision/digits_resnet.py [--epochs 15] [--out-dir runs/digits_resnet_example]
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import data, nn, optim
from torsh.nn import functional as F
from torsh.train.recipes.digits_resnet import MEAN, STD, Config, SmallResNet, datasets
from torsh.vision.utils import make_grid, save_image


def save_augmented_grid(train_set: data.Dataset, path: str, n: int = 64, seed: int = 0) -> None:
    """64 augmented training images (the model's view of the data) in an 8x8 grid."""
    loader = data.DataLoader(train_set, batch_size=n, shuffle=True, seed=seed)
    images, labels = next(iter(loader))
    grid = make_grid(np.asarray(images) * STD + MEAN, nrow=8, padding=2, pad_value=1.0)
    save_image(np.clip(grid, 0.0, 1.0), path)
    print(f"augmented samples: {path} (labels of the first row: {np.asarray(labels)[:8].tolist()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="runs/digits_resnet_example")
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    config = Config(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    train_set, test_set = datasets(config)
    save_augmented_grid(train_set, os.path.join(args.out_dir, "augmented_digits.png"), seed=args.seed)

    loader = data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, seed=args.seed
    )
    test_loader = data.DataLoader(test_set, batch_size=128, pad_last=True)  # one shape: one compile

    model = SmallResNet(1, 10, config.widths, config.blocks, key=torsh.random.key(args.seed))
    print(f"model: {model.num_parameters():,} parameters")
    schedule = optim.schedules.cosine_annealing(config.lr, T_max=config.epochs * len(loader))
    opt = optim.AdamW(lr=schedule, weight_decay=config.weight_decay)
    opt_state = opt.init(model)

    def loss_fn(model: nn.Module, x: jax.Array, y: jax.Array) -> tuple[jax.Array, nn.Module]:
        logits, model = nn.stateful(model)(x)  # training mode: BatchNorm updates its statistics
        return F.cross_entropy(logits, y, label_smoothing=config.label_smoothing), model

    @torsh.jit(donate=("model", "opt_state"))
    def train_step(model, opt_state, x, y):
        (loss, model), grads = torsh.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    @torsh.jit
    def correct(model, batch):
        x, y = batch.data
        pred = jnp.argmax(model.eval()(x), axis=-1)
        return jnp.sum((pred == y) & batch.mask)

    def accuracy(model) -> float:
        hits = sum(int(correct(model, batch)) for batch in test_loader)
        return hits / len(test_set)

    start = time.time()
    for epoch in range(1, config.epochs + 1):
        losses = []
        for x, y in loader:
            model, opt_state, loss = train_step(model, opt_state, x, y)
            losses.append(loss)
        print(
            f"epoch {epoch:3d}  loss {float(jnp.mean(jnp.stack(losses))):.4f}  "
            f"test acc {100 * accuracy(model):.2f}%  ({time.time() - start:.0f} s)",
            flush=True,
        )
    path = os.path.join(args.out_dir, "model.safetensors")
    torsh.save(path, model)
    print(f"final test accuracy: {100 * accuracy(model):.2f}%  (model: {path})")


if __name__ == "__main__":
    main()
