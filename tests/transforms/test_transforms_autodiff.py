"""grad, value_and_grad, jacfwd, jacrev, hessian, jvp, vjp against float64 central finite differences.

Each formula is written once against an array namespace (numpy for the differences in _transforms_fd.py,
jax.numpy for the transforms), so the reference shares no code with JAX. Compositions with vmap,
jit and checkpoint are drawn by hypothesis.
"""

from __future__ import annotations

import _transforms_fd
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torsh
from torsh.errors import ConfigError, ShapeError
from torsh.tree import Struct, field, static

# The x64 fixture is entered once per test, around all of hypothesis' examples.
fd_settings = settings(max_examples=examples(12), suppress_health_check=[HealthCheck.function_scoped_fixture])
TOL = dict(rtol=1e-6, atol=1e-8)


class Layer(Struct):
    w: jax.Array
    b: jax.Array
    running: jax.Array = field(buffer=True)  # used by the loss, never differentiated
    steps: jax.Array = None  # an integer leaf
    act: str = static("tanh")  # a static field choosing the nonlinearity


def loss(params, x, xp):
    layer = params["layer"]
    h = getattr(xp, layer.act)(layer.w @ x + layer.b + layer.running)
    return xp.sum(h**2) * params["gain"] + 0.1 * xp.sum(layer.w * layer.w) * (1 + layer.steps)


def make_params(rng, n, m, act, array):
    layer = Layer(
        array(rng.standard_normal((m, n))),
        array(rng.standard_normal(m)),
        array(0.1 * rng.standard_normal(m)),
        array(np.int32(rng.integers(0, 3))),
        act=act,
    )
    return {"layer": layer, "gain": float(rng.uniform(0.5, 2.0))}


def reference_grads(params, x):
    """Per-example finite-difference gradients w.r.t. the trainable leaves (w, b, gain)."""
    layer = params["layer"]

    def at(**changes):
        gain = float(changes.pop("gain", params["gain"]))
        return loss({"layer": layer.replace(**changes), "gain": gain}, x, np)

    return {
        "w": _transforms_fd.gradient(lambda w: at(w=w), layer.w),
        "b": _transforms_fd.gradient(lambda b: at(b=b), layer.b),
        "gain": _transforms_fd.gradient(lambda g: at(gain=g), np.array(params["gain"])),
    }


