"""Conv1d/2d/3d, ConvTranspose1d/2d/3d and their functional forms against PyTorch.

Weights move from the torch module by state-dict key (tests/nn/_nn_reference.py); outputs and the
gradients of ``sum(out * cotangent)`` w.r.t. the input and the parameters are compared.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _hypothesis_budget import examples
from _nn_reference import RTOL, run_torch, torch_state
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import conv as C
from torsh.nn.functional import _conv as FC

# Every example compiles a new program: about half the profile's examples (ci: 12, thorough: 144),
# a third for the costlier ones.
EXAMPLES = examples(12)
FEW_EXAMPLES = examples(8)

# PyTorch's own note that it copies the input for an asymmetric "same" padding: expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

# Tolerance: rtol 1e-5, and an absolute floor of 1e-6 x the tensor's largest magnitude. A convolution
# output (or weight gradient) is a float32 sum of up to a few hundred products, summed in a different
# order by oneDNN and XLA; entries where those products cancel to ~0 carry the rounding of the
# summands (~eps x their magnitude x sqrt(terms)), so a fixed 1e-6 floor would fail on cancellation,
# not on a wrong result.
SCALE_ATOL = 1e-6


def assert_close(actual, expected, rtol=RTOL, what=""):
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    atol = SCALE_ATOL * max(1.0, float(np.abs(e).max(initial=0.0)))
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def with_torch_weights(make, t_mod):
    """The torsh module ``make()`` builds, holding the torch module's weights by state-dict key.

    ``make`` runs under ``jax.eval_shape``: only shapes are produced, so the random initialisation is
    not compiled for every hypothesis example (the weights are replaced anyway). Every leaf must be
    replaced, with the shape the torsh constructor declared.
    """
    shell = jax.eval_shape(make)
    j_mod = shell.replace(**{k: jnp.asarray(v) for k, v in torch_state(t_mod).items()})

    def same_shape(declared, loaded):
        assert not isinstance(loaded, jax.ShapeDtypeStruct), "a parameter was not in the torch state dict"
        assert declared.shape == loaded.shape and declared.dtype == loaded.dtype, (declared, loaded.shape)

    jax.tree.map(same_shape, shell, j_mod)
    return j_mod


def compare_module(t_mod, make, inputs, seed=0):
    """Outputs and gradients (input and parameters, by state-dict name) of a torch module and the
    torsh module ``make()`` builds, with the torch weights; the torsh side runs under one ``jax.jit``
    (one compilation per example)."""
    j_mod = with_torch_weights(make, t_mod)
    t_out, cot, t_gin, t_gp, _ = run_torch(t_mod, inputs, grad=True, seed=seed)

    def loss(m, *xs):
        out = m(*xs)
        return jnp.sum(out * cot), out

    run = jax.jit(jax.value_and_grad(loss, argnums=tuple(range(len(inputs) + 1)), has_aux=True))

    (_, j_out), grads = run(j_mod, *map(jnp.asarray, inputs))
    assert_close(j_out, t_out, what="output")
    for i, (jg, tg) in enumerate(zip(grads[1:], t_gin, strict=True)):
        assert_close(jg, tg, what=f"grad of input {i}")
    j_gp = dict(grads[0].named_parameters())
    assert set(j_gp) == set(t_gp), f"parameter grads: torsh {sorted(j_gp)} vs torch {sorted(t_gp)}"
    for name, tg in t_gp.items():
        assert_close(j_gp[name], tg, what=f"grad of {name}")


TORCH_CONV = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}
TORCH_CONVT = {1: torch.nn.ConvTranspose1d, 2: torch.nn.ConvTranspose2d, 3: torch.nn.ConvTranspose3d}
CONV = {1: C.Conv1d, 2: C.Conv2d, 3: C.Conv3d}
CONVT = {1: C.ConvTranspose1d, 2: C.ConvTranspose2d, 3: C.ConvTranspose3d}


def _rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@st.composite
def conv_configs(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    # 3D stays tiny: every extra axis multiplies the work.
    kmax = 3 if n < 3 else 2
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding_kind = draw(st.sampled_from(["int", "tuple", "same", "valid"]))
    stride = (1,) * n if padding_kind == "same" else tuple(draw(st.integers(1, 3)) for _ in range(n))
    if padding_kind == "int":
        padding = draw(st.integers(0, 2))
    elif padding_kind == "tuple":
        padding = tuple(draw(st.integers(0, 2)) for _ in range(n))
    else:
        padding = padding_kind
    mode = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    pads = FC.conv_padding(padding, n, kernel, stride, dilation, "test")
    # Each axis must hold the dilated kernel after padding, and more than the padding (reflect).
    spatial = tuple(
        max(d * (k - 1) + 1 - lo - hi, max(lo, hi) + 1) + draw(st.integers(0, 3))
        for k, d, (lo, hi) in zip(kernel, dilation, pads, strict=True)
    )
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return dict(
        n=n,
        cin=cin,
        cout=cout,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        padding_mode=mode,
        shape=(*batch, cin, *spatial),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=EXAMPLES)
@given(cfg=conv_configs())
def test_conv_matches_torch(cfg):
    n, seed = cfg["n"], cfg["seed"]
    args = dict(
        stride=cfg["stride"],
        padding=cfg["padding"],
        dilation=cfg["dilation"],
        groups=cfg["groups"],
        bias=cfg["bias"],
        padding_mode=cfg["padding_mode"],
    )
    torch.manual_seed(seed)
    t_mod = TORCH_CONV[n](cfg["cin"], cfg["cout"], cfg["kernel"], **args)
    make = lambda: CONV[n](cfg["cin"], cfg["cout"], cfg["kernel"], **args, key=torsh.random.key(seed))
    compare_module(t_mod, make, [_rand(cfg["shape"], seed)])


@st.composite
def conv_transpose_configs(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 2))
    cout = groups * draw(st.integers(1, 2))
    kmax = 3 if n < 3 else 2
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(n))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True))
    use_output_size = draw(st.booleans())  # then the test asks for the largest size: op = stride - 1
    # The output must be non-empty: (i - 1) * s - 2p + d(k - 1) + op + 1 >= 1.
    spatial = []
    for k, s, d, p, op in zip(kernel, stride, dilation, padding, output_padding, strict=True):
        op = s - 1 if use_output_size else op
        i = 1
        while (i - 1) * s - 2 * p + d * (k - 1) + op + 1 < 1:
            i += 1
        spatial.append(i + draw(st.integers(0, 2)))
    batch = draw(st.sampled_from([(), (1,), (2,)]))
    return dict(
        n=n,
        cin=cin,
        cout=cout,
        kernel=kernel,
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
        bias=draw(st.booleans()),
        shape=(*batch, cin, *spatial),
        use_output_size=use_output_size,
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=EXAMPLES)
@given(cfg=conv_transpose_configs())
def test_conv_transpose_matches_torch(cfg):
    n, seed = cfg["n"], cfg["seed"]
    args = dict(
        stride=cfg["stride"],
        padding=cfg["padding"],
        output_padding=cfg["output_padding"],
        groups=cfg["groups"],
        bias=cfg["bias"],
        dilation=cfg["dilation"],
    )
    torch.manual_seed(seed)
    t_mod = TORCH_CONVT[n](cfg["cin"], cfg["cout"], cfg["kernel"], **args)
    make = lambda: CONVT[n](cfg["cin"], cfg["cout"], cfg["kernel"], **args, key=torsh.random.key(seed))
    x = _rand(cfg["shape"], seed)
    if cfg["use_output_size"]:
        # forward(x, output_size): choose the largest size the stride allows, with output_padding 0.
        spatial = x.shape[x.ndim - n :]
        size = [
            (i - 1) * s - 2 * p + d * (k - 1) + 1 + s - 1
            for i, s, p, d, k in zip(
                spatial, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["kernel"], strict=True
            )
        ]
        t_mod.output_padding = (0,) * n
        make_inner = lambda: CONVT[n](
            cfg["cin"],
            cfg["cout"],
            cfg["kernel"],
            **{**args, "output_padding": 0},
            key=torsh.random.key(seed),
        )

        class WithSize(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(x, output_size=size)

        class JWithSize(nn.Module):
            inner: nn.Module

            def __init__(self, inner):
                self.inner = inner

            def forward(self, x):
                return self.inner(x, output_size=size)

        t_mod, make = WithSize(t_mod), lambda: JWithSize(make_inner())
    compare_module(t_mod, make, [x])


def assert_same_conv_and_grads(ours_fn, ref_fn, x, w):
    """Outputs and input/weight gradients of two convolution functions ``fn(x, w)``, compiled as
    one program."""
    cot = jnp.asarray(_rand(jax.eval_shape(ref_fn, x, w).shape, 7))

    @jax.jit
    def run(x, w):
        def vjp(fn):
            out, pullback = jax.vjp(fn, x, w)
            return out, pullback(cot)

        return vjp(ours_fn), vjp(ref_fn)

    (ours, ours_grads), (ref, ref_grads) = run(x, w)
    assert_close(ours, ref, what="output")
    for got, want, name in zip(ours_grads, ref_grads, ("input", "weight"), strict=True):
        assert_close(got, want, what=f"grad of {name}")


# -- grouped convolutions on CPU (torsh's own strategies instead of XLA's feature_group_count) ------------
@st.composite
def grouped_configs(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    # depthwise (1 input channel per group), few groups (split), many groups (im2col)
    groups, per_group_in = draw(st.sampled_from([(4, 1), (9, 1), (2, 2), (3, 3), (8, 2), (10, 2), (16, 3)]))
    per_group_out = draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3 if n < 3 else 2)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    lhs_dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))  # transposed convolutions
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(n))
    spatial = []
    for k, d, ld, (lo, hi) in zip(kernel, dilation, lhs_dilation, padding, strict=True):
        size = 2
        while (size - 1) * ld + 1 + lo + hi < d * (k - 1) + 1:
            size += 1
        spatial.append(size + draw(st.integers(0, 2)))
    return dict(
        x_shape=(2, groups * per_group_in, *spatial),
        w_shape=(groups * per_group_out, per_group_in, *kernel),
        kwargs=dict(
            stride=stride, padding=padding, dilation=dilation, groups=groups, lhs_dilation=lhs_dilation
        ),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=FEW_EXAMPLES)
@given(cfg=grouped_configs())
def test_cpu_grouped_strategies_equal_xla_grouped_convolution(cfg):
    # Reference: XLA's own grouped convolution (feature_group_count), forward and gradients.
    x, w = (
        jnp.asarray(_rand(cfg["x_shape"], cfg["seed"])),
        jnp.asarray(_rand(cfg["w_shape"], cfg["seed"] + 1)),
    )
    kw = cfg["kwargs"]
    ours_fn = functools.partial(FC._grouped_cpu, **kw)
    ref_fn = functools.partial(FC._native_conv, layout="NCHW", **kw)
    assert_same_conv_and_grads(ours_fn, ref_fn, x, w)


# -- small and strided dense convolutions on CPU (offset-wise matrix products) ------------------------------
@st.composite
def shifted_configs(draw):
    n = draw(st.sampled_from([1, 2, 3]))
    kernel = tuple(draw(st.integers(1, 3 if n < 3 else 2)) for _ in range(n))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(n))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(n))
    spatial = [
        max(1, d * (k - 1) + 1 - lo - hi) + draw(st.integers(0, 3))
        for k, d, (lo, hi) in zip(kernel, dilation, padding, strict=True)
    ]
    cin, cout = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return dict(
        x_shape=(draw(st.integers(1, 2)), cin, *spatial),
        w_shape=(cout, cin, *kernel),
        kwargs=dict(stride=stride, padding=padding, dilation=dilation),
        seed=draw(st.integers(0, 2**16)),
    )


@settings(max_examples=FEW_EXAMPLES)
@given(cfg=shifted_configs())
def test_cpu_shifted_products_equal_xla_convolution(cfg):
    # Reference: XLA's own convolution, forward and gradients (torch is compared module-wide above,
    # where the rule picks this path for hypothesis' small maps).
    x = jnp.asarray(_rand(cfg["x_shape"], cfg["seed"]))
    w = jnp.asarray(_rand(cfg["w_shape"], cfg["seed"] + 1))
    kw = cfg["kwargs"]
    ours_fn = functools.partial(FC._shifted_products, **kw)
    ref_fn = functools.partial(
        FC._native_conv, layout="NCHW", groups=1, lhs_dilation=(1,) * (x.ndim - 2), **kw
    )
    assert_same_conv_and_grads(ours_fn, ref_fn, x, w)


@pytest.mark.parametrize(
    "spatial,kernel,stride,padding,shifted",
    [
        ((2, 2), (3, 3), (1, 1), 1, True),  # ResNet-18's last stage at 64x64 inputs: map smaller than kernel
        ((4, 4), (3, 3), (2, 2), 1, True),  # strided, 2x2 output
        ((16, 16), (1, 1), (2, 2), 0, True),  # strided 1x1 (ResNet's downsample)
        ((16, 16), (3, 3), (1, 1), 1, False),  # 16x16 maps: XLA's convolution is faster
        ((32, 32), (1, 1), (1, 1), 0, False),
        ((56, 56), (3, 3), (2, 2), 1, False),
    ],
)
def test_shifted_products_rule_and_torch_equality(spatial, kernel, stride, padding, shifted):
    pads = FC.conv_padding(padding, 2, kernel, stride, (1, 1), "test")
    assert FC._prefers_shifted_products(spatial, kernel, stride, pads, (1, 1)) is shifted
    if not shifted:
        return
    t_mod = torch.nn.Conv2d(6, 5, kernel, stride=stride, padding=padding)
    compare_module(
        t_mod,
        lambda: C.Conv2d(6, 5, kernel, stride=stride, padding=padding, key=0),
        [_rand((2, 6, *spatial), 3)],
    )
    # Half precision accumulates in float32, as XLA's convolution does.
    conv = with_torch_weights(lambda: C.Conv2d(6, 5, kernel, stride=stride, padding=padding, key=0), t_mod)
    x = jnp.asarray(_rand((2, 6, *spatial), 4))
    ref = np.asarray(conv(x))
    low = conv.to(jnp.bfloat16)(x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16
    assert np.abs(np.asarray(low, np.float32) - ref).max() / np.abs(ref).max() < 3e-2


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Conv2d(32, 32, 3, padding=1, groups=16),  # im2col
        lambda m: m.Conv2d(8, 16, 3, stride=2, padding=1, groups=8),  # depthwise, multiplier 2
        lambda m: m.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1, groups=16),
        lambda m: m.ConvTranspose1d(12, 12, 4, stride=3, groups=12, dilation=2),
    ],
)
def test_many_groups_match_torch(make):
    torch.manual_seed(0)
    t_mod = make(torch.nn)
    x = _rand((2, t_mod.in_channels, *(5,) * (t_mod.weight.ndim - 2)), 0)
    compare_module(t_mod, lambda: make(_Keyed()), [x])


class _Keyed:
    """torsh's conv classes with key=0, so that one lambda builds the torch and the torsh module."""

    def __getattr__(self, name):
        return functools.partial(getattr(C, name), key=0)


