"""Child process of test_serialize_checkpoint_sharded.py (needs 8 devices: run with
XLA_FLAGS=--xla_force_host_platform_device_count=8). Prints OK when every check passed."""

from __future__ import annotations

import os
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

from torsh import serialize
from torsh.serialize import CheckpointManager


def main() -> None:
    assert jax.device_count() == 8, jax.devices()
    devices = np.array(jax.devices())
    mesh_a = jax.sharding.Mesh(devices.reshape(4, 2), ("data", "model"))
    mesh_b = jax.sharding.Mesh(devices.reshape(2, 4), ("x", "y"))
    rng = np.random.default_rng(0)
    host = {
        "w": rng.standard_normal((16, 8)).astype(np.float32),
        "b": rng.standard_normal(8).astype(np.float32),
        "e": rng.standard_normal((8, 4)).astype(jnp.bfloat16),
        "r": rng.standard_normal((3, 3)).astype(np.float32),
        "i": np.arange(32, dtype=np.int32).reshape(8, 4),
    }
    layout_a = {"w": P("data", "model"), "b": P("model"), "e": P(None, "model"), "r": P(), "i": P("data")}
    layout_b = {"w": P(None, ("x", "y")), "b": P("x"), "e": P(("x", "y")), "r": P(), "i": P(None, "y")}
    put = lambda mesh, layout: {k: jax.device_put(v, NamedSharding(mesh, layout[k])) for k, v in host.items()}
    tree_a = put(mesh_a, layout_a)
    assert len(tree_a["w"].sharding.device_set) == 8 and not tree_a["b"].is_fully_replicated

    directory = tempfile.mkdtemp()
    path = os.path.join(directory, "sharded.safetensors")
    serialize.save(
        path,
        {
            **tree_a,
            "key": jax.device_put(jax.random.split(jax.random.key(0), 8), NamedSharding(mesh_a, P("data"))),
        },
    )

    # 1. The file holds the full arrays (shards assembled, replicas written once).
    import safetensors.torch
    import torch

    seen = safetensors.torch.load_file(path)
    for k, v in host.items():
        t = seen[k]
        got = t.view(torch.int16).numpy().view(jnp.bfloat16) if v.dtype == jnp.bfloat16 else t.numpy()
        np.testing.assert_array_equal(got, v)

    # 2. Restore onto another layout: arrays follow like='s shardings.
    like_b = put(mesh_b, layout_b)
    like_b["key"] = jax.device_put(jax.random.split(jax.random.key(9), 8), NamedSharding(mesh_b, P("x")))
    back = serialize.load(path, like=like_b)
    for k, v in host.items():
        assert back[k].sharding == like_b[k].sharding, (k, back[k].sharding, like_b[k].sharding)
        np.testing.assert_array_equal(np.asarray(back[k]), v)
    assert back["key"].sharding == like_b["key"].sharding
    np.testing.assert_array_equal(
        jax.random.key_data(back["key"]), jax.random.key_data(jax.random.split(jax.random.key(0), 8))
    )

    # 3. Abstract like with shardings (no arrays allocated first), and explicit sharding= overrides.
    abstract = {
        k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=like_b[k].sharding) for k, v in host.items()
    }
    back = serialize.load(path, like=abstract, strict=False)
    assert all(back[k].sharding == abstract[k].sharding for k in host)
    one = SingleDeviceSharding(jax.devices()[5])
    back = serialize.load(
        path, like=abstract, strict=False, sharding={"w": NamedSharding(mesh_a, P("data")), "b": one}
    )
    assert back["w"].sharding == NamedSharding(mesh_a, P("data")) and back["b"].devices() == {
        jax.devices()[5]
    }
    everything = NamedSharding(mesh_b, P())
    back = serialize.load(path, sharding=everything)
    assert all(back[k].sharding == everything for k in host)

    # 4. Checkpoints of sharded arrays (sync and async) restore onto a different layout.
    for async_save in (False, True):
        ckpt = CheckpointManager(os.path.join(directory, f"ckpt-{async_save}"), async_save=async_save, keep=1)
        model_a = {"layers": [{"w": tree_a["w"], "b": tree_a["b"]}], "emb": tree_a["e"]}
        ckpt.save(1, {"model": model_a, "step": {"n": 1}})
        ckpt.save(2, {"model": model_a, "step": {"n": 2}})
        like = {
            "model": {"layers": [{"w": like_b["w"], "b": like_b["b"]}], "emb": like_b["e"]},
            "step": {"n": 0},
        }
        restored = ckpt.restore("latest", like=like)
        assert ckpt.all_steps() == [2] and restored["step"] == {"n": 2}
        layer = restored["model"]["layers"][0]
        assert (
            layer["w"].sharding == like_b["w"].sharding
            and restored["model"]["emb"].sharding == like_b["e"].sharding
        )
        np.testing.assert_array_equal(np.asarray(layer["w"]), host["w"])
        np.testing.assert_array_equal(
            np.asarray(restored["model"]["emb"]).view(np.uint16), host["e"].view(np.uint16)
        )
        # One sharding for everything in an item.
        flat = ckpt.restore("latest", items=["model"], sharding={"model": NamedSharding(mesh_a, P())})
        assert flat["model"]["layers"]["0"]["w"].sharding == NamedSharding(mesh_a, P())
        ckpt.close()

    # 5. Computations on the restored arrays work under their new layout.
    total = jax.jit(lambda t: t["w"].sum() + t["i"].sum())(back)
    assert np.isclose(float(total), host["w"].sum() + host["i"].sum(), rtol=1e-5)
    print("OK")


if __name__ == "__main__":
    sys.exit(main())