# Few distinct shapes: every new shape recompiles each primitive of the eager (un-jitted) compositions.
@fd_settings
@given(
    shapes=st.sampled_from([(2, 3, 2), (3, 1, 1)]),
    act=st.sampled_from(["tanh", "sin"]),
    inner=st.sampled_from(["plain", "jit", "checkpoint"]),
    mode=st.sampled_from(["vmap(grad)", "grad(vmap)"]),
    outer=st.sampled_from(["torsh.jit", "jax.jit"]),
    argnums=st.sampled_from([0, "params"]),
    by_keyword=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_compositions_match_finite_differences(
    x64, shapes, act, inner, mode, outer, argnums, by_keyword, seed
):
    n, m, batch = shapes
    rng = np.random.default_rng(seed)
    params_np = make_params(rng, n, m, act, np.asarray)
    xs = rng.standard_normal((batch, n))
    params = torsh.tree.map(lambda v: jnp.asarray(v) if isinstance(v, np.ndarray) else v, params_np)

    def f(params, x):
        return loss(params, x, jnp)

    f = {"plain": f, "jit": torsh.jit(f), "checkpoint": torsh.checkpoint(f, policy="nothing_saveable")}[inner]
    if mode == "vmap(grad)":  # per-example gradients
        h = torsh.vmap(torsh.grad(f, argnums=argnums), in_axes={"params": None})
    else:  # gradient of the batch total

        def total(params, x):
            return torsh.vmap(f, in_axes={"params": None})(params, x).sum()

        h = torsh.grad(total, argnums=argnums)
    # Compiled as a whole: eager execution would compile every primitive again for each new shape
    # (test_eager_composition covers the un-jitted path).
    h = torsh.jit(h) if outer == "torsh.jit" else jax.jit(h)
    g = h(params=params, x=jnp.asarray(xs)) if by_keyword else h(params, jnp.asarray(xs))
    check_against_finite_differences(g, params_np, xs, mode, act)


def check_against_finite_differences(g, params_np, xs, mode, act):
    per_example = [reference_grads(params_np, x) for x in xs]
    expected = {k: np.stack([r[k] for r in per_example]) for k in ("w", "b", "gain")}
    if mode == "grad(vmap)":
        expected = {k: v.sum(0) for k, v in expected.items()}
    layer = g["layer"]
    assert isinstance(layer, Layer) and layer.act == act
    assert layer.running is None and layer.steps is None  # buffer and integer leaf: no gradient
    np.testing.assert_allclose(layer.w, expected["w"], **TOL)
    np.testing.assert_allclose(layer.b, expected["b"], **TOL)
    np.testing.assert_allclose(g["gain"], expected["gain"], **TOL)


@pytest.mark.parametrize("mode", ["vmap(grad)", "grad(vmap)"])
def test_eager_composition(x64, mode):
    rng = np.random.default_rng(7)
    params_np = make_params(rng, 2, 3, "tanh", np.asarray)
    xs = rng.standard_normal((2, 2))
    params = torsh.tree.map(lambda v: jnp.asarray(v) if isinstance(v, np.ndarray) else v, params_np)
    f = lambda params, x: loss(params, x, jnp)
    if mode == "vmap(grad)":
        g = torsh.vmap(torsh.grad(f), in_axes=(None, 0))(params, jnp.asarray(xs))
    else:
        g = torsh.grad(lambda p, x: torsh.vmap(f, in_axes=(None, 0))(p, x).sum())(params, jnp.asarray(xs))
    check_against_finite_differences(g, params_np, xs, mode, "tanh")


SCALAR_FUNCTIONS = {
    "sin_x2": lambda x, xp: xp.sum(xp.sin(x) * x**2),
    "logsumexp": lambda x, xp: xp.log(xp.sum(xp.exp(x))),
    "cubic": lambda x, xp: xp.sum(x**3) * xp.sum(x),
    "tanh_reversed": lambda x, xp: xp.tanh(xp.sum(x * x[::-1])),
}


@fd_settings
@given(
    name=st.sampled_from(sorted(SCALAR_FUNCTIONS)),
    how=st.sampled_from(
        ["hessian", "jit(hessian)", "jacfwd(jacrev)", "jacrev(jacfwd)", "jacfwd(grad)", "vmap(hessian)"]
    ),
    n=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_hessians_match_second_order_finite_differences(x64, name, how, n, seed):
    formula = SCALAR_FUNCTIONS[name]
    x = np.random.default_rng(seed).uniform(-1, 1, (2, n) if how == "vmap(hessian)" else n)

    def f(x):
        return formula(x, jnp)

    build = {
        "hessian": lambda: torsh.hessian(f),
        "jit(hessian)": lambda: torsh.jit(torsh.hessian(f)),
        "jacfwd(jacrev)": lambda: torsh.jacfwd(torsh.jacrev(f)),
        "jacrev(jacfwd)": lambda: torsh.jacrev(torsh.jacfwd(f)),
        "jacfwd(grad)": lambda: torsh.jacfwd(torsh.grad(f)),
        "vmap(hessian)": lambda: torsh.vmap(torsh.hessian(f)),
    }[how]
    got = np.asarray(jax.jit(build())(jnp.asarray(x)))  # compiled once (see the note above)
    rows = x if x.ndim == 2 else x[None]
    expected = np.stack([_transforms_fd.hessian(lambda v: formula(v, np), row) for row in rows])
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-5, atol=1e-6)


VECTOR_FUNCTIONS = {
    "tanh_affine": lambda x, a, xp: xp.tanh(a @ x) * xp.sum(x),
    "outer_sin": lambda x, a, xp: x[:, None] * xp.sin(a @ x)[None, :],
}


@fd_settings
@given(
    name=st.sampled_from(sorted(VECTOR_FUNCTIONS)),
    how=st.sampled_from(["jacfwd", "jacrev", "jit(jacfwd)", "jit(jacrev)", "jacrev(checkpoint)"]),
    n=st.sampled_from([1, 3]),
    m=st.just(2),
    seed=st.integers(0, 2**16),
)
def test_jacobians_match_finite_differences(x64, name, how, n, m, seed):
    rng = np.random.default_rng(seed)
    a, x = rng.standard_normal((m, n)), rng.standard_normal(n)
    formula = VECTOR_FUNCTIONS[name]

    def f(x, a):
        return formula(x, a, jnp)

    build = {
        "jacfwd": lambda: torsh.jacfwd(f),
        "jacrev": lambda: torsh.jacrev(f),
        "jit(jacfwd)": lambda: torsh.jit(torsh.jacfwd(f)),
        "jit(jacrev)": lambda: torsh.jit(torsh.jacrev(f, argnums="x")),
        "jacrev(checkpoint)": lambda: torsh.jacrev(torsh.checkpoint(f, policy="dots_saveable")),
    }[how]
    got = jax.jit(build())(jnp.asarray(x), jnp.asarray(a))
    np.testing.assert_allclose(got, _transforms_fd.jacobian(lambda v: formula(v, a, np), x), **TOL)


def test_jacobians_of_pytrees_have_none_for_integer_leaves(x64):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.standard_normal(3)), "k": jnp.arange(3), "tag": "fixed"}

    def f(p):
        return jnp.sin(p["w"]) * p["k"] + (p["tag"] == "fixed")

    for transform in (torsh.jacfwd, torsh.jacrev):
        jac = transform(f)(params)
        assert jac["k"] is None and jac["tag"] is None
        expected = _transforms_fd.jacobian(lambda w: np.sin(w) * np.arange(3) + 1.0, np.asarray(params["w"]))
        np.testing.assert_allclose(jac["w"], expected, **TOL)
    h = torsh.hessian(lambda p: (p["w"] ** 3).sum() * p["k"].sum())(params)
    assert h["k"] is None and h["w"]["k"] is None
    np.testing.assert_allclose(h["w"]["w"], np.diag(6 * np.asarray(params["w"]) * 3), **TOL)