# -- functional forms -------------------------------------------------------------------------------------
FUNCTIONAL_CASES = [
    (1, dict()),
    (1, dict(stride=2, padding=1, dilation=2)),
    (2, dict(padding="same", dilation=(1, 2))),
    (2, dict(stride=(2, 1), padding=(1, 0), groups=2)),
    (3, dict(padding="valid", stride=2)),
    (3, dict(padding=(1, 0, 1), dilation=(2, 1, 1), groups=2)),
]


@pytest.mark.parametrize("n,kwargs", FUNCTIONAL_CASES)
def test_functional_conv_matches_torch(n, kwargs):
    g = kwargs.get("groups", 1)
    x = _rand((2, 4, *(6,) * n), n)
    w = _rand((6, 4 // g, *(3,) * n), n + 1)
    b = _rand((6,), n + 2)
    ours = getattr(FC, f"conv{n}d")(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), **kwargs)
    ref = getattr(TF, f"conv{n}d")(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kwargs)
    assert_close(ours, ref.numpy(), what=f"conv{n}d {kwargs}")
    # Unbatched input, no bias.
    ours = getattr(FC, f"conv{n}d")(jnp.asarray(x[0]), jnp.asarray(w), **kwargs)
    ref = getattr(TF, f"conv{n}d")(torch.tensor(x[0]), torch.tensor(w), **kwargs)
    assert_close(ours, ref.numpy(), what=f"unbatched conv{n}d {kwargs}")


TRANSPOSE_CASES = [
    (1, dict(stride=2, padding=1, output_padding=1)),
    (2, dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))),
    (3, dict(stride=2, dilation=2, output_padding=1)),
]


