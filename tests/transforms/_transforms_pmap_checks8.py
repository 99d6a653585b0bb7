"""pmap and collectives on 8 simulated CPU devices. Run as a script in ONE subprocess:

    XLA_FLAGS=--xla_force_host_platform_device_count=8 python _transforms_pmap_checks8.py OUT_FILE

Every ``check_*`` runs (one failure does not stop the others); results go to OUT_FILE as
``{name: {"ok": bool, "error": str}}``; test_transforms_multidevice.py turns each into a test.
Importing this module (to list the checks) creates no arrays.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh.errors import DeviceError, ShapeError
from torsh.tree import Struct, field, static

N = 8
CHECKS: dict[str, Callable[[], None]] = {}


def check(fn: Callable[[], None]) -> Callable[[], None]:
    CHECKS[fn.__name__.removeprefix("check_")] = fn
    return fn


def raises(exc: type[BaseException], fn: Callable[[], object], *fragments: str) -> None:
    try:
        fn()
    except exc as e:
        missing = [f for f in fragments if f not in str(e)]
        assert not missing, f"{exc.__name__} message lacks {missing}: {e}"
        return
    raise AssertionError(f"expected {exc.__name__}")


class Layer(Struct):
    w: jax.Array
    b: jax.Array
    count: jax.Array = field(buffer=True)
    act: str = static("tanh")


def _layer(seed: int = 0) -> Layer:
    rng = np.random.default_rng(seed)
    return Layer(
        jnp.asarray(rng.standard_normal((3, 2)), jnp.float32),
        jnp.asarray(rng.standard_normal(3), jnp.float32),
        jnp.int32(0),
    )


def _loss(layer: Layer, x: jax.Array) -> jax.Array:
    return (getattr(jnp, layer.act)(layer.w @ x + layer.b) ** 2).sum()


def _close(a, b, tol=1e-5) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@check
def check_eight_devices():
    assert jax.device_count() == N and torsh.device_count("cpu") == N
    assert torsh.device("cpu:7").id == 7
    raises(DeviceError, lambda: torsh.device("cpu:8"), "index 8 out of range", "8 device(s)")
    torsh.set_cpu_device_count(N)  # already N: accepted
    raises(DeviceError, lambda: torsh.set_cpu_device_count(4), "already started with 8", "XLA_FLAGS")


@check
def check_pmap_equals_vmap():
    layer = _layer()
    xs = jnp.asarray(np.random.default_rng(1).standard_normal((N, 2)), jnp.float32)
    _close(
        torsh.pmap(_loss, in_axes=(None, 0))(layer, xs), torsh.vmap(_loss, in_axes={"layer": None})(layer, xs)
    )
    # Per-device gradients over a struct with a buffer and a static field.
    g_p = torsh.pmap(torsh.grad(_loss), in_axes={"layer": None})(layer, xs)
    g_v = torsh.vmap(torsh.grad(_loss), in_axes={"layer": None})(layer, xs)
    assert isinstance(g_p, Layer) and g_p.count is None and g_p.act == "tanh"
    _close(g_p.w, g_v.w)
    _close(g_p.b, g_v.b)
    # A batch axis that is not the leading one, and out_axes.
    xs_t = xs.T
    _close(torsh.pmap(lambda x: x * 2, in_axes=1, out_axes=1)(xs_t), 2 * xs_t)


@check
def check_data_parallel_step_equals_full_batch():
    layer = _layer(2)
    xs = jnp.asarray(
        np.random.default_rng(3).standard_normal((N, 4, 2)), jnp.float32
    )  # 8 devices x 4 examples

    def local_grads(layer, x):
        g = torsh.grad(lambda layer_: jnp.mean(jax.vmap(lambda xi: _loss(layer_, xi))(x)))(layer)
        return torsh.tree.map(lambda v: torsh.pmean(v, "batch"), g)

    g = torsh.pmap(local_grads, axis_name="batch", in_axes=(None, 0))(layer, xs)
    full = torsh.grad(lambda layer_: jnp.mean(jax.vmap(lambda xi: _loss(layer_, xi))(xs.reshape(-1, 2))))(
        layer
    )
    for d in range(N):  # every device holds the same, full-batch gradient
        _close(g.w[d], full.w)
        _close(g.b[d], full.b)


@check
def check_collectives_match_numpy():
    x = np.random.default_rng(4).standard_normal((N, 3)).astype(np.float32)

    def run(fn):
        return np.asarray(torsh.pmap(fn, axis_name="i")(jnp.asarray(x)))

    _close(run(lambda v: torsh.psum(v, "i")), np.broadcast_to(x.sum(0), x.shape))
    _close(run(lambda v: torsh.pmean(v, "i")), np.broadcast_to(x.mean(0), x.shape))
    np.testing.assert_array_equal(run(lambda v: torsh.pmax(v, "i")), np.broadcast_to(x.max(0), x.shape))
    np.testing.assert_array_equal(run(lambda v: torsh.pmin(v, "i")), np.broadcast_to(x.min(0), x.shape))
    np.testing.assert_array_equal(run(lambda v: torsh.all_gather(v, "i")), np.broadcast_to(x, (N, N, 3)))
    np.testing.assert_array_equal(
        run(lambda v: torsh.axis_index("i") + 0 * v[0].astype(jnp.int32)), np.arange(N)
    )
    ring = [(j, (j + 1) % N) for j in range(N)]
    np.testing.assert_array_equal(run(lambda v: torsh.ppermute(v, "i", ring)), np.roll(x, 1, axis=0))
    swap = [(j, j ^ 1) for j in range(N)]  # exchange between neighbouring pairs
    np.testing.assert_array_equal(run(lambda v: torsh.ppermute(v, "i", swap)), x[[j ^ 1 for j in range(N)]])
    square = np.random.default_rng(5).standard_normal((N, N)).astype(np.float32)
    _close(
        torsh.pmap(lambda v: torsh.psum_scatter(v, "i"), axis_name="i")(jnp.asarray(square)), square.sum(0)
    )
    np.testing.assert_array_equal(
        torsh.pmap(lambda v: torsh.all_to_all(v, "i", 0, 0), axis_name="i")(jnp.asarray(square)), square.T
    )
    # Collectives agree between pmap and vmap of the same function.
    f = lambda v: v - torsh.pmean(v, "i") + torsh.axis_index("i")
    _close(torsh.pmap(f, axis_name="i")(jnp.asarray(x)), torsh.vmap(f, axis_name="i")(jnp.asarray(x)))


@check
def check_static_and_donate_by_name():
    traces = []

    def scale(x, factor):
        traces.append(factor)
        return x * factor

    f = torsh.pmap(scale, static="factor", donate="x")
    x = torsh.pmap(lambda v: v)(jnp.arange(float(N)))  # already sharded over the 8 devices
    out = f(x, factor=3.0)
    _close(out, 3 * np.arange(N))
    assert x.is_deleted(), "the donated, device-sharded input should be consumed"
    f(out, 3.0)
    f(jnp.ones(N), factor=2.0)
    assert traces == [3.0, 2.0]


@check
def check_in_axes_by_name_with_defaults_and_a_device_subset():
    def affine(x, w, shift=1.0):
        return w * x + shift

    xs = jnp.arange(4.0)
    f = torsh.pmap(affine, in_axes={"w": None}, devices=jax.devices()[:4])
    _close(f(xs, 2.0), 2 * np.arange(4.0) + 1)
    _close(f(xs, w=2.0, shift=jnp.ones(4)), 2 * np.arange(4.0) + 1)
    out = torsh.pmap(lambda v: torsh.psum(v, "i"), axis_name="i", devices=jax.devices()[4:])(jnp.ones(4))
    assert {d.id for d in out.devices()} == {4, 5, 6, 7}, out.devices()


@check
def check_pmap_shape_errors():
    raises(
        ShapeError,
        lambda: torsh.pmap(lambda x: x)(jnp.ones(N + 1)),
        "pmap of",
        "at most the number of devices",
    )
    raises(ShapeError, lambda: torsh.pmap(lambda x, y: x * y)(jnp.ones(N), jnp.ones(4)), "same size")
    raises(ShapeError, lambda: torsh.pmap(lambda x: x)(jnp.ones(2 * N)), "at most the number of devices")


@check
def check_jit_over_devices_and_to_device():
    moved = torsh.to_device({"w": jnp.ones(2), "n": jnp.int32(1)}, "cpu:5")
    assert all(leaf.devices() == {torsh.device("cpu:5")} for leaf in jax.tree_util.tree_leaves(moved))
    out = torsh.jit(lambda t: t["w"] * t["n"])(moved)
    assert out.devices() == {torsh.device("cpu:5")}


def main(out_file: str) -> int:
    results = {}
    for name, fn in CHECKS.items():
        try:
            fn()
            results[name] = {"ok": True, "error": ""}
        except Exception:  # reported per check
            results[name] = {"ok": False, "error": traceback.format_exc()}
    with open(out_file, "w") as f:
        json.dump(results, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
