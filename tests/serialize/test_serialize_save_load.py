"""torsh.serialize.save/load: round trips of every dtype and leaf kind, interop with the reference
safetensors readers/writers (numpy and torch), metadata, atomic writes, copy-once loading, errors."""

from __future__ import annotations

import json
import os
import struct

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy as stn
import safetensors.torch as stt
import torch

import torsh
from torsh import serialize
from torsh.errors import CheckpointError, ConfigError, TraceError

RNG = np.random.default_rng(0)

# Every whole-byte dtype torsh stores, with the safetensors code it must get.
DTYPES = {
    "float16": "F16",
    "bfloat16": "BF16",
    "float32": "F32",
    "float64": "F64",
    "complex64": "C64",
    "int8": "I8",
    "int16": "I16",
    "int32": "I32",
    "int64": "I64",
    "uint8": "U8",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
    "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
}


def _random(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.asarray(_sample(np.dtype(getattr(ml_dtypes, dtype, dtype)), shape))


def _sample(dt: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    if dt == np.bool_:
        return RNG.integers(0, 2, shape).astype(bool)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return RNG.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    if np.issubdtype(dt, np.complexfloating):
        return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dt)
    return RNG.standard_normal(shape).astype(dt)


def _bits(x) -> bytes:
    return np.ascontiguousarray(np.asarray(x)).tobytes()


@pytest.mark.parametrize("dtype", sorted(DTYPES))
def test_numpy_leaves_round_trip_bit_exactly_and_safetensors_reads_them(tmp_path, dtype):
    arrays = {"a": _random(dtype, (3, 5)), "scalar": _random(dtype, ()), "empty": _random(dtype, (0, 2))}
    path = tmp_path / "x.safetensors"
    serialize.save(path, arrays)
    info = serialize.inspect(path)
    assert {k: info[k].dtype for k in arrays} == {k: str(np.dtype(a.dtype)) for k, a in arrays.items()}
    back = serialize.load(path, like=arrays)  # numpy like -> numpy results, exact dtype
    for k, a in arrays.items():
        assert isinstance(back[k], np.ndarray) and back[k].dtype == a.dtype and back[k].shape == a.shape
        assert _bits(back[k]) == _bits(a)
    # The reference reader sees the same tensors under the same codes.
    import safetensors

    raw = dict(safetensors.deserialize(path.read_bytes()))
    for k, a in arrays.items():
        assert raw[k]["dtype"] == DTYPES[dtype] and list(raw[k]["shape"]) == list(a.shape)
        assert bytes(raw[k]["data"]) == _bits(a)
    if DTYPES[dtype] in stn._TYPES:  # safetensors.numpy itself has no bfloat16 / float8
        seen = stn.load_file(path)
        assert all(seen[k].dtype == a.dtype and _bits(seen[k]) == _bits(a) for k, a in arrays.items())


@pytest.mark.parametrize(
    "dtype", ["float16", "bfloat16", "float32", "complex64", "int8", "int32", "uint32", "bool"]
)
def test_jax_leaves_round_trip(tmp_path, dtype):
    x = jnp.asarray(_random(dtype, (4, 3)))
    tree = {"layer": {"w": x, "s": x[0, 0]}}
    serialize.save(tmp_path / "x.safetensors", tree)
    back = serialize.load(tmp_path / "x.safetensors", like=tree)
    assert isinstance(back["layer"]["w"], jax.Array) and back["layer"]["w"].dtype == x.dtype
    assert _bits(back["layer"]["w"]) == _bits(x) and _bits(back["layer"]["s"]) == _bits(x[0, 0])
    plain = serialize.load(tmp_path / "x.safetensors")  # no like: nested dicts of jax arrays
    assert _bits(plain["layer"]["w"]) == _bits(x)


def test_64_bit_dtypes_in_x64_mode(tmp_path, x64):
    tree = {
        "f": jnp.asarray(_random("float64", (3,))),
        "c": jnp.asarray(_random("complex128", (2, 2))),
        "i": jnp.asarray(_random("int64", (5,))),
        "u": jnp.asarray(_random("uint64", (1,))),
    }
    serialize.save(tmp_path / "x.safetensors", tree)
    back = serialize.load(tmp_path / "x.safetensors", like=tree)
    for k, v in tree.items():
        assert back[k].dtype == v.dtype and _bits(back[k]) == _bits(v)


def test_complex128_is_stored_as_float64_pairs(tmp_path):
    z = _random("complex128", (2, 3))
    serialize.save(tmp_path / "z.safetensors", {"z": z})
    seen_by_torch = stt.load_file(tmp_path / "z.safetensors")["z"]
    assert seen_by_torch.dtype == torch.float64 and tuple(seen_by_torch.shape) == (2, 3, 2)
    np.testing.assert_array_equal(torch.view_as_complex(seen_by_torch).numpy(), z)
    back = serialize.load(tmp_path / "z.safetensors", like={"z": z})["z"]
    assert back.dtype == np.complex128 and _bits(back) == _bits(z)


def test_tensors_are_aligned_to_their_item_size_like_the_reference_writer(tmp_path):
    tree = {
        "a": np.ones(3, np.int8),
        "b": np.ones(5, np.float64),
        "c": np.ones(7, np.float16),
        "d": np.ones(1, np.float32),
    }
    serialize.save(tmp_path / "a.safetensors", tree)
    data = (tmp_path / "a.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(data[8 : 8 + n])
    for k, v in tree.items():
        assert (8 + n + header[k]["data_offsets"][0]) % v.itemsize == 0, k


def test_python_scalars_and_strings_round_trip_typed(tmp_path):
    tree = {
        "data": {"epoch": 3, "index": 2**80 + 1, "shuffle": True, "name": "ünïcode ✓", "empty": ""},
        "lr": 0.1,
        "nan": float("nan"),
        "inf": float("-inf"),
        "tiny": 5e-324,
        "z": complex(1.5, -2.0),
    }
    serialize.save(tmp_path / "s.safetensors", tree)
    for back in (
        serialize.load(tmp_path / "s.safetensors"),
        serialize.load(tmp_path / "s.safetensors", like=tree),
    ):
        assert back["data"] == tree["data"] and type(back["data"]["shuffle"]) is bool
        assert back["lr"] == 0.1 and back["tiny"] == 5e-324 and back["z"] == complex(1.5, -2.0)
        assert np.isnan(back["nan"]) and back["inf"] == float("-inf")
    # Other readers see a standard file with no tensors and the metadata header.
    assert stn.load_file(tmp_path / "s.safetensors") == {}


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])
def test_typed_prng_keys_round_trip(tmp_path, impl):
    keys = {"one": jax.random.key(7, impl=impl), "many": jax.random.split(jax.random.key(1, impl=impl), 3)}
    serialize.save(tmp_path / "k.safetensors", keys)
    for back in (
        serialize.load(tmp_path / "k.safetensors"),
        serialize.load(tmp_path / "k.safetensors", like=keys),
    ):
        for k, v in keys.items():
            assert jax.dtypes.issubdtype(back[k].dtype, jax.dtypes.prng_key) and back[k].shape == v.shape
            assert str(jax.random.key_impl(back[k])) == impl
            np.testing.assert_array_equal(jax.random.key_data(back[k]), jax.random.key_data(v))
        # The restored key draws the same numbers.
        np.testing.assert_array_equal(
            jax.random.normal(back["one"], (4,)), jax.random.normal(keys["one"], (4,))
        )
    # The file itself holds the uint32 key data, readable by anyone.
    assert stn.load_file(tmp_path / "k.safetensors")["one"].dtype == np.uint32