@pytest.mark.parametrize("n,kwargs", TRANSPOSE_CASES)
def test_functional_conv_transpose_matches_torch(n, kwargs):
    g = kwargs.get("groups", 1)
    x = _rand((2, 4, *(4,) * n), n)
    w = _rand((4, 6 // g, *(3,) * n), n + 1)
    b = _rand((6,), n + 2)

    def ours_fn(x, w, b):
        return getattr(FC, f"conv_transpose{n}d")(x, w, b, **kwargs)

    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ref = getattr(TF, f"conv_transpose{n}d")(tx, tw, tb, **kwargs)
    cot = _rand(ref.shape, 99)
    (ref * torch.tensor(cot)).sum().backward()

    def loss(*args):
        out = ours_fn(*args)
        return jnp.sum(out * cot), out

    run = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2), has_aux=True))
    (_, ours), grads = run(*map(jnp.asarray, (x, w, b)))
    assert_close(ours, ref.detach().numpy(), what=f"conv_transpose{n}d {kwargs}")
    for got, want, name in zip(grads, (tx.grad, tw.grad, tb.grad), ("input", "weight", "bias"), strict=True):
        assert_close(got, want.numpy(), what=f"grad of {name}")


def test_conv_transpose_gradients_match_finite_differences(x64):
    from jax.test_util import check_grads

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((1, 2, 3, 4)))
    w = jnp.asarray(rng.standard_normal((2, 2, 3, 2)))
    f = lambda x, w: FC.conv_transpose2d(x, w, stride=(2, 1), padding=(1, 0), output_padding=(1, 0), groups=2)
    check_grads(f, (x, w), order=1, modes=["rev"], eps=1e-4, atol=1e-6, rtol=1e-6)


