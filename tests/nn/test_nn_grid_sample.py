"""affine_grid and grid_sample against torch: every mode, padding mode and align_corners, 4-D and 5-D,
values and gradients with respect to the input and the grid (float64), float32, errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import torsh
from torsh.nn import functional as F


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _sample_vjp(x, g, cot, mode, padding_mode, align_corners):
    out, vjp = jax.vjp(lambda a, b: F.grid_sample(a, b, mode, padding_mode, align_corners), x, g)
    return (out, *vjp(cot))


def _check(x, g, mode, padding_mode, align_corners, tol):
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    ref = TF.grid_sample(tx, tg, mode, padding_mode, align_corners)
    cot = np.random.default_rng(5).standard_normal(ref.shape).astype(x.dtype)
    gx, gg = torch.autograd.grad(ref, (tx, tg), torch.tensor(cot))
    out, jx, jg = _sample_vjp(
        jnp.asarray(x), jnp.asarray(g), jnp.asarray(cot), mode, padding_mode, align_corners
    )
    what = f"{mode}/{padding_mode}/align_corners={align_corners}"
    np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), **tol, err_msg=what)
    np.testing.assert_allclose(np.asarray(jx), gx.numpy(), **tol, err_msg=f"{what} input grad")
    np.testing.assert_allclose(np.asarray(jg), gg.numpy(), **tol, err_msg=f"{what} grid grad")


# every padding mode for bilinear in both conventions; nearest and bicubic (compile-heavy: 16 gathers)
# on a selection that still covers each padding mode and convention once
CASES_2D = [
    *[("bilinear", pm, ac) for pm in ("zeros", "border", "reflection") for ac in (False, True)],
    ("nearest", "zeros", False),
    ("nearest", "border", True),
    ("nearest", "reflection", False),
    ("bicubic", "zeros", False),
    ("bicubic", "border", False),
    ("bicubic", "reflection", True),
]


@pytest.mark.parametrize("mode,padding_mode,align_corners", CASES_2D)
def test_grid_sample_2d_equals_torch(mode, padding_mode, align_corners):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3, 5, 6))
    g = r.uniform(-1.3, 1.3, (2, 4, 7, 2))  # partly outside the image: padding modes matter
    with jax.enable_x64(True):
        _check(x, g, mode, padding_mode, align_corners, dict(rtol=1e-9, atol=1e-11))


def test_grid_sample_3d_and_float32():
    r = np.random.default_rng(1)
    x = r.standard_normal((1, 2, 3, 4, 5))
    g = r.uniform(-1.2, 1.2, (1, 2, 3, 4, 3))
    with jax.enable_x64(True):
        for mode in ("bilinear", "nearest"):
            _check(x, g, mode, "reflection", False, dict(rtol=1e-9, atol=1e-11))
    x32 = r.standard_normal((2, 3, 5, 6)).astype(np.float32)
    g32 = r.uniform(-1.1, 1.1, (2, 4, 7, 2)).astype(np.float32)
    _check(x32, g32, "bilinear", "zeros", False, dict(rtol=2e-5, atol=2e-5))


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_grid_equals_torch(align_corners):
    r = np.random.default_rng(2)
    with jax.enable_x64(True):
        for theta, size in (
            (r.standard_normal((2, 2, 3)), (2, 3, 4, 5)),
            (r.standard_normal((1, 3, 4)), (1, 2, 3, 4, 5)),
        ):
            tt = torch.tensor(theta, requires_grad=True)
            ref = TF.affine_grid(tt, size, align_corners=align_corners)
            (gt,) = torch.autograd.grad(ref.sum(), tt)
            out, vjp = jax.vjp(lambda t, s=size: F.affine_grid(t, s, align_corners), jnp.asarray(theta))
            np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(vjp(jnp.ones_like(out))[0]), gt.numpy(), rtol=1e-12)


def test_spatial_transformer_rotation_round_trip():
    """A rotation by 90 degrees through affine_grid + grid_sample equals np.rot90 (nearest, align_corners)."""
    img = jnp.arange(16.0).reshape(1, 1, 4, 4)
    theta = jnp.array([[[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]])
    grid = F.affine_grid(theta, img.shape, align_corners=True)
    out = F.grid_sample(img, grid, mode="nearest", align_corners=True)
    np.testing.assert_array_equal(np.asarray(out[0, 0]), np.rot90(np.arange(16.0).reshape(4, 4), k=1))


def test_grid_sample_errors():
    x = jnp.zeros((1, 1, 4, 4))
    with pytest.raises(torsh.errors.ConfigError, match="mode"):
        F.grid_sample(x, jnp.zeros((1, 2, 2, 2)), mode="area")
    with pytest.raises(torsh.errors.ConfigError, match="padding_mode"):
        F.grid_sample(x, jnp.zeros((1, 2, 2, 2)), padding_mode="wrap")
    with pytest.raises(torsh.errors.ShapeError, match="grid"):
        F.grid_sample(x, jnp.zeros((1, 2, 2, 3)))
    with pytest.raises(torsh.errors.ConfigError, match="bicubic"):
        F.grid_sample(jnp.zeros((1, 1, 2, 2, 2)), jnp.zeros((1, 1, 1, 1, 3)), mode="bicubic")
    with pytest.raises(torsh.errors.DTypeError):
        F.grid_sample(x, jnp.zeros((1, 2, 2, 2), jnp.float16))
    with pytest.raises(torsh.errors.ShapeError, match="affine matrices"):
        F.affine_grid(jnp.zeros((1, 3, 3)), (1, 1, 4, 4))
    with pytest.raises(torsh.errors.ShapeError, match="4-D"):
        F.affine_grid(jnp.zeros((1, 2, 3)), (1, 4, 4))