def test_structs_lists_tuples_and_none_rebuild_with_like(tmp_path):
    class Block(torsh.tree.Struct):
        weight: jax.Array
        bias: jax.Array | None
        scale: float
        name: str = torsh.tree.static("block")

    tree = {
        "blocks": [Block(jnp.ones((2, 2)), None, 0.5), Block(jnp.zeros((2, 2)), jnp.ones(2), 2.0)],
        "pair": (jnp.arange(3), 4),
    }
    serialize.save(tmp_path / "t.safetensors", tree)
    assert sorted(serialize.inspect(tmp_path / "t.safetensors")) == [
        "blocks.0.scale",
        "blocks.0.weight",
        "blocks.1.bias",
        "blocks.1.scale",
        "blocks.1.weight",
        "pair.0",
        "pair.1",
    ]
    zeros = torsh.tree.map(lambda x: jnp.zeros_like(x) if isinstance(x, jax.Array) else type(x)(0), tree)
    back = serialize.load(tmp_path / "t.safetensors", like=zeros)
    assert torsh.tree.structure(back) == torsh.tree.structure(tree)
    assert (
        isinstance(back["blocks"][1], Block)
        and back["blocks"][0].bias is None
        and back["blocks"][1].scale == 2.0
    )
    assert isinstance(back["pair"], tuple) and back["pair"][1] == 4
    assert torsh.tree.allclose(back, tree)