def test_load_state_dict_takes_torch_tensors():
    t_mod = torch.nn.Conv1d(2, 4, 3, groups=2)
    j_mod = C.Conv1d(2, 4, 3, groups=2, key=0).load_state_dict(t_mod.state_dict())
    np.testing.assert_array_equal(np.asarray(j_mod.weight), t_mod.weight.detach().numpy())


def test_jit_matches_eager_and_pads_as_torch_for_same_with_even_kernel():
    # "same" with an even kernel pads one more element at the end, as PyTorch does.
    torch.manual_seed(0)
    t_mod = torch.nn.Conv2d(2, 3, (2, 4), padding="same", padding_mode="reflect")
    j_mod = C.Conv2d(2, 3, (2, 4), padding="same", padding_mode="reflect", key=0).load_state_dict(
        t_mod.state_dict()
    )
    x = _rand((1, 2, 5, 6), 1)
    eager = j_mod(jnp.asarray(x))
    jitted = jax.jit(lambda m, x: m(x))(j_mod, jnp.asarray(x))
    assert_close(eager, t_mod(torch.tensor(x)).detach().numpy())
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))


# -- construction, names, init ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_keys_and_shapes_equal_torch(n, transposed, bias):
    t_cls, j_cls = (TORCH_CONVT, CONVT) if transposed else (TORCH_CONV, CONV)
    t_mod = t_cls[n](4, 6, 3, groups=2, bias=bias)
    # Shapes only (jax.eval_shape): the construction is traced, the random init is not compiled.
    shapes = jax.eval_shape(lambda: j_cls[n](4, 6, 3, groups=2, bias=bias, key=0).state_dict())
    assert {k: tuple(v.shape) for k, v in shapes.items()} == {
        k: tuple(v.shape) for k, v in t_mod.state_dict().items()
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Conv2d(3, 4, 3),
        lambda m: m.Conv1d(4, 8, 3, stride=2, padding=1, dilation=2, groups=2, bias=False),
        lambda m: m.Conv2d(2, 2, (2, 4), padding="same", padding_mode="reflect"),
        lambda m: m.Conv3d(2, 4, (1, 3, 3), padding="valid"),
        lambda m: m.ConvTranspose2d(8, 4, 4, stride=2, padding=1, output_padding=1, groups=2),
        lambda m: m.ConvTranspose1d(2, 2, 3, dilation=2, bias=False),
    ],
)
def test_repr_equals_torch(make):
    assert repr(jax.eval_shape(lambda: make(_Keyed()))) == repr(make(torch.nn))


