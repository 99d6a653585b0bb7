"""Dtype names, torsh.dtype normalisation (names, numpy/JAX and torch dtypes), the default float dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh.errors import ConfigError, DTypeError


@pytest.fixture
def restore_default_dtype():
    """set_default_dtype("float64") switches jax_enable_x64 on for the whole process: undo both."""
    dtype, x64 = torsh.get_default_dtype(), jax.config.jax_enable_x64
    yield
    torsh.set_default_dtype(dtype)
    jax.config.update("jax_enable_x64", x64)


def test_dtype_constants_are_numpy_dtypes():
    pairs = {
        torsh.float16: "float16",
        torsh.half: "float16",
        torsh.bfloat16: "bfloat16",
        torsh.float32: "float32",
        torsh.float64: "float64",
        torsh.double: "float64",
        torsh.complex64: "complex64",
        torsh.complex128: "complex128",
        torsh.int8: "int8",
        torsh.int16: "int16",
        torsh.int32: "int32",
        torsh.int64: "int64",
        torsh.uint8: "uint8",
        torsh.uint16: "uint16",
        torsh.uint32: "uint32",
        torsh.uint64: "uint64",
        torsh.bool_: "bool",
    }
    for d, name in pairs.items():
        assert isinstance(d, np.dtype) and d.name == name
        assert d == jnp.dtype(name)


@pytest.mark.parametrize(
    "given, expected",
    [
        ("float32", "float32"),
        ("float", "float32"),
        ("half", "float16"),
        ("double", "float64"),
        ("long", "int64"),
        ("int", "int32"),
        ("bool", "bool"),
        ("bfloat16", "bfloat16"),
        ("torch.float16", "float16"),
        (np.float32, "float32"),
        (np.dtype("int8"), "int8"),
        (jnp.bfloat16, "bfloat16"),
        (jnp.uint16, "uint16"),
        (bool, "bool"),
    ],
)
def test_dtype_normalises_names_and_dtype_objects(given, expected):
    assert torsh.dtype(given) == jnp.dtype(expected)


@pytest.mark.parametrize(
    "torch_dtype",
    [
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.complex64,
        torch.complex128,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
    ],
)
def test_torch_dtypes_map_to_the_same_dtype(torch_dtype):
    d = torsh.dtype(torch_dtype)
    # The reference: the numpy dtype torch itself converts to (numpy has no bfloat16).
    expected = (
        jnp.bfloat16 if torch_dtype == torch.bfloat16 else torch.zeros(1, dtype=torch_dtype).numpy().dtype
    )
    assert d == jnp.dtype(expected)


@pytest.mark.parametrize("bad", ["float31", "torch.qint8", "", "Float32"])
def test_unknown_dtype_names(bad):
    with pytest.raises(DTypeError, match=rf"unknown dtype name '{bad}'.*expected one of \[.*'bfloat16'"):
        torsh.dtype(bad)


@pytest.mark.parametrize("bad", [None, object, 3, [1, 2], {"a": 1}, torch.zeros(1)])
def test_non_dtypes_raise_dtype_error(bad):
    with pytest.raises(DTypeError, match="expected a dtype"):
        torsh.dtype(bad)
    with pytest.raises(TypeError):  # DTypeError is a TypeError too
        torsh.dtype(bad)


def test_default_dtype_float32_unless_changed():
    assert torsh.get_default_dtype() == jnp.float32


@pytest.mark.parametrize("name", ["bfloat16", "float16", "float32"])
def test_set_default_dtype_low_precision(restore_default_dtype, name):
    torsh.set_default_dtype(name)
    assert torsh.get_default_dtype() == jnp.dtype(name)
    for x in (
        torsh.zeros(2),
        torsh.ones(1),
        torsh.tensor([1.0]),
        torsh.arange(0.0, 1.0, 0.5),
        torsh.eye(2),
        torsh.linspace(0, 1, 3),
        torsh.full((2,), 1.5),
        torsh.random.normal(torsh.random.key(0), (2,)),
    ):
        assert x.dtype == jnp.dtype(name)
    # Integer results are unaffected.
    assert torsh.arange(3).dtype == jnp.int32 and torsh.tensor([1, 2]).dtype == jnp.int32


def test_set_default_dtype_float64_turns_on_x64(restore_default_dtype):
    jax.config.update("jax_enable_x64", False)
    torsh.set_default_dtype(torsh.double)
    assert jax.config.jax_enable_x64
    assert torsh.zeros(2).dtype == jnp.float64 and torsh.tensor([0.1]).dtype == jnp.float64
    assert float(torsh.tensor([0.1])[0]) == 0.1  # no float32 rounding
    assert torsh.random.uniform(torsh.random.key(0), 3).dtype == jnp.float64


def test_the_restore_fixture_really_restored():
    assert torsh.get_default_dtype() == jnp.float32 and not jax.config.jax_enable_x64


@pytest.mark.parametrize(
    "bad, error",
    [("int32", ConfigError), (torsh.bool_, ConfigError), ("complex64", ConfigError), ("nope", DTypeError)],
)
def test_set_default_dtype_rejects_non_floating(restore_default_dtype, bad, error):
    with pytest.raises(error):
        torsh.set_default_dtype(bad)
    assert torsh.get_default_dtype() == jnp.float32


def test_finfo_and_iinfo():
    assert torsh.finfo("bfloat16").bits == 16 and torsh.finfo(torsh.float32).eps == np.finfo(np.float32).eps
    assert torsh.iinfo("int8").min == -128 and torsh.iinfo(torch.uint8).max == 255
    with pytest.raises(DTypeError):
        torsh.finfo("nope")
