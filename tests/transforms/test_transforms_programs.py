"""torsh.jit(program_key=...): compiled programs stored on disk and loaded without tracing.

A "later process" is simulated in-process by a fresh ``torsh.jit`` of the same function (its own
empty memory, so the only way to skip the trace is the file); one test uses a real second process.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import warnings

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import torsh
from torsh import amp, compile_cache, nn, optim, train
from torsh.errors import ConfigError
from torsh.nn import functional as F
from torsh.train._fit import compile_seconds
from torsh.transforms import ProgramCacheWarning

SRC = str(pathlib.Path(__file__).parents[2] / "src")


@pytest.fixture
def cache(tmp_path):
    """The compile cache on in a fresh directory; JAX's settings restored afterwards."""
    saved = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_enable_compilation_cache,
        jax.config.jax_persistent_cache_min_compile_time_secs,
        compile_cache._enabled_by_torsh,
    )
    path = compile_cache.enable(tmp_path / "xla")
    yield path / "torsh-programs"
    jax.config.update("jax_compilation_cache_dir", saved[0])
    jax.config.update("jax_enable_compilation_cache", saved[1])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", saved[2])
    compile_cache._enabled_by_torsh = saved[3]
    compile_cache._reset_jax_cache()


def _programs(directory: pathlib.Path) -> list[pathlib.Path]:
    return sorted(directory.glob("*.program")) if directory.exists() else []


def _counting(traces: list):
    def affine(w, x, *, scale=1.0):
        traces.append(x.shape)
        return jnp.tanh(x @ w) * scale

    return affine


def test_a_fresh_jit_loads_the_stored_program_without_tracing(cache):
    traces: list = []
    fn = _counting(traces)
    w, x = jnp.arange(12.0).reshape(3, 4) / 10, jnp.ones((2, 3))
    expected = jax.jit(lambda w, x: jnp.tanh(x @ w))(w, x)
    first = torsh.jit(fn, program_key="affine")
    np.testing.assert_array_equal(first(w, x), expected)
    assert len(traces) == 1 and len(_programs(cache)) == 1
    second = torsh.jit(fn, program_key="affine")  # what a later process does: its memory is empty
    np.testing.assert_array_equal(second(w, x), expected)
    np.testing.assert_array_equal(second(w, x + 1), jax.jit(lambda w, x: jnp.tanh(x @ w))(w, x + 1))
    assert len(traces) == 1  # loaded from the file: never traced
    # lower/trace/explain are the jitted function's own
    assert second.lower(w, x).compile() is not None and second.explain(w, x).flops > 0
    assert second.__name__ == "affine"