@pytest.mark.parametrize("transposed", [False, True])
def test_default_init_matches_torch_distribution(transposed):
    # kaiming_uniform(a=sqrt(5)) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in)); fan_in = weight.shape[1] * k*k.
    cls = C.ConvTranspose2d if transposed else C.Conv2d
    t_cls = torch.nn.ConvTranspose2d if transposed else torch.nn.Conv2d
    layer = cls(64, 96, 3, groups=2, key=torsh.random.key(0))
    fan_in = layer.weight.shape[1] * 9
    bound = 1 / math.sqrt(fan_in)
    w, b = np.asarray(layer.weight), np.asarray(layer.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.03)
    np.testing.assert_allclose(b.std(), bound / math.sqrt(3), rtol=0.3)  # only 96 samples
    ref = t_cls(64, 96, 3, groups=2).weight.detach().numpy()
    np.testing.assert_allclose(w.std(), ref.std(), rtol=0.03)


def test_construction_is_keyed_and_reproducible():
    a, b, c = (C.Conv2d(2, 3, 3, key=torsh.random.key(k)) for k in (1, 1, 2))
    assert np.array_equal(a.weight, b.weight) and not np.array_equal(a.weight, c.weight)
    torsh.manual_seed(7)
    d = C.ConvTranspose2d(2, 3, 3)
    torsh.manual_seed(7)
    e = C.ConvTranspose2d(2, 3, 3)
    assert np.array_equal(d.weight, e.weight) and np.array_equal(d.bias, e.bias)


