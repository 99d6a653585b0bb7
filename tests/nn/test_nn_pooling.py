"""Max/avg/adaptive pooling (modules and functional forms) against PyTorch.

Values, indices (``return_indices``) and the gradient of ``sum(out * cotangent)`` w.r.t. the input
are compared; the torsh side runs under one ``jax.jit`` per example.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _hypothesis_budget import examples
from _nn_reference import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import conv as C
from torsh.nn import pooling as P
from torsh.nn.functional import _pooling as FP

# Average pooling sums a window (<= 27 terms here) in another order than PyTorch: a relative 1e-5
# holds, but entries that average to ~0 need a floor of a few float32 ulps of the summands.
AVG_ATOL = 1e-6

# Every example compiles a new program: about half the profile's examples (ci: 12, thorough: 144),
# a third where the options are fewer (average pooling).
EXAMPLES = examples(12)
FEW_EXAMPLES = examples(8)

MAXPOOL = {1: P.MaxPool1d, 2: P.MaxPool2d, 3: P.MaxPool3d}
AVGPOOL = {1: P.AvgPool1d, 2: P.AvgPool2d, 3: P.AvgPool3d}
T_MAXPOOL = {1: torch.nn.MaxPool1d, 2: torch.nn.MaxPool2d, 3: torch.nn.MaxPool3d}
T_AVGPOOL = {1: torch.nn.AvgPool1d, 2: torch.nn.AvgPool2d, 3: torch.nn.AvgPool3d}
ADAPTIVE = {
    ("avg", 1): (P.AdaptiveAvgPool1d, torch.nn.AdaptiveAvgPool1d),
    ("avg", 2): (P.AdaptiveAvgPool2d, torch.nn.AdaptiveAvgPool2d),
    ("avg", 3): (P.AdaptiveAvgPool3d, torch.nn.AdaptiveAvgPool3d),
    ("max", 1): (P.AdaptiveMaxPool1d, torch.nn.AdaptiveMaxPool1d),
    ("max", 2): (P.AdaptiveMaxPool2d, torch.nn.AdaptiveMaxPool2d),
    ("max", 3): (P.AdaptiveMaxPool3d, torch.nn.AdaptiveMaxPool3d),
}


def compare(t_mod, j_mod, x, atol=1e-6, indices=False, seed=0):
    """Outputs (and indices) and input gradients of a torch and a torsh pooling module."""
    tx = torch.tensor(x, requires_grad=True)
    t_res = t_mod(tx)
    t_out, t_idx = t_res if indices else (t_res, None)
    cot = np.random.default_rng(seed).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (t_out * torch.tensor(cot)).sum().backward()

    def loss(m, x):
        res = m(x)
        out, idx = res if indices else (res, None)
        return jnp.sum(out * cot), (out, idx)

    (_, (out, idx)), gx = jax.jit(jax.value_and_grad(loss, argnums=1, has_aux=True))(j_mod, jnp.asarray(x))
    assert_close(out, t_out.detach().numpy(), atol=atol, what="output")
    if indices:
        np.testing.assert_array_equal(np.asarray(idx), t_idx.numpy(), err_msg="indices")
    assert_close(gx, tx.grad.numpy(), atol=atol, what="grad of input")


def jitted(fn, x, *args, **kwargs):
    """``fn(x, *args, **kwargs)`` compiled as one program (eager mode would compile every op
    separately); only ``x`` is traced."""
    return jax.jit(lambda x: fn(x, *args, **kwargs))(x)


def _input(draw, n, spatial, seed, ties):
    batch = draw(st.sampled_from([(), (2,)]))
    shape = (*batch, draw(st.integers(1, 2)), *spatial)
    rng = np.random.default_rng(seed)
    if ties:  # few distinct values: ties inside windows, where the first maximum must win
        return rng.integers(-2, 3, shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@st.composite
def window_configs(draw, dilation):
    n = draw(st.sampled_from([1, 2, 3]))
    kmax = 4 if n < 3 else 3
    kernel = tuple(draw(st.integers(1, kmax)) for _ in range(n))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(n))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.integers(1, 2)) for _ in range(n)) if dilation else (1,) * n
    ceil_mode = draw(st.booleans())
    step = stride or kernel
    # Big enough for one window; a few sizes more so that ceil_mode's partial windows vary.
    spatial = tuple(
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, s + 1))
        for k, d, p, s in zip(kernel, dil, padding, step, strict=True)
    )
    return n, kernel, stride, padding, dil, ceil_mode, spatial


@settings(max_examples=EXAMPLES)
@given(
    cfg=window_configs(dilation=True),
    indices=st.booleans(),
    ties=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_max_pool_matches_torch(cfg, indices, ties, seed, data):
    n, kernel, stride, padding, dilation, ceil_mode, spatial = cfg
    x = _input(data.draw, n, spatial, seed, ties)
    args = dict(
        stride=stride, padding=padding, dilation=dilation, return_indices=indices, ceil_mode=ceil_mode
    )
    compare(T_MAXPOOL[n](kernel, **args), MAXPOOL[n](kernel, **args), x, indices=indices, seed=seed)


@settings(max_examples=FEW_EXAMPLES)
@given(
    cfg=window_configs(dilation=False),
    count_include_pad=st.booleans(),
    divisor=st.sampled_from([None, None, 3, -2]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_avg_pool_matches_torch(cfg, count_include_pad, divisor, seed, data):
    n, kernel, stride, padding, _, ceil_mode, spatial = cfg
    x = _input(data.draw, n, spatial, seed, ties=False)
    args = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    if n > 1:  # AvgPool1d has no divisor_override (as in PyTorch)
        args["divisor_override"] = divisor
    compare(T_AVGPOOL[n](kernel, **args), AVGPOOL[n](kernel, **args), x, atol=AVG_ATOL, seed=seed)


@settings(max_examples=EXAMPLES)
@given(
    kind=st.sampled_from(["avg", "max"]),
    n=st.sampled_from([1, 2, 3]),
    indices=st.booleans(),
    ties=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_adaptive_pool_matches_torch(kind, n, indices, ties, seed, data):
    spatial = tuple(data.draw(st.integers(1, 7)) for _ in range(n))
    # Output sizes below, equal to, above the input size (overlapping windows), and None (keep).
    out = tuple(data.draw(st.one_of(st.integers(1, 9), st.none())) for _ in range(n))
    if n == 1 or data.draw(st.booleans()):
        out = out[0] if out[0] is not None else 3
    x = _input(data.draw, n, spatial, seed, ties and kind == "max")
    j_cls, t_cls = ADAPTIVE[kind, n]
    if kind == "max":
        compare(
            t_cls(out, return_indices=indices),
            j_cls(out, return_indices=indices),
            x,
            indices=indices,
            seed=seed,
        )
    else:
        compare(t_cls(out), j_cls(out), x, atol=AVG_ATOL, seed=seed)


# Hand-picked edge cases, besides hypothesis's draws.
@pytest.mark.parametrize(
    "kwargs,size",
    [
        (dict(kernel_size=2, ceil_mode=True), 5),  # a last window of one element
        (
            dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
            6,
        ),  # last window would start in the padding: dropped
        (dict(kernel_size=3, stride=3, padding=1, ceil_mode=True), 4),
        (dict(kernel_size=2, stride=1, padding=1), 1),
        (dict(kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True), 7),
    ],
)
def test_max_pool_ceil_mode_edges(kwargs, size):
    x = np.random.default_rng(size).standard_normal((2, 3, size)).astype(np.float32)
    compare(
        torch.nn.MaxPool1d(**kwargs, return_indices=True),
        P.MaxPool1d(**kwargs, return_indices=True),
        x,
        indices=True,
    )


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize(
    "kwargs,size",
    [
        (dict(kernel_size=2, ceil_mode=True), 5),
        (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), 6),
        (dict(kernel_size=4, stride=3, padding=2, ceil_mode=True), 6),  # window past the padding: not counted
        (dict(kernel_size=3, stride=1, padding=1), 2),
    ],
)
def test_avg_pool_divisor_edges(kwargs, size, count_include_pad):
    x = np.random.default_rng(size).standard_normal((2, 3, size, size)).astype(np.float32)
    args = dict(**kwargs, count_include_pad=count_include_pad)
    compare(torch.nn.AvgPool2d(**args), P.AvgPool2d(**args), x, atol=AVG_ATOL)


def test_functional_forms_match_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6)).astype(np.float32)
    jx, tx = jnp.asarray(x), torch.tensor(x)
    cases = [
        ("max_pool2d", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        ("avg_pool2d", dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), count_include_pad=False)),
        ("adaptive_avg_pool2d", dict(output_size=(4, None))),
        ("adaptive_max_pool2d", dict(output_size=(3, 4))),
    ]
    for name, kwargs in cases:
        assert_close(
            jitted(getattr(FP, name), jx, **kwargs), getattr(TF, name)(tx, **kwargs).numpy(), what=name
        )
    for n, (j_fn, t_fn) in {1: (FP.max_pool1d, TF.max_pool1d), 3: (FP.max_pool3d, TF.max_pool3d)}.items():
        xs = x[..., 0, :] if n == 1 else np.repeat(x[:, :, None], 2, axis=2)
        j_val, j_idx = jitted(j_fn, jnp.asarray(xs), 2, 1, 1, 1, False, True)
        t_val, t_idx = t_fn(torch.tensor(xs), 2, 1, 1, 1, False, True)
        assert_close(j_val, t_val.numpy(), what=f"max_pool{n}d")
        np.testing.assert_array_equal(np.asarray(j_idx), t_idx.numpy())
    for name in (
        "avg_pool1d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool3d",
        "adaptive_max_pool1d",
        "adaptive_max_pool3d",
    ):
        xs = x[..., 0, :] if name.endswith("1d") else np.repeat(x[:, :, None], 2, axis=2)
        arg = 2 if "adaptive" not in name else 3
        assert_close(
            jitted(getattr(FP, name), jnp.asarray(xs), arg),
            getattr(TF, name)(torch.tensor(xs), arg).numpy(),
            what=name,
        )


def test_nan_propagates_with_torch_indices():
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4)).astype(np.float32)
    x[0, 0, 0, 0] = x[0, 0, 1, 1] = x[0, 0, 2, 3] = np.nan
    for dilation in (1, 2):
        j_val, j_idx = jitted(FP.max_pool2d, jnp.asarray(x), 2, 1, 0, dilation, False, True)
        t_val, t_idx = TF.max_pool2d(torch.tensor(x), 2, 1, 0, dilation, False, True)
        np.testing.assert_array_equal(np.isnan(np.asarray(j_val)), np.isnan(t_val.numpy()))
        np.testing.assert_array_equal(np.asarray(j_idx), t_idx.numpy())  # the window's last NaN
    assert np.isnan(np.asarray(jitted(FP.max_pool2d, jnp.asarray(x), 2))).sum() == 2
    j_val, j_idx = jitted(FP.adaptive_max_pool2d, jnp.asarray(x), 3, return_indices=True)
    t_val, t_idx = TF.adaptive_max_pool2d(torch.tensor(x), 3, return_indices=True)
    np.testing.assert_array_equal(np.asarray(j_idx), t_idx.numpy())


def _special_input(kind, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    if kind == "ties":  # ReLU-like zeros and rounded values: the first maximum must get the gradient
        x = np.maximum(np.round(x), 0)
    elif kind == "nan":  # a NaN window sends its gradient to its last NaN (PyTorch's scan)
        x.flat[rng.choice(x.size, x.size // 6, replace=False)] = np.nan
    elif kind == "neginf":  # all -inf windows: the first real element, never the padding
        x[:] = -np.inf
        x.flat[::7] = 1.0
    return x


@pytest.mark.parametrize("kind", ["ties", "nan", "neginf"])
@pytest.mark.parametrize(
    "n,shape,kernel,stride,padding,ceil_mode",
    [
        (1, (2, 3, 11), 3, 2, 1, True),
        (2, (2, 3, 9, 10), 2, 2, 0, False),  # non-overlapping windows (the CNN case)
        (2, (2, 3, 9, 10), 3, 2, 1, False),  # ResNet's stem
        (2, (1, 2, 7, 7), 2, 1, 1, False),
        (3, (1, 2, 5, 6, 7), 3, 3, 0, True),
    ],
)
def test_max_pool_gradient_goes_where_torch_sends_it(kind, n, shape, kernel, stride, padding, ceil_mode):
    """The derivative of the default (no indices, no dilation) path is torsh's own rule, not
    reduce_window's: one element per window, chosen as PyTorch's CPU kernel chooses it."""
    rng = np.random.default_rng(n)
    x = _special_input(kind, shape, rng)
    tx = torch.tensor(x, requires_grad=True)
    t_out = getattr(TF, f"max_pool{n}d")(tx, kernel, stride, padding, ceil_mode=ceil_mode)
    cot = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    t_out.backward(torch.tensor(cot))
    fn = getattr(FP, f"max_pool{n}d")
    out, vjp = jax.vjp(jax.jit(lambda a: fn(a, kernel, stride, padding, ceil_mode=ceil_mode)), jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), t_out.detach().numpy())
    np.testing.assert_array_equal(np.asarray(vjp(jnp.asarray(cot))[0]), tx.grad.numpy())


def test_max_pool_derivatives_forward_mode_and_second_order_float64():
    """Forward mode (jvp) and reverse-over-reverse agree with float64 finite differences."""
    from jax.test_util import check_grads

    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    with jax.enable_x64(True):
        for kernel, stride, padding in ((3, 2, 1), (2, 2, 0)):

            @jax.jit
            def f(a, kernel=kernel, stride=stride, padding=padding):
                return (FP.max_pool2d(a, kernel, stride, padding) ** 2).sum()

            check_grads(f, (jnp.asarray(x),), order=2, modes=["fwd", "rev"], eps=1e-6)


@pytest.mark.parametrize("dtype,tol", [(jnp.bfloat16, 1e-2), (jnp.float16, 1e-3)])
def test_half_precision_forward_within_dtype_tolerance(dtype, tol):
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32))
    layers = [
        P.MaxPool2d(3, 2, 1, ceil_mode=True),
        P.MaxPool2d(2, dilation=2, return_indices=True),
        P.AvgPool2d(3, 2, 1, count_include_pad=False),
        P.AdaptiveAvgPool2d(4),
        P.AdaptiveMaxPool2d((4, 2)),
    ]
    for layer in layers:
        ref, low = jitted(layer, x), jitted(layer, x.astype(dtype))
        ref, low = (ref[0], low[0]) if isinstance(ref, tuple) else (ref, low)
        assert low.dtype == dtype
        err = np.abs(np.asarray(low, np.float32) - np.asarray(ref)).max() / np.abs(np.asarray(ref)).max()
        assert err < tol, (layer, err)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.MaxPool2d(2),
        lambda m: m.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
        lambda m: m.MaxPool3d((1, 2, 2), return_indices=True),
        lambda m: m.AvgPool1d(3, stride=2),
        lambda m: m.AvgPool2d(3, stride=(2, 1), padding=1, count_include_pad=False),
        lambda m: m.AvgPool3d(2, divisor_override=3),
        lambda m: m.AdaptiveAvgPool2d((None, 4)),
        lambda m: m.AdaptiveMaxPool2d(3, return_indices=True),
        lambda m: m.AdaptiveAvgPool1d(5),
    ],
)
def test_repr_equals_torch(make):
    assert repr(make(P)) == repr(make(torch.nn))


def test_pooling_modules_have_no_state_and_work_in_a_jitted_sequential():
    model = nn.Sequential(
        C.Conv2d(2, 4, 3, padding=1, key=0), nn.ReLU(), P.MaxPool2d(2), P.AdaptiveAvgPool2d(1)
    )
    assert [k for k in model.state_dict()] == ["0.weight", "0.bias"]
    out = jax.jit(lambda m, x: m(x))(model, jnp.ones((3, 2, 8, 8)))
    assert out.shape == (3, 4, 1, 1)


def test_errors_name_the_module():
    model = nn.Sequential(nn.Identity(), P.MaxPool2d(3))
    run = jax.jit(lambda m, x: m(x))
    with pytest.raises(
        ShapeError,
        match=r"^1 \(MaxPool2d k3\): expected 3D \(unbatched\) or 4D \(batched\) input "
        r"\[N, C, H, W\] or \[C, H, W\], got 2D input of shape \[4, 4\]",
    ):
        run(model, jnp.ones((4, 4)))
    with pytest.raises(
        ShapeError,
        match=r"^1 \(MaxPool2d k3\): input of shape \[1, 2, 2, 5\] is too small.*output would be \[0, 1\]",
    ):
        run(model, jnp.ones((1, 2, 2, 5)))
    with pytest.raises(DTypeError, match="floating-point input"):
        run(model, jnp.ones((1, 2, 6, 6), jnp.int32))
    with pytest.raises(ShapeError, match=r"^AvgPool1d k\(2,\): expected non-empty spatial dimensions"):
        P.AvgPool1d(2)(jnp.ones((1, 0)))
    with pytest.raises(ShapeError, match=r"^adaptive_avg_pool2d: expected 3D"):
        FP.adaptive_avg_pool2d(jnp.ones((2, 3, 4, 5, 6)), 2)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: P.MaxPool2d(2, padding=2), "padding should be at most half of the kernel size"),
        (lambda: P.AvgPool1d(3, padding=2), "padding should be at most half of the kernel size"),
        (lambda: P.MaxPool2d((2, 2, 2)), "kernel_size must be an int or a tuple of 2 ints"),
        (lambda: P.MaxPool1d(2, stride=0), "stride must be positive"),
        (lambda: P.MaxPool3d(2, dilation=0), "dilation must be positive"),
        (lambda: P.AvgPool2d(2, divisor_override=0), "divisor_override must be a non-zero int"),
        (lambda: P.MaxPool2d(2, ceil_mode=1), "ceil_mode must be a bool"),
        (lambda: P.AdaptiveAvgPool2d((2, 2, 2)), "output_size must be an int, None or a tuple of 2"),
        (lambda: P.AdaptiveMaxPool1d(0), "output_size must be positive"),
        (lambda: FP.max_pool2d(jnp.ones((1, 4, 4)), 2, padding=(1, 2)), "padding should be at most half"),
    ],
)
def test_configuration_errors(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
