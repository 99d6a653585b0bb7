"""The torsh error hierarchy: one base, each class also a builtin a user would catch, and the errors
raised by the foundation carry what was expected, what was got and where."""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import pytest

import torsh
from torsh import errors

BUILTIN = {
    "ConfigError": ValueError,
    "ShapeError": ValueError,
    "DTypeError": TypeError,
    "DeviceError": RuntimeError,
    "BackendUnavailableError": RuntimeError,
    "TreeError": ValueError,
    "FrozenInstanceError": AttributeError,
    "TraceError": RuntimeError,
    "CheckpointError": OSError,
    "DataError": RuntimeError,
    "DistributedError": RuntimeError,
}


def test_all_lists_every_error_class_and_nothing_else():
    classes = {n for n, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, BaseException)}
    assert set(errors.__all__) == classes == {"TorshError", *BUILTIN}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_error_is_a_torsh_error_and_its_builtin(name):
    cls = getattr(errors, name)
    assert issubclass(cls, errors.TorshError) and issubclass(cls, BUILTIN[name])
    assert cls.__doc__  # says when it is raised
    with pytest.raises(BUILTIN[name]):
        raise cls("message")
    with pytest.raises(errors.TorshError, match="message"):
        raise cls("message")


def test_backend_unavailable_is_a_device_error():
    assert issubclass(errors.BackendUnavailableError, errors.DeviceError)
    assert issubclass(errors.TorshError, Exception) and not issubclass(errors.TorshError, ValueError)


def test_foundation_errors_say_expected_got_and_where():
    with pytest.raises(errors.DeviceError, match=r"unknown platform 'tpu'; expected one of"):
        torsh.device("tpu:0")
    with pytest.raises(
        errors.ConfigError,
        match=r"jit\(static=...\): .* has no parameter named 'y'; its parameters are \['x'\]",
    ):
        torsh.jit(lambda x: x, static="y")
    with pytest.raises(errors.ShapeError, match=r"share their leading dimension; got a: 2, b: 3"):
        torsh.scan(lambda c, x: (c, x), 0.0, {"a": jnp.ones(2), "b": jnp.ones(3)})
    with pytest.raises(errors.TreeError, match=r"only in the first: \['a.x'\], only in tree 1: \['a.y'\]"):
        torsh.tree.map(lambda a, b: a, {"a": {"x": 1}}, {"a": {"y": 1}})
    with pytest.raises(errors.DTypeError, match=r"unknown dtype name 'flaot32'; expected one of"):
        torsh.dtype("flaot32")