def test_files_written_by_safetensors_load_in_torsh(tmp_path):
    arrays = {
        "emb.weight": _random("float32", (5, 4)),
        "ids": np.arange(3, dtype=np.int64),
        "mask": _random("bool", (2,)),
    }
    stn.save_file(arrays, tmp_path / "np.safetensors", metadata={"format": "np"})
    back = serialize.load(tmp_path / "np.safetensors", flat=True, device="cpu")
    assert sorted(back) == sorted(arrays)
    np.testing.assert_array_equal(back["emb.weight"], arrays["emb.weight"])
    assert serialize.read_metadata(tmp_path / "np.safetensors") == {"format": "np"}
    nested = serialize.load(tmp_path / "np.safetensors")
    np.testing.assert_array_equal(nested["emb"]["weight"], arrays["emb.weight"])
    # torch's writer, bfloat16 included (safetensors.numpy cannot write bfloat16 at all).
    t = {"w": torch.randn(3, 2, dtype=torch.bfloat16), "h": torch.randn(2, dtype=torch.float16)}
    stt.save_file(t, tmp_path / "pt.safetensors")
    back = serialize.load(tmp_path / "pt.safetensors")
    assert back["w"].dtype == jnp.bfloat16
    assert _bits(back["w"]) == t["w"].view(torch.int16).numpy().tobytes()
    np.testing.assert_array_equal(np.asarray(back["h"]), t["h"].numpy())


def test_torch_reader_sees_torsh_bfloat16_bit_exactly(tmp_path):
    w = jnp.asarray(_random("bfloat16", (4, 4)))
    serialize.save(tmp_path / "b.safetensors", {"w": w})
    t = stt.load_file(tmp_path / "b.safetensors")["w"]
    assert t.dtype == torch.bfloat16 and t.view(torch.int16).numpy().tobytes() == _bits(w)


def test_user_metadata_round_trips_and_reserved_names_are_refused(tmp_path):
    serialize.save(tmp_path / "m.safetensors", {"w": jnp.ones(1)}, metadata={"run": "exp1", "note": "ok"})
    assert serialize.read_metadata(tmp_path / "m.safetensors") == {"run": "exp1", "note": "ok"}
    with pytest.raises(ConfigError, match="reserved prefix"):
        serialize.save(tmp_path / "m2.safetensors", {"w": jnp.ones(1)}, metadata={"torsh.leaves": "x"})
    with pytest.raises(ConfigError, match="str to str"):
        serialize.save(tmp_path / "m2.safetensors", {"w": jnp.ones(1)}, metadata={"n": 3})


def test_save_errors_name_the_leaf(tmp_path):
    with pytest.raises(serialize.UnsupportedDTypeError, match=r"'layer\.fn'.*object"):
        serialize.save(tmp_path / "e.safetensors", {"layer": {"fn": object()}})
    with pytest.raises(serialize.UnsupportedDTypeError, match=r"'q'.*int4"):
        serialize.save(tmp_path / "e.safetensors", {"q": jnp.zeros(2, jnp.int4)})
    with pytest.raises(ConfigError, match="same dotted path 'a.b'"):
        serialize.save(tmp_path / "e.safetensors", {"a.b": jnp.ones(1), "a": {"b": jnp.ones(1)}})
    with pytest.raises(ConfigError, match="reserved by the safetensors format"):
        serialize.save(tmp_path / "e.safetensors", {"__metadata__": jnp.ones(1)})
    with pytest.raises(TraceError, match="traced value"):
        jax.jit(lambda x: serialize.to_bytes({"x": x}))(jnp.ones(2))
    donated = jnp.ones(3)
    jax.jit(lambda x: x + 1, donate_argnums=0)(donated)
    with pytest.raises(CheckpointError, match=r"'w' is a deleted array \(donated"):
        serialize.save(tmp_path / "e.safetensors", {"w": donated})
    assert not list(tmp_path.iterdir())  # nothing written, no temporary files left


def test_save_is_atomic_and_replaces_existing_files(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    serialize.save(path, {"w": jnp.ones(3)})
    serialize.save(path, {"w": jnp.full(3, 2.0)})
    np.testing.assert_array_equal(serialize.load(path)["w"], np.full(3, 2.0))
    # A failure in the middle of a write leaves the previous file untouched and no temporary file.
    from torsh.serialize import _leaves

    def broken_fetch(self, copy):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_leaves.Record, "fetch", broken_fetch)
    with pytest.raises(CheckpointError, match="No space left"):
        serialize.save(path, {"w": jnp.zeros(3)})
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    np.testing.assert_array_equal(serialize.load(path)["w"], np.full(3, 2.0))