# -- value_and_grad, has_aux, argnums -------------------------------------------------------------


def test_value_and_grad_with_aux(x64):
    rng = np.random.default_rng(1)
    w, x = rng.standard_normal((2, 3)), rng.standard_normal(3)

    def f(w, x):
        h = jnp.tanh(w @ x)
        return (h**2).sum(), {"h": h, "note": "aux passes through"}

    (value, aux), g = torsh.value_and_grad(f, has_aux=True)(jnp.asarray(w), jnp.asarray(x))
    ref_f = lambda w: float((np.tanh(w @ x) ** 2).sum())
    np.testing.assert_allclose(value, ref_f(w), **TOL)
    np.testing.assert_allclose(aux["h"], np.tanh(w @ x), **TOL)
    assert aux["note"] == "aux passes through"
    np.testing.assert_allclose(g, _transforms_fd.gradient(ref_f, w), **TOL)
    grads, aux2 = torsh.grad(f, has_aux=True)(jnp.asarray(w), jnp.asarray(x))
    np.testing.assert_allclose(grads, g, **TOL)
    assert aux2["note"] == aux["note"]
    # Under jit (aux must then be arrays).
    (v2, aux3), g2 = torsh.jit(
        torsh.value_and_grad(lambda w, x: (f(w, x)[0], f(w, x)[1]["h"]), has_aux=True)
    )(jnp.asarray(w), jnp.asarray(x))
    np.testing.assert_allclose(v2, value, **TOL)
    np.testing.assert_allclose(g2, g, **TOL)
    np.testing.assert_allclose(aux3, aux["h"], **TOL)


def _f3(a, b, c=2.0, *, scale=1.5):
    return (a**2 * b).sum() * c * scale + jnp.sin(c)


def _np_f3(a, b, c=2.0, scale=1.5):
    return float((a**2 * b).sum() * c * scale + np.sin(c))


