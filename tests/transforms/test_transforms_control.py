"""checkpoint (policies by name or callable) and scan (against a Python loop, checked inputs)."""

from __future__ import annotations

import _transforms_fd
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh.errors import ConfigError, ShapeError, TreeError
from torsh.tree import Struct, static

# -- checkpoint ------------------------------------------------------------------------------------


def block(params, x):
    h = jnp.sin(params["w"] @ x)
    h = jnp.tanh(params["v"] @ h)
    return (h**2).sum()


PARAMS = {
    "w": jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)), jnp.float32),
    "v": jnp.asarray(np.random.default_rng(1).standard_normal((2, 4)), jnp.float32),
}
X = jnp.asarray(np.random.default_rng(2).standard_normal(3), jnp.float32)


@pytest.mark.parametrize(
    "policy",
    [
        None,
        "nothing_saveable",
        "everything_saveable",
        "dots_saveable",
        "checkpoint_dots",
        "dots_with_no_batch_dims_saveable",
        "checkpoint_dots_with_no_batch_dims",
        torsh.checkpoint_policies.save_only_these_names("none"),
        torsh.checkpoint_policies.nothing_saveable,
    ],
)
def test_checkpoint_policies_give_the_same_gradients(policy):
    expected = jax.grad(block)(PARAMS, X)
    got = torsh.grad(torsh.checkpoint(block, policy=policy))(PARAMS, X)
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], rtol=1e-6, atol=1e-7)
    got_jit = torsh.jit(torsh.grad(torsh.remat(block, policy=policy)))(PARAMS, X)
    for k in expected:
        np.testing.assert_allclose(got_jit[k], expected[k], rtol=1e-5, atol=1e-6)


def test_policies_change_what_is_recomputed():
    def count_sines(policy):
        f = torsh.checkpoint(lambda x: jnp.sin(jnp.sin(x)).sum(), policy=policy)
        return str(jax.make_jaxpr(jax.grad(f))(jnp.ones(3))).count(" sin ")

    assert count_sines("nothing_saveable") > count_sines("everything_saveable")


def test_checkpoint_decorator_and_static_argument():
    @torsh.checkpoint(policy="dots_saveable", static="power")
    def f(x, power):
        return (x**power).sum()

    assert torsh.grad(f)(jnp.array([2.0]), 3).tolist() == [12.0]
    with pytest.raises(ConfigError, match="no positional parameter named 'p'"):
        torsh.checkpoint(f, static="p")


def test_unknown_policy_names_raise_config_error():
    with pytest.raises(ConfigError, match=r"unknown policy 'bogus'; use one of \['checkpoint_dots'"):
        torsh.checkpoint(block, policy="bogus")
    # A factory policy must be called with its arguments; its bare name is not a policy.
    with pytest.raises(
        ConfigError, match=r"unknown policy 'save_only_these_names'.*available: .*save_only_these_names"
    ):
        torsh.checkpoint(block, policy="save_only_these_names")


# -- scan -----------------------------------------------------------------------------------------


class Acc(Struct):
    total: jax.Array
    count: jax.Array  # an integer leaf in the carry
    decay: float = static(0.5)


def body(carry, x):
    new_total = carry["acc"].decay * carry["acc"].total + jnp.tanh(x["a"]) * x["b"][0]
    acc = carry["acc"].replace(total=new_total, count=carry["acc"].count + 1)
    y = {"sum": new_total.sum(), "pair": (x["a"] * 2, None)}
    return {"acc": acc, "scale": carry["scale"]}, y


def numpy_loop(total, xs_a, xs_b, decay, reverse=False):
    """The same recurrence in plain numpy: (final total, per-step sums, per-step doubled inputs)."""
    n = len(xs_a)
    sums, pairs = np.zeros(n), np.zeros_like(xs_a)
    for i in reversed(range(n)) if reverse else range(n):
        total = decay * total + np.tanh(xs_a[i]) * xs_b[i][0]
        sums[i], pairs[i] = total.sum(), 2 * xs_a[i]
    return total, sums, pairs