def test_dtype_argument_and_logical_axes():
    conv = C.Conv2d(2, 4, 3, dtype="bfloat16", key=0)
    assert conv.weight.dtype == torsh.bfloat16 and conv.bias.dtype == torsh.bfloat16
    assert nn.logical_axes(conv) == {"weight": ("out", "in", "kh", "kw"), "bias": ("out",)}
    assert nn.logical_axes(C.ConvTranspose3d(2, 4, 3, key=0))["weight"] == ("in", "out", "kd", "kh", "kw")
    named = C.ConvTranspose1d(2, 4, 3, axes=("embed", "mlp", None), key=0)
    assert nn.logical_axes(named) == {"weight": ("embed", "mlp", None), "bias": ("mlp",)}
    with pytest.raises(ShapeError, match="3 axes"):
        C.Conv1d(2, 4, 3, axes=("a", "b"), key=0)


@pytest.mark.parametrize("dtype,tol", [(jnp.bfloat16, 3e-2), (jnp.float16, 4e-3)])
@pytest.mark.parametrize("transposed,groups", [(False, 1), (True, 1), (False, 8), (True, 2), (False, 16)])
def test_half_precision_forward_within_dtype_tolerance(dtype, tol, transposed, groups):
    # groups 8 / 2 / 16 exercise the depthwise, split and im2col CPU paths.
    cls = C.ConvTranspose2d if transposed else C.Conv2d
    channels = 32 if groups == 16 else 8
    conv = cls(channels, channels, 3, stride=2, padding=1, groups=groups, key=0)
    x = jnp.asarray(_rand((2, channels, 9, 9), 0))
    run = jax.jit(lambda m, x: m(x))
    ref = np.asarray(run(conv, x))
    low = run(conv.to(dtype), x.astype(dtype))
    assert low.dtype == dtype
    # Relative to the output's scale: the inputs/weights themselves are rounded to the dtype.
    err = np.abs(np.asarray(low, np.float32) - ref).max() / np.abs(ref).max()
    assert err < tol, err