def test_loaded_arrays_do_not_alias_the_file(tmp_path):
    # XLA:CPU adopts aligned host buffers; a loaded array must not be a view of the mapped file.
    path = tmp_path / "a.safetensors"
    big = np.arange(64 * 1024, dtype=np.float32)
    for pad in range(64):  # place the data section at a 64-byte boundary, where XLA would adopt it
        serialize.save(path, {"big": big, "small": big[:3]}, metadata={"pad": "x" * pad})
        if (8 + struct.unpack("<Q", path.read_bytes()[:8])[0]) % 64 == 0:
            break
    loaded = serialize.load(path)
    like_loaded = serialize.load(path, like={"big": jnp.zeros_like(big), "small": jnp.zeros(3)})
    with open(path, "r+b") as f:  # overwrite the data section in place
        f.seek(os.path.getsize(path) - big.nbytes)
        f.write(b"\xff" * big.nbytes)
    for tree in (loaded, like_loaded):
        np.testing.assert_array_equal(tree["big"], big)
        np.testing.assert_array_equal(tree["small"], big[:3])


def test_save_streams_without_host_copies_and_load_copies_once(tmp_path):
    import tracemalloc

    model = {
        f"layer{i}": {"w": jnp.full((256, 256), float(i)), "n": np.full((256, 256), i, np.float32)}
        for i in range(8)
    }
    nbytes = torsh.tree.nbytes(model)  # 4 MB
    path = tmp_path / "m.safetensors"
    serialize.save(path, model)  # warm up
    tracemalloc.start()
    try:
        serialize.save(path, model)
        _, peak_save = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        loaded = serialize.load(path, like=model)
        _, peak_load = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak_save < 0.05 * nbytes  # CPU arrays are written from their buffers, numpy ones too
    assert peak_load < 1.25 * nbytes  # one copy out of the mapping (XLA adopts the jax halves)
    assert torsh.tree.allclose(loaded, model)


def test_dtype_option_converts_floating_arrays_only(tmp_path):
    tree = {"w": jnp.ones((2, 2)), "i": jnp.arange(3)}
    serialize.save(tmp_path / "d.safetensors", tree)
    back = serialize.load(tmp_path / "d.safetensors", dtype="bfloat16")
    assert back["w"].dtype == jnp.bfloat16 and back["i"].dtype == jnp.int32
    with pytest.raises(ConfigError, match="must be floating"):
        serialize.load(tmp_path / "d.safetensors", dtype="int8")


def test_bytes_round_trip_and_missing_file_errors(tmp_path):
    tree = {"w": jnp.arange(6.0).reshape(2, 3), "k": jax.random.key(0), "n": 1}
    data = serialize.to_bytes(tree)
    back = serialize.from_bytes(data, like=tree)
    assert torsh.tree.allclose(back["w"], tree["w"]) and back["n"] == 1
    with pytest.raises(serialize.CheckpointNotFoundError, match="no such file"):
        serialize.load(tmp_path / "nope.safetensors")
    with pytest.raises(CheckpointError, match="cannot open"):
        serialize.load(tmp_path)  # a directory


def test_a_single_leaf_is_a_tree_too(tmp_path):
    for leaf in (jnp.arange(3.0), jax.random.key(5), 42, "text"):
        serialize.save(tmp_path / "leaf.safetensors", leaf)
        for back in (
            serialize.load(tmp_path / "leaf.safetensors"),
            serialize.load(tmp_path / "leaf.safetensors", like=leaf),
        ):
            assert torsh.tree.structure(back) == torsh.tree.structure(leaf)
            if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                np.testing.assert_array_equal(jax.random.key_data(back), jax.random.key_data(leaf))
            else:
                assert np.array_equal(back, leaf)
    assert list(stn.load_file(tmp_path / "leaf.safetensors")) == []  # "text" lives in the metadata
    serialize.save(tmp_path / "leaf.safetensors", np.ones(2, np.float32))
    assert list(stn.load_file(tmp_path / "leaf.safetensors")) == [""]


def test_nesting_conflicts_ask_for_flat(tmp_path):
    stn.save_file({"a": np.ones(1, np.float32), "a.b": np.ones(1, np.float32)}, tmp_path / "c.safetensors")
    with pytest.raises(CheckpointError, match="flat=True"):
        serialize.load(tmp_path / "c.safetensors")
    assert sorted(serialize.load(tmp_path / "c.safetensors", flat=True)) == ["a", "a.b"]


def test_top_level_reexports_are_the_same_functions():
    assert torsh.save is serialize.save and torsh.load is serialize.load
