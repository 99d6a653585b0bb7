"""torsh.tree utilities: dotted paths, partition/combine, filter, count, nbytes, allclose, cast,
trainable_mask.

Properties run over a shared corpus of trees (dicts, lists, tuples, None, namedtuples, structs with
static/buffer/frozen/inline fields); references are jax.tree_util and hand-computed expectations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _tree_corpus import Chain, Linear, Norm, Partly, Point, corpus, expected_trainable
from hypothesis import given
from hypothesis import strategies as st

import torsh
from torsh.errors import TreeError

CORPUS_SIZE = len(corpus())
tree_index = st.integers(0, CORPUS_SIZE - 1)


def _jax_dotted(path) -> str:
    parts = []
    for entry in path:
        if isinstance(entry, jax.tree_util.DictKey):
            parts.append(str(entry.key))
        elif isinstance(entry, jax.tree_util.SequenceKey):
            parts.append(str(entry.idx))
        elif isinstance(entry, jax.tree_util.GetAttrKey):
            parts.append(entry.name)
        else:  # pragma: no cover - a node kind the corpus does not use
            raise AssertionError(entry)
    return ".".join(parts)


# -- leaves, paths and agreement with JAX ---------------------------------------------------------


@pytest.mark.parametrize("index", range(CORPUS_SIZE))
def test_jax_and_optree_agree_on_leaves_and_structure(index):
    tree = corpus()[index]
    ours = torsh.tree.leaves(tree)
    theirs = jax.tree_util.tree_leaves(tree)
    assert len(ours) == len(theirs) and all(a is b for a, b in zip(ours, theirs, strict=True))
    # Rebuilding through either registry gives back the same tree.
    leaves, spec = torsh.tree.flatten(tree)
    rebuilt = torsh.tree.unflatten(spec, leaves)
    assert jax.tree_util.tree_structure(rebuilt) == jax.tree_util.tree_structure(tree)
    assert all(a is b for a, b in zip(jax.tree_util.tree_leaves(rebuilt), theirs, strict=True))
    assert torsh.tree.structure(tree) == spec


@pytest.mark.parametrize("index", range(CORPUS_SIZE))
def test_paths_agree_with_jax_key_paths_except_inline_fields(index):
    tree = corpus()[index]
    ours = torsh.tree.paths(tree)
    jax_paths = [_jax_dotted(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    if isinstance(tree, Point):  # optree names namedtuple entries by index, JAX by field name
        jax_paths = [p.replace("x", "0", 1).replace("y", "1", 1) for p in jax_paths]
    # Inline fields (Chain.layers) are named by JAX but left out of torsh paths.
    assert ours == [p.replace("layers.", "", 1) if "layers." in p else p for p in jax_paths]
    pairs, spec = torsh.tree.flatten_with_path(tree)
    assert [p for p, _ in pairs] == ours
    assert all(a is b for (_, a), b in zip(pairs, torsh.tree.leaves(tree), strict=True))
    assert spec == torsh.tree.structure(tree)


def test_dotted_paths_of_dicts_lists_structs_and_inline_fields():
    model = {
        "layers": [Linear(2, 3), Linear(3, 1, bias=False)],
        "norm": Norm(jnp.ones(3), running_mean=jnp.zeros(3), steps=jnp.int32(0)),
        "seq": Chain([Linear(1, 1)]),
        "extra": (None, {"b": 1.0, "a": 2.0}),
    }
    assert torsh.tree.paths(model) == [
        "extra.1.a",
        "extra.1.b",
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",  # struct fields keep declaration order
        "norm.scale",
        "norm.running_mean",
        "norm.steps",
        "seq.0.weight",
        "seq.0.bias",  # inline: no "layers" component, as PyTorch's Sequential
    ]
    assert torsh.tree.path_str(("a", 0, "b")) == "a.0.b"


def test_map_with_path_passes_the_dotted_path_and_extra_trees():
    tree = {"a": [1, 2], "b": Norm(jnp.ones(1), steps=jnp.int32(3))}
    out = torsh.tree.map_with_path(lambda p, x, y: (p, y), tree, torsh.tree.map(lambda x: 10, tree))
    assert torsh.tree.leaves(out, is_leaf=lambda x: isinstance(x, tuple)) == [
        ("a.0", 10),
        ("a.1", 10),
        ("b.scale", 10),
        ("b.steps", 10),
    ]
    assert isinstance(out["b"], Norm) and out["b"].eps == 1e-5  # static field carried over


def test_map_reports_the_differing_paths():
    with pytest.raises(TreeError, match=r"only in the first: \['c'\].*only in tree 1: \['d'\]"):
        torsh.tree.map(lambda a, b: a + b, {"a": 1, "c": 2}, {"a": 1, "d": 2})
    with pytest.raises(TreeError, match="map_with_path"):
        torsh.tree.map_with_path(lambda p, a, b: a, {"a": 1}, {"a": 1, "b": 2})
    # An error raised by fn itself is not mistaken for a structure mismatch.
    with pytest.raises(ValueError, match="boom") as info:
        torsh.tree.map(lambda x: (_ for _ in ()).throw(ValueError("boom")), {"a": 1})
    assert not isinstance(info.value, TreeError)


def test_unflatten_checks_the_leaf_count():
    _, spec = torsh.tree.flatten({"a": 1, "b": [2, 3]})
    with pytest.raises(TreeError, match="3 leaves, got 2"):
        torsh.tree.unflatten(spec, [1, 2])
    assert torsh.tree.unflatten(spec, iter([4, 5, 6])) == {"a": 4, "b": [5, 6]}


def test_none_is_an_empty_subtree_not_a_leaf():
    assert torsh.tree.leaves({"a": None, "b": [None, 1]}) == [1]
    assert torsh.tree.paths(Linear(2, 2, bias=False)) == ["weight"]


# -- partition / combine / filter -----------------------------------------------------------------


@given(index=tree_index, data=st.data())
def test_partition_combine_round_trip(index, data):
    tree = corpus()[index]
    leaves = torsh.tree.leaves(tree)
    flags = data.draw(st.lists(st.booleans(), min_size=len(leaves), max_size=len(leaves)))
    spec = torsh.tree.structure(tree)
    mask = torsh.tree.unflatten(spec, flags)
    selected, rest = torsh.tree.partition(tree, mask)
    # Each half keeps the structure, with None where the other half has the leaf.
    none_leaf = dict(is_leaf=lambda x: x is None)
    got_sel = spec.flatten_up_to(selected)
    got_rest = spec.flatten_up_to(rest)
    assert len(got_sel) == len(got_rest) == len(leaves)
    for leaf, flag, s, r in zip(leaves, flags, got_sel, got_rest, strict=True):
        assert (s is leaf and r is None) if flag else (s is None and r is leaf)
    # combine is the inverse, in either order.
    for merged in (torsh.tree.combine(selected, rest), torsh.tree.combine(rest, selected)):
        assert torsh.tree.structure(merged) == spec
        assert all(a is b for a, b in zip(torsh.tree.leaves(merged), leaves, strict=True))
    assert torsh.tree.structure(torsh.tree.filter(tree, mask), **none_leaf) == torsh.tree.structure(
        selected, **none_leaf
    )


@given(index=tree_index)
def test_partition_by_predicate_matches_the_mask_form(index):
    tree = corpus()[index]
    by_predicate = torsh.tree.partition(tree, torsh.tree.is_inexact)
    mask = torsh.tree.map(torsh.tree.is_inexact, tree)
    by_mask = torsh.tree.partition(tree, mask)
    none_leaf = dict(is_leaf=lambda x: x is None)
    for a, b in zip(by_predicate, by_mask, strict=True):
        assert [id(x) for x in torsh.tree.leaves(a, **none_leaf)] == [
            id(x) for x in torsh.tree.leaves(b, **none_leaf)
        ]


def test_partition_accepts_a_struct_shaped_mask_even_when_the_struct_is_callable():
    class Callable_(Linear):
        def __call__(self, x):
            return x

    layer = Callable_(2, 2)
    mask = layer.replace(weight=True, bias=False)  # a callable struct is a mask tree, not a predicate
    selected, rest = torsh.tree.partition(layer, mask)
    assert selected.weight is layer.weight and selected.bias is None
    assert rest.bias is layer.bias and rest.weight is None
    assert selected.activation == "tanh"  # static fields stay on both halves


def test_partition_and_combine_errors():
    with pytest.raises(TreeError, match="mask does not have the structure"):
        torsh.tree.partition({"a": 1, "b": 2}, {"a": True})
    with pytest.raises(TreeError, match="same structure"):
        torsh.tree.combine({"a": 1}, {"b": None})
    with pytest.raises(TreeError, match="at least one"):
        torsh.tree.combine()


def test_filter_keeps_selected_leaves():
    tree = {"w": jnp.ones(2), "n": 3, "s": "x"}
    assert torsh.tree.filter(tree, torsh.tree.is_array) == {"w": tree["w"], "n": None, "s": None}


# -- counting and sizes ---------------------------------------------------------------------------


def test_count_and_nbytes():
    tree = {
        "w": jnp.zeros((3, 4)),
        "b": jnp.zeros(4, jnp.bfloat16),
        "i": np.zeros((2, 5), np.int64),
        "s": jnp.float32(1.0),
        "py": 3.0,  # Python scalars are not counted
        "name": "x",
    }
    assert torsh.tree.count(tree) == 12 + 4 + 10 + 1
    assert torsh.tree.count(tree, where=torsh.tree.is_inexact) == 12 + 4 + 1
    assert torsh.tree.nbytes(tree) == 12 * 4 + 4 * 2 + 10 * 8 + 4
    assert torsh.tree.count(None) == 0 and torsh.tree.nbytes({}) == 0
    model = Linear(3, 2)
    assert torsh.tree.count(model) == 3 * 2 + 2
    assert torsh.tree.nbytes(model) == (3 * 2 + 2) * 4


def test_nbytes_and_count_of_prng_keys_and_abstract_arrays():
    keys = jax.random.split(jax.random.key(0), 3)
    tree = {"keys": keys, "spec": jax.ShapeDtypeStruct((2, 3), jnp.float16)}
    assert torsh.tree.count(tree) == 3 + 6
    assert torsh.tree.nbytes(tree) == jax.random.key_data(keys).nbytes + 6 * 2


# -- allclose / cast / zeros_like ------------------------------------------------------------------


def test_allclose():
    a = {"w": jnp.array([1.0, 2.0]), "s": Norm(jnp.ones(2), steps=jnp.int32(1))}
    b = torsh.tree.map(lambda x: x + 1e-7 if jnp.issubdtype(x.dtype, jnp.floating) else x, a)
    assert torsh.tree.allclose(a, b)
    assert not torsh.tree.allclose(a, torsh.tree.map(lambda x: x + 1e-2, a))
    assert torsh.tree.allclose(a, torsh.tree.map(lambda x: x + 1e-2, a), atol=0.1)
    assert not torsh.tree.allclose(a, {"w": a["w"]})  # structure differs
    assert not torsh.tree.allclose({"w": jnp.ones(2)}, {"w": jnp.ones(3)})  # shape differs (no broadcasting)
    assert not torsh.tree.allclose(a, {**a, "s": a["s"].replace(eps=0.5)})  # static field differs
    nan = {"x": jnp.array([np.nan])}
    assert not torsh.tree.allclose(nan, nan) and torsh.tree.allclose(nan, nan, equal_nan=True)


def test_allclose_compares_prng_keys_by_their_data():
    assert torsh.tree.allclose({"k": jax.random.key(0)}, {"k": jax.random.key(0)})
    assert not torsh.tree.allclose({"k": jax.random.key(0)}, {"k": jax.random.key(1)})


def test_cast_touches_only_floating_array_leaves():
    tree = {
        "w": jnp.ones(2),
        "np": np.ones(2, np.float64),
        "i": jnp.arange(2),
        "c": jnp.ones(2, jnp.complex64),
        "py": 1.0,
        "m": Norm(jnp.ones(1), running_mean=jnp.zeros(1), steps=jnp.int32(0)),
    }
    out = torsh.tree.cast(tree, jnp.bfloat16)
    assert (
        out["w"].dtype
        == out["np"].dtype
        == out["m"].scale.dtype
        == out["m"].running_mean.dtype
        == jnp.bfloat16
    )
    assert out["i"].dtype == jnp.int32 and out["m"].steps.dtype == jnp.int32
    assert out["c"].dtype == jnp.complex64 and out["py"] == 1.0
    picked = torsh.tree.cast(tree, jnp.float16, where=lambda x: x is tree["w"])
    assert picked["w"].dtype == jnp.float16 and picked["np"].dtype == np.float64


def test_zeros_like_and_ones_like():
    tree = {"w": jnp.full((2, 3), 5.0), "i": np.full(2, 3, np.int8), "s": "name", "m": Linear(1, 2)}
    z = torsh.tree.zeros_like(tree)
    o = torsh.tree.ones_like(tree)
    for out, value in ((z, 0), (o, 1)):
        assert (
            out["w"].shape == (2, 3)
            and out["w"].dtype == jnp.float32
            and (np.asarray(out["w"]) == value).all()
        )
        assert out["i"].dtype == np.int8 and (np.asarray(out["i"]) == value).all()
        assert out["s"] == "name" and isinstance(out["m"], Linear) and out["m"].shape == (2, 1)
        assert (np.asarray(out["m"].weight) == value).all()


# -- trainable_mask ---------------------------------------------------------------------------------


@pytest.mark.parametrize("index", range(CORPUS_SIZE))
def test_trainable_mask_matches_an_independent_walk(index):
    tree = corpus()[index]
    mask = torsh.tree.trainable_mask(tree)
    assert torsh.tree.structure(mask) == torsh.tree.structure(tree)
    assert torsh.tree.leaves(mask) == expected_trainable(tree)


def test_trainable_mask_blocks_buffers_frozen_fields_and_non_floats():
    tree = {
        "norm": Norm(jnp.ones(2), running_mean=jnp.zeros(2), steps=jnp.int32(0)),
        "part": Partly(trainable=[jnp.ones(1), 2.0], fixed={"w": jnp.ones(1)}),
        "key": jax.random.key(0),
        "flag": jnp.array(True),
        "c": jnp.ones(1, jnp.complex64),
    }
    mask = torsh.tree.trainable_mask(tree)
    assert (mask["norm"].scale, mask["norm"].running_mean, mask["norm"].steps) == (True, False, False)
    assert mask["part"].trainable == [True, True] and mask["part"].fixed == {"w": False}
    assert (mask["key"], mask["flag"], mask["c"]) == (False, False, True)


def test_is_array_and_is_inexact():
    assert (
        torsh.tree.is_array(jnp.ones(1)) and torsh.tree.is_array(np.ones(1)) and not torsh.tree.is_array(1.0)
    )
    assert torsh.tree.is_inexact(jnp.ones(1)) and torsh.tree.is_inexact(np.ones(1, np.float16))
    assert torsh.tree.is_inexact(1.0) and torsh.tree.is_inexact(1j)
    assert (
        not torsh.tree.is_inexact(True) and not torsh.tree.is_inexact(1) and not torsh.tree.is_inexact("1.0")
    )
    assert not torsh.tree.is_inexact(jnp.arange(2)) and not torsh.tree.is_inexact(jax.random.key(0))


# -- None in the other trees passes leaves through (torsh.grad's gradients of buffers) -------------


def test_map_passes_the_first_trees_leaf_where_another_tree_has_none():
    params = {"w": 1.0, "steps": 3, "sub": {"a": 2.0, "b": [4.0, 5.0]}}
    grads = {"w": 0.5, "steps": None, "sub": {"a": None, "b": None}}  # a whole subtree may be None
    calls = []

    def sgd(p, g):
        calls.append((p, g))
        return p - g

    assert torsh.tree.map(sgd, params, grads) == {"w": 0.5, "steps": 3, "sub": {"a": 2.0, "b": [4.0, 5.0]}}
    assert calls == [(1.0, 0.5)]  # fn is never called with None
    out = torsh.tree.map_with_path(lambda path, p, g: f"{path}:{p - g}", params, grads)
    assert out == {"w": "w:0.5", "steps": 3, "sub": {"a": 2.0, "b": [4.0, 5.0]}}
    # structures that differ other than by None are still errors
    with pytest.raises(TreeError, match="only in tree 1"):
        torsh.tree.map(sgd, {"a": 1.0}, {"a": None, "z": 1.0})
    with pytest.raises(TreeError):
        torsh.tree.map(sgd, {"a": [1.0, 2.0]}, {"a": 1.0})  # a leaf where the first tree has a list


class _Mapped:
    def __init__(self, x):
        self.x = x


@given(index=tree_index, data=st.data())
def test_map_with_none_masks_equals_a_leafwise_reference(index, data):
    tree = corpus()[index]
    values, spec = torsh.tree.flatten(tree)
    keep = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    other = torsh.tree.unflatten(spec, [object() if k else None for k in keep])
    for out in (
        torsh.tree.map(lambda x, o: _Mapped(x), tree, other),
        torsh.tree.map_with_path(lambda p, x, o: _Mapped(x), tree, other),
    ):
        got = torsh.tree.leaves(out)
        assert len(got) == len(values)
        for g, v, k in zip(got, values, keep, strict=True):
            assert (isinstance(g, _Mapped) and g.x is v) if k else g is v