# -- errors -------------------------------------------------------------------------------------------------
def test_wrong_channels_and_rank_name_the_module_under_jit():
    model = nn.Sequential(C.Conv2d(3, 8, 3, key=0), nn.ReLU(), C.Conv2d(8, 4, 3, key=1))
    run = jax.jit(lambda m, x: m(x))
    with pytest.raises(
        ShapeError,
        match=r'^0 \(Conv2d 3->8 k3\): dim "in" is 4 in input \[2, 4, 8, 8\], expected 3 \(in_channels\)',
    ) as e:
        run(model, jnp.ones((2, 4, 8, 8)))
    assert e.value.module_path == "0"
    with pytest.raises(
        ShapeError,
        match=r"^0 \(Conv2d 3->8 k3\): expected 3D \(unbatched\) or 4D .*"
        r"got 5D input of shape \[1, 2, 3, 8, 8\]",
    ):
        run(model, jnp.ones((1, 2, 3, 8, 8)))
    with pytest.raises(
        ShapeError,
        match=r"^2 \(Conv2d 8->4 k3\): input of shape \[2, 8, 2, 2\].*"
        r"smaller than the dilated kernel \[3, 3\]",
    ):
        run(model, jnp.ones((2, 3, 4, 4)))
    with pytest.raises(DTypeError, match="float32"):
        run(model, jnp.ones((2, 3, 8, 8), jnp.bfloat16))
    with pytest.raises(DTypeError):
        model(jnp.ones((2, 3, 8, 8), jnp.int32))