def test_argnums_by_position_name_negative_index_and_keyword(x64):
    rng = np.random.default_rng(2)
    a, b, c = rng.standard_normal(3), rng.standard_normal(3), 0.7
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    ga = _transforms_fd.gradient(lambda v: _np_f3(v, b, c), a)
    gb = _transforms_fd.gradient(lambda v: _np_f3(a, v, c), b)
    gc = _transforms_fd.gradient(lambda v: _np_f3(a, b, float(v)), np.array(c))

    g = torsh.grad(_f3, argnums=(0, 2))(ja, jb, c)
    assert isinstance(g, tuple) and len(g) == 2
    np.testing.assert_allclose(g[0], ga, **TOL)
    np.testing.assert_allclose(g[1], gc, **TOL)
    g = torsh.grad(_f3, argnums=("a", "c"))(ja, jb, c)
    np.testing.assert_allclose(g[0], ga, **TOL)
    np.testing.assert_allclose(g[1], gc, **TOL)
    np.testing.assert_allclose(torsh.grad(_f3, argnums=-1)(ja, jb, c), gc, **TOL)  # -1: the last positional
    np.testing.assert_allclose(torsh.grad(_f3, argnums=("b",))(ja, jb, c)[0], gb, **TOL)  # 1-tuple -> tuple
    # Differentiated arguments passed by keyword, in any order, with keyword-only extras.
    np.testing.assert_allclose(torsh.grad(_f3, argnums="b")(b=jb, a=ja, c=c), gb, **TOL)
    np.testing.assert_allclose(torsh.grad(_f3, argnums="c")(ja, jb, c=c), gc, **TOL)
    g_scaled = torsh.grad(_f3, argnums="a")(ja, jb, c, scale=3.0)
    np.testing.assert_allclose(g_scaled, 2 * ga, **TOL)
    # A differentiated parameter must be passed, however the others are (a default is not differentiated).
    for call in (lambda g: g(ja, jb), lambda g: g(a=ja, b=jb), lambda g: g(ja, b=jb)):
        with pytest.raises(
            ConfigError, match=r"differentiating argument 2 \('c'\) of _f3, but it was not passed"
        ):
            call(torsh.grad(_f3, argnums="c"))
    # value_and_grad returns the same value as a plain call.
    value, _ = torsh.value_and_grad(_f3, argnums=("a", "b"))(ja, jb, c)
    np.testing.assert_allclose(value, _np_f3(a, b, c), **TOL)


def test_argnums_errors():
    with pytest.raises(ConfigError, match=r"no positional parameter named 'nope'.*\['a', 'b', 'c'\]"):
        torsh.grad(_f3, argnums="nope")
    with pytest.raises(ConfigError, match="'scale'"):  # keyword-only: not differentiable by argnums
        torsh.grad(_f3, argnums="scale")
    with pytest.raises(ConfigError, match="position 5 is out of range"):
        torsh.grad(_f3, argnums=5)
    with pytest.raises(ConfigError, match="at least one"):
        torsh.grad(_f3, argnums=())
    with pytest.raises(ConfigError, match="names or positions, got True"):
        torsh.grad(_f3, argnums=True)
    with pytest.raises(ConfigError, match="names an argument twice"):
        torsh.value_and_grad(_f3, argnums=("a", 0))
    with pytest.raises(
        ConfigError, match=r"argument 1 \('b'\) of _f3, but it was not passed \(got 1 positional"
    ):
        torsh.grad(_f3, argnums=1)(jnp.ones(2))
    with pytest.raises(ConfigError, match="missing argument 'b'"):
        torsh.grad(_f3, argnums="c")(jnp.ones(2), c=1.0)
    with pytest.raises(ShapeError, match=r"expected a scalar \(shape \(\)\) output.*\(3,\)"):
        torsh.grad(lambda x: x * 2)(jnp.ones(3))


@pytest.mark.parametrize("name", ["grad", "value_and_grad"])
def test_errors_name_the_transform_the_user_called(name):
    transform = getattr(torsh, name)

    def double(x):
        return x * 2

    with pytest.raises(ShapeError, match=rf"^{name} of double: expected a scalar"):
        transform(double)(jnp.ones(3))
    with pytest.raises(ConfigError, match=rf"^{name}: differentiating argument 1 \('b'\) of _f3"):
        transform(_f3, argnums=1)(jnp.ones(2))
    with pytest.raises(ConfigError, match=rf"^{name}: argnums must name at least one"):
        transform(_f3, argnums=())


