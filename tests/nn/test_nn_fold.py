"""Fold/Unfold against torch: values, gradients, unbatched inputs, the adjoint identity, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import torsh
from torsh import nn
from torsh.nn import functional as F

CONFIGS = [
    dict(kernel_size=3),
    dict(kernel_size=(2, 3), dilation=(2, 1), padding=(1, 2), stride=(2, 1)),
    dict(kernel_size=2, stride=2),
]


@pytest.mark.parametrize("kw", CONFIGS, ids=["k3", "mixed", "k2s2"])
def test_unfold_and_fold_equal_torch(kw):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 3, 7, 6))
    tx = torch.tensor(x, requires_grad=True)
    t_cols = torch.nn.functional.unfold(tx, **kw)
    cot = r.standard_normal(t_cols.shape)
    (t_grad,) = torch.autograd.grad(t_cols, tx, torch.tensor(cot))
    with jax.enable_x64(True):
        cols, vjp = jax.vjp(lambda a: F.unfold(a, **kw), jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(cols), t_cols.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(vjp(jnp.asarray(cot))[0]), t_grad.numpy(), rtol=1e-12)
        back = F.fold(jnp.asarray(cot), (7, 6), **kw)
        np.testing.assert_allclose(
            np.asarray(back), torch.nn.functional.fold(torch.tensor(cot), (7, 6), **kw).numpy(), rtol=1e-12
        )
    # float32 modules, unbatched inputs
    x32 = x.astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(nn.Unfold(**kw)(jnp.asarray(x32[0]))),
        torch.nn.Unfold(**kw)(torch.tensor(x32[0])).numpy(),
        rtol=1e-6,
    )
    c32 = cot.astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(nn.Fold((7, 6), **kw)(jnp.asarray(c32[0]))),
        torch.nn.Fold((7, 6), **kw)(torch.tensor(c32[0])).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("kw", CONFIGS, ids=["k3", "mixed", "k2s2"])
def test_fold_is_the_adjoint_of_unfold(kw):
    """<unfold(x), y> == <x, fold(y)>: overlaps are summed, padding cropped."""
    r = np.random.default_rng(1)
    x = jnp.asarray(r.standard_normal((1, 2, 7, 6)), jnp.float32)
    cols = F.unfold(x, **kw)
    y = jnp.asarray(r.standard_normal(cols.shape), jnp.float32)
    lhs = float(jnp.vdot(cols, y))
    rhs = float(jnp.vdot(x, F.fold(y, (7, 6), **kw)))
    assert abs(lhs - rhs) <= 1e-4 * (1 + abs(lhs))


def test_fold_unfold_errors():
    with pytest.raises(torsh.errors.ShapeError, match="3-D"):
        F.unfold(jnp.zeros((4, 4)), 2)
    with pytest.raises(torsh.errors.ShapeError, match="do not fit"):
        F.unfold(jnp.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(torsh.errors.ConfigError, match="stride"):
        nn.Unfold(2, stride=0)
    with pytest.raises(torsh.errors.ShapeError, match="divisible"):
        F.fold(jnp.zeros((1, 5, 9)), 4, 2)
    with pytest.raises(torsh.errors.ShapeError, match="L = 8"):
        F.fold(jnp.zeros((1, 4, 8)), 4, 2)
    with pytest.raises(torsh.errors.DTypeError):
        F.unfold(jnp.zeros((1, 1, 4, 4), jnp.int32), 2)