def test_transpose_errors():
    up = C.ConvTranspose2d(4, 2, 3, stride=2, key=0)
    message = r'^ConvTranspose2d 4->2 k3: dim "in" is 3 in input \[1, 3, 5, 5\], expected 4 \(in_channels\)'
    with pytest.raises(ShapeError, match=message):
        up(jnp.ones((1, 3, 5, 5)))
    with pytest.raises(ShapeError, match=r"valid sizes range from \[11, 11\] to \[12, 12\]"):
        up(jnp.ones((1, 4, 5, 5)), output_size=(13, 11))
    with pytest.raises(ShapeError, match="output_size must have 2 or 4 elements"):
        up(jnp.ones((1, 4, 5, 5)), output_size=(11,))
    assert up(jnp.ones((1, 4, 5, 5)), output_size=(1, 2, 12, 11)).shape == (1, 2, 12, 11)
    with pytest.raises(ConfigError, match="output_padding must be smaller than either stride or dilation"):
        C.ConvTranspose2d(4, 2, 3, stride=2, output_padding=2, key=0)
    with pytest.raises(ConfigError, match="only padding_mode='zeros'"):
        C.ConvTranspose1d(4, 2, 3, padding_mode="reflect", key=0)
    with pytest.raises(ConfigError, match="no 'same'"):
        C.ConvTranspose1d(4, 2, 3, padding="same", key=0)
    with pytest.raises(ShapeError, match="empty output"):
        FC.conv_transpose1d(jnp.ones((1, 1, 1)), jnp.ones((1, 1, 1)), padding=1)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: C.Conv2d(3, 4, 3, groups=2), "in_channels \\(3\\) must be divisible by groups \\(2\\)"),
        (lambda: C.Conv2d(4, 3, 3, groups=2), "out_channels \\(3\\) must be divisible by groups"),
        (lambda: C.Conv2d(4, 4, 3, groups=0), "groups must be a positive int"),
        (lambda: C.Conv2d(4, 4, 3, padding="full"), "invalid padding string 'full'"),
        (lambda: C.Conv2d(4, 4, 3, stride=2, padding="same"), "not supported for strided convolutions"),
        (lambda: C.Conv2d(4, 4, 3, padding_mode="mirror"), "padding_mode must be one of"),
        (lambda: C.Conv2d(4, 4, (3, 3, 3)), "kernel_size must be an int or a tuple of 2 ints"),
        (lambda: C.Conv2d(4, 4, 0), "kernel_size must be positive"),
        (lambda: C.Conv1d(4, 4, 3, padding=-1), "padding must be non-negative"),
        (lambda: C.Conv3d(4, 4, 3, dilation=0), "dilation must be positive"),
    ],
)
def test_construction_errors(make, match):
    torsh.manual_seed(0)  # construction keys from the stream
    with pytest.raises(ConfigError, match=match):
        make()


def test_padding_mode_errors_and_functional_errors():
    conv = C.Conv1d(1, 1, 5, padding=3, padding_mode="reflect", key=0)
    with pytest.raises(
        ShapeError, match=r"^Conv1d 1->1 k5: reflect padding \(3, 3\) must be smaller than the input size 3"
    ):
        conv(jnp.ones((1, 1, 3)))
    circ = C.Conv1d(1, 1, 5, padding=3, padding_mode="circular", key=0)
    with pytest.raises(ShapeError, match="wrap around more than once"):
        circ(jnp.ones((1, 1, 2)))
    assert circ(jnp.ones((1, 1, 3))).shape == (1, 1, 5)
    w = jnp.ones((4, 2, 3, 3))
    with pytest.raises(
        ShapeError,
        match=r"^conv2d: expected input \[N, 2, H, W\] or \[2, H, W\] \(2 channels\), got \[1, 3, 5, 5\]",
    ):
        FC.conv2d(jnp.ones((1, 3, 5, 5)), w)
    with pytest.raises(ShapeError, match=r"^conv2d: expected input \[N, 4, H, W\]"):
        FC.conv2d(jnp.ones((1, 2, 5, 5)), w, groups=2)
    assert FC.conv2d(jnp.ones((1, 4, 5, 5)), w, groups=2).shape == (1, 4, 3, 3)
    with pytest.raises(ShapeError, match="not divisible by groups=3"):
        FC.conv2d(jnp.ones((1, 6, 5, 5)), w, groups=3)
    with pytest.raises(ShapeError, match=r"expected bias of shape \[4\]"):
        FC.conv2d(jnp.ones((1, 2, 5, 5)), w, jnp.ones(3))
    with pytest.raises(ShapeError, match="expected a 4D weight"):
        FC.conv2d(jnp.ones((1, 2, 5, 5)), jnp.ones((4, 2, 3)))
    with pytest.raises(ConfigError, match="stride must be an int or a tuple of 2 ints"):
        FC.conv2d(jnp.ones((1, 2, 5, 5)), w, stride=(1, 1, 1))
