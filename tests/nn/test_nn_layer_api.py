"""The public layer-author helpers: split_key/resolve_key, check_axes, axes declarations, init=False."""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import nn
from torsh.errors import ConfigError, ShapeError, TraceError


class Block(nn.Module):
    """A layer written against the public helpers only (the docs/nn.md pattern)."""

    def __init__(self, d: int, *, key=None, axes=None):
        k1, k2 = nn.split_key(key, 2)
        self.fc = nn.Linear(d, d, key=k1)
        self.drop = nn.Dropout(0.5)
        kw = nn.resolve_key(k2)
        self.scale = jax.random.uniform(kw, (d,))
        if axes is not None:
            self.with_axes(scale=axes)

    def forward(self, x, *, key=None):
        k1, k2 = nn.split_key(key, 2)
        return self.drop(self.fc(x), key=k1) * self.scale


# -- keys ----------------------------------------------------------------------------------------------
def test_split_key_none_outside_construction_is_nones_eager_and_jit():
    model = Block(4, key=0)
    x = jnp.ones((2, 4))
    want = np.asarray(model.fc(x) * model.scale)
    # eval mode: no key needed, the same eagerly and compiled (this raised TraceError under jit once)
    np.testing.assert_allclose(np.asarray(model.eval()(x)), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.jit(lambda m, x: m(x))(model.eval(), x)), want, rtol=1e-6)
    assert nn.split_key(None, 3) == [None, None, None]
    # training mode without a key: the same clear error eagerly and under jit (eagerly it used to draw
    # keys from the global construction stream, so eager and compiled runs differed)
    for run in (lambda: model(x), lambda: jax.jit(lambda m, x: m(x))(model, x)):
        with pytest.raises(ConfigError, match="needs a PRNG key"):
            run()
    out = jax.jit(lambda m, x, k: m(x, key=k))(model, x, torsh.random.key(1))
    assert out.shape == (2, 4)


def test_split_key_none_in_init_draws_from_the_stream():
    torsh.manual_seed(3)
    a = Block(4)
    torsh.manual_seed(3)
    b = Block(4)
    c = Block(4)
    np.testing.assert_array_equal(np.asarray(a.fc.weight), np.asarray(b.fc.weight))
    np.testing.assert_array_equal(np.asarray(a.scale), np.asarray(b.scale))
    assert not np.array_equal(np.asarray(b.scale), np.asarray(c.scale))
    # one stream key, split: the values construction gave before split_key changed
    torsh.manual_seed(3)
    k1, _ = jax.random.split(torsh.random.next_key(), 2)
    np.testing.assert_array_equal(np.asarray(a.fc.weight), np.asarray(nn.Linear(4, 4, key=k1).weight))


def test_split_key_and_resolve_key_seeds_and_errors():
    same = nn.split_key(7, 2)
    again = nn.split_key(torsh.random.key(7), 2)
    assert all(
        bool((jax.random.key_data(a) == jax.random.key_data(b)).all())
        for a, b in zip(same, again, strict=True)
    )
    assert jax.random.key_data(nn.resolve_key(np.int64(5))).tolist() == (
        jax.random.key_data(torsh.random.key(5)).tolist()
    )
    legacy = jax.random.PRNGKey(0)
    assert nn.resolve_key(legacy) is legacy
    for bad in ("0", 1.5, jnp.zeros(3)):
        with pytest.raises(ConfigError, match="key must be None, an int seed or a PRNG key"):
            nn.resolve_key(bad)
        with pytest.raises(ConfigError, match="key must be None"):
            nn.split_key(bad, 2)
    with pytest.raises(ShapeError, match="single key"):
        nn.resolve_key(torsh.random.split(torsh.random.key(0), 2))
    for num in (-1, 2.0, True):
        with pytest.raises(ConfigError, match="non-negative int"):
            nn.split_key(None, num)
    with pytest.raises(TraceError, match="traced function"):
        jax.jit(lambda: nn.resolve_key(None))()
    with pytest.raises(TraceError):  # constructing inside a trace without a key
        jax.eval_shape(lambda: Block(2))


# -- logical axes --------------------------------------------------------------------------------------
class Scale(nn.Module, axes={"w": ("embed",), "b": ("embed",)}):
    def __init__(self, n, axes=None):
        self.w = jnp.ones(n)
        self.b = None
        if axes is not None:
            self.with_axes(w=axes)


class Scale2(Scale, init=False, axes={"b": ("other",)}):
    pass


