"""torsh.random: explicit keys and samplers, the construction-time key stream (determinism,
thread safety, TraceError under every transform), argument errors, distribution sanity."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh.errors import ConfigError, DTypeError, ShapeError, TraceError
from torsh.random import key_data


@pytest.fixture(autouse=True)
def fresh_stream():
    yield
    torsh.manual_seed(0)


def same(a, b) -> bool:
    return bool(np.array_equal(key_data(a), key_data(b)))


# -- keys ------------------------------------------------------------------------------------------


def test_keys_are_typed_and_deterministic():
    k = torsh.random.key(3)
    assert k.shape == () and jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key)
    assert same(k, torsh.random.key(3)) and not same(k, torsh.random.key(4))
    parts = torsh.random.split(k, 3)
    assert parts.shape == (3,) and len({tuple(np.asarray(key_data(p))) for p in parts}) == 3
    a, b = torsh.random.split(k)
    assert not same(a, b)
    assert same(torsh.random.fold_in(k, 7), jax.random.fold_in(jax.random.key(3), 7))
    assert same(torsh.random.wrap_key_data(key_data(k)), k)


@pytest.mark.parametrize("seed", [1.0, "1", True, None])
def test_key_rejects_non_integer_seeds(seed):
    with pytest.raises(ConfigError, match="seed must be an int"):
        torsh.random.key(seed)
    with pytest.raises(ConfigError, match="manual_seed: seed must be an int"):
        torsh.manual_seed(seed)


# -- samplers --------------------------------------------------------------------------------------


def test_samplers_are_deterministic_per_key_and_use_the_default_dtype(key):
    for sample in (
        lambda k: torsh.random.normal(k, (3, 2)),
        lambda k: torsh.random.uniform(k, 5),
        lambda k: torsh.random.truncated_normal(k, (4,)),
    ):
        x = sample(key)
        assert x.dtype == jnp.float32
        np.testing.assert_array_equal(x, sample(key))
        assert not np.array_equal(x, sample(torsh.random.fold_in(key, 1)))
    assert torsh.random.normal(key, (2,), dtype="bfloat16").dtype == jnp.bfloat16
    assert torsh.random.normal(key).shape == ()
    assert torsh.random.randint(key, 4, 0, 3).dtype == jnp.int32
    assert torsh.random.bernoulli(key, 0.3, (2, 2)).dtype == jnp.bool_
    assert torsh.random.categorical(key, jnp.zeros((2, 5))).shape == (2,)


def test_distribution_sanity(key):
    n = 20000
    k1, k2, k3, k4, k5, k6 = torsh.random.split(key, 6)
    x = np.asarray(torsh.random.normal(k1, n, mean=2.0, std=3.0))
    assert abs(x.mean() - 2.0) < 0.1 and abs(x.std() - 3.0) < 0.1
    u = np.asarray(torsh.random.uniform(k2, n, low=-1.0, high=3.0))
    assert u.min() >= -1.0 and u.max() < 3.0 and abs(u.mean() - 1.0) < 0.05
    t = np.asarray(torsh.random.truncated_normal(k3, n, mean=1.0, std=2.0, a=-1.0, b=2.0))
    assert t.min() >= -1.0 and t.max() <= 2.0  # absolute bounds, as torch.nn.init.trunc_normal_
    r = np.asarray(torsh.random.randint(k4, n, -2, 3))
    assert r.min() == -2 and r.max() == 2 and set(np.unique(r)) == {-2, -1, 0, 1, 2}
    b = np.asarray(torsh.random.bernoulli(k5, 0.25, n))
    assert abs(b.mean() - 0.25) < 0.02
    c = np.asarray(torsh.random.categorical(k6, jnp.log(jnp.array([0.1, 0.6, 0.3])), shape=(n,)))
    np.testing.assert_allclose(np.bincount(c, minlength=3) / n, [0.1, 0.6, 0.3], atol=0.02)


@settings(max_examples=examples(10))  # few sizes: each new size compiles the shuffle again
@given(n=st.sampled_from([1, 2, 7, 33]), seed=st.integers(0, 2**31 - 1))
def test_permutation_is_a_permutation(n, seed):
    k = torsh.random.key(seed)
    p = np.asarray(torsh.random.permutation(k, n))
    assert sorted(p.tolist()) == list(range(n))
    rows = np.arange(n * 2).reshape(n, 2)
    shuffled = np.asarray(torsh.random.permutation(k, jnp.asarray(rows)))
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, rows.tolist()))  # rows move intact
    cols = np.asarray(torsh.random.permutation(k, jnp.asarray(rows.T), axis=1))
    assert sorted(map(tuple, cols.T.tolist())) == sorted(map(tuple, rows.tolist()))


def test_randint_bounds_are_checked(key):
    for low, high in ((3, 3), (5, 2)):
        with pytest.raises(ConfigError, match=f"expected low < high, got low={low}, high={high}"):
            torsh.random.randint(key, (2,), low, high)


# -- bad arguments get torsh errors (issue 17) ------------------------------------------------------

SAMPLERS = {
    "normal": lambda k, shape: torsh.random.normal(k, shape),
    "uniform": lambda k, shape: torsh.random.uniform(k, shape),
    "truncated_normal": lambda k, shape: torsh.random.truncated_normal(k, shape),
    "randint": lambda k, shape: torsh.random.randint(k, shape, 0, 3),
    "bernoulli": lambda k, shape: torsh.random.bernoulli(k, 0.5, shape),
    "categorical": lambda k, shape: torsh.random.categorical(k, jnp.zeros(3), shape=shape),
}
KEYED = {
    **SAMPLERS,
    "split": lambda k, _: torsh.random.split(k),
    "fold_in": lambda k, _: torsh.random.fold_in(k, 1),
    "permutation": lambda k, _: torsh.random.permutation(k, 3),
    "key_data": lambda k, _: torsh.random.key_data(k),
}


@pytest.mark.parametrize("name", sorted(KEYED))
def test_an_int_seed_where_a_key_belongs_names_the_fix(name):
    with pytest.raises(
        ConfigError, match=rf"random.{name}: expected a PRNG key .*got the int 0.*torsh.random.key\(0\)"
    ):
        KEYED[name](0, (3,))
    with pytest.raises(ConfigError, match=rf"random.{name}: expected a PRNG key .*dtype float32"):
        KEYED[name](np.zeros(2, np.float32), (3,))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("shape", [(-1,), (2, -3), (2.5,), "ab", -1])
def test_bad_shapes_raise_shape_error_not_a_compiler_error(name, shape, key):
    with pytest.raises(ShapeError, match=rf"random.{name}: shape must be"):
        SAMPLERS[name](key, shape)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_an_array_of_keys_is_refused_by_single_key_samplers(name, key):
    with pytest.raises(ShapeError, match="expected a single key, got an array of keys of shape \\[2\\]"):
        SAMPLERS[name](torsh.random.split(key, 2), (3,))


def test_fold_in_checks_the_uint32_range(key):
    for bad in (-1, 2**32, -(2**40)):
        with pytest.raises(
            ConfigError, match=rf"fold_in: data must be an int in \[0, 4294967295\].*got {bad}"
        ):
            torsh.random.fold_in(key, bad)
    with pytest.raises(ConfigError, match="fold_in: data must be an integer"):
        torsh.random.fold_in(key, 1.5)
    assert same(torsh.random.fold_in(key, 2**32 - 1), jax.random.fold_in(key, 2**32 - 1))
    assert same(torsh.random.fold_in(key, np.uint32(5)), jax.random.fold_in(key, 5))
    traced = jax.jit(torsh.random.fold_in)(key, jnp.int32(9))  # traced data passes through
    assert same(traced, jax.random.fold_in(key, 9))


def test_seed_range_and_other_argument_errors(key):
    with pytest.raises(ConfigError, match="random.key: seed must be in"):
        torsh.random.key(2**64)
    with pytest.raises(ConfigError, match="manual_seed: seed must be an int in"):
        torsh.manual_seed(-(2**63) - 1)
    assert same(torsh.random.key(np.int64(3)), jax.random.key(3))
    with pytest.raises(ConfigError, match="split: num must be an int >= 0, got -1"):
        torsh.random.split(key, -1)
    with pytest.raises(ConfigError, match="permutation: n must be >= 0"):
        torsh.random.permutation(key, -1)
    with pytest.raises(ConfigError, match=r"bernoulli: p must be a probability in \[0, 1\], got 2.0"):
        torsh.random.bernoulli(key, 2.0, (2,))
    with pytest.raises(ConfigError, match="uniform: expected low <= high"):
        torsh.random.uniform(key, 2, low=1.0, high=0.0)
    with pytest.raises(ConfigError, match="normal: std must be >= 0"):
        torsh.random.normal(key, 2, std=-1.0)
    with pytest.raises(ConfigError, match="truncated_normal: expected a < b"):
        torsh.random.truncated_normal(key, 2, a=1.0, b=1.0)
    with pytest.raises(DTypeError, match="normal: dtype must be a floating dtype, got int32"):
        torsh.random.normal(key, 2, dtype=jnp.int32)


def test_wrap_key_data_checks_the_raw_words(key):
    for bad in (np.zeros(2, np.float32), np.zeros(3, np.uint32), 5):
        with pytest.raises(
            ConfigError, match=r"wrap_key_data: expected a uint32 array of shape \[\.\.\., 2\]"
        ):
            torsh.random.wrap_key_data(bad)
    assert same(torsh.random.wrap_key_data(np.asarray(key_data(key))), key)


def test_valid_keys_of_every_kind_are_accepted(key):
    legacy = jax.random.PRNGKey(0)  # raw uint32[2] keys still work, as in JAX
    np.testing.assert_array_equal(torsh.random.normal(legacy, 2), jax.random.normal(legacy, (2,)))
    keys = torsh.random.split(key, 3)
    assert jax.vmap(lambda k: torsh.random.normal(k, (2,)))(keys).shape == (3, 2)
    assert jax.jit(lambda k: torsh.random.uniform(k, 3))(key).shape == (3,)
    assert torsh.random.key_data(keys).shape == (3, 2)


# -- the construction-time stream -------------------------------------------------------------------


def test_manual_seed_makes_the_stream_reproducible():
    torsh.manual_seed(42)
    first = [torsh.random.next_key() for _ in range(3)]
    torsh.manual_seed(42)
    again = [torsh.random.next_key() for _ in range(3)]
    assert all(same(a, b) for a, b in zip(first, again, strict=True))
    assert len({tuple(np.asarray(key_data(k))) for k in first}) == 3
    torsh.manual_seed(43)
    assert not same(torsh.random.next_key(), first[0])
    assert torsh.random.initial_seed() == 43
    # The stream is fold_in(key(seed), counter): documented, and what makes it reproducible.
    torsh.manual_seed(7)
    assert same(torsh.random.next_key(), jax.random.fold_in(jax.random.key(7), 0))
    assert same(torsh.random.next_key(), jax.random.fold_in(jax.random.key(7), 1))


def test_next_key_is_thread_safe():
    torsh.manual_seed(11)
    threads, per_thread = 8, 50
    start = threading.Barrier(threads)

    def draw(_):
        start.wait()
        return [tuple(np.asarray(key_data(torsh.random.next_key()))) for _ in range(per_thread)]

    with ThreadPoolExecutor(threads) as pool:
        drawn = [k for chunk in pool.map(draw, range(threads)) for k in chunk]
    assert len(drawn) == len(set(drawn)) == threads * per_thread  # no key handed out twice
    base = jax.random.key(11)
    expected = {tuple(np.asarray(key_data(jax.random.fold_in(base, i)))) for i in range(threads * per_thread)}
    assert set(drawn) == expected  # exactly the first counters, none skipped


def test_next_key_in_another_thread_while_this_one_traces_is_fine():
    inside, release, result = threading.Event(), threading.Event(), {}

    def traced(x):
        inside.set()
        release.wait(10)
        return x

    tracer_thread = threading.Thread(target=lambda: jax.jit(traced)(jnp.ones(1)))
    tracer_thread.start()
    inside.wait(10)
    try:
        result["key"] = torsh.random.next_key()  # tracing state is per thread
    finally:
        release.set()
        tracer_thread.join()
    assert "key" in result


@pytest.mark.parametrize(
    "transform",
    [
        lambda f: jax.jit(f)(jnp.ones(2)),
        lambda f: torsh.jit(f)(jnp.ones(2)),
        lambda f: torsh.grad(lambda x: f(x).sum())(jnp.ones(2)),
        lambda f: torsh.vmap(f)(jnp.ones((3, 2))),
        lambda f: torsh.scan(lambda c, x: (c, f(x)), 0.0, jnp.ones((3, 2))),
        lambda f: torsh.checkpoint(f)(jnp.ones(2)),
        lambda f: jax.eval_shape(f, jnp.ones(2)),
        lambda f: jax.make_jaxpr(f)(jnp.ones(2)),
    ],
    ids=["jax.jit", "torsh.jit", "grad", "vmap", "scan", "checkpoint", "eval_shape", "make_jaxpr"],
)
def test_next_key_inside_a_trace_raises_trace_error(transform):
    def uses_stream(x):
        return x + torsh.random.normal(torsh.random.next_key(), x.shape)

    with pytest.raises(TraceError, match=r"next_key\(\) was called inside a traced function.*as an argument"):
        transform(uses_stream)
    assert isinstance(TraceError("x"), RuntimeError)
    torsh.random.next_key()  # still usable afterwards, outside the trace


def test_is_tracing():
    assert not torsh.random.is_tracing()
    seen = []
    jax.jit(lambda x: seen.append(torsh.random.is_tracing()) or x)(1.0)
    assert seen == [True]
