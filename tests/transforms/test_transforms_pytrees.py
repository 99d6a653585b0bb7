"""Transforms over nested dicts/lists/tuples/None and structs with static, buffer, frozen and integer
leaves, composed in many orders. The loss has a closed-form gradient, so every pipeline is checked
against it, and non-trainable leaves must come back as ``None``."""

from __future__ import annotations

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tree"))
from _tree_corpus import corpus, expected_trainable, float_trees

import torsh

TREES = float_trees()


def loss(tree, x):
    """sum_i (i + 1) * sum(sin(x * leaf_i)) over floating leaves (buffers and frozen leaves included)
    plus x * sum(integer leaves), which has no gradient."""
    total = 0.0
    for i, leaf in enumerate(jax.tree_util.tree_leaves(tree)):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            total = total + (i + 1) * jnp.sum(jnp.sin(x * leaf))
        else:
            total = total + x * jnp.sum(leaf)
    return total


def expected_grads(tree, x):
    """Closed form d loss / d leaf for trainable leaves, None elsewhere, in leaf order."""
    trainable = expected_trainable(tree)
    leaves = jax.tree_util.tree_leaves(tree)
    return [
        (i + 1) * x * np.cos(x * np.asarray(leaf)) if t else None
        for i, (leaf, t) in enumerate(zip(leaves, trainable, strict=True))
    ]


def _sum(tree, xs):
    return torsh.vmap(loss, in_axes={"tree": None})(tree, xs).sum()


PIPELINES = {
    # name: (builder, batched?) - batched pipelines take a vector of x and return per-example grads
    "grad": (lambda: torsh.grad(loss), False),
    "jit(grad)": (lambda: torsh.jit(torsh.grad(loss)), False),
    "grad(jit)": (lambda: torsh.grad(torsh.jit(loss)), False),
    "grad(checkpoint)": (lambda: torsh.grad(torsh.checkpoint(loss, policy="nothing_saveable")), False),
    "checkpoint(grad)": (lambda: torsh.checkpoint(torsh.grad(loss)), False),
    "value_and_grad(jit)[1]": (lambda: lambda t, x: torsh.value_and_grad(torsh.jit(loss))(t, x)[1], False),
    "jacrev": (lambda: torsh.jacrev(loss, argnums="tree"), False),
    "jit(jacfwd)": (lambda: torsh.jit(torsh.jacfwd(loss)), False),
    "vmap(grad)": (lambda: torsh.vmap(torsh.grad(loss), in_axes={"tree": None}), True),
    "jit(vmap(grad))": (lambda: torsh.jit(torsh.vmap(torsh.grad(loss), in_axes=(None, 0))), True),
    "vmap(jit(grad(checkpoint)))": (
        lambda: torsh.vmap(torsh.jit(torsh.grad(torsh.checkpoint(loss))), in_axes={"tree": None}),
        True,
    ),
    "grad(vmap)": (lambda: torsh.grad(_sum), "sum"),
    "jit(grad(vmap))": (lambda: torsh.jit(torsh.grad(_sum)), "sum"),
    "grad(scan)": (
        lambda: torsh.grad(lambda t, xs: torsh.scan(lambda c, x: (c + loss(t, x), None), 0.0, xs)[0]),
        "sum",
    ),
}


@settings(max_examples=examples(15))
@given(index=st.integers(0, len(TREES) - 1), pipeline=st.sampled_from(sorted(PIPELINES)))
def test_pipelines_over_structured_trees(index, pipeline):
    tree = TREES[index]
    build, batched = PIPELINES[pipeline]
    xs = np.array([0.7, -1.3], np.float32)
    # Compiled as a whole (one compilation per example instead of one per primitive and shape); the
    # torsh wrappers run at trace time exactly as they do eagerly.
    got = jax.jit(build())(tree, jnp.asarray(xs) if batched else jnp.float32(xs[0]))
    spec = torsh.tree.structure(tree)
    got_leaves = spec.flatten_up_to(got)  # same structure, None at non-trainable leaves
    if batched is True:
        per_x = [expected_grads(tree, x) for x in xs]
        expected = [None if e[0] is None else np.stack(e) for e in zip(*per_x, strict=True)]
    elif batched == "sum":
        per_x = [expected_grads(tree, x) for x in xs]
        expected = [None if e[0] is None else sum(e) for e in zip(*per_x, strict=True)]
    else:
        expected = expected_grads(tree, xs[0])
    assert len(got_leaves) == len(expected)
    for g, e in zip(got_leaves, expected, strict=True):
        if e is None:
            assert g is None
        else:
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    # Static fields and node types survive: recombined with the non-trainable part, the gradient
    # tree has exactly the parameters' structure.
    _, rest = torsh.tree.partition(tree, torsh.tree.trainable_mask(tree))
    assert torsh.tree.structure(torsh.tree.combine(got, rest)) == spec


def _array_only(tree):
    leaves = torsh.tree.leaves(tree)
    return bool(leaves) and all(isinstance(x, jax.Array) for x in leaves)


# The trees the pipelines above do not take: empty, or with strings, bools and Python scalars as leaves.
@pytest.mark.parametrize("index", [i for i, t in enumerate(corpus()) if not _array_only(t)])
def test_grad_over_corpus_trees_with_strings_and_python_scalars(index):
    tree = corpus()[index]

    def f(t):
        total = jnp.float32(0.0)
        for leaf in torsh.tree.leaves(t):
            if isinstance(leaf, str):
                continue
            total = total + jnp.sum(jnp.asarray(leaf, jnp.float32) ** 2)
        return total

    g = torsh.grad(f)(tree)
    flags = expected_trainable(tree)
    spec = torsh.tree.structure(tree)
    for leaf, flag, d in zip(torsh.tree.leaves(tree), flags, spec.flatten_up_to(g), strict=True):
        if flag:
            np.testing.assert_allclose(d, 2 * np.asarray(leaf, np.float32), rtol=1e-6)
        else:
            assert d is None


def test_integer_buffer_and_frozen_leaves_pass_through_every_transform_unchanged():
    tree = TREES[-1]  # a list holding a struct with an integer counter and a static eps
    out = torsh.jit(lambda t: t)(tree)
    assert torsh.tree.structure(out) == torsh.tree.structure(tree)
    batched = torsh.vmap(
        lambda t, x: torsh.tree.map(lambda leaf: leaf * 1, t), in_axes=(None, 0), out_axes=None
    )(tree, jnp.ones(3))
    assert torsh.tree.allclose(batched, tree)
    carry, _ = torsh.scan(lambda c, x: (c, None), tree, jnp.ones(2))
    assert torsh.tree.allclose(carry, tree) and carry[0]["x"].steps.dtype == jnp.int32
    remat = torsh.checkpoint(lambda t: t)(tree)
    assert torsh.tree.allclose(remat, tree)
