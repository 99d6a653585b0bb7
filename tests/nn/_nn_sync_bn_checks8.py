"""Synchronised BatchNorm on 8 simulated CPU devices. Run as a script in ONE subprocess:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python _nn_sync_bn_checks8.py OUT_FILE

Each device holds a shard of the batch (``shard_map`` over a mesh axis, or ``pmap``); outputs,
running statistics and gradients must equal torch.nn.BatchNorm*d on the whole batch
(_nn_sync_bn_reference.py). Every ``check_*`` runs (one failure does not stop the others); results
go to OUT_FILE as ``{name: {"ok": bool, "error": str}}``, which test_nn_sync_batchnorm.py turns into
tests. Importing this module (to list the checks) creates no arrays.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import _nn_sync_bn_reference as ref
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import torsh
from torsh import distributed as dist
from torsh import nn
from torsh.errors import DistributedError

DEVICES = 8
PER_DEVICE = 2
CHECKS: dict[str, Callable[[], None]] = {}


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn


def _load(t: Any, layer: nn.Module) -> nn.Module:
    return layer.load_state_dict(ref.state(t))


def _shard_map_case(
    layer_of: Callable[[int], nn.Module], spatial: int, momentum: float | None, dtype: str
) -> None:
    """Two training steps of ``layer`` under shard_map (grad taken outside) against torch."""
    c = 3
    t = ref.torch_bn(spatial, c, momentum, dtype, seed=spatial)
    model = _load(t, layer_of(c))
    data = ref.batches(DEVICES * PER_DEVICE, c, spatial, steps=2, dtype=dtype, seed=spatial)
    want = ref.torch_steps(t, data)
    mesh = dist.mesh({"data": DEVICES})

    @dist.shard_map(mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=(P(), P("data"), P()))
    def per_device(m: nn.Module, x: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array, nn.Module]:
        out, new = nn.stateful(m)(x)
        return dist.psum(jnp.sum(out * g), "data"), out, new

    @jax.jit
    def step(m: nn.Module, x: jax.Array, g: jax.Array) -> Any:
        def loss(m: nn.Module, x: jax.Array) -> Any:
            total, out, new = per_device(m, x, g)
            return total, (out, new)

        return torsh.value_and_grad(loss, argnums=(0, 1), has_aux=True)(m, x)

    replicated, split = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    model = jax.device_put(model, replicated)
    for i, ((x, g), w) in enumerate(zip(data, want, strict=True)):
        (_, (out, model)), (gm, gx) = step(model, jax.device_put(x, split), jax.device_put(g, split))
        got = {"out": out, "input": gx, "weight": gm.weight, "bias": gm.bias, "state": model.state_dict()}
        ref.compare(got, w, dtype, f"shard_map {dtype} step {i}")
        assert out.dtype == jnp.dtype(dtype), out.dtype


@check
def check_shard_map_sync_batchnorm_f32() -> None:
    _shard_map_case(lambda c: nn.SyncBatchNorm(c, axis_name="data"), 2, 0.1, "float32")


@check
def check_shard_map_batchnorm1d_axis_name_f64_cumulative() -> None:
    with jax.enable_x64(True):
        _shard_map_case(
            lambda c: nn.BatchNorm1d(c, momentum=None, axis_name="data", dtype=jnp.float64),
            1,
            None,
            "float64",
        )


@check
def check_pmap_batchnorm3d_grad_inside_f32() -> None:
    # the data-parallel pattern: gradients taken per device, parameter gradients then all-reduced
    c, spatial = 2, 3
    t = ref.torch_bn(spatial, c, 0.1, "float32", seed=7)
    model = _load(t, nn.BatchNorm3d(c, axis_name="d"))
    ((x, g),) = ref.batches(DEVICES * PER_DEVICE, c, spatial, steps=1, dtype="float32", seed=7)
    (want,) = ref.torch_steps(t, [(x, g)])

    def per_device(m: nn.Module, x: jax.Array, g: jax.Array) -> Any:
        def loss(m: nn.Module, x: jax.Array) -> Any:
            out, new = nn.stateful(m)(x)
            return jnp.sum(out * g), (out, new)

        (_, (out, new)), (gm, gx) = torsh.value_and_grad(loss, argnums=(0, 1), has_aux=True)(m, x)
        return out, new, torsh.psum(gm.weight, "d"), torsh.psum(gm.bias, "d"), gx

    shards = (DEVICES, PER_DEVICE) + x.shape[1:]
    out, new, gw, gb, gx = torsh.pmap(per_device, axis_name="d", in_axes=(None, 0, 0))(
        model, jnp.asarray(x).reshape(shards), jnp.asarray(g).reshape(shards)
    )
    first = jax.tree.map(lambda a: a[0], new)
    got = {
        "out": out.reshape(x.shape),
        "input": gx.reshape(x.shape),
        "weight": gw[0],
        "bias": gb[0],
        "state": first.state_dict(),
    }
    ref.compare(got, want, "float32", "pmap")


@check
def check_unbound_axis_name_is_a_distributed_error() -> None:
    mesh = dist.mesh({"data": DEVICES})
    layer = nn.SyncBatchNorm(2, axis_name="batch")

    @dist.shard_map(mesh=mesh, in_specs=P("data"), out_specs=P("data"))
    def per_device(x: jax.Array) -> jax.Array:
        return nn.stateful(layer)(x)[0]

    try:
        per_device(jnp.ones((DEVICES * 2, 2)))
    except DistributedError as e:
        assert "axis_name='batch'" in str(e) and "shard_map" in str(e) and "pmap" in str(e), str(e)
    else:
        raise AssertionError("no DistributedError for an axis name the mesh does not bind")


def main(out_file: str) -> None:
    assert jax.device_count() == DEVICES, f"expected {DEVICES} devices, got {jax.device_count()}"
    results = {}
    for name, fn in CHECKS.items():
        try:
            fn()
            results[name] = {"ok": True, "error": ""}
        except Exception:
            results[name] = {"ok": False, "error": traceback.format_exc()}
    with open(out_file, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main(sys.argv[1])
