"""Array creation helpers (shapes, dtypes, devices) against numpy/torch, and zero-copy exchange with
numpy and torch (DLPack) checked by comparing data pointers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh.errors import ConfigError, DeviceError, DTypeError, ShapeError


def pointer(x) -> int:
    if isinstance(x, jax.Array):
        return x.unsafe_buffer_pointer()
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    return x.ctypes.data


def aligned_numpy(shape, dtype=np.float32, alignment=64):
    """A numpy array whose buffer starts on an ``alignment``-byte boundary (XLA's requirement to share)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(nbytes + alignment, np.uint8)
    start = (-raw.ctypes.data) % alignment
    return raw[start : start + nbytes].view(dtype).reshape(shape)


# -- creation helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, shape, dtype",
    [
        (lambda: torsh.zeros(2, 3), (2, 3), jnp.float32),
        (lambda: torsh.zeros((2, 3)), (2, 3), jnp.float32),
        (lambda: torsh.zeros([4]), (4,), jnp.float32),
        (lambda: torsh.zeros(), (), jnp.float32),
        (lambda: torsh.zeros(0, 2), (0, 2), jnp.float32),
        (lambda: torsh.ones(3, dtype="int8"), (3,), jnp.int8),
        (lambda: torsh.ones(np.int64(2), 1), (2, 1), jnp.float32),
        (lambda: torsh.ones(np.int64(3)), (3,), jnp.float32),
        (lambda: torsh.zeros(torch.Size([2, 1])), (2, 1), jnp.float32),
        (lambda: torsh.full(np.int64(2), 0.5), (2,), jnp.float32),
        (lambda: torsh.empty(2, dtype=torsh.bfloat16), (2,), jnp.bfloat16),
        (lambda: torsh.full((2, 2), 1.5), (2, 2), jnp.float32),
        (lambda: torsh.full(3, 7), (3,), jnp.int32),
        (lambda: torsh.full((1,), True), (1,), jnp.bool_),
        (lambda: torsh.full((2,), 2, dtype=torch.float16), (2,), jnp.float16),
        (lambda: torsh.arange(5), (5,), jnp.int32),
        (lambda: torsh.arange(1, 2, 0.25), (4,), jnp.float32),
        (lambda: torsh.arange(3.0), (3,), jnp.float32),
        (lambda: torsh.arange(0, 10, 3, dtype="int16"), (4,), jnp.int16),
        (lambda: torsh.linspace(0, 1, 5), (5,), jnp.float32),
        (lambda: torsh.eye(3), (3, 3), jnp.float32),
        (lambda: torsh.eye(2, 4, dtype="int32"), (2, 4), jnp.int32),
        (lambda: torsh.tensor([[1.0, 2.0]]), (1, 2), jnp.float32),
        (lambda: torsh.tensor([1, 2, 3]), (3,), jnp.int32),
        (lambda: torsh.tensor(2.5), (), jnp.float32),
        (lambda: torsh.tensor([True, False]), (2,), jnp.bool_),
        (lambda: torsh.tensor(np.ones(2, np.float16)), (2,), jnp.float16),  # arrays keep their dtype
        (lambda: torsh.tensor([1, 2], dtype="float16"), (2,), jnp.float16),
    ],
)
def test_creation_shapes_and_dtypes(make, shape, dtype):
    x = make()
    assert isinstance(x, jax.Array) and x.shape == shape and x.dtype == dtype