@settings(max_examples=examples(8))  # every example compiles a new loop
@given(
    length=st.integers(1, 6),
    reverse=st.booleans(),
    unroll=st.sampled_from([1, 2, True]),
    decay=st.sampled_from([0.5, 0.9]),
    seed=st.integers(0, 1000),
)
def test_scan_equals_a_python_loop(length, reverse, unroll, decay, seed):
    rng = np.random.default_rng(seed)
    xs = {
        "a": jnp.asarray(rng.standard_normal((length, 2)), jnp.float32),
        "b": [jnp.asarray(rng.standard_normal((length, 1)), jnp.float32)],
    }
    init = {"acc": Acc(jnp.zeros(2), jnp.int32(0), decay=decay), "scale": 3.0}
    carry, ys = torsh.scan(body, init, {"a": xs["a"], "b": xs["b"][0]}, reverse=reverse, unroll=unroll)
    total, sums, pairs = numpy_loop(np.zeros(2), np.asarray(xs["a"]), np.asarray(xs["b"][0]), decay, reverse)
    assert isinstance(carry["acc"], Acc) and carry["acc"].decay == decay and carry["scale"] == 3.0
    assert int(carry["acc"].count) == length and carry["acc"].count.dtype == jnp.int32
    np.testing.assert_allclose(carry["acc"].total, total, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ys["sum"], sums, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ys["pair"][0], pairs, rtol=1e-6)
    assert ys["pair"][1] is None


def test_scan_with_length_and_no_xs():
    carry, ys = torsh.scan(lambda c, _: (c * 2, c), jnp.float32(1.0), length=4)
    assert float(carry) == 16.0 and ys.tolist() == [1.0, 2.0, 4.0, 8.0]
    carry, ys = torsh.scan(lambda c, x: (c + x, c), 0.0, jnp.arange(3.0), length=3)
    assert float(carry) == 3.0


def test_gradient_through_scan_matches_finite_differences(x64):
    rng = np.random.default_rng(4)
    w0, xs = rng.standard_normal(2), rng.standard_normal((5, 2))

    def step(xp):
        def run(w):
            h = np.zeros(2) if xp is np else jnp.zeros(2)
            for x in xs:
                h = xp.tanh(w * h + x)
            return (h**2).sum()

        return run

    def scanned(w):
        final, _ = torsh.scan(lambda h, x: (jnp.tanh(w * h + x), None), jnp.zeros(2), jnp.asarray(xs))
        return (final**2).sum()

    expected = _transforms_fd.gradient(step(np), w0)
    for f in (torsh.grad(scanned), torsh.jit(torsh.grad(scanned)), torsh.grad(torsh.checkpoint(scanned))):
        np.testing.assert_allclose(f(jnp.asarray(w0)), expected, rtol=1e-6, atol=1e-8)
    per_example = torsh.vmap(torsh.grad(scanned))(jnp.asarray(np.stack([w0, 2 * w0])))
    np.testing.assert_allclose(per_example[0], expected, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(
        per_example[1], _transforms_fd.gradient(step(np), 2 * w0), rtol=1e-6, atol=1e-8
    )


def test_scan_input_errors_name_the_paths():
    ident = lambda c, x: (c, x)
    with pytest.raises(ShapeError, match=r"share their leading dimension; got a: 3, b\.0: 4, b\.1\.c: 3"):
        torsh.scan(ident, 0.0, {"a": jnp.ones(3), "b": [jnp.ones((4, 2)), {"c": jnp.ones(3)}]})
    with pytest.raises(ShapeError, match=r"scalar leaves at \['s'\]"):
        torsh.scan(ident, 0.0, {"s": jnp.float32(1.0), "v": jnp.ones(3)})
    with pytest.raises(ShapeError, match=r"scalar leaves at \['<xs>'\]"):
        torsh.scan(ident, 0.0, 1.0)
    with pytest.raises(ShapeError, match="length=5 but xs has leading dimension 3"):
        torsh.scan(ident, 0.0, jnp.ones(3), length=5)
    with pytest.raises(ConfigError, match="length= when xs is None"):
        torsh.scan(ident, 0.0)
    with pytest.raises(ConfigError, match="length="):
        torsh.scan(ident, 0.0, {"empty": None})


def test_scan_carry_errors_raise_tree_error():
    with pytest.raises(TreeError, match="(?s)carry returned by the body must match.*same pytree structure"):
        torsh.scan(lambda c, x: ((c, c), x), 0.0, jnp.ones(3))
    with pytest.raises(TreeError, match="(?s)carry returned by the body must match.*dtypes do not match"):
        torsh.scan(lambda c, x: (c.astype(jnp.int32), x), jnp.zeros(()), jnp.ones(3))
    with pytest.raises(TreeError, match="(?s)carry returned by the body must match.*shapes do not match"):
        torsh.scan(lambda c, x: (jnp.ones(2), x), jnp.zeros(()), jnp.ones(3))
    with pytest.raises(TreeError, match="carry"):  # a static field of a struct carry changed
        torsh.scan(lambda c, x: (c.replace(decay=0.1), x), Acc(jnp.zeros(()), jnp.int32(0)), jnp.ones(3))