def test_class_axes_keyword_and_with_axes_in_init():
    assert nn.logical_axes(Scale(3)) == {"w": ("embed",)}
    named = Scale(3, axes=["mlp"])
    assert nn.logical_axes(named) == {"w": ("mlp",)}
    assert named.axes_of("w") == ("mlp",) and named.axes_of("b") == ("embed",)
    assert Scale2.__torsh_axes__ == {"w": ("embed",), "b": ("other",)}  # merged over the parent's
    assert nn.logical_axes(Scale2(2, axes=("x",))) == {"w": ("x",)}
    # the recorded names are static: they survive jit, copies and with_axes outside __init__
    out = jax.jit(lambda m: m)(named)
    assert nn.logical_axes(out) == {"w": ("mlp",)}
    assert nn.logical_axes(named.with_axes(w=("z",))) == {"w": ("z",)}
    with pytest.raises(ShapeError, match=r"Scale.w: has shape \[3\] \(1 axes\) but 2"):
        Scale(3, axes=("a", "b"))
    with pytest.raises(ConfigError, match="1-tuple"):
        Scale(3, axes="mlp")


def test_with_axes_in_init_errors():
    class Early(nn.Module):
        def __init__(self):
            self.with_axes(w=("a",))
            self.w = jnp.ones(2)

    with pytest.raises(ConfigError, match=r"assign `self.w = ...` first"):
        Early()

    class Repeat(nn.Module):
        def __init__(self):
            self.w = jnp.ones((2, 2))
            self.with_axes(w=("a", "a"))

    with pytest.raises(ConfigError, match="repeat a name"):
        Repeat()
    with pytest.raises(ConfigError, match="expected a mapping"):

        class Bad(nn.Module, axes=[("w", ("a",))]):  # type: ignore[arg-type]  # the error under test
            pass

    with pytest.raises(ConfigError, match=r"Bad2.w: logical axes must be a tuple"):

        class Bad2(nn.Module, axes={"w": ("a", 1)}):
            pass


def test_check_axes():
    assert nn.check_axes(["a", None]) == ("a", None)
    assert nn.check_axes((), ()) == ()
    with pytest.raises(ShapeError, match=r"W: has shape \[2, 3\] \(2 axes\) but 1"):
        nn.check_axes(("a",), (2, 3), name="W")
    for bad in (3, "ab", ("a", 2)):
        with pytest.raises(ConfigError, match="must be a tuple of axis names"):
            nn.check_axes(bad)


def test_layers_keep_their_axes():
    assert nn.logical_axes(nn.Linear(2, 3, axes=("mlp", "embed"))) == {
        "weight": ("mlp", "embed"),
        "bias": ("mlp",),
    }
    assert nn.logical_axes(nn.ConvTranspose1d(2, 4, 3, axes=("i", "o", "k"), key=0))["bias"] == ("o",)
    assert nn.logical_axes(nn.LayerNorm((2, 3), elementwise_affine=False, axes=("a", "b"))) == {}
    ln = nn.LayerNorm((2, 3), axes=("a", "b"))
    assert nn.logical_axes(ln) == {"weight": ("a", "b"), "bias": ("a", "b")}
    with pytest.raises(ShapeError, match="LayerNorm.weight"):  # checked even without a weight
        nn.LayerNorm((2, 3), elementwise_affine=False, axes=("a",))
    assert nn.logical_axes(nn.RMSNorm(4)) == {"weight": ("norm",)}
    assert nn.logical_axes(nn.Embedding(5, 2, key=0)) == {"weight": ("vocab", "embed")}
    assert nn.logical_axes(nn.BatchNorm1d(3))["running_mean"] == ("channels",)


# -- init=False ----------------------------------------------------------------------------------------
def test_init_class_keyword():
    class Base(torsh.tree.Struct):
        w: jax.Array

        def __init__(self, n: int):
            self.w = jnp.ones(n)

    class Keeps(Base, init=False):
        pass

    class Fieldwise(Base, init=True):  # a generated field-wise __init__ after all
        pass

    assert Keeps(2).w.shape == (2,)
    assert Fieldwise(jnp.zeros(3)).w.shape == (3,)
    with pytest.raises(ConfigError, match="no parent defines __init__"):

        class Nothing(torsh.tree.Struct, init=False):
            x: int = torsh.tree.static()

    with pytest.raises(ConfigError, match="expected True or False"):

        class Odd(torsh.tree.Struct, init=1):  # type: ignore[call-arg]  # the error under test
            pass


def _classes(package):
    for name in package.__all__:
        obj = getattr(package, name)
        if inspect.isclass(obj) and issubclass(obj, torsh.tree.Struct):
            yield obj


def test_every_layer_keeping_a_parent_init_says_init_false():
    """Otherwise type checkers synthesize a field-wise __init__ for it (dataclass_transform)."""
    missing = [
        c.__name__
        for c in _classes(nn)
        if c.__torsh_custom_init__
        and "__init__" not in c.__dict__
        and c.__torsh_init_declared__ is not False
        and c.__module__ not in ("torsh.nn.dropout", "torsh.nn.rnn")  # the rnn engineer's files
    ]
    assert missing == []
