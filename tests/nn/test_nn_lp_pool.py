"""LP pooling against torch: values and gradients (float64), modules (float32), errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh import nn
from torsh.nn import functional as F

CASES = [
    (1, (2, 3, 9), dict(norm_type=2, kernel_size=3, stride=2)),
    (1, (3, 8), dict(norm_type=3.0, kernel_size=2, ceil_mode=True, stride=3)),
    (2, (2, 2, 7, 6), dict(norm_type=2, kernel_size=(3, 2), stride=(2, 1))),
    (2, (1, 2, 5, 5), dict(norm_type=1, kernel_size=2, ceil_mode=True)),
    (3, (1, 2, 4, 5, 4), dict(norm_type=2.5, kernel_size=2)),
]


@pytest.mark.parametrize("n,shape,kw", CASES)
def test_lp_pool_equals_torch(n, shape, kw):
    x = np.abs(np.random.default_rng(n).standard_normal(shape)) + 0.1  # positive: x**p defined for any p
    tx = torch.tensor(x, requires_grad=True)
    ref = getattr(torch.nn.functional, f"lp_pool{n}d")(tx, **kw)
    (g_ref,) = torch.autograd.grad(ref.sum(), tx)
    with jax.enable_x64(True):
        out, vjp = jax.vjp(lambda a: getattr(F, f"lp_pool{n}d")(a, **kw), jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(vjp(jnp.ones_like(out))[0]), g_ref.numpy(), rtol=1e-9)
    x32 = x.astype(np.float32)
    mod = getattr(nn, f"LPPool{n}d")(**kw)
    ref32 = getattr(torch.nn, f"LPPool{n}d")(**kw)(torch.tensor(x32))
    np.testing.assert_allclose(np.asarray(mod(jnp.asarray(x32))), ref32.numpy(), rtol=1e-5)


def test_lp_pool_errors():
    with pytest.raises(torsh.errors.ConfigError, match="norm_type"):
        nn.LPPool2d(0, 2)
    with pytest.raises(torsh.errors.ConfigError, match="kernel_size"):
        F.lp_pool1d(jnp.ones((1, 4)), 2, 0)
    with pytest.raises(torsh.errors.ShapeError):
        F.lp_pool2d(jnp.ones(4), 2, 2)
