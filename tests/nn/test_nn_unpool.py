"""*_with_indices and max unpooling against torch: values, indices, gradients, output_size, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import torsh
from torsh import nn
from torsh.nn import functional as F

CASES = [
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1), (9,)),
    (2, (2, 3, 7, 6), dict(kernel_size=3, stride=2, padding=1), (7, 6)),
    (2, (1, 2, 8, 8), dict(kernel_size=2), None),
    (3, (1, 2, 4, 6, 4), dict(kernel_size=2), None),
]


@pytest.mark.parametrize("n,shape,kw,output_size", CASES)
def test_with_indices_and_unpool_equal_torch(n, shape, kw, output_size):
    x = np.random.default_rng(n).standard_normal(shape).astype(np.float32)
    tv, ti = getattr(TF, f"max_pool{n}d_with_indices")(torch.tensor(x), **kw)
    v, i = getattr(F, f"max_pool{n}d_with_indices")(jnp.asarray(x), **kw)
    np.testing.assert_array_equal(np.asarray(v), tv.numpy())
    np.testing.assert_array_equal(np.asarray(i), ti.numpy())
    tv_req = tv.clone().requires_grad_(True)
    ref = getattr(TF, f"max_unpool{n}d")(tv_req, ti, **kw, output_size=output_size)
    cot = np.random.default_rng(7).standard_normal(ref.shape).astype(np.float32)
    (g_ref,) = torch.autograd.grad(ref, tv_req, torch.tensor(cot))
    out, vjp = jax.vjp(lambda a: getattr(F, f"max_unpool{n}d")(a, i, **kw, output_size=output_size), v)
    np.testing.assert_array_equal(np.asarray(out), ref.detach().numpy())
    np.testing.assert_array_equal(np.asarray(vjp(jnp.asarray(cot))[0]), g_ref.numpy())
    mod = getattr(nn, f"MaxUnpool{n}d")(**kw)
    np.testing.assert_array_equal(np.asarray(mod(v, i, output_size)), ref.detach().numpy())
    av, ai = getattr(F, f"adaptive_max_pool{n}d_with_indices")(jnp.asarray(x), 2)
    tav, tai = getattr(TF, f"adaptive_max_pool{n}d_with_indices")(torch.tensor(x), 2)
    np.testing.assert_array_equal(np.asarray(av), tav.numpy())
    np.testing.assert_array_equal(np.asarray(ai), tai.numpy())


def test_unpool_errors():
    v, i = F.max_pool2d_with_indices(
        jnp.arange(42.0).reshape(1, 1, 7, 6), 3, 2, 1
    )  # maxima at the far corners
    with pytest.raises(IndexError, match="out of range"):
        F.max_unpool2d(v, i, 3, 2, 1)  # default 7x5 output cannot hold indices into the 7x6 plane
    with pytest.raises(torsh.errors.ShapeError, match="invalid output_size"):
        F.max_unpool2d(v, i, 3, 2, 1, output_size=(9, 6))
    with pytest.raises(torsh.errors.ShapeError, match="indices"):
        F.max_unpool2d(v, i[..., :1], 3, 2, 1)