def test_new_shapes_get_their_own_programs_and_both_are_reused(cache):
    traces: list = []
    fn = _counting(traces)
    w = jnp.ones((3, 4))
    f = torsh.jit(fn, program_key="shapes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torsh.transforms.RecompileWarning)
        a, b = f(w, jnp.ones((2, 3))), f(w, jnp.ones((5, 3)))
        f(w, jnp.ones((2, 3)))  # back to the first signature: no new trace
    assert a.shape == (2, 4) and b.shape == (5, 4)
    assert traces == [(2, 3), (5, 3)] and len(_programs(cache)) == 2
    g = torsh.jit(fn, program_key="shapes")
    g(w, jnp.ones((5, 3)))
    g(w, jnp.ones((2, 3)))
    assert traces == [(2, 3), (5, 3)]
    # a different key, another program; the structure of the arguments counts too
    torsh.jit(fn, program_key="shapes-2")(w, jnp.ones((2, 3)))
    torsh.jit(fn, program_key="shapes")(w, jnp.ones((2, 3)), scale=jnp.float32(2))
    assert len(traces) == 4 and len(_programs(cache)) == 4


def test_static_values_are_part_of_the_key(cache):
    traces: list = []

    def power(x, n):
        traces.append(n)
        return x**n

    f = torsh.jit(power, static="n", program_key="power")
    warnings.simplefilter("ignore", torsh.transforms.RecompileWarning)
    assert float(f(jnp.float32(2), 3)) == 8.0 and float(f(jnp.float32(2), n=2)) == 4.0
    g = torsh.jit(power, static="n", program_key="power")
    assert float(g(jnp.float32(3), 3)) == 27.0 and float(g(jnp.float32(3), n=2)) == 9.0
    assert float(g(jnp.float32(3), 3)) == 27.0  # the fast path checks the static value
    assert traces == [3, 2]


def test_a_program_jax_already_cached_is_compiled_again_before_it_is_stored(cache):
    # XLA:CPU executables that JAX loaded from its own cache serialize without their kernels; storing
    # one gave "Function ... not found" in the process that loaded it.
    compile_cache.enable(cache.parent, min_compile_time_secs=0.0)
    events: list = []
    listener = lambda name, **_: events.append(name)
    jax.monitoring.register_event_listener(listener)

    def fn(w, x):
        return jnp.tanh(jnp.concatenate([x @ w, (x @ w).T.reshape(x.shape[0], -1)], axis=1)).sum(0)

    w, x = jnp.ones((3, 4)), jnp.ones((4, 3))
    try:
        expected = torsh.jit(fn)(w, x)  # compiled and written to JAX's cache
        hits = events.count("/jax/compilation_cache/cache_hits")
        torsh.jit(fn, program_key="jax-cached")(w, x)
        assert events.count("/jax/compilation_cache/cache_hits") == hits  # compiled, not JAX's copy
    finally:
        jax.monitoring.unregister_event_listener(listener)
    np.testing.assert_array_equal(torsh.jit(fn, program_key="jax-cached")(w, x), expected)


def test_a_training_step_keeps_donation_and_continues_the_same_trajectory(cache):
    def make_state():
        torsh.manual_seed(0)
        model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3))
        opt = optim.AdamW(lr=optim.schedules.cosine_annealing(1e-2, T_max=10))
        return train.TrainState.create(model=model, opt=opt, key=torsh.random.key(0))

    def step(state, batch):
        x, y = batch
        loss, grads = torsh.value_and_grad(lambda m: F.cross_entropy(m(x, key=state.key), y))(state.model)
        return state.apply_gradients(grads), {"loss": loss}

    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(4, 6)).astype(np.float32), rng.integers(0, 3, 4)) for _ in range(3)]
    reference_step, state = torsh.jit(step, donate="state"), make_state()
    reference = []
    for b in batches:
        state, logs = reference_step(state, b)
        reference.append(float(logs["loss"]))
    torsh.jit(step, donate="state", program_key="mlp-step")(make_state(), batches[0])  # stores
    loaded, state = torsh.jit(step, donate="state", program_key="mlp-step"), make_state()
    before = compile_seconds()
    losses = []
    for b in batches:
        old = state
        state, logs = loaded(state, b)
        losses.append(float(logs["loss"]))
        assert jax.tree.leaves(old.model)[0].is_deleted()  # donated, as with jax.jit
    assert losses == reference
    assert compile_seconds() > before  # the load is reported like a compile (fit's "compiled ... in")


