"""Trace-time shape/dtype checks from jaxtyping annotations (``nn.shaped``, issue 16).

Messages name the module path, the dimension and both sizes; sizes are bound from module fields and
shared across the arguments and the result of one call; under ``jit`` the checks run at trace only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jaxtyping import Array, Float, Int

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import _shapes

# Aliases: ruff reads a shape string inside a signature as a Python expression (F722).
_X = Float[Array, "batch seq d"]
_Y = Float[Array, "batch d"]
_Scores = Float[Array, "batch seq"]
_Tokens = Int[Array, "batch seq"]
_Wrong = Float[Array, "batch out"]
_N, _M, _NM = Float[Array, "n"], Float[Array, "m"], Float[Array, "n m"]


class Pair(nn.Module):
    """A user module opting in: "d" from a field, "batch" shared by x, y and the result."""

    w: jax.Array
    features: int = nn.static()

    def __init__(self, features: int) -> None:
        self.features = features
        self.w = jnp.ones(features)

    @nn.shaped(dims={"d": "features"})
    def forward(self, x: _X, y: _Y) -> _Scores:
        return (x * (y * self.w)[:, None, :]).sum(-1)


class BadOutput(nn.Module):
    out: int = nn.static()

    def __init__(self, out: int) -> None:
        self.out = out

    @nn.shaped(dims={"out": lambda m: m.out})
    def forward(self, x: _Y) -> _Wrong:
        return x  # returns [batch, d], annotated [batch, out]


class Counter(nn.Module):
    @nn.shaped
    def forward(self, tokens: _Tokens, mask: _Scores | None = None) -> _Scores:
        x = tokens.astype(jnp.float32)
        return x if mask is None else x * mask


class Net(nn.Module):
    """A conv net: path through a Sequential inside a user module."""

    features: nn.Sequential
    head: nn.Linear

    def __init__(self, *, key: jax.Array) -> None:
        k1, k2, k3 = jax.random.split(key, 3)
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, key=k1), nn.ReLU(), nn.Conv2d(4, 2, 3, key=k2), nn.Flatten()
        )
        self.head = nn.Linear(2 * 4 * 4, 5, key=k3)

    def forward(self, x: jax.Array) -> jax.Array:
        return self.head(self.features(x))


@pytest.fixture(scope="module")
def mlp():
    k = jax.random.split(torsh.random.key(0), 2)
    inner = nn.Sequential(nn.Linear(8, 512, key=k[0]), nn.ReLU(), nn.Linear(512, 10, key=k[1]))
    return nn.Sequential(nn.Linear(6, 8, key=torsh.random.key(1)), inner)


def _eval(fn, *args):
    """Trace ``fn`` without compiling (the checks run in Python while tracing, as under jit)."""
    return jax.eval_shape(lambda *a: fn(*a), *args)


def _error(fn, *args, kind=ShapeError):
    with pytest.raises(kind) as info:
        _eval(fn, *args)
    return info.value


# -- messages: path, dimension name, both sizes -------------------------------------------------
@pytest.mark.parametrize("transform", ["eager", "jit"])
def test_nested_sequential_names_path_dim_and_sizes(mlp, transform):
    wrong = nn.Sequential(mlp[0], nn.Sequential(mlp[1][0], nn.ReLU(), nn.Linear(256, 10, key=0)))
    call = (lambda m, x: m(x)) if transform == "eager" else jax.jit(lambda m, x: m(x))
    assert call(mlp, jnp.ones((3, 6))).shape == (3, 10)
    e = _error(call, wrong, jnp.ones((3, 6)))
    assert isinstance(e, nn.ShapeAnnotationError)
    assert str(e) == '1.2 (Linear 256->10): dim "in" is 512 in input [3, 512], expected 256 (in_features)'
    assert (e.module_path, e.argument, e.dim, e.got, e.expected) == ("1.2", "input", "in", 512, 256)


def test_conv_net_names_the_layer_and_channel_dim():
    net = Net(key=torsh.random.key(0))
    assert _eval(net, jnp.ones((2, 3, 8, 8))).shape == (2, 5)
    e = _error(net, jnp.ones((2, 5, 8, 8)))
    assert (
        str(e) == 'features.0 (Conv2d 3->4 k3): dim "in" is 5 in input [2, 5, 8, 8], expected 3 (in_channels)'
    )
    # a spatial size that flattens to the wrong width reaches the head: its "in" names that
    e = _error(net, jnp.ones((2, 3, 9, 9)))
    assert str(e) == 'head (Linear 32->5): dim "in" is 50 in input [2, 50], expected 32 (in_features)'
    e = _error(net, jnp.ones((8, 8)))
    assert str(e) == (
        "features.0 (Conv2d 3->4 k3): input has shape [8, 8] (2 axes), expected "
        "[*batch, in, height, width] (at least 3 axes)"
    )
    assert e.dim is None and (e.got, e.expected) == (2, 3)


def test_every_annotated_layer_checks_its_bound_dims():
    key = torsh.random.key(0)
    cases = [
        (nn.Conv1d(2, 3, 3, key=key), (jnp.ones((1, 4, 9)),), 'dim "in" is 4 in input [1, 4, 9], expected 2'),
        (nn.Conv3d(2, 3, 1, key=key), (jnp.ones((1, 1, 2, 2, 2)),), 'dim "in" is 1 in input'),
        (nn.ConvTranspose2d(2, 3, 2, key=key), (jnp.ones((3, 3, 3)),), 'dim "in" is 3 in input [3, 3, 3]'),
        (nn.Bilinear(3, 4, 2, key=key), (jnp.ones((5, 3)), jnp.ones((5, 3))), 'dim "in2" is 3 in input2'),
        (nn.Unfold(2), (jnp.ones((2, 3)),), "input has shape [2, 3] (2 axes), expected [*batch, c, height"),
        (
            nn.Fold((4, 5), (2, 2)),
            (jnp.ones((2, 12, 11)),),
            'dim "blocks" is 11 in input [2, 12, 11], expected 12 (Fold: the number of sliding blocks',
        ),
        (nn.LSTM(3, 4, proj_size=2, key=key), (jnp.ones((5, 2, 4)),), 'dim "in" is 4 in input [5, 2, 4]'),
        (nn.GRU(3, 4, num_layers=2, key=key), (jnp.ones((5, 3)), jnp.zeros((1, 4))), "expected hx [2, 4]"),
        (
            nn.RNN(3, 4, key=key),
            (jnp.ones((5, 2, 2)),),
            'dim "in" is 2 in input [5, 2, 2], expected 3 (input_size)',
        ),
    ]
    for layer, args, message in cases:
        e = _error(layer, *args)
        assert message in str(e), (type(layer).__name__, str(e))


def test_layer_outputs_follow_their_annotations():
    # the output checks pass on every layer (they would raise if an annotation were wrong)
    key = torsh.random.key(0)

    def shapes(layer, *args, **kwargs):
        return jax.tree.map(lambda a: a.shape, jax.eval_shape(lambda *a: layer(*a, **kwargs), *args))

    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True, key=key)
    assert shapes(lstm, jnp.ones((5, 2, 3))) == ((5, 2, 8), ((4, 2, 4), (4, 2, 4)))
    assert shapes(nn.LSTM(3, 4, proj_size=2, batch_first=True, key=key), jnp.ones((2, 5, 3))) == (
        (2, 5, 2),
        ((1, 2, 2), (1, 2, 4)),
    )
    assert shapes(nn.GRU(3, 4, key=key), jnp.ones((5, 3)), jnp.zeros((1, 4))) == ((5, 4), (1, 4))
    assert shapes(nn.Embedding(10, 3, key=key), jnp.array([[1, 2]])) == (1, 2, 3)
    assert shapes(nn.Fold((4, 5), (2, 2)), jnp.ones((2, 12, 12))) == (2, 3, 4, 5)
    assert shapes(nn.Unfold((2, 3)), jnp.ones((5, 3, 4))) == (30, 4)
    assert shapes(nn.PixelShuffle(2), jnp.ones((1, 8, 3, 3))) == (1, 2, 6, 6)
    assert shapes(nn.PixelUnshuffle(2), jnp.ones((8, 4, 4))) == (32, 2, 2)
    assert shapes(nn.ChannelShuffle(2), jnp.ones((1, 4, 3))) == (1, 4, 3)
    assert shapes(nn.Upsample(size=(5, 6)), jnp.ones((1, 2, 3, 3))) == (1, 2, 5, 6)
    assert shapes(nn.Upsample(scale_factor=2), jnp.ones((1, 2, 3))) == (1, 2, 6)
    assert shapes(nn.Conv3d(2, 3, 1, key=key), jnp.ones((2, 2, 2, 2))) == (3, 2, 2, 2)
    convt = nn.ConvTranspose1d(2, 3, 2, stride=2, key=key)
    assert shapes(convt, jnp.ones((2, 4)), output_size=(9,)) == (3, 9)
    assert shapes(nn.Bilinear(3, 4, 2, key=key), jnp.ones((6, 5, 3)), jnp.ones((6, 5, 4))) == (6, 5, 2)


# -- consistency across the arguments and the result of one call --------------------------------
def test_two_inputs_share_batch():
    pair = Pair(3)
    assert pair(jnp.ones((2, 4, 3)), jnp.ones((2, 3))).shape == (2, 4)  # eager: checked too
    e = _error(pair, jnp.ones((2, 4, 3)), jnp.ones((5, 3)))
    assert str(e) == 'Pair: dim "batch" is 5 in y [5, 3], expected 2 (as in x)'
    e = _error(nn.Bilinear(3, 4, 2, key=0), jnp.ones((5, 3)), jnp.ones((6, 4)))
    assert str(e) == 'Bilinear: dims "*batch" are [6] in input2 [6, 4], expected [5] (as in input1)'
    assert (e.dim, e.got, e.expected) == ("*batch", (6,), (5,))


def test_output_annotation_is_checked_against_the_call():
    e = _error(BadOutput(4), jnp.ones((2, 3)))
    assert str(e) == 'BadOutput: dim "out" is 3 in output [2, 3], expected 4 (BadOutput\'s configuration)'
    assert e.argument == "output"
    assert _eval(BadOutput(3), jnp.ones((2, 3))).shape == (2, 3)


# -- dtypes ---------------------------------------------------------------------------------------
def test_dtype_annotations():
    e = _error(nn.Linear(4, 2, key=0), jnp.ones((3, 4), jnp.int32), kind=DTypeError)
    assert (
        str(e) == "Linear 4->2: input is int32 [3, 4], expected a floating-point array (Float [*batch, in])"
    )
    e = _error(nn.Embedding(5, 2, key=0), jnp.ones(3), kind=DTypeError)
    assert "input is float32 [3], expected an integer array (Integer [*batch])" in str(e)
    counter = Counter()
    assert _eval(counter, jnp.ones((2, 3), jnp.int32)).dtype == jnp.float32
    e = _error(counter, jnp.ones((2, 3)), kind=DTypeError)
    assert str(e) == "Counter: tokens is float32 [2, 3], expected a signed integer array (Int [batch, seq])"
    # an optional argument is checked when given, in the same table as the others
    assert _eval(counter, jnp.ones((2, 3), jnp.int32), jnp.ones((2, 3))).shape == (2, 3)
    e = _error(counter, jnp.ones((2, 3), jnp.int32), jnp.ones((2, 4)))
    assert str(e) == 'Counter: dim "seq" is 4 in mask [2, 4], expected 3 (as in tokens)'


# -- cost: the checks run while tracing, not in the compiled call ---------------------------------
def test_jit_checks_at_trace_only(mlp, monkeypatch):
    calls = []
    original = _shapes._check_array

    def counting(*args):
        calls.append(args[2])
        return original(*args)

    monkeypatch.setattr(_shapes, "_check_array", counting)
    f = jax.jit(lambda m, x: m(x))
    x = jnp.ones((3, 6))
    f(mlp, x)
    traced = len(calls)
    assert traced == 6  # three Linears, input and output each
    f(mlp, x)
    f(mlp, x + 1)
    assert len(calls) == traced  # cached calls run no Python check
    f(mlp, jnp.ones((4, 6)))  # a new shape traces (and checks) again
    assert len(calls) == 2 * traced
    mlp(x)  # eager calls check every time
    assert len(calls) == 3 * traced


def test_symbolic_batch_under_export():
    layer = nn.Linear(4, 2, key=0)
    (b,) = jax.export.symbolic_shape("b")
    exported = jax.export.export(jax.jit(lambda x: layer(x)))(jax.ShapeDtypeStruct((b, 4), jnp.float32))
    assert exported.call(jnp.ones((3, 4))).shape == (3, 2)
    with pytest.raises(ShapeError, match='dim "in" is 5'):
        jax.export.export(jax.jit(lambda x: layer(x)))(jax.ShapeDtypeStruct((b, 5), jnp.float32))


# -- opting in --------------------------------------------------------------------------------------
def test_plain_function_and_bad_declarations():
    @nn.shaped
    def outer(a: _N, b: _M) -> _NM:
        return jnp.asarray(a)[:, None] * jnp.asarray(b)[None, :]

    assert _eval(outer, jnp.ones(2), jnp.ones(3)).shape == (2, 3)
    assert outer(np.ones(2, np.float32), [1.0, 2.0]).shape == (2, 2)  # non-arrays are left to the function
    with pytest.raises(ConfigError, match="dims=..."):
        nn.shaped(dims={"in": 3})

    @nn.shaped
    def undefined(a: Missing) -> None:  # noqa: F821 (the error under test)
        return None

    with pytest.raises(ConfigError, match="do not evaluate"):
        undefined(jnp.ones(2))


# -- property: consistent shapes pass, one changed dim fails naming that dim ---------------------
_SIZES = st.integers(1, 4)
# Every dim that a second place pins: "batch" (x, y), "d" (x, y and the field). "seq" appears in x
# and the result only, so a different seq is a different, consistent call.
_PLACES = [("x", 0, "batch"), ("x", 2, "d"), ("y", 0, "batch"), ("y", 1, "d")]


class Signature(Pair):
    """Pair's annotations with a body that only computes the result's shape: the property runs the
    checks (pure Python) on shape/dtype structs without tracing JAX for each example."""

    @nn.shaped(dims={"d": "features"})
    def forward(self, x: _X, y: _Y) -> _Scores:
        return jax.ShapeDtypeStruct(x.shape[:2], x.dtype)


@given(batch=_SIZES, seq=_SIZES, d=_SIZES, place=st.sampled_from(_PLACES), delta=st.integers(1, 3))
def test_property_consistent_pass_single_mismatch_names_dim(batch, seq, d, place, delta):
    sig = Signature(d)
    shapes = {"x": [batch, seq, d], "y": [batch, d]}
    x, y = (jax.ShapeDtypeStruct(shapes[k], jnp.float32) for k in ("x", "y"))
    assert sig(x, y).shape == (batch, seq)
    arg, axis, name = place
    shapes[arg][axis] += delta
    x, y = (jax.ShapeDtypeStruct(shapes[k], jnp.float32) for k in ("x", "y"))
    with pytest.raises(nn.ShapeAnnotationError) as info:
        sig(x, y)
    assert info.value.dim == name, str(info.value)
    assert f'dim "{name}"' in str(info.value)
