"""pad / interpolate / pixel_shuffle and their layers against PyTorch (forward and input gradients).

Gradients are compared for ``sum(out * cotangent)`` with a random cotangent. Everything runs eagerly
(no jit): the index maps are static NumPy, so each case is a handful of cached XLA ops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import TorshError
from torsh.nn import functional as F


def _check(ours, theirs, shape, dtype=np.float32, seed=0, rtol=1e-5, atol=1e-6):
    """Forward and input-gradient parity of ``ours(x)`` (jax) and ``theirs(x)`` (torch)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(xt)
    cot = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    (yt * torch.tensor(cot)).sum().backward()
    y, vjp = jax.vjp(ours, jnp.asarray(x))
    (g,) = vjp(jnp.asarray(cot))
    assert y.dtype == jnp.dtype(dtype)
    np.testing.assert_allclose(np.asarray(y), yt.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
    np.testing.assert_allclose(np.asarray(g), xt.grad.numpy(), rtol=rtol, atol=atol, err_msg="gradient")


# -- pad ------------------------------------------------------------------------------------------
PAD_CASES = [
    ((2, 3, 5), (2, 1)),
    ((3, 5), (1, 4)),  # unbatched
    ((2, 2, 4, 5), (1, 2, 3, 0)),
    ((2, 4, 5), (0, 3, 2, 2)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2)),
    ((2, 3, 4, 4), (-1, 2, 1, -2)),  # negative amounts crop
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_matches_torch(mode, shape, pad):
    value = 1.5 if mode == "constant" else None
    _check(lambda x: F.pad(x, pad, mode, value), lambda x: TF.pad(x, pad, mode, value), shape)


def test_pad_float64_and_constant_on_any_rank(x64):
    _check(
        lambda x: F.pad(x, (1, 2, 0, 1), mode="reflect"),
        lambda x: TF.pad(x, (1, 2, 0, 1), mode="reflect"),
        (2, 3, 4),
        dtype=np.float64,
        rtol=1e-12,
    )
    # constant mode pads any number of leading axes, including batch axes
    _check(
        lambda x: F.pad(input=x, pad=(1, 0, 0, 2, 1, 1, 2, 0)),
        lambda x: TF.pad(x, (1, 0, 0, 2, 1, 1, 2, 0)),
        (2, 1, 3, 2),
    )


@given(
    mode=st.sampled_from(["reflect", "replicate", "circular"]),
    size=st.integers(1, 5),
    before=st.integers(-2, 5),
    after=st.integers(-2, 5),
)
def test_pad_property_matches_torch_or_both_refuse(mode, size, before, after):
    x = np.arange(2.0 * size, dtype=np.float32).reshape(1, 2, size)
    kept = size + min(before, 0) + min(after, 0)
    # torsh refuses where torch returns an empty result, or (circular) wraps more than once around the
    # cropped range, which torch 2.13 fills with uninitialised memory
    undefined = size + before + after <= 0 or (mode == "circular" and max(before, after) > kept)
    try:
        want = TF.pad(torch.tensor(x), (before, after), mode=mode).numpy()
    except (RuntimeError, ValueError):
        undefined = True
    if undefined:
        with pytest.raises(TorshError):
            F.pad(jnp.asarray(x), (before, after), mode=mode)
        return
    np.testing.assert_array_equal(np.asarray(F.pad(jnp.asarray(x), (before, after), mode=mode)), want)


@pytest.mark.parametrize(
    "shape,pad,kwargs",
    [
        ((1, 1, 3), (1,), {}),  # odd length
        ((1, 1, 3), (1,) * 8, {}),  # longer than 2 * ndim
        ((1, 1, 3), (3, 3), {"mode": "reflect"}),  # reflect amount >= size
        ((1, 1, 3), (4, 4), {"mode": "circular"}),  # wraps more than once
        ((1, 1, 3), (1, 1), {"mode": "reflect", "value": 1.0}),  # value with a non-constant mode
        ((1, 1, 3), (1, 1), {"mode": "foo"}),
        ((1, 1, 3), (1,) * 6, {"mode": "reflect"}),  # 3 padded axes need 4D/5D input
        ((3,), (1, 1), {"mode": "replicate"}),  # 1D input
    ],
)
def test_pad_errors_where_torch_raises(shape, pad, kwargs):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
        TF.pad(torch.zeros(shape), pad, **kwargs)
    with pytest.raises(TorshError, match="pad"):
        F.pad(jnp.zeros(shape), pad, **kwargs)


PAD_LAYERS = [
    ("ZeroPad", (), "constant"),
    ("ConstantPad", (2.5,), "constant"),
    ("ReflectionPad", (), "reflect"),
    ("ReplicationPad", (), "replicate"),
    ("CircularPad", (), "circular"),
]


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("stem,extra,mode", PAD_LAYERS)
def test_pad_layers_match_torch(stem, extra, mode, n):
    name = f"{stem}{n}d"
    padding = (1, 2, 2, 0, 1, 1)[: 2 * n]
    assert repr(getattr(nn, name)(1, *extra)) == repr(getattr(torch.nn, name)(1, *extra))
    ref = getattr(torch.nn, name)(padding, *extra)
    ours = getattr(nn, name)(padding, *extra)
    assert repr(ours) == repr(ref)
    _check(lambda x: ours(input=x), ref, (2,) + (3,) * n)  # unbatched, keyword input (batched: F.pad tests)
    with pytest.raises(TorshError, match=name):
        getattr(nn, name)((1,) * (2 * n + 1), *extra)


# -- interpolate ----------------------------------------------------------------------------------
INTERP_CASES = [
    # mode, input shape, kwargs
    ("nearest", (2, 3, 5), {"size": 7}),
    ("nearest", (1, 2, 4, 5), {"scale_factor": 2}),
    ("nearest", (1, 2, 7, 5), {"scale_factor": (0.5, 1.7)}),
    ("nearest", (1, 1, 3, 4, 5), {"size": (5, 3, 4)}),
    ("nearest-exact", (1, 2, 5, 7), {"size": (3, 11)}),
    ("nearest-exact", (2, 1, 6), {"scale_factor": 1.3}),
    ("linear", (2, 3, 5), {"size": 8}),
    ("linear", (2, 3, 9), {"scale_factor": 0.4, "align_corners": True}),
    ("linear", (2, 3, 5), {"scale_factor": 1.7}),
    ("linear", (2, 3, 5), {"scale_factor": 1.7, "recompute_scale_factor": True}),
    ("bilinear", (1, 2, 4, 5), {"scale_factor": 2}),
    ("bilinear", (1, 2, 4, 5), {"size": (7, 3), "align_corners": True}),
    ("bilinear", (1, 2, 8, 6), {"size": (3, 1)}),
    ("bicubic", (1, 2, 4, 5), {"scale_factor": 2}),
    ("bicubic", (1, 2, 6, 5), {"size": (4, 9), "align_corners": True}),
    ("bicubic", (1, 2, 7, 7), {"scale_factor": (0.6, 1.3)}),
    ("trilinear", (1, 2, 3, 4, 3), {"scale_factor": 2}),
    ("trilinear", (1, 1, 3, 4, 5), {"size": (4, 2, 7), "align_corners": True}),
    ("area", (1, 2, 6, 9), {"size": (4, 3)}),
    ("area", (2, 2, 8), {"scale_factor": 0.5}),
]


@pytest.mark.parametrize("mode,shape,kwargs", INTERP_CASES)
def test_interpolate_matches_torch(mode, shape, kwargs):
    _check(
        lambda x: F.interpolate(input=x, mode=mode, **kwargs),
        lambda x: TF.interpolate(x, mode=mode, **kwargs),
        shape,
    )


def test_interpolate_under_jit_and_uint8_nearest():
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 4)).astype(np.float32)
    f = jax.jit(lambda x: F.interpolate(x, scale_factor=1.5, mode="bicubic", align_corners=True))
    want = TF.interpolate(torch.tensor(x), scale_factor=1.5, mode="bicubic", align_corners=True).numpy()
    np.testing.assert_allclose(np.asarray(f(jnp.asarray(x))), want, rtol=1e-5, atol=1e-6)
    img = np.random.default_rng(1).integers(0, 256, (1, 3, 4, 5), dtype=np.uint8)
    for mode in ("nearest", "nearest-exact"):
        got = F.interpolate(jnp.asarray(img), size=(7, 3), mode=mode)
        assert got.dtype == jnp.uint8
        np.testing.assert_array_equal(
            np.asarray(got), TF.interpolate(torch.tensor(img), size=(7, 3), mode=mode).numpy()
        )
    with pytest.raises(TorshError, match="floating"):
        F.interpolate(jnp.asarray(img), size=(7, 3), mode="area")
    # bfloat16 is interpolated in float32 and rounded once, as torch's opmath: one bf16 ulp at most
    got = F.interpolate(jnp.asarray(x, jnp.bfloat16), scale_factor=2, mode="bilinear")
    want = TF.interpolate(torch.tensor(x).bfloat16(), scale_factor=2, mode="bilinear").float().numpy()
    assert got.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), want, rtol=2**-8, atol=1e-6)


