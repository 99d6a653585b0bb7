"""torsh.tree.Struct: immutable dataclass pytrees registered with JAX and optree."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optree
import pytest
from _tree_corpus import Chain, Linear, Norm, Partly

import torsh
from torsh.errors import ConfigError, FrozenInstanceError
from torsh.tree import Struct, field, static


class Affine(Struct):
    scale: jax.Array
    shift: jax.Array
    name: str = static("affine")

    def __call__(self, x):
        return self.scale * x + self.shift


def test_generated_init_fields_and_defaults():
    a = Affine(jnp.float32(2.0), jnp.float32(1.0))
    assert a.name == "affine" and float(a(3.0)) == 7.0
    assert [f.name for f in torsh.tree.fields(a)] == ["scale", "shift", "name"]
    assert [f.name for f in torsh.tree.fields(Affine)] == ["scale", "shift", "name"]
    assert Affine.__torsh_data_fields__ == ("scale", "shift") and Affine.__torsh_static_fields__ == ("name",)
    assert torsh.tree.is_struct(a) and not torsh.tree.is_struct({"scale": 1})
    with pytest.raises(TypeError):
        Affine(jnp.float32(1.0))  # missing a required field


def test_structs_are_immutable():
    a = Affine(jnp.float32(2.0), jnp.float32(1.0))
    with pytest.raises(
        FrozenInstanceError, match=r"Affine is immutable: cannot set 'scale'.*replace\(scale="
    ):
        a.scale = jnp.float32(0.0)
    with pytest.raises(FrozenInstanceError, match="cannot set 'new'"):
        a.new = 1
    with pytest.raises(FrozenInstanceError, match="cannot delete 'shift'"):
        del a.shift
    with pytest.raises(AttributeError):  # FrozenInstanceError is an AttributeError too
        a.name = "b"
    assert float(a.scale) == 2.0


def test_replace_returns_a_changed_copy_and_validates():
    a = Affine(jnp.float32(2.0), jnp.float32(1.0))
    b = a.replace(shift=jnp.float32(0.0), name="b")
    assert float(b(3.0)) == 6.0 and b.name == "b" and type(b) is Affine
    assert float(a(3.0)) == 7.0 and a.name == "affine"  # the original is unchanged
    with pytest.raises(FrozenInstanceError):
        b.scale = 1
    with pytest.raises(
        ConfigError, match=r"unknown field\(s\) \['bogus'\]; fields are \['name', 'scale', 'shift'\]"
    ):
        a.replace(bogus=1)
    with pytest.raises(ConfigError, match="Affine.name is a static field and must be hashable; got list"):
        a.replace(name=["x"])


def test_unhashable_static_field_is_rejected_at_construction():
    with pytest.raises(ConfigError, match=r"Linear.activation .* got list \['relu'\] \(use a tuple"):
        Linear(2, 2, activation=["relu"])
    with pytest.raises(ConfigError, match="Norm.eps"):
        Norm(jnp.ones(1), eps={"a": 1})


def test_custom_init_must_set_every_field():
    class Half(Struct):
        a: jax.Array
        b: jax.Array

        def __init__(self):
            self.a = jnp.ones(1)

    with pytest.raises(ConfigError, match=r"Half.__init__ did not set field\(s\) \['b'\]"):
        Half()


def test_subclass_keeps_the_parents_custom_init_and_super_chains_work():
    class Sub(Linear):
        pass

    s = Sub(3, 2, seed=1)
    assert s.weight.shape == (2, 3) and s.shape == (2, 3)
    np.testing.assert_array_equal(s.weight, Linear(3, 2, seed=1).weight)
    assert torsh.tree.paths(s) == ["weight", "bias"]

    class Extended(Linear):
        gain: jax.Array

        def __init__(self, d_in, d_out):
            super().__init__(d_in, d_out)  # assignment stays allowed through the super() chain
            self.gain = jnp.ones(d_out)

    e = Extended(2, 4)
    assert torsh.tree.paths(e) == ["weight", "bias", "gain"]
    with pytest.raises(FrozenInstanceError):
        e.gain = None

    class Forgot(Linear):
        extra: jax.Array  # the inherited __init__ does not set it

    with pytest.raises(ConfigError, match=r"did not set field\(s\) \['extra'\]"):
        Forgot(2, 2)


def test_subclass_of_a_generated_init_struct_gets_a_generated_init():
    class Wider(Affine):
        extra: jax.Array = None

    w = Wider(jnp.float32(1.0), jnp.float32(2.0), extra=jnp.ones(2))
    assert torsh.tree.paths(w) == ["scale", "shift", "extra"] and w.name == "affine"


def test_jax_transforms_accept_structs_unchanged():
    a = Affine(jnp.float32(2.0), jnp.float32(1.0), name="n")
    out = jax.jit(lambda m, x: m(x))(a, jnp.float32(3.0))
    assert float(out) == 7.0
    g = jax.grad(lambda m: m(3.0))(a)
    assert isinstance(g, Affine) and g.name == "n" and (float(g.scale), float(g.shift)) == (3.0, 1.0)
    batched = jax.vmap(lambda m: m(1.0))(Affine(jnp.arange(3.0), jnp.ones(3)))
    np.testing.assert_array_equal(batched, [1.0, 2.0, 3.0])
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, a)
    assert isinstance(doubled, Affine) and float(doubled.shift) == 2.0 and doubled.name == "n"
    leaves, treedef = jax.tree_util.tree_flatten(a)
    assert len(leaves) == 2 and jax.tree_util.tree_unflatten(treedef, leaves).name == "n"


def test_static_fields_are_part_of_the_structure_and_retrace_jit():
    traces = []

    @jax.jit
    def f(m, x):
        traces.append(m.name)
        return m(x)

    f(Affine(jnp.float32(1.0), jnp.float32(0.0), name="a"), 1.0)
    f(Affine(jnp.float32(5.0), jnp.float32(0.0), name="a"), 1.0)
    f(Affine(jnp.float32(1.0), jnp.float32(0.0), name="b"), 1.0)
    assert traces == ["a", "b"]
    spec_a = jax.tree_util.tree_structure(Affine(1.0, 2.0, name="a"))
    spec_b = jax.tree_util.tree_structure(Affine(1.0, 2.0, name="b"))
    assert spec_a != spec_b
    assert torsh.tree.structure(Affine(1.0, 2.0, name="a")) != torsh.tree.structure(
        Affine(1.0, 2.0, name="b")
    )


def test_unflatten_does_not_rerun_a_custom_init():
    calls = []

    class Counted(Struct):
        w: jax.Array

        def __init__(self, n):
            calls.append(n)
            self.w = jnp.ones(n)

    m = Counted(3)
    leaves, treedef = jax.tree_util.tree_flatten(m)
    rebuilt = jax.tree_util.tree_unflatten(treedef, [2 * x for x in leaves])
    rebuilt2 = optree.tree_unflatten(torsh.tree.structure(m), leaves)
    assert calls == [3]
    assert isinstance(rebuilt, Counted) and float(rebuilt.w[0]) == 2.0 and isinstance(rebuilt2, Counted)
    with pytest.raises(FrozenInstanceError):
        rebuilt.w = None


def test_optree_registration_uses_the_torsh_namespace():
    m = Linear(2, 2)
    assert len(optree.tree_leaves(m, namespace="torsh")) == 2
    assert optree.tree_leaves(m) == [m]  # without the namespace optree sees an opaque leaf
    children, meta, entries, _ = optree.tree_flatten_one_level(m, namespace=torsh.tree.NAMESPACE)
    assert entries == ("weight", "bias") and meta == ("tanh", (2, 2))


def test_register_struct_node_for_a_plain_class():
    class Pair:
        def __init__(self, a, b, tag):
            self.a, self.b, self.tag = a, b, tag

    torsh.tree.register_struct_node(Pair, ["a", "b"], ["tag"])
    p = Pair(jnp.ones(1), {"x": jnp.zeros(2)}, "t")
    assert torsh.tree.paths(p) == ["a", "b.x"]
    assert len(jax.tree_util.tree_leaves(p)) == 2
    g = jax.grad(lambda q: q.a.sum() + q.b["x"].sum())(p)
    assert isinstance(g, Pair) and g.tag == "t"


def test_copy_deepcopy_pickle_and_repr():
    m = Norm(jnp.arange(3.0), running_mean=jnp.zeros(3), steps=jnp.int32(2))
    shallow = copy.copy(m)
    deep = copy.deepcopy(m)
    assert shallow is not m and shallow.scale is m.scale
    assert deep.scale is not m.scale and torsh.tree.allclose(deep, m)
    restored = pickle.loads(pickle.dumps(m))
    assert type(restored) is Norm and torsh.tree.allclose(restored, m)
    with pytest.raises(FrozenInstanceError):
        restored.eps = 0.0
    text = repr(Chain([Linear(3, 2), m]))
    assert "Linear(" in text and "weight=f32[2,3]" in text and "steps=i32[]" in text and "eps=1e-05" in text


def test_structs_compare_by_identity_and_are_hashable():
    a = Affine(1.0, 2.0)
    assert a == a and a != Affine(1.0, 2.0)
    assert hash(a) == hash(a)


def test_field_options_are_recorded_in_metadata():
    (weight, running_mean, steps, eps) = dataclasses.fields(Norm)
    assert running_mean.metadata["buffer"] and not weight.metadata.get("buffer", False)
    assert eps.metadata["static"] and not steps.metadata["static"]
    (layers, name) = dataclasses.fields(Chain)
    assert layers.metadata["inline"] and name.metadata["static"]
    assert Norm.__torsh_buffer_fields__ == frozenset({"running_mean"})


def test_frozen_fields_hook_is_honoured_by_the_trainable_mask():
    p = Partly(trainable=jnp.ones(2), fixed=jnp.ones(2))
    mask = torsh.tree.trainable_mask(p)
    assert mask.trainable is True and mask.fixed is False

    class Toggle(Struct):
        a: jax.Array
        b: jax.Array
        frozen: tuple = static(())

        def _torsh_frozen_fields(self):
            return self.frozen

    t = Toggle(jnp.ones(1), jnp.ones(1))
    assert torsh.tree.leaves(torsh.tree.trainable_mask(t)) == [True, True]
    assert torsh.tree.leaves(torsh.tree.trainable_mask(t.replace(frozen=("a",)))) == [False, True]


def test_field_validation_of_identifiers():
    with pytest.raises(ValueError, match="not an identifier"):
        torsh.tree.register_struct_node(type("Bad", (), {}), ["not a name"], [])


def test_static_shorthand_and_field_defaults():
    class Cfg(Struct):
        items: tuple = field(static=True, default_factory=tuple)
        weights: list = field(default_factory=list)

    c = Cfg()
    assert c.items == () and c.weights == [] and torsh.tree.leaves(c) == []
    assert Cfg.__torsh_static_fields__ == ("items",)


def test_unannotated_attributes_of_a_struct_are_refused_at_construction():
    # (nn.Module turns them into fields; a plain Struct would silently lose them under jit)
    class Half(Struct):
        a: jax.Array

        def __init__(self):
            self.a = jnp.ones(2)
            self.b = jnp.zeros(2)

    with pytest.raises(ConfigError, match=r"Half.__init__ set attribute\(s\) \['b'\] that are not fields"):
        Half()


NOTEBOOK_CELL = """
from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp

from torsh import nn
from torsh.tree import Struct, static


class Scaled(Struct):
    w: jax.Array
    n: int = static(default=3)
    registry: ClassVar[dict] = {}  # a string annotation: must stay a class variable, not a field


class Doubler(nn.Module):
    def forward(self, x):
        return 2 * x


made = Scaled(jnp.ones(2))
"""


def test_struct_defined_in_exec_code_with_postponed_annotations():
    # exec with a module name that is not in sys.modules, as notebooks and script runners do
    namespace = {"__name__": "health_notebook_cell"}
    exec(compile(NOTEBOOK_CELL, "<cell>", "exec"), namespace)
    made = namespace["made"]
    assert [f.name for f in dataclasses.fields(made)] == ["w", "n"]  # ClassVar seen through the string
    assert made.n == 3 and jax.tree_util.tree_leaves(made)[0].shape == (2,)
    assert made.replace(n=4).n == 4
    assert namespace["Doubler"]()(jnp.ones(1)).tolist() == [2.0]
    assert "health_notebook_cell" not in sys.modules  # the stand-in module is removed
