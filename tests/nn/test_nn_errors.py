"""Errors name the module path, the module, the expected and the received shape/dtype — also deep
inside containers and under jit, grad and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError


class Classifier(nn.Module):
    layers: nn.Sequential

    def __init__(self, *, key=None):
        k = nn.split_key(key, 2)
        self.layers = nn.Sequential(nn.Linear(64, 256, key=k[0]), nn.ReLU(), nn.Linear(512, 10, key=k[1]))

    def forward(self, x):
        return self.layers(x)


class Model(nn.Module):
    encoder: nn.ModuleDict
    head: Classifier

    def __init__(self):
        self.encoder = nn.ModuleDict({"blocks": nn.Sequential(nn.Sequential(nn.Linear(8, 64), nn.GELU()))})
        self.head = Classifier()

    def forward(self, x):
        return self.head(self.encoder["blocks"](x))


EXPECTED = 'layers.2 (Linear 512->10): dim "in" is 256 in input [128, 256], expected 512 (in_features)'


@pytest.mark.parametrize("transform", ["eager", "jax.jit", "torsh.jit", "jax.grad"])
def test_shape_error_names_path_module_and_shapes(transform):
    model = Classifier(key=torsh.random.key(0))
    x = jnp.ones((128, 64))
    call = {
        "eager": lambda m, x: m(x),
        "jax.jit": jax.jit(lambda m, x: m(x)),
        "torsh.jit": torsh.jit(lambda m, x: m(x)),
        "jax.grad": jax.grad(lambda m, x: m(x).sum()),
    }[transform]
    with pytest.raises(ShapeError) as info:
        call(model, x)
    assert str(info.value) == EXPECTED
    assert info.value.module_path == "layers.2"


def test_deeply_nested_path_under_jit_and_vmap():
    model = Model()
    with pytest.raises(
        ShapeError,
        match=r'^encoder\.blocks\.0\.0 \(Linear 8->64\): dim "in" is 7 in input \[5, 7\], expected 8 '
        r"\(in_features\)",
    ):
        jax.jit(lambda m, x: m(x))(model, jnp.ones((5, 7)))
    with pytest.raises(
        ShapeError,
        match=r'^head\.layers\.2 \(Linear 512->10\): dim "in" is 256 in input \[256\], expected 512 '
        r"\(in_features\)",
    ):
        jax.vmap(lambda x: model(x))(jnp.ones((3, 8)))


def test_dtype_errors_name_the_module():
    model = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    with pytest.raises(
        DTypeError, match=r"^0 \(Linear 4->4\): expected input of dtype float32 .* got bfloat16"
    ):
        jax.jit(lambda m, x: m(x))(model, jnp.ones((2, 4), jnp.bfloat16))
    with pytest.raises(
        DTypeError, match=r"^0 \(Linear 4->4\): input is int32 \[2, 4\], expected a floating-point array"
    ):
        model(jnp.ones((2, 4), jnp.int32))
    assert isinstance(DTypeError("x"), TypeError)


def test_config_errors_in_forward_get_the_path():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Identity(), nn.Dropout(0.2)))
    with pytest.raises(
        ConfigError, match=r"^1\.1 \(Dropout p=0\.2\): dropout in training mode needs a PRNG key"
    ):
        jax.jit(lambda m, x: m(x))(model, jnp.ones((1, 2)))


def test_batchnorm_and_embedding_errors_in_context():
    model = nn.Sequential(nn.Embedding(5, 3), nn.Flatten(), nn.BatchNorm1d(6))
    with pytest.raises(ShapeError, match=r"^2 \(BatchNorm1d 6\): expected 6 channels at dim 1"):
        nn.stateful(model)(jnp.zeros((4, 3), jnp.int32))
    with pytest.raises(
        DTypeError, match=r"^0 \(Embedding 5x3\): input is float32 \[4, 2\], expected an integer array"
    ):
        model.eval()(jnp.zeros((4, 2)))


def test_error_messages_do_not_accumulate_on_retry():
    model = Classifier(key=torsh.random.key(0))
    f = jax.jit(lambda m, x: m(x))
    for _ in range(2):
        with pytest.raises(ShapeError) as info:
            f(model, jnp.ones((128, 64)))
        assert str(info.value) == EXPECTED


def test_construction_errors_are_config_errors():
    with pytest.raises(ConfigError, match="in_features"):
        nn.Linear(-1, 3)
    with pytest.raises(ConfigError, match="hashable"):
        nn.Softmax(dim=[1])
    with pytest.raises(ConfigError, match="num_features"):
        nn.BatchNorm2d(0)
    with pytest.raises(ConfigError, match="must be an nn.Module"):
        nn.ModuleList([np.ones(2)])