@pytest.mark.parametrize("mode", ["linear", "nearest-exact"])
def test_interpolate_float64(mode, x64):
    _check(
        lambda x: F.interpolate(x, scale_factor=2.5, mode=mode),
        lambda x: TF.interpolate(x, scale_factor=2.5, mode=mode),
        (1, 2, 5),
        dtype=np.float64,
        rtol=1e-12,
    )
    _check(
        lambda x: F.interpolate(x, size=(3, 7), mode="bicubic"),
        lambda x: TF.interpolate(x, size=(3, 7), mode="bicubic"),
        (1, 1, 5, 4),
        dtype=np.float64,
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((1, 1, 3), {"size": 2, "mode": "nearest", "align_corners": True}),
        ((1, 1, 3), {"size": 2, "scale_factor": 2}),
        ((1, 1, 3), {}),
        ((1, 1, 3), {"size": 2, "mode": "bilinear"}),
        ((1, 1, 3), {"size": (2, 2)}),
        ((1, 1, 3), {"size": 2, "recompute_scale_factor": True}),
        ((1, 1, 3), {"size": 2, "mode": "foo"}),
        ((1, 1, 3), {"scale_factor": 2, "mode": "linear", "antialias": True}),
        ((1, 1, 3, 3), {"scale_factor": 2, "mode": "nearest", "antialias": True}),
        ((3,), {"size": 2}),
    ],
)
def test_interpolate_errors(shape, kwargs):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
        TF.interpolate(torch.zeros(shape), **kwargs)
    with pytest.raises(TorshError, match="interpolate"):
        F.interpolate(jnp.zeros(shape), **kwargs)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"size": (4, 5)},
        {"scale_factor": 0.3},
        {"size": (3, 17), "align_corners": True},
        {"scale_factor": (2.5, 0.5)},
    ],
)
def test_interpolate_antialias_matches_torch(mode, kwargs):
    _check(
        lambda x: F.interpolate(x, mode=mode, antialias=True, **kwargs),
        lambda x: TF.interpolate(x, mode=mode, antialias=True, **kwargs),
        (1, 2, 9, 11),
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.Upsample(scale_factor=2, mode="bilinear"),
        lambda m: m.Upsample(size=(3, 7), mode="nearest"),
        lambda m: m.Upsample(scale_factor=(1.5, 2), mode="bicubic", align_corners=True),
        lambda m: m.UpsamplingNearest2d(scale_factor=3),
        lambda m: m.UpsamplingBilinear2d(scale_factor=2),
        lambda m: m.UpsamplingBilinear2d(size=(5, 3)),
    ],
)
def test_upsample_layers_match_torch(make):
    ref, ours = make(torch.nn), make(nn)
    assert repr(ours) == repr(ref)
    _check(ours, ref, (1, 2, 3, 4))


