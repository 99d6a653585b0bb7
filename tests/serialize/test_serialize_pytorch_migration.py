"""PyTorch migration: a state dict saved from a PyTorch module with ``safetensors.torch.save_file`` loads
into the equivalent torsh module unchanged (strict, same keys) and gives the same outputs; and a torsh
module saved with ``torsh.save`` loads into the PyTorch module with ``load_state_dict(strict=True)``."""

from __future__ import annotations

import importlib

import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.torch as stt
import torch

import torsh
from torsh import nn


def _layer(name: str):
    """A torsh.nn layer by name (all are exported from torsh.nn)."""
    return getattr(importlib.import_module("torsh.nn"), name)


def _vision_pair():
    torch.manual_seed(0)
    t = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 4, 3, stride=1, padding=1, groups=2, bias=False),
        torch.nn.GroupNorm(2, 4),
        torch.nn.SiLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 4 * 4, 16),
        torch.nn.LayerNorm(16),
        torch.nn.GELU(),
        torch.nn.Linear(16, 5),
    )
    torsh.manual_seed(1)  # different initial values: everything must come from the file
    s = nn.Sequential(
        _layer("Conv2d")(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        _layer("MaxPool2d")(2),
        _layer("Conv2d")(8, 4, 3, stride=1, padding=1, groups=2, bias=False),
        nn.GroupNorm(2, 4),
        nn.SiLU(),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 16),
        nn.LayerNorm(16),
        nn.GELU(),
        nn.Linear(16, 5),
    )
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    return t, s, x


def _text_pair():
    torch.manual_seed(0)
    t = torch.nn.Sequential(
        torch.nn.Embedding(20, 12),
        torch.nn.LayerNorm(12, elementwise_affine=True),
        torch.nn.Linear(12, 24),
        torch.nn.Tanh(),
        torch.nn.RMSNorm(24),
        torch.nn.Linear(24, 3),
    )
    torsh.manual_seed(1)
    s = nn.Sequential(
        nn.Embedding(20, 12), nn.LayerNorm(12), nn.Linear(12, 24), nn.Tanh(), nn.RMSNorm(24), nn.Linear(24, 3)
    )
    x = np.random.default_rng(1).integers(0, 20, (3, 7))
    return t, s, x


def _train_batchnorm_stats(model: torch.nn.Module, x: np.ndarray) -> None:
    """A few training-mode passes so BatchNorm's running stats and counter are not their defaults."""
    model.train()
    with torch.no_grad():
        for i in range(3):
            model(torch.from_numpy(x) * (1 + i))
    model.eval()


@pytest.mark.parametrize(
    "pair",
    [_vision_pair, _text_pair],
    ids=["conv-bn-pool-groupnorm-linear-layernorm", "embedding-layernorm-rmsnorm"],
)
def test_pytorch_state_dict_loads_into_torsh_and_matches_outputs(tmp_path, pair):
    t, s, x = pair()
    if any(isinstance(m, torch.nn.BatchNorm2d) for m in t.modules()):
        _train_batchnorm_stats(t, x)
    path = tmp_path / "torch.safetensors"
    stt.save_file(t.state_dict(), path)
    assert sorted(torsh.serialize.inspect(path)) == sorted(t.state_dict())

    loaded = torsh.load(path, like=s)  # strict: same keys, shapes and (JAX-representable) dtypes
    assert type(loaded) is type(s) and sorted(loaded.state_dict()) == sorted(t.state_dict())
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(np.asarray(loaded.state_dict()[k]), v.numpy(), err_msg=k)

    with torch.no_grad():
        want = t(torch.from_numpy(x)).numpy()
    got = np.asarray(loaded.eval()(jnp.asarray(x)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pair", [_vision_pair, _text_pair], ids=["vision", "text"])
def test_torsh_file_loads_into_pytorch_with_strict_load_state_dict(tmp_path, pair):
    t, s, x = pair()
    path = tmp_path / "torsh.safetensors"
    torsh.save(path, s)
    state = stt.load_file(path)
    missing, unexpected = t.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    t.eval()
    with torch.no_grad():
        want = t(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.asarray(s.eval()(jnp.asarray(x))), want, rtol=1e-5, atol=1e-5)


def test_a_mismatched_pytorch_module_is_reported_with_every_problem(tmp_path):
    torch.manual_seed(0)
    t = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.LayerNorm(3)
    )
    stt.save_file(t.state_dict(), tmp_path / "t.safetensors")
    s = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(torsh.serialize.StateDictMismatchError) as info:
        torsh.load(tmp_path / "t.safetensors", like=s)
    e = info.value
    assert sorted(e.missing) == ["4.bias", "4.weight"]
    assert sorted(e.unexpected) == ["3.bias", "3.weight"]
    assert sorted(k for k, *_ in e.mismatched) == ["0.bias", "0.weight", "2.weight"]
    assert "0.weight: shape in the file is [8, 4], expected [6, 4]" in str(e)
