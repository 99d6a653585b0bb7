"""Rules tables, plans and presets (on abstract meshes: no devices needed), logical axes of trees,
placement and reports on this process's single device, and the collectives under vmap."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.sharding import AbstractMesh
from jax.sharding import PartitionSpec as P

import torsh
from torsh import distributed as dist
from torsh import nn
from torsh.distributed._axes import AxesLookup, collect_axes

MESH = AbstractMesh((4, 2), ("data", "model"))


# --- presets -------------------------------------------------------------------------------------


def test_presets_rules():
    assert dist.data_parallel().rules == {"batch": "data"} and dist.data_parallel().fsdp is None
    assert dist.fsdp().rules == {"batch": "data"} and dist.fsdp().fsdp == "data"
    assert dist.tensor_parallel("tp").rules == {"batch": None, "mlp": "tp", "heads": "tp", "vocab": "tp"}
    two_d = dist.data_model_parallel(fsdp=True, rules={"embed": None})
    assert two_d.rules == {"batch": "data", "mlp": "model", "heads": "model", "vocab": "model", "embed": None}
    assert two_d.fsdp == "data"
    assert dist.fsdp("data", dist.tensor_parallel().rules).mesh_axes("mlp") == ("model",)


def test_megatron_mlp_is_column_then_row_parallel():
    tp = dist.tensor_parallel()
    assert tp.spec("fc1.weight", (64, 16), ("mlp", "embed"), MESH) == P("model", None)
    assert tp.spec("fc1.bias", (64,), ("mlp",), MESH) == P("model")
    assert tp.spec("fc2.weight", (16, 64), ("embed", "mlp"), MESH) == P(None, "model")
    assert tp.spec("fc2.bias", (16,), ("embed",), MESH) == P(None)
    assert tp.spec("q.weight", (32, 16), ("heads", "embed"), MESH) == P("model", None)
    assert tp.spec("wte.weight", (100, 16), ("vocab", "embed"), MESH) == P("model", None)


def test_fsdp_splits_the_largest_divisible_dimension():
    plan = dist.fsdp()
    assert plan.spec("w", (12, 32), (None, None), MESH) == P(None, "data")
    assert plan.spec("w", (32, 32), (None, None), MESH) == P("data", None)  # ties: the leading one
    assert plan.spec("w", (6, 8), (None, None), MESH) == P(None, "data")  # 6 is not divisible by 4
    assert plan.spec("w", (6, 3), (None, None), MESH) == P(None, None)  # nothing divisible: replicated
    assert plan.spec("step", (), (), MESH) == P()
    # With tensor-parallel rules, FSDP takes another dimension, or stacks on the split one.
    both = dist.data_model_parallel(fsdp=True)
    assert both.spec("w", (64, 16), ("mlp", "embed"), MESH) == P("model", "data")
    assert both.spec("b", (64,), ("mlp",), MESH) == P(("model", "data"))
    assert both.spec("b", (2,), ("mlp",), MESH) == P("model")  # 2 * 4 does not divide 2
    # Small leaves can be kept whole.
    assert dist.fsdp(min_size=100).spec("b", (64,), (None,), MESH) == P(None)
    assert dist.fsdp(min_size=100).spec("w", (64, 16), (None, None), MESH) == P("data", None)


names_strategy = st.sampled_from(["a", "b", "c", None])


@settings(max_examples=examples(60))
@given(
    shape=st.lists(st.sampled_from([1, 2, 3, 4, 6, 8, 12, 16]), min_size=0, max_size=3),
    names=st.lists(names_strategy, min_size=3, max_size=3),
    fsdp=st.booleans(),
)
def test_spec_properties(shape, names, fsdp):
    """Every split dimension is divisible by its mesh axes, no mesh axis splits two dimensions, the
    rules are respected, and FSDP picks the largest free divisible dimension."""
    names = tuple(names[: len(shape)])
    rules = {"a": "data", "b": "model", "c": ("data", "model")}
    plan = dist.Plan(rules, fsdp="data" if fsdp else None)
    sizes = dict(MESH.shape)
    try:
        spec = plan.spec("leaf", shape, names, MESH)
    except dist.ShardingError as e:
        message = str(e)
        assert "'leaf'" in message and str(tuple(shape)) in message
        used = [a for n in names for a in plan.mesh_axes(n)]
        indivisible = any(
            s % math.prod(sizes[a] for a in plan.mesh_axes(n)) for s, n in zip(shape, names, strict=False)
        )
        assert indivisible or len(used) != len(set(used))
        return
    assert len(spec) == len(shape)
    seen: list[str] = []
    for dim, (size, entry) in enumerate(zip(shape, spec, strict=False)):
        axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
        assert size % math.prod(sizes[a] for a in axes) == 0
        seen.extend(axes)
        ruled = plan.mesh_axes(names[dim])
        assert axes[: len(ruled)] == ruled  # the rules come first; FSDP may only add "data" after them
    assert len(seen) == len(set(seen))
    if fsdp and shape and "data" not in [a for n in names for a in plan.mesh_axes(n)]:
        free = [d for d, n in enumerate(names) if not plan.mesh_axes(n) and shape[d] % 4 == 0]
        if free:
            best = max(shape[d] for d in free)
            (where,) = [d for d, e in enumerate(spec) if e == "data"]
            assert shape[where] == best


def test_spec_errors_name_the_leaf():
    plan = dist.Plan({"mlp": "model", "embed": "model", "x": "nope"})
    with pytest.raises(
        dist.ShardingError, match=r"'layers.0.weight' with shape \(5, 8\): dimension 0 \('mlp', size 5\)"
    ):
        plan.spec("layers.0.weight", (5, 8), ("mlp", None), MESH)
    with pytest.raises(dist.ShardingError, match="would split both dimension 0 .* and dimension 1"):
        plan.spec("w", (4, 4), ("mlp", "embed"), MESH)
    with pytest.raises(dist.ShardingError, match="2 logical axis names"):
        plan.spec("w", (4,), ("mlp", None), MESH)
    with pytest.raises(dist.MeshError, match="no axis 'nope'"):
        plan.spec("w", (4,), ("x",), MESH)
    with pytest.raises(dist.MeshError, match="no axis 'nope'"):
        plan.check_mesh(MESH)
    with pytest.raises(dist.MeshError, match="FSDP axis 'batch'"):
        dist.Plan({}, fsdp="batch").check_mesh(MESH)
    # ShardingError is a torsh ShapeError and a DistributedError (and a ValueError).
    assert issubclass(dist.ShardingError, torsh.errors.ShapeError)
    assert issubclass(dist.ShardingError, torsh.errors.DistributedError)


def test_plan_validation_and_value_semantics():
    with pytest.raises(dist.MeshError, match="repeats a mesh axis"):
        dist.Plan({"a": ("data", "data")})
    with pytest.raises(dist.MeshError, match="must map to a mesh axis name"):
        dist.Plan({"a": 3})
    with pytest.raises(dist.MeshError, match="logical names must be strings"):
        dist.Plan({1: "data"})
    with pytest.raises(dist.MeshError, match="fsdp_min_size"):
        dist.Plan({}, fsdp_min_size=-1)
    with pytest.raises(dist.MeshError, match="rules dict"):
        dist.as_plan(["data"])
    with pytest.raises(dist.MeshError, match="unknown field"):
        dist.fsdp().replace(axis="x")
    assert dist.as_plan({"a": "data"}) == dist.Plan({"a": ["data"]})
    assert hash(dist.fsdp()) == hash(dist.fsdp()) and dist.fsdp() != dist.data_parallel()
    assert dist.as_plan(None).rules == {}
    assert "fsdp='data'" in repr(dist.fsdp())
    assert dist.fsdp().replace(fsdp=None).fsdp is None


# --- meshes on this process's devices ------------------------------------------------------------


def test_mesh_arguments():
    n = jax.device_count()
    m = dist.mesh({"data": -1})
    assert m.shape == {"data": n} and m.axis_types == (jax.sharding.AxisType.Auto,)
    assert dist.mesh({"data": n}, axis_types="explicit").axis_types == (jax.sharding.AxisType.Explicit,)
    with pytest.raises(dist.MeshError, match="non-empty dict"):
        dist.mesh({})
    with pytest.raises(dist.MeshError, match="positive int or -1"):
        dist.mesh({"data": 0})
    with pytest.raises(dist.MeshError, match="at most one axis"):
        dist.mesh({"a": -1, "b": -1})
    with pytest.raises(dist.MeshError, match="axis_types"):
        dist.mesh({"data": -1}, axis_types="manual")
    with pytest.raises(
        dist.MeshError, match=f"needs {n + 1} devices but {n} are given.*device_count={n + 1}"
    ):
        dist.mesh({"data": n + 1})
    with pytest.raises(dist.MeshError, match="use_mesh: expected a jax.sharding.Mesh"):
        with dist.use_mesh("data"):
            pass


def test_use_mesh_sets_and_restores_the_context():
    m = dist.mesh({"data": -1})
    assert dist.current_mesh() is None and dist.current_rules() is None
    with dist.use_mesh(m, dist.fsdp()):
        assert dist.current_mesh() == m and dist.current_rules() == dist.fsdp()
        with dist.use_mesh(m, {"batch": None}):
            assert dist.current_rules() == {"batch": None}
        assert dist.current_rules() == dist.fsdp()
    assert dist.current_mesh() is None and dist.current_rules() is None


# --- logical axes of trees -----------------------------------------------------------------------


def _mlp():
    return nn.Sequential(
        nn.Linear(4, 8, axes=("mlp", "embed"), key=jax.random.key(0)),
        nn.Linear(8, 4, axes=("embed", "mlp"), key=jax.random.key(1)),
    )


def test_collect_axes_finds_modules_anywhere():
    model = _mlp()
    assert collect_axes(model) == nn.logical_axes(model)
    moments = jax.tree.map(jnp.zeros_like, model)  # an optimizer moment keeps the module type
    found = collect_axes({"model": model, "opt": {"mu": moments, "count": jnp.zeros(())}})
    assert found["model.0.weight"] == ("mlp", "embed")
    assert found["opt.mu.1.weight"] == ("embed", "mlp") and found["opt.mu.1.bias"] == ("embed",)
    assert "opt.count" not in found
    assert collect_axes({"w": jnp.ones(2)}) == {}


def test_axes_lookup_exact_then_suffix_then_modules():
    model = _mlp()
    lookup = AxesLookup(
        {"opt": {"mu": {"0": {"weight": jnp.ones((8, 4))}}}, "m": model},
        {"0.weight": ("a", "b"), "m.1.bias": ("c",)},
    )
    assert lookup("opt.mu.0.weight", 2) == ("a", "b")  # suffix
    assert lookup("m.0.weight", 2) == ("a", "b")  # explicit beats the module's names
    assert lookup("m.1.bias", 1) == ("c",)
    assert lookup("m.1.weight", 2) == ("embed", "mlp")  # from the module
    assert lookup("x.0.weight", 3) is None  # suffix with the wrong rank is not used
    with pytest.raises(torsh.errors.ConfigError, match="dict of dotted path"):
        AxesLookup({}, [("w", ("a",))])
    with pytest.raises(torsh.errors.ConfigError, match=r"axes\['w'\]"):
        AxesLookup({}, {"w": (1,)})


# --- placement on this process's devices ---------------------------------------------------------


def test_shard_keeps_structure_and_non_array_leaves():
    m = dist.mesh({"data": -1})
    tree = {"model": _mlp(), "step": 3, "name": "x", "np": np.ones((2, 2), np.float32), "none": None}
    placed = dist.shard(tree, m, dist.fsdp())
    assert placed["step"] == 3 and placed["name"] == "x" and placed["none"] is None
    assert isinstance(placed["np"], jax.Array) and placed["np"].sharding.mesh == m
    assert isinstance(placed["model"], nn.Sequential)
    assert placed["model"][0].weight.sharding.spec == P("data", None)
    assert nn.logical_axes(placed["model"]) == nn.logical_axes(tree["model"])
    np.testing.assert_array_equal(np.asarray(placed["model"][0].weight), np.asarray(tree["model"][0].weight))
    again = dist.shard(placed, m, dist.fsdp())
    assert again["model"][0].weight is placed["model"][0].weight  # already in place: no copy
    abstract = dist.shardings(jax.eval_shape(lambda: tree["model"]), m, dist.fsdp())
    assert abstract[0].weight.spec == P("data", None)
    with dist.use_mesh(m, dist.fsdp()):
        assert dist.shard(tree["model"])[1].weight.sharding.spec == P(None, "data")
        assert dist.spec(("mlp", None)) == P(None, None)
        assert dist.spec(("batch", None)) == P("data", None)


def test_with_sharding_constraint_is_a_no_op_without_a_mesh():
    x = jnp.ones((4, 3))
    assert dist.with_sharding_constraint(x, ("batch", None)) is x
    y = jax.jit(lambda v: dist.with_sharding_constraint({"a": v}, ("batch", None)))(x)
    np.testing.assert_array_equal(np.asarray(y["a"]), np.asarray(x))


def test_describe_report():
    m = dist.mesh({"data": -1})
    tree = dist.shard({"w": jnp.ones((8, 4)), "i": jnp.arange(3)}, m, dist.fsdp())
    tree["host"] = np.ones(5, np.float64)
    tree["key"] = jax.random.key(0)
    report = dist.describe(tree)
    assert report["w"].nbytes == 128 and report["i"].nbytes == 12 and report["host"].spec == "host"
    assert report["key"].nbytes == 8  # two uint32 words
    assert report.total_bytes == 128 + 12 + 40 + 8
    n = jax.device_count()
    # w is split n ways, i is split when n divides 3 (else replicated), the key sits on one device.
    assert sum(report.per_device.values()) == 128 + (12 if 3 % n == 0 else 12 * n) + 8
    assert report["key"].spec == "SingleDeviceSharding" and report["w"].replicas == 1
    assert report.mesh == {"data": jax.device_count()}
    text = str(report)
    assert "w" in text and "float32" in text and "P('data', None)" in text
    with pytest.raises(KeyError, match="no array leaf 'nope'"):
        report["nope"]


def test_local_batch_slice_and_to_host_in_one_process():
    m = dist.mesh({"data": -1})
    assert dist.local_batch_slice(16, m) == slice(0, 16)
    batch = dist.shard_batch({"x": np.ones((8, 2), np.float32), "meta": "keep"}, m)
    assert batch["meta"] == "keep"
    host = dist.to_host(batch)
    assert isinstance(host["x"], np.ndarray) and host["x"].shape == (8, 2)
    with pytest.raises(dist.ShardingError, match="fewer dimensions"):
        dist.shard_batch(np.float32(1.0), m)


# --- collectives under vmap (named axes need no devices) -----------------------------------------


@settings(max_examples=examples(8))
@given(n=st.integers(1, 6), blocks=st.integers(1, 3), source=st.integers(0, 5), seed=st.integers(0, 100))
def test_broadcast_and_reduce_scatter_match_numpy(n, blocks, source, seed):
    source = source % n
    x = np.random.default_rng(seed).normal(size=(n, n * blocks, 2)).astype(np.float32)
    out = torsh.vmap(lambda v: dist.broadcast(v, "i", source=source), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(out), np.broadcast_to(x[source], x.shape), rtol=1e-6)
    scattered = torsh.vmap(lambda v: dist.reduce_scatter(v, "i"), axis_name="i")(x)
    want = x.sum(0).reshape(n, blocks, 2)
    np.testing.assert_allclose(np.asarray(scattered), want, rtol=1e-5, atol=1e-5)
    mean = torsh.vmap(lambda v: dist.reduce_scatter(v, "i", dim=-2, op="mean"), axis_name="i")(x)
    np.testing.assert_allclose(np.asarray(mean), want / n, rtol=1e-5, atol=1e-5)


def test_collective_argument_errors():
    x = jnp.ones((4, 3))
    with pytest.raises(torsh.errors.ConfigError, match=r"source must be an int in \[0, 4\)"):
        torsh.vmap(lambda v: dist.broadcast(v, "i", source=-1), axis_name="i")(x)
    with pytest.raises(torsh.errors.ConfigError, match="op must be"):
        torsh.vmap(lambda v: dist.reduce_scatter(v, "i", op="max"), axis_name="i")(x)
    with pytest.raises(dist.ShardingError, match="must be equal to 4"):
        torsh.vmap(lambda v: dist.reduce_scatter(v, "i", tiled=False), axis_name="i")(x)
    with pytest.raises(dist.ShardingError, match="out of range"):
        torsh.vmap(lambda v: dist.reduce_scatter(v, "i", dim=2), axis_name="i")(x)


def test_shard_map_specs_by_name_must_be_complete():
    def f(a, b):
        return a

    with pytest.raises(torsh.errors.ConfigError, match="missing"):
        dist.shard_map(f, in_specs={"a": P()}, out_specs=P())
    with pytest.raises(torsh.errors.ConfigError, match="not parameters"):
        dist.shard_map(f, in_specs={"a": P(), "c": P()}, out_specs=P())
    with pytest.raises(dist.MeshError, match="no mesh given"):
        dist.shard_map(f, out_specs=P())(jnp.ones(2), jnp.ones(2))