def test_upsample_needs_one_of_size_and_scale_factor():
    with pytest.raises(TorshError, match="Upsample"):
        nn.Upsample()
    with pytest.raises(TorshError, match="mode"):
        nn.Upsample(size=2, mode="cubic")


# -- pixel shuffle --------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,r", [((2, 8, 3, 2), 2), ((9, 2, 3), 3), ((2, 1, 4, 1, 2), 2)])
def test_pixel_shuffle_matches_torch(shape, r):
    _check(nn.PixelShuffle(r), torch.nn.PixelShuffle(r), shape)
    _check(lambda x: F.pixel_shuffle(input=x, upscale_factor=r), lambda x: TF.pixel_shuffle(x, r), shape)
    out_shape = TF.pixel_shuffle(torch.zeros(shape), r).shape
    _check(nn.PixelUnshuffle(r), torch.nn.PixelUnshuffle(r), tuple(out_shape))
    assert repr(nn.PixelShuffle(r)) == repr(torch.nn.PixelShuffle(r))
    assert repr(nn.PixelUnshuffle(r)) == repr(torch.nn.PixelUnshuffle(r))


def test_pixel_shuffle_errors():
    with pytest.raises(TorshError, match="divisible by upscale_factor"):
        F.pixel_shuffle(jnp.zeros((1, 3, 2, 2)), 2)
    with pytest.raises(TorshError, match="height to be divisible"):
        F.pixel_unshuffle(jnp.zeros((1, 3, 3, 2)), 2)
    with pytest.raises(TorshError, match="at least 3 dimensions"):
        F.pixel_shuffle(jnp.zeros((4, 2)), 2)
    with pytest.raises(TorshError, match="positive int"):
        nn.PixelShuffle(0)