def test_a_corrupt_or_foreign_file_warns_recompiles_and_is_replaced(cache):
    fn = _counting([])
    w, x = jnp.ones((3, 4)), jnp.ones((2, 3))
    expected = torsh.jit(fn, program_key="corrupt")(w, x)
    (path,) = _programs(cache)
    good = path.read_bytes()
    for damaged in (good[: len(good) // 2], b"", pickle.dumps({"format": "torsh.program/1", "key": "other"})):
        path.write_bytes(damaged)
        with pytest.warns(ProgramCacheWarning, match=f"stored program {path}.* cannot be loaded"):
            np.testing.assert_array_equal(torsh.jit(fn, program_key="corrupt")(w, x), expected)
        assert path.read_bytes() != damaged  # rewritten with a program that loads
        with warnings.catch_warnings():
            warnings.simplefilter("error", ProgramCacheWarning)
            np.testing.assert_array_equal(torsh.jit(fn, program_key="corrupt")(w, x), expected)


class _Opaque:  # a default repr names a memory address: not a key another process can match
    def __hash__(self) -> int:
        return 0

    def __eq__(self, other) -> bool:
        return isinstance(other, _Opaque)


def test_what_cannot_be_keyed_or_stored_warns_once_and_still_runs(cache):
    def scaled(x, opaque):
        return x * 2

    f = torsh.jit(scaled, static="opaque", program_key="opaque")
    with pytest.warns(ProgramCacheWarning, match="memory addresses"):
        assert float(f(jnp.float32(1), _Opaque())) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProgramCacheWarning)  # once per function and reason
        assert float(f(jnp.float32(2), _Opaque())) == 4.0

    class Local(nn.Module):  # a class pickle cannot find again: the result's structure is not storable
        def __init__(self) -> None:
            self.lin = nn.Linear(2, 2, key=torsh.random.key(0))

        def forward(self, x):
            return self.lin(x)

    g = torsh.jit(lambda m: m, program_key="local-class")
    with pytest.warns(ProgramCacheWarning, match="cannot be stored.*Local"):
        out = g(Local())
    assert isinstance(out, Local) and not _programs(cache)

    # amp changes what a trace produces through a context torsh cannot key: never stored or loaded
    layer = nn.Linear(3, 2, key=torsh.random.key(0))
    # (as with any jitted function, a program traced outside an autocast block is not traced again
    # in it: docs/amp.md says to enter the block inside the jitted function)
    h = torsh.jit(lambda m, x: m(x), program_key="amp")
    with amp.autocast("compute=bfloat16,output=bfloat16"), pytest.warns(ProgramCacheWarning, match="amp"):
        assert h(layer, jnp.ones((1, 3))).dtype == jnp.bfloat16
    assert not _programs(cache)


def test_settings_that_change_a_trace_change_the_key(cache):
    traces: list = []
    fn = _counting(traces)
    w, x = jnp.ones((3, 4)), jnp.ones((2, 3))
    f = torsh.jit(fn, program_key="settings")
    f(w, x)
    with jax.default_matmul_precision("highest"):
        f(w, x)  # same arguments, other settings: not the program compiled for the defaults
        torsh.jit(fn, program_key="settings")(w, x)  # and a later process finds the right one
    f(w, x)
    assert len(traces) == 2 and len(_programs(cache)) == 2


def test_off_when_the_compile_cache_is_off_and_bad_keys_are_rejected(cache):
    traces: list = []
    fn = _counting(traces)
    compile_cache.disable()
    f = torsh.jit(fn, program_key="off")
    f(jnp.ones((3, 4)), jnp.ones((2, 3)))
    torsh.jit(fn, program_key="off")(jnp.ones((3, 4)), jnp.ones((2, 3)))
    assert len(traces) == 2 and not _programs(cache)
    for bad in ("", 3, b"key"):
        with pytest.raises(ConfigError, match="program_key must be a non-empty str"):
            torsh.jit(fn, program_key=bad)


@settings(max_examples=6, deadline=None)
@given(
    shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    dtype=st.sampled_from([np.float32, np.int32, np.float16, np.bool_]),
)
def test_round_trip_equals_a_plain_jit(shape, dtype, tmp_path_factory):
    saved = (jax.config.jax_compilation_cache_dir, jax.config.jax_enable_compilation_cache)
    compile_cache.enable(tmp_path_factory.mktemp("xla"))
    try:
        x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape).astype(dtype)

        def fn(x):
            return {"sum": x.sum(), "twice": jnp.concatenate([x.reshape(-1), x.reshape(-1)])}

        expected = jax.jit(fn)(x)
        torsh.jit(fn, program_key="round-trip")(x)
        loaded = torsh.jit(fn, program_key="round-trip")(x)
        jax.tree.map(np.testing.assert_array_equal, loaded, expected)
        assert jax.tree.map(lambda a: a.dtype, loaded) == jax.tree.map(lambda a: a.dtype, expected)
    finally:
        jax.config.update("jax_compilation_cache_dir", saved[0])
        jax.config.update("jax_enable_compilation_cache", saved[1])
        compile_cache._enabled_by_torsh = None
        compile_cache._reset_jax_cache()


CHILD = """
import json, sys, jax, jax.numpy as jnp, torsh
from torsh import compile_cache, nn, train, optim
compile_cache.enable(sys.argv[1])
traces = []
def step(state, x):
    traces.append(1)
    loss, grads = torsh.value_and_grad(lambda m: (m(x) ** 2).mean())(state.model)
    return state.apply_gradients(grads), loss
torsh.manual_seed(0)
state = train.TrainState.create(model=nn.Sequential(nn.Linear(3, 4), nn.Tanh()), opt=optim.Adam(lr=0.1))
f = torsh.jit(step, donate="state", program_key="child-step")
losses = []
for _ in range(3):
    state, loss = f(state, jnp.ones((2, 3)))
    losses.append(float(loss))
print(json.dumps({"traces": len(traces), "losses": losses}))
"""


def test_a_second_process_loads_the_program(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    runs = []
    for seed in ("1", "2"):  # str hashes differ between the processes: the key must not depend on them
        env["PYTHONHASHSEED"] = seed
        p = subprocess.run(
            [sys.executable, "-c", CHILD, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
        )
        assert p.returncode == 0, p.stderr
        runs.append(json.loads(p.stdout.strip().splitlines()[-1]))
    assert runs[0]["traces"] == 1 and runs[1]["traces"] == 0
    assert runs[0]["losses"] == runs[1]["losses"]
    assert len(list((tmp_path / "torsh-programs").glob("*.program"))) == 1
