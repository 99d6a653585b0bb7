"""torsh.vmap: axes by position, pytree prefix and parameter name; collectives under a named axis
against numpy definitions; shape errors."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh.errors import ConfigError, ShapeError

rng = np.random.default_rng(0)
W = rng.standard_normal((3, 2)).astype(np.float32)
B = rng.standard_normal(3).astype(np.float32)
XS = rng.standard_normal((5, 2)).astype(np.float32)


def affine(params, x):
    return params["weight"] @ x + params["bias"]


def test_in_axes_forms_agree_with_a_python_loop():
    params = {"weight": jnp.asarray(W), "bias": jnp.asarray(B)}
    expected = np.stack([W @ x + B for x in XS])
    for in_axes in (
        (None, 0),
        ({"weight": None, "bias": None}, 0),
        {"params": None},
        {"params": None, "x": 0},
    ):
        got = torsh.vmap(affine, in_axes=in_axes)(params, jnp.asarray(XS))
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6, err_msg=str(in_axes))
    # A pytree prefix that maps part of a parameter: one bias per example.
    biases = rng.standard_normal((5, 3)).astype(np.float32)
    got = torsh.vmap(affine, in_axes=({"weight": None, "bias": 0}, 0))({"weight": W, "bias": biases}, XS)
    expected = np.stack([W @ x + b for x, b in zip(XS, biases, strict=True)])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_in_axes_by_name_with_keywords_and_defaults():
    def scaled(x, w, scale=2.0, shift=None):
        out = (w @ x) * scale
        return out if shift is None else out + shift

    xs = jnp.asarray(XS)
    f = torsh.vmap(scaled, in_axes={"w": None})  # x and the others: axis 0 unless left at their default
    base = np.stack([W @ x for x in XS])
    np.testing.assert_allclose(f(xs, W), 2 * base, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f(w=W, x=xs), 2 * base, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        f(xs, W, shift=jnp.ones((5, 3))), 2 * base + 1, rtol=1e-5, atol=1e-6
    )  # scale stays default
    np.testing.assert_allclose(
        f(xs, W, jnp.arange(5.0)), base * np.arange(5.0)[:, None], rtol=1e-5, atol=1e-6
    )
    g = torsh.vmap(scaled, in_axes={"w": None, "scale": None})
    np.testing.assert_allclose(g(xs, W, scale=3.0), 3 * base, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g(xs, W, 3.0), 3 * base, rtol=1e-5, atol=1e-6)


def test_out_axes_and_axis_size():
    xs = jnp.asarray(XS)
    out = torsh.vmap(lambda x: {"a": x * 2, "b": x.sum()}, out_axes={"a": 1, "b": 0})(xs)
    np.testing.assert_allclose(out["a"], 2 * XS.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["b"], XS.sum(1), rtol=1e-5, atol=1e-6)
    bcast = torsh.vmap(lambda w: w.sum(), in_axes=None, axis_size=4)(jnp.asarray(W))
    np.testing.assert_allclose(bcast, np.full(4, W.sum()), rtol=1e-5, atol=1e-6)


def test_collectives_under_a_named_vmap_axis_match_numpy():
    n = 4
    x = rng.standard_normal((n, 3)).astype(np.float32)

    def run(fn):
        return np.asarray(torsh.vmap(fn, axis_name="i")(jnp.asarray(x)))

    np.testing.assert_allclose(
        run(lambda v: torsh.psum(v, "i")), np.broadcast_to(x.sum(0), x.shape), rtol=1e-5
    )
    np.testing.assert_allclose(
        run(lambda v: torsh.pmean(v, "i")), np.broadcast_to(x.mean(0), x.shape), rtol=1e-5
    )
    np.testing.assert_array_equal(run(lambda v: torsh.pmax(v, "i")), np.broadcast_to(x.max(0), x.shape))
    np.testing.assert_array_equal(run(lambda v: torsh.pmin(v, "i")), np.broadcast_to(x.min(0), x.shape))
    np.testing.assert_array_equal(run(lambda v: torsh.all_gather(v, "i")), np.broadcast_to(x, (n, n, 3)))
    np.testing.assert_array_equal(run(lambda v: torsh.axis_index("i") + 0 * v[0]), np.arange(n))
    shift = [(j, (j + 1) % n) for j in range(n)]
    np.testing.assert_array_equal(run(lambda v: torsh.ppermute(v, "i", shift)), np.roll(x, 1, axis=0))
    square = rng.standard_normal((n, n)).astype(np.float32)
    scattered = torsh.vmap(lambda v: torsh.psum_scatter(v, "i"), axis_name="i")(jnp.asarray(square))
    np.testing.assert_allclose(scattered, square.sum(0), rtol=1e-5)
    transposed = torsh.vmap(lambda v: torsh.all_to_all(v, "i", 0, 0), axis_name="i")(jnp.asarray(square))
    np.testing.assert_array_equal(transposed, square.T)
    # Normalising by a collective: softmax-style weights sum to one across the mapped axis.
    weights = run(lambda v: jnp.exp(v) / torsh.psum(jnp.exp(v), "i"))
    np.testing.assert_allclose(weights.sum(0), np.ones(3), rtol=1e-5)


def test_nested_vmaps_with_two_axis_names():
    x = rng.standard_normal((2, 3)).astype(np.float32)
    f = torsh.vmap(
        torsh.vmap(lambda v: v - torsh.pmean(v, "col") - torsh.pmean(v, "row"), axis_name="col"),
        axis_name="row",
    )
    np.testing.assert_allclose(
        f(x), x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True), rtol=1e-5, atol=1e-6
    )


def test_vmap_shape_and_name_errors():
    def add(a, b):
        return a + b

    with pytest.raises(
        ShapeError, match=r"(?s)vmap of add: .*inconsistent sizes.*size 3.*argument a.*size 4.*argument b"
    ):
        torsh.vmap(add)(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ShapeError, match="vmap of add"):
        torsh.vmap(add, in_axes=(2, 0))(jnp.ones((3, 3)), jnp.ones(3))  # axis 2 of a rank-2 array
    with pytest.raises(ConfigError, match=r"in_axes names \['c'\] are not parameters of add: \['a', 'b'\]"):
        torsh.vmap(add, in_axes={"c": 0})
    with pytest.raises(ConfigError, match=r"in_axes names \['c'\]"):
        torsh.pmap(add, in_axes={"c": 0})
    with pytest.raises(ConfigError, match="missing argument 'a'"):
        torsh.vmap(add, in_axes={"b": None})(b=jnp.ones(2))


def test_vmap_keeps_the_signature_for_later_transforms():
    def loss(w, x):
        return (w @ x) ** 2

    per_example = torsh.vmap(torsh.grad(loss, argnums="w"), in_axes={"w": None})
    jitted = torsh.jit(per_example, static=())
    grads = jitted(jnp.asarray(W[0]), jnp.asarray(XS))
    np.testing.assert_allclose(grads, np.stack([2 * (W[0] @ x) * x for x in XS]), rtol=1e-5)
    assert torsh.transforms._args.positional_names(per_example) == ["w", "x"]