def test_creation_values_match_numpy_and_torch():
    np.testing.assert_array_equal(torsh.zeros(2, 3), np.zeros((2, 3)))
    np.testing.assert_array_equal(torsh.full((2,), 7), [7, 7])
    np.testing.assert_allclose(torsh.arange(1, 2, 0.25), torch.arange(1, 2, 0.25).numpy())
    np.testing.assert_array_equal(torsh.arange(5, 0, -2), torch.arange(5, 0, -2).numpy())
    np.testing.assert_allclose(
        torsh.linspace(-1, 1, 7), torch.linspace(-1, 1, 7).numpy(), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(torsh.eye(2, 3), torch.eye(2, 3).numpy())
    assert torsh.linspace(0, 1, 0).shape == (0,)


def test_like_helpers_keep_shape_and_dtype():
    x = jnp.arange(6, dtype=jnp.int16).reshape(2, 3)
    for out, value in ((torsh.zeros_like(x), 0), (torsh.ones_like(x), 1), (torsh.full_like(x, 4), 4)):
        assert out.shape == (2, 3) and out.dtype == jnp.int16 and (np.asarray(out) == value).all()
    assert torsh.zeros_like(x, dtype="float16").dtype == jnp.float16
    assert torsh.full_like(np.ones(2, np.float32), 0.5).tolist() == [0.5, 0.5]


def test_tensor_copies_and_as_tensor_does_not():
    source = np.ones(3, np.float32)
    x = torsh.tensor(source)
    source[0] = 5
    assert float(x[0]) == 1.0  # tensor() copies, like torch.tensor
    t = torch.ones(2, requires_grad=True)
    y = torsh.tensor(t)
    with torch.no_grad():
        t[0] = 9
    assert y.tolist() == [1.0, 1.0] and y.dtype == jnp.float32
    a = jnp.ones(2)
    assert torsh.as_tensor(a) is a and torsh.as_tensor(a, dtype="float32") is a
    assert torsh.as_tensor(a, dtype="float16").dtype == jnp.float16
    assert torsh.as_tensor([1.0, 2.0]).dtype == jnp.float32


def test_tensor_from_torch_keeps_dtypes_numpy_lacks():
    t = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    x = torsh.tensor(t)
    assert x.dtype == jnp.bfloat16 and x.tolist() == [1.5, -2.25]
    assert torsh.tensor(torch.arange(3)).dtype == jnp.int32  # int64 narrowed as JAX does in 32-bit mode


def test_device_argument_places_the_result():
    cpu0 = jax.devices("cpu")[0]
    for x in (
        torsh.zeros(2, device="cpu"),
        torsh.tensor([1.0], device="cpu:0"),
        torsh.arange(3, device=cpu0),
        torsh.eye(2, device=0),
        torsh.from_numpy(np.ones(2), device="cpu"),
    ):
        assert x.devices() == {cpu0}
        assert x.committed
    with pytest.raises(DeviceError):
        torsh.zeros(2, device="cpu:9")


@pytest.mark.parametrize(
    "make, error, fragment",
    [
        (lambda: torsh.zeros(-1), ConfigError, "non-negative ints"),
        (lambda: torsh.zeros(2.5), ConfigError, "non-negative ints"),
        (lambda: torsh.zeros(None), ConfigError, "non-negative ints"),
        (lambda: torsh.zeros(True), ConfigError, "non-negative ints"),
        (lambda: torsh.full(1.5, 0.0), ConfigError, "non-negative ints"),
        (lambda: torsh.ones((2, "3")), ConfigError, "non-negative ints"),
        (lambda: torsh.full((2, -1), 0.0), ConfigError, "non-negative ints"),
        (lambda: torsh.arange(0, 5, 0), ConfigError, "step must be non-zero"),
        (lambda: torsh.linspace(0, 1, -1), ConfigError, "steps must be an int >= 0"),
        (lambda: torsh.linspace(0, 1, 2.5), ConfigError, "steps must be an int >= 0"),
        # issue 17: a string fill value was reported as "data type 'x' not understood"
        (lambda: torsh.full((2,), "x"), DTypeError, "full: fill_value must be a number .* got str 'x'"),
        (lambda: torsh.full((2,), None), DTypeError, "fill_value must be a number"),
        (lambda: torsh.full((2,), jnp.ones(3)), ShapeError, "fill_value must be a number or a 0-d array"),
        (lambda: torsh.full_like(jnp.ones(2), "x"), DTypeError, "full_like: fill_value must be a number"),
        # issue 17: object arrays gave JAX's "Error interpreting argument to stage"
        (
            lambda: torsh.from_numpy(np.array([1, "a"], dtype=object)),
            DTypeError,
            r"from_numpy: expected numeric or boolean data, got an array of Python objects .*astype",
        ),
        (lambda: torsh.from_numpy(np.array(["a"])), DTypeError, "array of strings"),
        (lambda: torsh.from_numpy(np.array(["2020-01-01"], "datetime64[D]")), DTypeError, "datetimes"),
        (lambda: torsh.tensor(["a", "b"]), DTypeError, "tensor: expected numeric .* strings"),
        (lambda: torsh.tensor([[1, 2], [3]]), ShapeError, "tensor: nested sequences must be rectangular"),
        (
            lambda: torsh.ones_like(np.array([1, None], dtype=object)),
            DTypeError,
            "ones_like: .*Python objects",
        ),
        (lambda: torsh.zeros_like("ab"), DTypeError, "zeros_like: expected an array"),
        (lambda: torsh.arange("a"), DTypeError, "arange: start must be a real number, got str"),
        (lambda: torsh.eye(-1), ConfigError, "eye: n must be an int >= 0, got -1"),
        (lambda: torsh.eye(2, 1.5), ConfigError, "eye: m must be an int >= 0"),
        (lambda: torsh.tensor(None), DTypeError, "cannot make an array of Python objects"),
        (lambda: torsh.tensor([{"a": 1}]), DTypeError, "Python objects"),
        (lambda: torsh.zeros(2, dtype="nope"), DTypeError, "unknown dtype name"),
        (lambda: torsh.from_numpy([1, 2]), DTypeError, "expected a numpy.ndarray, got list"),
        (lambda: torsh.from_numpy(jnp.ones(2)), DTypeError, "got ArrayImpl"),
        (lambda: torsh.from_dlpack([1, 2]), DTypeError, "list does not implement __dlpack__"),
        (lambda: torsh.to_dlpack(np.ones(2)), DTypeError, "expected a jax.Array, got ndarray"),
    ],
)
def test_bad_inputs_raise_torsh_errors(make, error, fragment):
    with pytest.raises(error, match=fragment):
        make()


def test_checked_helpers_still_accept_every_valid_input():
    assert torsh.full((2,), jnp.float32(2.5)).tolist() == [2.5, 2.5]
    assert torsh.full((1,), True).dtype == jnp.bool_ and torsh.full((1,), 1j).dtype == jnp.complex64
    assert torsh.full((2,), np.int8(3)).tolist() == [3, 3]
    assert torsh.arange(jnp.int32(3)).tolist() == [0, 1, 2]
    assert jax.jit(lambda n: torsh.full((2,), n))(jnp.float32(1.5)).tolist() == [1.5, 1.5]
    assert torsh.zeros_like(3.0).shape == () and torsh.ones_like(np.ones((2, 1), bool)).dtype == jnp.bool_
    import ml_dtypes

    assert torsh.from_numpy(np.ones(2, ml_dtypes.bfloat16)).dtype == jnp.bfloat16


# -- numpy exchange ---------------------------------------------------------------------------------


def test_from_numpy_shares_an_aligned_buffer():
    a = aligned_numpy((2, 4))
    a[:] = np.arange(8).reshape(2, 4)
    x = torsh.from_numpy(a)
    assert pointer(x) == pointer(a)
    a[0, 0] = 42.0  # visible through the JAX array: no copy was made
    assert float(x[0, 0]) == 42.0 and x.shape == (2, 4) and x.dtype == jnp.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: aligned_numpy((9,))[1:],  # misaligned start: XLA needs alignment, so it copies
        lambda: np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2],  # not contiguous
        lambda: np.frombuffer(np.arange(4, dtype=np.float32).tobytes(), np.float32),  # read-only
        lambda: np.array(["a", "b"]),  # not numeric: jnp.asarray decides (and refuses)
    ],
    ids=["misaligned", "strided", "readonly", "strings"],
)
def test_from_numpy_falls_back_to_a_copy(make):
    a = make()
    if a.dtype.kind == "U":
        with pytest.raises(TypeError):
            torsh.from_numpy(a)
        return
    a_values = a.copy()
    x = torsh.from_numpy(a)
    np.testing.assert_array_equal(x, a_values)
    if a.flags.writeable:
        a[...] = -1
        np.testing.assert_array_equal(x, a_values)  # an independent copy


