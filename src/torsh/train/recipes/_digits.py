"""Shared parts of the digits recipes: scikit-learn's ``load_digits`` (1,797 real 8x8 handwritten
digits, shipped with scikit-learn: offline), a stratified 80/20 train/test split with a further 10%
of the training part held out for validation (evaluation during training and keep-best checkpoints
use it; the test split is read once, at the end), loaders, steps and ``fit``."""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
from typing import Any

import numpy as np

import torsh
from torsh import data, metrics, optim, train
from torsh.errors import ConfigError
from torsh.nn import functional as F


def load_split(seed: int, image: bool) -> tuple[data.ArrayDataset, data.ArrayDataset, data.ArrayDataset]:
    """Train, validation and test sets: pixels scaled to [0, 1], images ``[1, 8, 8]`` or vectors ``[64]``."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise ConfigError("the digits recipes need scikit-learn: pip install scikit-learn") from None
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    x_tr, x_va, y_tr, y_va = train_test_split(x_tr, y_tr, test_size=0.1, random_state=seed, stratify=y_tr)
    return data.ArrayDataset(x_tr, y_tr), data.ArrayDataset(x_va, y_va), data.ArrayDataset(x_te, y_te)


def train_digits(
    config: Any, out: pathlib.Path, model: Any, *, image: bool, resume: bool, progress: bool
) -> dict[str, float]:
    """Train ``model`` on the digits with AdamW and a cosine schedule; returns test loss/accuracy."""
    out = pathlib.Path(out)
    train_set, val_set, test_set = load_split(config.seed, image)
    loader = data.DataLoader(
        train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, seed=config.seed
    )
    # pad_last: every evaluation batch has one shape (the mask drops padded rows), so one compile.
    val_loader = data.DataLoader(val_set, batch_size=128, pad_last=True)
    test_loader = data.DataLoader(test_set, batch_size=128, pad_last=True)
    total_steps = config.epochs * len(loader)
    opt = optim.AdamW(
        lr=optim.schedules.cosine_annealing(config.lr, T_max=total_steps), weight_decay=config.weight_decay
    )
    state = train.TrainState.create(model=model, opt=opt, key=torsh.random.key(config.seed))

    def loss_fn(model: Any, x: Any, y: Any, key: Any) -> Any:
        return F.cross_entropy(model(x, key=key), y)

    # Stored compiled programs (a warm `torsh train` skips tracing): the recipe and its config
    # identify the code these steps run.
    key = f"{type(config).__module__}/{config!r}"

    @torsh.jit(donate="state", program_key=key + "/train")
    def train_step(state: train.TrainState, batch: Any) -> tuple[train.TrainState, dict[str, Any]]:
        x, y = batch
        loss, grads = torsh.value_and_grad(loss_fn)(state.model, x, y, state.key)
        return state.apply_gradients(grads), {"loss": loss}

    @torsh.jit(program_key=key + "/eval")
    def eval_step(state: train.TrainState, batch: data.MaskedBatch) -> dict[str, Any]:
        x, y = batch.data
        logits = state.model.eval()(x)
        # per-row losses: fit averages them over the real rows (the batch mask drops the padding)
        return {"loss": F.cross_entropy(logits, y, reduction="none"), "preds": logits, "target": y}

    loaders = (loader, val_loader, test_loader)
    steps = (train_step, eval_step)
    return fit_and_test(config, out, steps, state, loaders, resume=resume, progress=progress)


def fit_and_test(
    config: Any,
    out: pathlib.Path,
    steps: tuple[Any, Any],
    state: train.TrainState,
    loaders: tuple[Any, Any, Any],
    *,
    resume: bool,
    progress: bool,
) -> dict[str, float]:
    """``fit`` with evaluation and keep-best checkpoints on the validation split, the model saved to
    ``out/model.safetensors``, then one evaluation of the test split; returns test loss/accuracy.

    ``steps`` is ``(train_step, eval_step)``, ``loaders`` is ``(train, validation, test)``."""
    # The curves PNG needs matplotlib (torsh[plot]); without it the run still trains and logs.
    plot = ("plot",) if importlib.util.find_spec("matplotlib") is not None else ()
    if not plot and progress:
        print("no matplotlib: curves.png not drawn (pip install 'torsh[plot]')")
    log: tuple[str, ...] = ("jsonl", "csv", *plot) + (("tensorboard",) if config.tensorboard else ())
    (train_step, eval_step), (loader, val_loader, test_loader) = steps, loaders
    state, _ = train.fit(
        train_step,
        state,
        loader,
        epochs=config.epochs,
        eval_fn=eval_step,
        eval_loader=val_loader,
        metrics={"acc": metrics.Accuracy()},
        checkpoint=out / "checkpoints",
        log_dir=out,
        log=log,
        keep=2,
        best_metric="val_acc",
        best_mode="max",
        config=dataclasses.asdict(config),
        progress=progress,
        resume=resume,
    )
    torsh.save(out / "model.safetensors", state.model)
    test = train.evaluate(eval_step, state, test_loader, metrics={"acc": metrics.Accuracy()}, prefix="test_")
    return {"test_loss": float(test["test_loss"]), "test_acc": float(test["test_acc"])}
