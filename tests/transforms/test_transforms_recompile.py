"""torsh.jit warns once, naming the argument and the old/new shapes, when an input change makes it
compile again; nothing on cached calls, nor for traces inside other transforms (vmap, grad, jit)."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import pytest

import torsh
from torsh.transforms import RecompileWarning


def _recorded(fn, *calls):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for args, kwargs in calls:
            fn(*args, **kwargs)
    return [w for w in seen if issubclass(w.category, RecompileWarning)]


def test_shape_change_names_argument_path_and_shapes():
    @torsh.jit
    def step(state, batch):
        x, y = batch
        return state + x.sum() + y.sum()

    s = jnp.float32(0)
    full = (jnp.ones((8, 3)), jnp.ones(8, jnp.int32))
    short = (jnp.ones((5, 3)), jnp.ones(5, jnp.int32))
    seen = _recorded(
        step, ((s, full), {}), ((s, full), {}), ((s, short), {}), ((s, full), {}), ((s, short), {})
    )
    assert len(seen) == 1  # the short batch once; the cached shapes never again
    text = str(seen[0].message)
    assert "step" in text and "argument 'batch'" in text
    assert "batch[0]: float32[8,3] -> float32[5,3]" in text
    assert "batch[1]: int32[8] -> int32[5]" in text
    assert "pad_last=True" in text
    assert seen[0].filename == __file__  # points at the caller, not at JAX internals


def test_dtype_static_and_structure_changes():
    f = torsh.jit(lambda x, n=1: x * n, static="n")
    seen = _recorded(
        f, ((jnp.ones(2),), {}), ((jnp.ones(2, jnp.int32),), {}), ((jnp.ones(2, jnp.int32),), {"n": 3})
    )
    assert len(seen) == 2
    assert "float32[2] -> int32[2]" in str(seen[0].message)
    assert "argument 'n': static 1 -> static 3" in str(seen[1].message)
    g = torsh.jit(lambda tree: sum(jax.tree.leaves(tree)))
    seen = _recorded(g, (({"a": jnp.ones(())},), {}), (({"a": jnp.ones(()), "b": jnp.ones(())},), {}))
    assert len(seen) == 1 and "changed structure" in str(seen[0].message)
    # a Python scalar instead of an array is a (weak-typed) new input too
    h = torsh.jit(lambda x: x + 1)
    seen = _recorded(h, ((jnp.float32(1.0),), {}), ((1.0,), {}))
    assert len(seen) == 1 and "(weak)" in str(seen[0].message)


def test_no_warning_for_the_first_compile_or_inner_traces():
    step = torsh.jit(lambda w, x: jnp.tanh(x @ w).sum())
    w = jnp.ones((3, 2))
    calls = [((w, jnp.ones((4, 3))), {})]
    assert _recorded(step, *calls) == []
    # inside vmap / grad / another jit the jitted function is traced with other shapes, but nothing of
    # its own is compiled: no warning
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        jax.vmap(lambda x: step(w, x))(jnp.ones((5, 4, 3)))
        jax.grad(lambda w: step(w, jnp.ones((4, 3))))(w)
        jax.jit(lambda x: step(w, x))(jnp.ones((7, 3)))
    assert [x for x in seen if issubclass(x.category, RecompileWarning)] == []


def test_the_warning_can_be_silenced_and_is_a_userwarning():
    f = torsh.jit(lambda x: x + 1)
    f(jnp.ones(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=RecompileWarning)
        f(jnp.ones(2))
    assert issubclass(RecompileWarning, UserWarning)
    with pytest.warns(RecompileWarning, match=r"float32\[2\] -> float32\[3\]"):
        f(jnp.ones(3))