def test_non_trainable_arguments_and_leaves_give_none():
    # Only integer leaves: nothing to differentiate, no error.
    assert torsh.grad(lambda n: n.sum() * 1.0)(jnp.arange(3)) is None
    # Integer, boolean, key and string leaves next to floats.
    params = {
        "w": jnp.array([1.0, 2.0]),
        "n": jnp.array(3),
        "mask": jnp.array([True, False]),
        "key": jax.random.key(0),
        "name": "layer",
    }
    g = torsh.grad(lambda p: (p["w"] * p["n"] * p["mask"]).sum())(params)
    assert g["n"] is None and g["mask"] is None and g["key"] is None and g["name"] is None
    np.testing.assert_array_equal(g["w"], [3.0, 0.0])
    # Python floats are differentiable; Python ints are not.
    assert float(torsh.grad(lambda x: x**2)(3.0)) == 6.0
    assert torsh.grad(lambda p: p["f"] * p["i"])({"f": 2.0, "i": 5}) == {"f": 5.0, "i": None}


def test_gradients_line_up_with_parameters_by_partition():
    params = {"w": jnp.ones(2), "layer": Layer(jnp.ones((1, 2)), jnp.zeros(1), jnp.zeros(1), jnp.int32(1))}
    g = torsh.grad(lambda p: loss(p | {"gain": 1.0}, jnp.ones(2), jnp) + p["w"].sum())(params)
    trainable, rest = torsh.tree.partition(params, torsh.tree.trainable_mask(params))
    none_leaf = lambda x: x is None
    assert torsh.tree.structure(g, is_leaf=none_leaf) == torsh.tree.structure(trainable, is_leaf=none_leaf)
    # An SGD step over the gradient tree leaves non-trainable leaves untouched.
    stepped = torsh.tree.combine(torsh.tree.map(lambda p, d: p - 0.1 * d, trainable, g), rest)
    assert (
        stepped["layer"].steps is params["layer"].steps
        and stepped["layer"].running is params["layer"].running
    )


# -- jvp / vjp -------------------------------------------------------------------------------------


def test_jvp_and_vjp_match_finite_differences(x64):
    rng = np.random.default_rng(3)
    a, x, t, ct = (rng.standard_normal(s) for s in ((2, 3), 3, 3, 2))
    formula = VECTOR_FUNCTIONS["tanh_affine"]
    jac = _transforms_fd.jacobian(lambda v: formula(v, a, np), x)
    y, tangent_out = torsh.jvp(
        lambda v: formula(v, jnp.asarray(a), jnp), (jnp.asarray(x),), (jnp.asarray(t),)
    )
    np.testing.assert_allclose(y, formula(x, a, np), **TOL)
    np.testing.assert_allclose(tangent_out, jac @ t, **TOL)
    y2, pullback = torsh.vjp(lambda v: formula(v, jnp.asarray(a), jnp), jnp.asarray(x))
    (cotangent_in,) = pullback(jnp.asarray(ct))
    np.testing.assert_allclose(y2, y, **TOL)
    np.testing.assert_allclose(cotangent_in, ct @ jac, **TOL)
    # has_aux is forwarded
    _, _, aux = torsh.jvp(lambda v: (v * 2, "aux"), (jnp.ones(1),), (jnp.ones(1),), has_aux=True)
    assert aux == "aux"
    _, _, aux = torsh.vjp(lambda v: (v * 2, "aux"), jnp.ones(1), has_aux=True)
    assert aux == "aux"


def test_jvp_argument_errors():
    with pytest.raises(ConfigError, match="tuples"):
        torsh.jvp(jnp.sin, jnp.ones(1), jnp.ones(1))
    with pytest.raises(ConfigError, match="2 primals but 1 tangents"):
        torsh.jvp(lambda a, b: a * b, (jnp.ones(1), jnp.ones(1)), (jnp.ones(1),))
