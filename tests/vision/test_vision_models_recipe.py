"""The digits-resnet recipe: its model against PyTorch in training mode, and a short run end to end."""

from __future__ import annotations

import dataclasses
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import torch
from _vision_torchvision import torchvision

import torsh
from torsh import data, nn
from torsh.train.recipes import digits_resnet as recipe
from torsh.vision import models


class _TorchSmallResNet(torch.nn.Module):
    """The recipe's network written with torchvision's BasicBlock (same names)."""

    def __init__(self, widths, blocks):
        super().__init__()
        BasicBlock = torchvision.models.resnet.BasicBlock
        self.conv1 = torch.nn.Conv2d(1, widths[0], 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if i == 0 else 2
            down = None
            if stride != 1 or cin != w:
                down = torch.nn.Sequential(
                    torch.nn.Conv2d(cin, w, 1, stride, bias=False), torch.nn.BatchNorm2d(w)
                )
            stages.append(
                torch.nn.Sequential(
                    BasicBlock(cin, w, stride, down), *[BasicBlock(w, w) for _ in range(n - 1)]
                )
            )
            cin = w
        self.layers = torch.nn.Sequential(*stages)
        self.fc = torch.nn.Linear(cin, 10)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.fc(self.layers(x).mean(dim=(2, 3)))


def test_small_resnet_training_mode_matches_pytorch():
    # Training mode: batch statistics in the forward pass, running statistics updated (nn.stateful).
    widths, blocks = (4, 8), (2, 1)
    torch.manual_seed(0)
    ref = _TorchSmallResNet(widths, blocks).train()
    ours = recipe.SmallResNet(1, 10, widths, blocks, key=torsh.random.key(0))
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours = ours.load_state_dict(ref.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 1, 16, 16)).astype(np.float32)
    out, updated = jax.jit(lambda m, x: nn.stateful(m)(x))(ours, jnp.asarray(x))
    expected = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)
    for k, v in ref.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(updated.state_dict()[k]), v.numpy(), rtol=1e-4, atol=1e-6, err_msg=k
        )
    assert int(updated.bn1.num_batches_tracked) == 1


def test_recipe_contract_and_a_short_run(tmp_path, monkeypatch):
    # The wiring end to end (loaders, transforms, jitted steps, fit, files) on a subset of the digits:
    # the full 15-epoch run (99.15%) is recorded in docs/vision_models.md.
    full = recipe.datasets

    def small(config):
        train_set, test_set = full(config)
        return data.Subset(train_set, range(0, len(train_set), 6)), data.Subset(
            test_set, range(0, len(test_set), 3)
        )

    monkeypatch.setattr(recipe, "datasets", small)
    assert isinstance(recipe.DESCRIPTION, str) and "\n" not in recipe.DESCRIPTION
    assert dataclasses.is_dataclass(recipe.Config)
    assert list(inspect.signature(recipe.run).parameters) == ["config", "out", "resume", "progress"]
    config = recipe.Config(epochs=1, widths=(8,), blocks=(1,), batch_size=128, seed=1)
    metrics = recipe.run(config, tmp_path, progress=False)
    assert set(metrics) == {"test_loss", "test_acc"} and 0.0 <= metrics["test_acc"] <= 1.0
    assert np.isfinite(metrics["test_loss"])
    # the saved model has torchvision-style keys and loads back into the recipe's model
    model = models.load_weights(recipe.build_model(config), tmp_path / "model.safetensors")
    assert "layers.0.0.conv1.weight" in model.state_dict()
    assert (tmp_path / "metrics.jsonl").exists()
