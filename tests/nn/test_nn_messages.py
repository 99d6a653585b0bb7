"""Bad arguments get torsh errors that say what was expected and what was got (PyTorch's classes too)."""

from __future__ import annotations

import jax.numpy as jnp
import pytest

from torsh import nn
from torsh.errors import ConfigError, TorshError


@pytest.fixture(scope="module")
def blocks():
    return nn.ModuleList([nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)])


@pytest.mark.parametrize("idx", [3, -4, 100])
def test_container_index_out_of_range(blocks, idx):
    with pytest.raises(
        nn.IndexOutOfRangeError, match=rf"ModuleList index {idx} is out of range: it has 3 entries"
    ):
        blocks[idx]
    with pytest.raises(IndexError):  # PyTorch's class, so `except IndexError` in ported code still works
        nn.Sequential(*blocks)[idx]
    assert isinstance(blocks[-1], nn.Linear) and len(blocks[1:]) == 2


def test_container_keys_and_index_types(blocks):
    with pytest.raises(nn.MissingKeyError, match=r"ModuleDict has no entry 'b'; keys are \['a'\]") as info:
        nn.ModuleDict({"a": nn.ReLU()})["b"]
    assert isinstance(info.value, KeyError) and isinstance(info.value, TorshError)
    with pytest.raises(KeyError, match="no layer named 'z'"):
        nn.Sequential({"a": nn.ReLU()})["z"]
    with pytest.raises(ConfigError, match="indices must be integers or slices, got str"):
        blocks["0"]
    with pytest.raises(nn.IndexOutOfRangeError, match="it is empty"):
        nn.ModuleList()[0]


@pytest.mark.parametrize("bad", [5, [1], 2.5, {"a": 1}.keys().__class__])
def test_freeze_rejects_non_patterns(bad):
    model = nn.Sequential(nn.Linear(2, 2))
    for method in ("freeze", "unfreeze"):
        with pytest.raises(ConfigError, match=rf"{method}: expected a parameter name pattern .* got"):
            getattr(model, method)(bad)
    assert model.freeze(("0.weight",)).num_parameters(trainable_only=True) == 2


def test_train_mode_must_be_a_bool():
    with pytest.raises(ConfigError, match="train: mode must be a bool, got str 'no'"):
        nn.Linear(2, 2).train("no")
    assert not nn.Linear(2, 2).train(False).training
    assert nn.Linear(2, 2)(input=jnp.ones(2)).shape == (2,)
