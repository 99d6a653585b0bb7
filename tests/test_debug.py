"""torsh.debug.checks: the eager value checks, raised from jitted/traced code with the same messages."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

import torsh
import torsh.nn.functional as F
from torsh import nn
from torsh.errors import ConfigError

IOR, VR = nn.IndexOutOfRangeError, nn.ValueRangeError
TABLE, LOGITS = jnp.ones((3, 2)), jnp.zeros((2, 3))
CASES = [
    ("embedding", lambda x: F.embedding(x, TABLE), jnp.array([0, 4]), IOR),
    ("embedding-negative", lambda x: F.embedding(x, TABLE), jnp.array([-2]), IOR),
    ("cross_entropy", lambda y: F.cross_entropy(LOGITS, y), jnp.array([1, 3]), IOR),
    ("cross_entropy-neg", lambda y: F.cross_entropy(LOGITS, y), jnp.array([-5, 0]), IOR),
    ("nll_loss", lambda y: F.nll_loss(LOGITS, y), jnp.array([0, 9]), IOR),
    ("bce", lambda p: F.binary_cross_entropy(p, jnp.ones(2)), jnp.array([0.5, 1.25]), VR),
    ("one_hot", lambda c: F.one_hot(c, 3), jnp.array([0, 3]), IOR),
]


def _message(fn, x, error):
    with pytest.raises(error) as info:
        fn(x)
    return str(info.value)


@pytest.mark.parametrize("name,fn,bad,error", CASES, ids=[c[0] for c in CASES])
def test_checked_jit_raises_the_eager_error_with_the_same_message(name, fn, bad, error):
    eager = _message(fn, bad, error)
    checked = torsh.debug.checks(jax.jit(fn))
    assert _message(checked, bad, error) == eager
    with torsh.debug.checks():  # the block form: jit disabled, checks run eagerly
        assert _message(jax.jit(fn), bad, error) == eager
    good = jnp.where(bad < 0, 0, jnp.minimum(bad, 1)).astype(bad.dtype)
    np.testing.assert_allclose(np.asarray(checked(good)), np.asarray(fn(good)), rtol=1e-6)


def test_checks_wrap_a_whole_training_step_with_grad_and_static_arguments():
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 3))
    traces = []

    @torsh.jit(static="reduction")
    def step(model, tokens, target, reduction):
        traces.append(reduction)

        def loss_fn(m):
            return F.cross_entropy(m(tokens), target, reduction=reduction)

        return torsh.value_and_grad(loss_fn)(model)

    checked = torsh.debug.checks(step)
    loss, grads = checked(model, jnp.array([1, 2]), jnp.array([0, 2]), reduction="sum")
    loss_again, _ = checked(model, jnp.array([3, 4]), jnp.array([1, 1]), reduction="sum")
    assert np.isfinite(float(loss)) and grads[0].weight.shape == (5, 4)
    assert traces == ["sum"]  # compiled once per argument structure
    with pytest.raises(nn.IndexOutOfRangeError, match="embedding: index 5 is out of range"):
        checked(model, jnp.array([5, 2]), jnp.array([0, 2]), reduction="sum")
    with pytest.raises(nn.IndexOutOfRangeError, match="cross_entropy: target 3 is out of range"):
        checked(model, jnp.array([1, 2]), jnp.array([0, 3]), reduction="mean")
    # the same step unchecked: runs and returns garbage, as documented
    assert not np.isfinite(float(step(model, jnp.array([1, 2]), jnp.array([0, 3]), reduction="mean")[0]))


def test_checks_inside_vmap_and_scan_bodies():
    def per_example(tokens):
        return F.embedding(tokens, jnp.ones((4, 2))).sum()

    batched = torsh.debug.checks(jax.vmap(per_example))
    assert batched(jnp.array([[0, 1], [2, 3]])).shape == (2,)
    with pytest.raises(nn.IndexOutOfRangeError, match="index 4 is out of range"):
        batched(jnp.array([[0, 1], [2, 4]]))

    def scanned(ys):
        def body(c, y):
            return c + F.cross_entropy(jnp.zeros(3), y), None

        return jax.lax.scan(body, 0.0, ys)[0]

    with pytest.raises(nn.IndexOutOfRangeError, match="target 7 is out of range"):
        torsh.debug.checks(scanned)(jnp.array([0, 7, 1]))


def test_other_checkify_checks_are_raised_unchanged():
    def f(x):
        checkify.check(jnp.all(x > 0), "user check: {}", x.min())
        return x

    with pytest.raises(checkify.JaxRuntimeError, match="user check: -1"):
        torsh.debug.checks(f)(jnp.array([1, -1]))


def test_checks_of_a_non_callable_is_a_torsh_error_saying_what_to_write():
    with pytest.raises(ConfigError) as info:
        torsh.debug.checks(3)
    message = str(info.value)
    assert isinstance(info.value, torsh.errors.TorshError)
    assert "expected a function" in message and "got int 3" in message  # expected / got
    assert "torsh.debug.checks(fn)" in message and "with torsh.debug.checks():" in message  # what to write