def test_from_numpy_of_float64_follows_jax_precision_mode(x64):
    a = aligned_numpy((3,), np.float64)
    a[:] = [0.1, 0.2, 0.3]
    x = torsh.from_numpy(a)
    assert x.dtype == jnp.float64 and x.tolist() == [0.1, 0.2, 0.3]


def test_to_numpy_is_a_zero_copy_view_on_cpu():
    x = jnp.arange(6.0).reshape(2, 3)
    a = torsh.to_numpy(x)
    assert isinstance(a, np.ndarray) and pointer(a) == pointer(x)
    np.testing.assert_array_equal(a, np.arange(6.0).reshape(2, 3))
    assert torsh.to_numpy(jnp.ones(2, jnp.bfloat16)).dtype.name == "bfloat16"


# -- DLPack with numpy and torch ----------------------------------------------------------------------


def test_dlpack_round_trips_with_numpy_share_memory():
    x = jnp.arange(8, dtype=jnp.float32) * 2
    a = np.from_dlpack(torsh.to_dlpack(x))
    assert pointer(a) == pointer(x)
    np.testing.assert_array_equal(a, np.asarray(x))
    b = aligned_numpy((4,), np.int32)
    b[:] = [1, 2, 3, 4]
    y = torsh.from_dlpack(b)
    assert pointer(y) == pointer(b) and y.dtype == jnp.int32


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.uint8, torch.bool]
)
def test_dlpack_round_trips_with_torch_share_memory(dtype):
    t = (torch.arange(16) % 3).to(dtype).reshape(4, 4)
    x = torsh.from_dlpack(t)
    assert pointer(x) == pointer(t) and x.shape == (4, 4)
    assert x.dtype == torsh.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(x.astype(jnp.float32)), t.to(torch.float32).numpy())
    back = torch.from_dlpack(torsh.to_dlpack(x))
    assert pointer(back) == pointer(x) and back.dtype == dtype
    assert torch.equal(back, t)


def test_torch_writes_are_visible_through_a_shared_buffer():
    t = torch.zeros(4)
    x = torsh.from_dlpack(t)
    t[1] = 3.0
    assert x.tolist() == [0.0, 3.0, 0.0, 0.0]
