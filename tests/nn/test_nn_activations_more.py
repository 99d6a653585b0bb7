"""celu, glu, hard/soft shrink, logsigmoid, softsign, tanhshrink, threshold, prelu, rrelu against torch:
values and gradients (float32 and float64, including the kinks), their modules, and error cases."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import torsh
from torsh import nn
from torsh.nn import functional as F

# the kinks (0, +-lambd, the threshold) are in the inputs on purpose: gradients there must be torch's
X = np.array([-3.0, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0, 2.5])
CASES = [
    ("celu", dict(alpha=1.5)),
    ("hardshrink", dict(lambd=0.5)),
    ("softshrink", dict(lambd=0.5)),
    ("logsigmoid", {}),
    ("softsign", {}),
    ("tanhshrink", {}),
    ("threshold", dict(threshold=0.25, value=-2.0)),
    ("rrelu", dict(lower=0.1, upper=0.3, training=False)),
]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _value_and_grad(name, kw_items, x):
    fn = functools.partial(getattr(F, name), **dict(kw_items))
    out, vjp = jax.vjp(fn, x)
    return out, vjp(jnp.ones_like(out))[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elementwise_activations_equal_torch(dtype):
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    with jax.enable_x64(dtype == np.float64):
        for name, kw in CASES:
            tx = torch.tensor(X.astype(dtype), requires_grad=True)
            ref = getattr(TF, name)(tx, **kw)
            (ref_grad,) = torch.autograd.grad(ref.sum(), tx)
            out, grad = _value_and_grad(name, tuple(kw.items()), jnp.asarray(X.astype(dtype)))
            np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), **tol, err_msg=name)
            np.testing.assert_allclose(np.asarray(grad), ref_grad.numpy(), **tol, err_msg=f"{name} grad")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glu_and_prelu_equal_torch(dtype):
    r = np.random.default_rng(0)
    x = r.standard_normal((2, 4, 3)).astype(dtype)
    x[0, 0, 0] = 0.0
    with jax.enable_x64(dtype == np.float64):
        for dim in (1, -1 if x.shape[-1] % 2 == 0 else 1):
            tx = torch.tensor(x, requires_grad=True)
            ref = TF.glu(tx, dim)
            (g_ref,) = torch.autograd.grad(ref.sum(), tx)
            out, vjp = jax.vjp(lambda a, d=dim: F.glu(a, d), jnp.asarray(x))
            np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(vjp(jnp.ones_like(out))[0]), g_ref.numpy(), rtol=1e-6)
        for w in (np.array([0.25], dtype), r.random(4).astype(dtype)):
            tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
            ref = TF.prelu(tx, tw)
            gx, gw = torch.autograd.grad(ref.sum(), (tx, tw))
            out, vjp = jax.vjp(F.prelu, jnp.asarray(x), jnp.asarray(w))
            jx, jw = vjp(jnp.ones_like(out))
            np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(jx), gx.numpy(), rtol=1e-6)
            np.testing.assert_allclose(np.asarray(jw), gw.numpy(), rtol=1e-5)


def test_rrelu_training_draws_slopes_in_range():
    x = -jnp.ones(2000)
    y = F.rrelu(x, 0.1, 0.3, training=True, key=torsh.random.key(0))
    slopes = -np.asarray(y)
    assert 0.1 <= slopes.min() and slopes.max() <= 0.3 and abs(slopes.mean() - 0.2) < 0.01
    np.testing.assert_array_equal(y, F.rrelu(x, 0.1, 0.3, training=True, key=torsh.random.key(0)))
    assert float(F.rrelu(jnp.array(2.0), training=True, key=torsh.random.key(1))) == 2.0


def test_activation_errors():
    with pytest.raises(torsh.errors.ShapeError, match="even"):
        F.glu(jnp.ones((2, 3)))
    with pytest.raises(torsh.errors.ShapeError, match="out of range"):
        F.glu(jnp.ones((2, 4)), dim=2)
    with pytest.raises(torsh.errors.ConfigError, match="lambd"):
        F.softshrink(jnp.ones(2), -1.0)
    with pytest.raises(torsh.errors.ConfigError, match="alpha"):
        F.celu(jnp.ones(2), 0.0)
    with pytest.raises(torsh.errors.ShapeError, match="weight"):
        F.prelu(jnp.ones((2, 3)), jnp.ones(4))
    with pytest.raises(torsh.errors.ConfigError, match="key"):
        F.rrelu(jnp.ones(2), training=True)
    with pytest.raises(torsh.errors.ConfigError, match="lower bound"):
        F.rrelu(jnp.ones(2), 0.5, 0.1)


MODULES = [
    ("CELU", dict(alpha=0.5)),
    ("GLU", dict(dim=1)),
    ("Hardshrink", dict(lambd=0.3)),
    ("Softshrink", dict(lambd=0.3)),
    ("LogSigmoid", {}),
    ("Softsign", {}),
    ("Tanhshrink", {}),
    ("Threshold", dict(threshold=0.1, value=-1.0)),
    ("Softmax2d", {}),
]


@pytest.mark.parametrize("name,kw", MODULES, ids=[m[0] for m in MODULES])
def test_activation_modules_equal_torch(name, kw):
    x = np.random.default_rng(4).standard_normal((2, 4, 3, 2)).astype(np.float32)
    ours = getattr(nn, name)(**kw)(jnp.asarray(x))
    ref = getattr(torch.nn, name)(**kw)(torch.tensor(x))
    np.testing.assert_allclose(np.asarray(ours), ref.numpy(), rtol=1e-6, atol=1e-7)


def test_prelu_and_rrelu_modules():
    x = np.random.default_rng(5).standard_normal((2, 3, 4)).astype(np.float32)
    ref = torch.nn.PReLU(3, init=0.1)
    ours = nn.PReLU(3, init=0.1)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    np.testing.assert_allclose(
        np.asarray(ours(jnp.asarray(x))), ref(torch.tensor(x)).detach().numpy(), rtol=1e-6
    )
    rr = nn.RReLU(0.1, 0.3)
    np.testing.assert_allclose(
        np.asarray(rr.eval()(jnp.asarray(x))),
        torch.nn.RReLU(0.1, 0.3).eval()(torch.tensor(x)).numpy(),
        rtol=1e-6,
    )
    with pytest.raises(torsh.errors.ConfigError, match="key"):
        rr(jnp.asarray(x))  # training mode without a key
    with pytest.raises(torsh.errors.ConfigError, match="num_parameters"):
        nn.PReLU(0)
    with pytest.raises(torsh.errors.ShapeError, match="3-D or 4-D"):
        nn.Softmax2d()(jnp.ones((2, 3)))
