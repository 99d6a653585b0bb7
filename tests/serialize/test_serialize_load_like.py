"""load(like=...): matching by name, one error listing every problem, strict=False, cast=, dtype=,
abstract (ShapeDtypeStruct) and numpy targets, scalar <-> 0-d conversions, placement."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import safetensors.numpy as stn

import torsh
from torsh import serialize
from torsh.errors import CheckpointError, ConfigError


@pytest.fixture
def saved(tmp_path):
    tree = {
        "encoder": {"weight": jnp.arange(6.0).reshape(2, 3), "bias": jnp.ones(2)},
        "head": {"weight": jnp.ones((4, 2), jnp.bfloat16)},
        "step": jnp.int32(5),
        "epoch": 2,
    }
    path = tmp_path / "m.safetensors"
    serialize.save(path, tree)
    return path, tree


def test_all_problems_are_listed_in_one_error(saved):
    path, tree = saved
    like = {
        "encoder": {"weight": jnp.zeros((3, 3)), "bias": jnp.zeros(2, jnp.float16)},  # shape, dtype
        "head": {"weight": jnp.zeros((4, 2), jnp.bfloat16), "bias": jnp.zeros(4)},  # missing bias
        "epoch": 0.0,  # int stored, float expected
        # "step" absent: unexpected
    }
    with pytest.raises(serialize.StateDictMismatchError) as info:
        serialize.load(path, like=like)
    e = info.value
    assert isinstance(e, CheckpointError) and isinstance(e, KeyError)
    assert e.missing == ["head.bias"] and e.unexpected == ["step"]
    assert sorted((k, what) for k, what, _, _ in e.mismatched) == [
        ("encoder.bias", "dtype"),
        ("encoder.weight", "shape"),
        ("epoch", "type"),
    ]
    message = str(e)
    for needle in (
        str(path),
        "missing from the file (1): head.bias",
        "unexpected in the file (1): step",
        "encoder.weight: shape in the file is [2, 3], expected [3, 3]",
        "encoder.bias: dtype in the file is float32, expected float16",
        "epoch: type in the file is Python int, expected Python float",
        "cast=True",
    ):
        assert needle in message, (needle, message)


def test_strict_false_keeps_like_values_and_ignores_extras(saved):
    path, tree = saved
    like = {"encoder": {"weight": jnp.zeros((2, 3)), "bias": jnp.zeros(2)}, "extra": jnp.full(3, 7.0)}
    back = serialize.load(path, like=like, strict=False)
    np.testing.assert_array_equal(back["encoder"]["weight"], tree["encoder"]["weight"])
    np.testing.assert_array_equal(back["extra"], like["extra"])  # kept
    assert set(back) == {"encoder", "extra"}
    # Shapes are still checked.
    with pytest.raises(serialize.StateDictMismatchError, match="shape"):
        serialize.load(path, like={"encoder": {"weight": jnp.zeros((1, 1))}}, strict=False)


def test_cast_and_dtype(saved):
    path, tree = saved
    like = {
        "encoder": {"weight": jnp.zeros((2, 3), jnp.bfloat16), "bias": jnp.zeros(2, jnp.float16)},
        "head": {"weight": jnp.zeros((4, 2))},
        "step": jnp.float32(0),
        "epoch": 0.0,
    }
    back = serialize.load(path, like=like, cast=True)
    assert back["encoder"]["weight"].dtype == jnp.bfloat16 and back["head"]["weight"].dtype == jnp.float32
    np.testing.assert_array_equal(back["encoder"]["weight"].astype(jnp.float32), tree["encoder"]["weight"])
    assert back["step"].dtype == jnp.float32 and float(back["step"]) == 5.0
    assert back["epoch"] == 2.0 and type(back["epoch"]) is float
    # dtype= converts the stored floating arrays before matching: a bf16 model from an fp32 file.
    like16 = torsh.tree.cast(tree, jnp.bfloat16)
    back16 = serialize.load(path, like=like16, dtype=jnp.bfloat16)
    assert back16["encoder"]["bias"].dtype == jnp.bfloat16 and back16["step"].dtype == jnp.int32


def test_abstract_like_from_eval_shape_allocates_nothing_first(saved):
    path, tree = saved
    abstract = jax.eval_shape(lambda: {k: v for k, v in tree.items() if k != "epoch"})
    back = serialize.load(path, like={**abstract, "epoch": 0})
    assert torsh.tree.allclose(back, tree)
    # With strict=False a missing entry cannot fall back to an abstract leaf.
    with pytest.raises(serialize.StateDictMismatchError, match="missing from the file"):
        serialize.load(path, like={"nothere": jax.ShapeDtypeStruct((2,), jnp.float32)}, strict=False)


def test_prefix_hint_when_keys_are_nested_one_level_deeper(tmp_path):
    stn.save_file({"model.0.weight": np.ones((2, 2), np.float32)}, tmp_path / "p.safetensors")
    with pytest.raises(
        serialize.StateDictMismatchError, match=r"extra prefix 'model\.'.*like=\{'model': \.\.\.\}"
    ):
        serialize.load(tmp_path / "p.safetensors", like={"0": {"weight": jnp.zeros((2, 2))}})
    back = serialize.load(tmp_path / "p.safetensors", like={"model": {"0": {"weight": jnp.zeros((2, 2))}}})
    np.testing.assert_array_equal(back["model"]["0"]["weight"], np.ones((2, 2)))


def test_zero_d_arrays_fill_python_scalars_and_back(tmp_path):
    # PyTorch stores counters such as num_batches_tracked as 0-d int64 tensors.
    stn.save_file(
        {"count": np.array(7, np.int64), "ratio": np.array(0.5, np.float32)}, tmp_path / "z.safetensors"
    )
    back = serialize.load(tmp_path / "z.safetensors", like={"count": 0, "ratio": 0.0})
    assert back == {"count": 7, "ratio": 0.5} and type(back["count"]) is int
    serialize.save(tmp_path / "s.safetensors", {"count": 3})
    back = serialize.load(tmp_path / "s.safetensors", like={"count": jnp.int32(0)})
    assert back["count"].dtype == jnp.int32 and int(back["count"]) == 3
    with pytest.raises(serialize.StateDictMismatchError, match="kind"):
        serialize.load(tmp_path / "s.safetensors", like={"count": jnp.zeros(2, jnp.int32)})
    serialize.save(tmp_path / "big.safetensors", {"count": 2**40, "x": float("nan")})
    with pytest.raises(serialize.StateDictMismatchError) as info:
        serialize.load(tmp_path / "big.safetensors", like={"count": np.int32(0), "x": 0}, cast=True)
    assert sorted(k for k, *_ in info.value.mismatched) == ["count", "x"]  # would overflow / nan -> int


def test_int64_files_load_into_32_bit_jax_with_a_range_check(tmp_path):
    stn.save_file({"ids": np.array([1, 2, 3], np.int64)}, tmp_path / "i.safetensors")
    back = serialize.load(tmp_path / "i.safetensors", like={"ids": jnp.zeros(3, jnp.int32)})
    assert back["ids"].dtype == jnp.int32 and back["ids"].tolist() == [1, 2, 3]
    stn.save_file({"ids": np.array([1, 2**40], np.int64)}, tmp_path / "big.safetensors")
    with pytest.raises(serialize.StateDictMismatchError, match="value range"):
        serialize.load(tmp_path / "big.safetensors", like={"ids": jnp.zeros(2, jnp.int32)})
    with pytest.raises(CheckpointError, match=r"int64 values in \[1, 1099511627776\] do not fit int32"):
        serialize.load(tmp_path / "big.safetensors")  # without like= too: never wrap silently
    # float64 -> float32 loses precision: only with cast=True.
    stn.save_file({"w": np.ones(2)}, tmp_path / "f.safetensors")
    with pytest.raises(serialize.StateDictMismatchError, match="dtype"):
        serialize.load(tmp_path / "f.safetensors", like={"w": jnp.zeros(2)})
    assert (
        serialize.load(tmp_path / "f.safetensors", like={"w": jnp.zeros(2)}, cast=True)["w"].dtype
        == jnp.float32
    )


def test_keys_from_raw_uint32_data_and_key_mismatches(tmp_path):
    key = jax.random.key(3)
    stn.save_file({"rng": np.asarray(jax.random.key_data(key))}, tmp_path / "k.safetensors")
    back = serialize.load(tmp_path / "k.safetensors", like={"rng": jax.random.key(0)})
    np.testing.assert_array_equal(jax.random.key_data(back["rng"]), jax.random.key_data(key))
    serialize.save(tmp_path / "typed.safetensors", {"rng": jax.random.key(1, impl="rbg")})
    with pytest.raises(serialize.StateDictMismatchError, match="PRNG implementation"):
        serialize.load(tmp_path / "typed.safetensors", like={"rng": jax.random.key(0)})
    with pytest.raises(serialize.StateDictMismatchError, match="kind"):
        serialize.load(tmp_path / "typed.safetensors", like={"rng": jnp.zeros(4, jnp.uint32)})


def test_numpy_like_leaves_come_back_as_writable_numpy(saved):
    path, tree = saved
    like = {"encoder": {"weight": np.zeros((2, 3), np.float32), "bias": np.float32(0)}}
    with pytest.raises(serialize.StateDictMismatchError, match="shape"):
        serialize.load(path, like=like, strict=False)
    like["encoder"]["bias"] = np.zeros(2, np.float32)
    back = serialize.load(path, like=like, strict=False)
    assert isinstance(back["encoder"]["weight"], np.ndarray) and back["encoder"]["weight"].flags.writeable


def test_placement_options(saved):
    path, tree = saved
    cpu = jax.devices("cpu")[0]
    back = serialize.load(path, device="cpu")
    assert back["encoder"]["weight"].devices() == {cpu}
    sharding = jax.sharding.SingleDeviceSharding(cpu)
    back = serialize.load(path, like=tree, sharding={"encoder": {"weight": sharding}})
    assert back["encoder"]["weight"].sharding == sharding
    with pytest.raises(ConfigError, match="not loaded"):
        serialize.load(path, like=tree, sharding={"decoder.weight": sharding})
    with pytest.raises(ConfigError, match="not both"):
        serialize.load(path, device="cpu", sharding=sharding)
    with pytest.raises(ConfigError, match="expected a jax.sharding.Sharding"):
        serialize.load(path, sharding={"encoder.weight": "nonsense"})


def test_unsupported_like_leaf(saved):
    path, _ = saved
    with pytest.raises(ConfigError, match="like= leaf 'epoch'"):
        serialize.load(path, like={"epoch": object()}, strict=False)
