"""Checks that need 8 devices. Run as a script in a subprocess with 8 simulated CPU devices:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python _distributed_checks8.py OUT_DIR

Every ``check_*`` function runs (one failure does not stop the others); results go to
``OUT_DIR/results.json`` as ``{name: {"ok": bool, "error": str}}``; test_distributed_multidevice.py turns each
into a pytest test. Importing this module (to list the checks) creates no arrays.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _distributed_train

import torsh
from torsh import distributed as dist
from torsh import nn

CHECKS: dict[str, Callable[[str], None]] = {}
_CACHE: dict[str, Any] = {}


def check(fn: Callable[[str], None]) -> Callable[[str], None]:
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn


def assert_raises(exc: type[BaseException], fn: Callable[[], Any], *fragments: str) -> str:
    try:
        fn()
    except exc as e:
        message = str(e)
        missing = [f for f in fragments if f not in message]
        assert not missing, f"{exc.__name__} message lacks {missing}: {message}"
        return message
    raise AssertionError(f"expected {exc.__name__}")


# ------------------------------------------------------------------------------------------------
# Train steps: every layout equals the single-device run; shardings are the requested ones.

# Expected specs of the MLP's parameters per layout (see _distributed_train.make_mlp for the logical names).
EXPECTED_SPECS: dict[str, dict[str, P]] = {
    "dp": {
        k: P(*([None] * n))
        for k, n in {
            "0.weight": 2,
            "0.bias": 1,
            "2.weight": 2,
            "2.bias": 1,
            "4.weight": 2,
            "4.bias": 1,
        }.items()
    },
    "fsdp": {
        "0.weight": P("data", None),
        "0.bias": P("data"),
        "2.weight": P(None, "data"),
        "2.bias": P("data"),
        "4.weight": P(None, "data"),
        "4.bias": P("data"),
    },
    "tp": {
        "0.weight": P("model", None),
        "0.bias": P("model"),
        "2.weight": P(None, "model"),
        "2.bias": P(None),
        "4.weight": P(None, None),
        "4.bias": P(None),
    },
    "2d": {
        "0.weight": P("model", None),
        "0.bias": P("model"),
        "2.weight": P(None, "model"),
        "2.bias": P(None),
        "4.weight": P(None, None),
        "4.bias": P(None),
    },
    "2d_fsdp": {
        "0.weight": P("model", "data"),
        "0.bias": P(("model", "data")),
        "2.weight": P("data", "model"),
        "2.bias": P("data"),
        "4.weight": P(None, "data"),
        "4.bias": P("data"),
    },
}


def reference_for(model_name: str) -> dict[str, Any]:
    key = f"ref_{model_name}"
    if key not in _CACHE:
        _CACHE[key] = _distributed_train.train(None, model_name=model_name)
    return _CACHE[key]


def _check_layout(config: str, out_dir: str, model_name: str = "mlp") -> dict[str, Any]:
    """10 AdamW steps on the mesh == 10 steps on one device (1e-5); shardings are the requested ones."""
    ref = reference_for(model_name)
    got = _distributed_train.train(config, model_name=model_name)
    what = f"{model_name}/{config}"
    np.testing.assert_allclose(got["losses"], ref["losses"], rtol=1e-5, atol=1e-6, err_msg=f"{what}: losses")
    assert got["params"].keys() == ref["params"].keys()
    # atol 5e-5 = 0.5% of one lr=1e-2 step: Adam normalises an element's near-zero gradient into a full
    # step, so summation-order rounding (a mesh sums in another order) can move one element by ~2e-5
    # over 10 steps (seen once in 768 after the stop-22 init change); a real error moves whole rows.
    for key, value in ref["params"].items():
        np.testing.assert_allclose(got["params"][key], value, rtol=1e-5, atol=5e-5, err_msg=f"{what}: {key}")
    mesh_shape, make_plan = _distributed_train.CONFIGS[config]
    mesh = dist.mesh(mesh_shape)
    requested = dist.shardings(_distributed_train.MODELS[model_name][0](), mesh, make_plan())
    model, state = got["model"], got["state"]
    for (key, leaf), want in zip(model.state_dict().items(), requested.state_dict().values(), strict=False):
        assert leaf.sharding.is_equivalent_to(want, leaf.ndim), (
            f"{what}: {key} is {leaf.sharding.spec}, want {want.spec}"
        )
        # The optimizer moments live exactly where their parameter lives.
        for moment in ("exp_avg", "exp_avg_sq"):
            m_leaf = getattr(state, moment).state_dict()[key]
            assert m_leaf.sharding.is_equivalent_to(leaf.sharding, leaf.ndim), f"{what}: {moment}.{key}"
    assert state.step.sharding.is_fully_replicated and int(state.step) == _distributed_train.STEPS
    # ... and every leaf is still where shard() put it before the first step (nothing gathered).
    for before, after in zip(jax.tree.leaves(got["placed"]["model"]), jax.tree.leaves(model), strict=False):
        assert after.sharding.is_equivalent_to(before, after.ndim)
    for before, after in zip(jax.tree.leaves(got["placed"]["state"]), jax.tree.leaves(state), strict=False):
        assert after.sharding.is_equivalent_to(before, after.ndim)
    if model_name == "mlp":
        for key, spec in EXPECTED_SPECS[config].items():
            assert model.state_dict()[key].sharding.is_equivalent_to(NamedSharding(mesh, spec), len(spec)), (
                what,
                key,
            )
        np.savez(os.path.join(out_dir, f"params_{config}.npz"), losses=got["losses"], **got["params"])
    return got


@check
def check_train_dp(out_dir: str) -> None:
    _check_layout("dp", out_dir)


@check
def check_train_fsdp(out_dir: str) -> None:
    _check_layout("fsdp", out_dir)


@check
def check_train_tp(out_dir: str) -> None:
    _check_layout("tp", out_dir)


@check
def check_train_2d(out_dir: str) -> None:
    _check_layout("2d", out_dir)


@check
def check_train_2d_fsdp(out_dir: str) -> None:
    _check_layout("2d_fsdp", out_dir)


@check
def check_transformer_layouts(out_dir: str) -> None:
    """A Transformer encoder layer (torsh.nn) under DP, FSDP, Megatron TP and 2-D."""
    for config in ("dp", "fsdp", "tp", "2d"):
        got = _check_layout(config, out_dir, "transformer")
        specs = {k: v.sharding.spec for k, v in got["model"].state_dict().items()}
        if config == "tp":  # heads split in attention, column- then row-parallel MLP, norms replicated
            assert specs["self_attn.in_proj_weight"] == P("model", None)
            assert specs["self_attn.out_proj.weight"] == P(None, "model")
            assert specs["linear1.weight"] == P("model", None) and specs["linear2.weight"] == P(None, "model")
            assert specs["linear2.bias"] == P(None) and specs["norm1.weight"] == P(None)
        if config == "fsdp":
            assert all("data" in str(spec) for spec in specs.values()), specs


@check
def check_constrain_keeps_shardings(out_dir: str) -> None:
    """Keeping shardings with dist.constrain inside the step (instead of out_shardings)."""
    mesh = dist.mesh({"data": 8})
    model = dist.shard(_distributed_train.make_mlp(), mesh, dist.fsdp())
    state = dist.shard(_distributed_train.OPTIMIZER.init(model), mesh, dist.fsdp())
    keep_model, keep_state = dist.sharding_of(model), dist.sharding_of(state)

    @torsh.jit
    def step(model, state, x, y):
        model, state, loss = _distributed_train.train_step(model, state, x, y)
        return dist.constrain(model, keep_model), dist.constrain(state, keep_state), loss

    x, y = dist.shard_batch(_distributed_train.batches(1)[0], mesh)
    new_model, new_state, _ = step(model, state, x, y)
    for a, b in zip(
        jax.tree.leaves(new_model) + jax.tree.leaves(new_state),
        jax.tree.leaves(model) + jax.tree.leaves(state),
        strict=False,
    ):
        assert a.sharding.is_equivalent_to(b.sharding, a.ndim), (a.sharding, b.sharding)
    ref = _distributed_train.train(None, steps=1)["params"]
    for key, value in dist.to_host(new_model.state_dict()).items():
        np.testing.assert_allclose(value, ref[key], rtol=1e-5, atol=1e-6)


@check
def check_explicit_axes_need_model_changes(out_dir: str) -> None:
    """Why meshes default to Auto axes: the same FSDP step is a sharding *type error* with Explicit axes."""
    x, y = _distributed_train.batches(1)[0]
    mlp = _distributed_train.make_mlp()  # outside the mesh context: its eager init would compile again inside
    for axis_types, should_fail in (("explicit", True), ("auto", False)):
        mesh = dist.mesh({"data": 8}, axis_types=axis_types)
        with dist.use_mesh(mesh):
            model = dist.shard(mlp, mesh, dist.fsdp())
            xs, ys = dist.shard_batch((x, y), mesh)
            try:
                jax.jit(_distributed_train.loss_fn).lower(model, xs, ys)  # tracing decides; no need to run
                failed = False
            except Exception as e:  # jax's ShardingTypeError
                failed = "shard" in type(e).__name__.lower() or "sharded" in str(e)
        assert failed == should_fail, (axis_types, failed)


# ------------------------------------------------------------------------------------------------
# describe: FSDP per-device bytes are total / N.


@check
def check_describe_fsdp_bytes(out_dir: str) -> None:
    mesh = dist.mesh({"data": 8})
    model = dist.shard(_distributed_train.make_mlp(), mesh, dist.fsdp())
    state = dist.shard(_distributed_train.OPTIMIZER.init(model), mesh, dist.fsdp())
    report = dist.describe(model)
    total = sum(int(np.prod(p.shape)) * 4 for p in model.parameters())
    assert report.total_bytes == total
    assert report.max_device_bytes == report.min_device_bytes == total // 8, str(report)
    assert len(report.per_device) == 8
    assert report["0.weight"].spec == P("data", None) and report["0.weight"].shard_shape == (8, 16)
    assert report["0.weight"].replicas == 1
    # Model + AdamW state: 3x the parameters over 8 devices, plus the replicated scalars (step, lr).
    both = dist.describe({"model": model, "opt": state})
    scalars = [leaf for leaf in both.leaves if leaf.shape == ()]
    assert {leaf.path for leaf in scalars} == {"opt.step", "opt.lr.default"}, scalars
    assert both.max_device_bytes == 3 * total // 8 + sum(leaf.nbytes for leaf in scalars), str(both)
    # Data parallel: every device holds everything.
    dp = dist.describe(dist.shard(_distributed_train.make_mlp(), mesh, dist.data_parallel()))
    assert dp.max_device_bytes == total and dp["0.weight"].replicas == 8
    # A leaf that 8 does not divide stays replicated: total / N plus that leaf ("padding").
    odd = dist.shard(
        nn.Sequential(nn.Linear(16, 64, key=jax.random.key(0)), nn.Linear(64, 5, key=jax.random.key(1))),
        mesh,
        dist.fsdp(),
    )
    odd_report = dist.describe(odd)
    assert odd_report["1.bias"].spec == P(None) and odd_report["1.weight"].spec == P(None, "data")
    divisible = (64 * 16 + 64 + 5 * 64) * 4
    assert odd_report.max_device_bytes == divisible // 8 + 5 * 4, str(odd_report)
    text = str(both)
    assert "opt.exp_avg.0.weight" in text and "P('data', None)" in text and "per device max" in text


# ------------------------------------------------------------------------------------------------
# pmap == vmap, and shard_map collectives == their numpy definitions.


@check
def check_pmap_equals_vmap(out_dir: str) -> None:
    def f(x, w):
        total = torsh.psum(x, "i")
        gathered = torsh.all_gather(x, "i")
        shifted = torsh.ppermute(x, "i", [(j, (j + 1) % 8) for j in range(8)])
        return jnp.tanh(x @ w) * total.sum() + gathered.mean() + shifted + torsh.axis_index("i")

    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3)), jnp.float32)
    by_pmap = torsh.pmap(f, axis_name="i", in_axes={"w": None})(x, w)
    by_vmap = torsh.vmap(f, axis_name="i", in_axes={"w": None})(x, w)
    np.testing.assert_allclose(np.asarray(by_pmap), np.asarray(by_vmap), rtol=1e-6, atol=1e-6)


@check
def check_shard_map_collectives(out_dir: str) -> None:
    n = 8
    mesh = dist.mesh({"data": n})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)  # device d holds row d
    y = rng.normal(size=(n, n, 2)).astype(np.float32)  # device d holds y[d], shape (n, 2)
    xs = jax.device_put(x, NamedSharding(mesh, P("data")))
    ys = jax.device_put(y, NamedSharding(mesh, P("data")))

    def run(body, out_specs, arg=xs):
        return np.asarray(dist.shard_map(body, mesh=mesh, in_specs=P("data"), out_specs=out_specs)(arg))

    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    close(run(lambda b: dist.psum(b, "data"), P()), x.sum(0, keepdims=True))
    close(run(lambda b: dist.pmean(b, "data"), P()), x.mean(0, keepdims=True))
    close(run(lambda b: dist.pmax(b, "data"), P()), x.max(0, keepdims=True))
    close(run(lambda b: dist.pmin(b, "data"), P()), x.min(0, keepdims=True))
    # all_gather's result is the same on every device but typed as varying (jax.lax.all_gather), so
    # collect every device's copy: n stacked copies of x.
    close(run(lambda b: dist.all_gather(b, "data", tiled=True), P("data")), np.tile(x, (n, 1)))
    close(run(lambda b: dist.all_gather(b[0], "data"), P("data")), np.tile(x, (n, 1)))
    close(run(lambda b: dist.axis_index("data")[None], P("data")), np.arange(n))
    # ppermute: a ring shift sends device d's block to d + 1.
    close(
        run(lambda b: dist.ppermute(b, "data", [(d, (d + 1) % n) for d in range(n)]), P("data")),
        np.roll(x, 1, 0),
    )
    # broadcast from a source index: every device gets that device's block.
    for source in (0, 3, 7):
        close(run(lambda b, s=source: dist.broadcast(b, "data", source=s), P()), x[source : source + 1])
    # reduce_scatter: block i of the sum over devices (tiled), its mean, and the untiled form.
    total = y.sum(0)  # (n, 2)
    close(run(lambda b: dist.reduce_scatter(b[0], "data"), P("data"), ys), total)
    close(run(lambda b: dist.reduce_scatter(b[0], "data", op="mean"), P("data"), ys), total / n)
    close(run(lambda b: dist.reduce_scatter(b[0], "data", tiled=False)[None], P("data"), ys), total)
    close(run(lambda b: dist.psum_scatter(b[0], "data", tiled=True), P("data"), ys), total)
    # all_to_all: device d sends its j-th block to device j (a block transpose).
    close(
        run(lambda b: dist.all_to_all(b[0], "data", 0, 0, tiled=True)[None], P("data"), ys),
        np.transpose(y, (1, 0, 2)),
    )
    # Integer and boolean broadcast keep their dtype.
    ints = jax.device_put(np.arange(n, dtype=np.int32) * 10, NamedSharding(mesh, P("data")))
    out = run(lambda b: dist.broadcast(b, "data", source=5), P(), ints)
    assert out.dtype == np.int32 and out.tolist() == [50]
    bools = jax.device_put(np.arange(n) % 3 == 0, NamedSharding(mesh, P("data")))
    out = run(lambda b: dist.broadcast(b, "data", source=3), P(), bools)
    assert out.dtype == np.bool_ and out.tolist() == [True]

    # A 2-D mesh: collectives over one axis, over both, broadcast along "model".
    mesh2 = dist.mesh({"data": 4, "model": 2})
    z = rng.normal(size=(4, 2)).astype(np.float32)  # device (i, j) holds z[i, j]
    zs = jax.device_put(z, NamedSharding(mesh2, P("data", "model")))

    def run2(body, out_specs):
        return np.asarray(
            dist.shard_map(body, mesh=mesh2, in_specs=P("data", "model"), out_specs=out_specs)(zs)
        )

    close(run2(lambda b: dist.psum(b, "model"), P("data")), z.sum(1, keepdims=True))
    close(run2(lambda b: dist.psum(b, ("data", "model")), P()), z.sum(keepdims=True))
    close(run2(lambda b: dist.broadcast(b, "model", source=1), P("data")), z[:, 1:2])
    close(
        run2(lambda b: dist.broadcast(b, ("data", "model"), source=5), P()), z.reshape(-1)[5:6].reshape(1, 1)
    )
    # The active mesh is used when none is given; specs by parameter name.
    with dist.use_mesh(mesh):
        f = dist.shard_map(
            lambda a, b: dist.psum(a * b, "data"), in_specs={"a": P("data"), "b": P("data")}, out_specs=P()
        )
        close(np.asarray(f(xs, xs)), (x * x).sum(0, keepdims=True))
    # Bad source / bad sizes fail with torsh errors.
    assert_raises(
        torsh.errors.ConfigError, lambda: run(lambda b: dist.broadcast(b, "data", source=8), P()), "[0, 8)"
    )
    assert_raises(
        dist.ShardingError,
        lambda: run(lambda b: dist.reduce_scatter(b, "data", dim=1), P("data")),
        "divisible by 8",
    )


# ------------------------------------------------------------------------------------------------
# Constraints on activations, batches, and errors that name the place.


@check
def check_with_sharding_constraint(out_dir: str) -> None:
    mesh = dist.mesh({"data": 4, "model": 2})
    rules = {"batch": "data", "mlp": "model"}

    class Block(nn.Module):
        fc: nn.Linear

        def __init__(self, key):
            self.fc = nn.Linear(8, 16, axes=("mlp", "embed"), key=key)

        def forward(self, x):
            return dist.with_sharding_constraint(jax.nn.relu(self.fc(x)), ("batch", "mlp"))

    block = Block(jax.random.key(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 8)), jnp.float32)
    plain = block(x)  # no mesh: the constraint is a no-op
    with dist.use_mesh(mesh, rules):
        sharded_block = dist.shard(block, rules=rules)
        out = jax.jit(lambda b, v: b(v))(sharded_block, dist.shard_batch(x))
        hlo = jax.jit(lambda b, v: b(v)).lower(sharded_block, x).as_text()
    assert out.sharding.is_equivalent_to(NamedSharding(mesh, P("data", "model")), 2), out.sharding
    assert "sharding" in hlo
    np.testing.assert_allclose(np.asarray(out), np.asarray(plain), rtol=1e-6, atol=1e-6)
    with dist.use_mesh(mesh, rules):
        assert_raises(
            dist.ShardingError,
            lambda: jax.jit(lambda v: dist.with_sharding_constraint(v, ("batch", "mlp")))(jnp.ones((6, 16))),
            "with_sharding_constraint",
            "(6, 16)",
            "'data'",
        )


@check
def check_batches(out_dir: str) -> None:
    mesh = dist.mesh({"data": 4, "model": 2})
    x = np.arange(8 * 6 * 2, dtype=np.float32).reshape(8, 6, 2)
    assert dist.local_batch_slice(8, mesh) == slice(0, 8)
    xs, labels = dist.shard_batch((x, np.arange(8)), mesh)
    assert xs.sharding.spec == P("data", None, None) and labels.sharding.spec == P("data")
    np.testing.assert_array_equal(np.asarray(xs), x)
    seq = dist.shard_batch(x, mesh, {"batch": "data", "seq": "model"}, names=("batch", "seq"))
    assert seq.sharding.spec == P("data", "model", None)
    assert dist.shard_batch(x, mesh, dist.tensor_parallel()).sharding.spec == P(None, None, None)
    assert_raises(
        dist.ShardingError,
        lambda: dist.shard_batch({"images": np.zeros((6, 3))}, mesh),
        "images",
        "(6, 3)",
        "'data' (4)",
    )
    assert_raises(torsh.errors.ConfigError, lambda: dist.shard_batch(x, dist.mesh({"model": 8})), "'batch'")


@check
def check_dataloader_batches_land_sharded(out_dir: str) -> None:
    """torsh.data.DataLoader(device=batch_sharding(...)) yields batches split along the batch axis."""
    from torsh.data import ArrayDataset, DataLoader

    mesh = dist.mesh({"data": 4, "model": 2})
    x = np.arange(64 * 3, dtype=np.float32).reshape(64, 3)
    loader = DataLoader(
        ArrayDataset(x, np.arange(64)),
        batch_size=16,
        drop_last=True,
        device=dist.batch_sharding(mesh, dist.data_model_parallel()),
    )
    seen = []
    for xb, yb in loader:
        assert xb.sharding.is_equivalent_to(NamedSharding(mesh, P("data", None)), 2), xb.sharding
        assert yb.sharding.is_equivalent_to(NamedSharding(mesh, P("data")), 1), yb.sharding
        np.testing.assert_array_equal(np.asarray(xb), x[np.asarray(yb)])
        seen.extend(np.asarray(yb).tolist())
    assert seen == list(range(64))


@check
def check_errors_name_the_place(out_dir: str) -> None:
    mesh = dist.mesh({"data": 8})
    model = nn.Sequential(nn.Linear(16, 12, axes=("mlp", "embed"), key=jax.random.key(0)))
    assert_raises(
        dist.ShardingError,
        lambda: dist.shard(model, mesh, {"mlp": "data"}),
        "'0.weight'",
        "(12, 16)",
        "dimension 0",
        "'mlp'",
        "'data' (8)",
    )
    assert_raises(dist.MeshError, lambda: dist.shard(model, mesh, {"mlp": "model"}), "'model'", "{'data': 8}")
    assert_raises(
        dist.ShardingError,
        lambda: dist.shard(model, mesh, {"mlp": "data", "embed": "data"}),
        "'0.weight'",
        "'data'",
    )
    assert_raises(dist.MeshError, lambda: dist.mesh({"data": 3}), "needs 3 devices but 8")
    assert_raises(dist.MeshError, lambda: dist.mesh({"data": 3, "model": -1}), "does not divide")
    assert_raises(dist.MeshError, lambda: dist.shard(model, rules={"mlp": "data"}), "no mesh given")
    f = dist.shard_map(lambda a: a, mesh=mesh, in_specs=P("data"), out_specs=P("data"))
    assert_raises(
        dist.ShardingError, lambda: f({"w": jnp.ones((12, 2))}), "argument", "'w'", "(12, 2)", "'data'"
    )
    # FSDP never fails on an indivisible leaf: it stays replicated (and describe shows it).
    placed = dist.shard(model, mesh, dist.fsdp())
    assert placed[0].weight.sharding.spec == P(None, "data")


@check
def check_shard_optimizer_state_by_suffix(out_dir: str) -> None:
    """axes= by parameter path also names optimizer-state leaves whose path ends with it."""
    mesh = dist.mesh({"data": 8})
    params = {"w": jnp.ones((16, 8)), "b": jnp.ones(16)}
    state = {"mu": jax.tree.map(jnp.zeros_like, params), "count": jnp.zeros((), jnp.int32)}
    axes = {"w": ("mlp", "embed"), "b": ("mlp",)}
    placed = dist.shard(state, mesh, {"mlp": "data"}, axes=axes)
    assert placed["mu"]["w"].sharding.spec == P("data", None) and placed["mu"]["b"].sharding.spec == P("data")
    assert placed["count"].sharding.spec == P()
    assert dist.shardings(
        jax.ShapeDtypeStruct((16, 8), jnp.float32), mesh, {"mlp": "data"}, axes={"": ("mlp", None)}
    ).spec == P("data", None)


@check
def check_checkpoint_for_other_process_counts(out_dir: str) -> None:
    """A checkpoint written by this single process, for the 2-process job to restore (and compare)."""
    mesh = dist.mesh({"data": 8})
    got = _distributed_train.train("fsdp")
    torsh.serialize.save(os.path.join(out_dir, "fsdp_1proc.safetensors"), got["model"])
    like = dist.shard(_distributed_train.make_mlp(), mesh, dist.fsdp())
    restored = torsh.serialize.load(os.path.join(out_dir, "fsdp_1proc.safetensors"), like=like)
    for key, leaf in restored.state_dict().items():
        assert leaf.sharding.is_equivalent_to(like.state_dict()[key].sharding, leaf.ndim)
        np.testing.assert_array_equal(np.asarray(leaf), got["params"][key])


def main(out_dir: str, only: list[str]) -> int:
    assert jax.device_count() == 8, f"needs 8 devices, got {jax.device_count()} (set XLA_FLAGS)"
    results = {}
    for name, fn in CHECKS.items():
        if only and name not in only:
            continue
        try:
            fn(out_dir)
            results[name] = {"ok": True, "error": ""}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))  # optional check names after OUT_DIR run only those
