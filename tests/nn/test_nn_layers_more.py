"""Bilinear, ChannelShuffle, LocalResponseNorm, pdist and gumbel_softmax against torch: values, gradients
(float64), modules with torch's weights (float32), initialisation bounds, statistical checks, errors."""

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


def _vjp_check(ours, theirs, args, rtol=1e-10):
    t_args = [torch.tensor(a, requires_grad=True) for a in args]
    ref = theirs(*t_args)
    cot = np.random.default_rng(3).standard_normal(ref.shape)
    t_grads = torch.autograd.grad(ref, t_args, torch.tensor(cot))
    with jax.enable_x64(True):
        out, vjp = jax.vjp(ours, *[jnp.asarray(a) for a in args])
        np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=rtol, atol=1e-12)
        for g, tg in zip(vjp(jnp.asarray(cot)), t_grads, strict=True):
            np.testing.assert_allclose(np.asarray(g), tg.numpy(), rtol=rtol, atol=1e-12)


def test_bilinear_equals_torch():
    r = np.random.default_rng(0)
    x1, x2 = r.standard_normal((2, 5, 3)), r.standard_normal((2, 5, 4))
    w, b = r.standard_normal((6, 3, 4)), r.standard_normal(6)
    _vjp_check(F.bilinear, TF.bilinear, [x1, x2, w, b])
    ref = torch.nn.Bilinear(3, 4, 6)
    layer = nn.Bilinear(3, 4, 6, key=torsh.random.key(0))
    assert layer.weight.shape == (6, 3, 4) and float(jnp.max(jnp.abs(layer.weight))) <= 1 / np.sqrt(3)
    layer = layer.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    xs = [a.astype(np.float32) for a in (x1, x2)]
    np.testing.assert_allclose(
        np.asarray(layer(*map(jnp.asarray, xs))),
        ref(*map(torch.tensor, xs)).detach().numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(torsh.errors.ShapeError, match="weight"):
        F.bilinear(jnp.ones((2, 4)), jnp.ones((2, 4)), jnp.ones((6, 3, 4)))
    with pytest.raises(torsh.errors.ShapeError, match="leading"):
        F.bilinear(jnp.ones((2, 3)), jnp.ones((3, 4)), jnp.ones((6, 3, 4)))


def test_channel_shuffle_and_local_response_norm_equal_torch():
    r = np.random.default_rng(1)
    x = r.standard_normal((2, 6, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(F.channel_shuffle(jnp.asarray(x), 3)), TF.channel_shuffle(torch.tensor(x), 3).numpy()
    )
    np.testing.assert_array_equal(
        np.asarray(nn.ChannelShuffle(2)(jnp.asarray(x))), torch.nn.ChannelShuffle(2)(torch.tensor(x)).numpy()
    )
    for shape, size in (((2, 6, 3, 4), 3), ((2, 5, 7), 4), ((1, 4, 2, 3, 2), 2)):
        x = r.standard_normal(shape)
        _vjp_check(
            lambda a, s=size: F.local_response_norm(a, s, alpha=0.1, beta=0.7, k=1.5),
            lambda a, s=size: TF.local_response_norm(a, s, alpha=0.1, beta=0.7, k=1.5),
            [x],
        )
    x32 = r.standard_normal((2, 6, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(nn.LocalResponseNorm(3)(jnp.asarray(x32))),
        torch.nn.LocalResponseNorm(3)(torch.tensor(x32)).numpy(),
        rtol=1e-6,
    )
    with pytest.raises(torsh.errors.ShapeError, match="divisible"):
        F.channel_shuffle(jnp.ones((1, 5, 2)), 2)
    with pytest.raises(torsh.errors.ShapeError, match="3D"):
        F.local_response_norm(jnp.ones((2, 3)), 2)


@pytest.mark.parametrize("p", [2.0, 1.0, 3.5, 0.0, float("inf")])
def test_pdist_equals_torch(p):
    r = np.random.default_rng(2)
    x = r.standard_normal((5, 3))
    x[3] = x[1]  # a zero distance: gradient 0 there (torch), not NaN
    _vjp_check(lambda a: F.pdist(a, p), lambda a: TF.pdist(a, p), [x], rtol=1e-9)
    with pytest.raises(torsh.errors.ShapeError, match="2-D"):
        F.pdist(jnp.ones(3))


def test_gumbel_softmax():
    logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
    keys = jax.random.split(torsh.random.key(0), 4000)
    hard = jax.vmap(lambda k: F.gumbel_softmax(logits, tau=0.5, hard=True, key=k))(keys)
    assert set(np.unique(np.asarray(hard))) == {0.0, 1.0} and np.all(np.asarray(hard).sum(-1) == 1)
    freq = np.asarray(hard).mean(0)  # samples follow softmax(logits)
    np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.03)
    # same noise as torch's formula: soft sample and the straight-through gradient of the hard one
    g = jax.random.gumbel(torsh.random.key(1), (2, 3))
    y_soft = jax.nn.softmax((jnp.stack([logits] * 2) + g) / 0.7, -1)
    ours = F.gumbel_softmax(jnp.stack([logits] * 2), tau=0.7, key=torsh.random.key(1))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(y_soft), rtol=1e-6)
    w = jnp.array([1.0, 2.0, 3.0])
    grad_hard = jax.grad(
        lambda lg: jnp.sum(F.gumbel_softmax(lg, 0.7, hard=True, key=torsh.random.key(1)) * w)
    )(logits)
    grad_soft = jax.grad(lambda lg: jnp.sum(F.gumbel_softmax(lg, 0.7, key=torsh.random.key(1)) * w))(logits)
    np.testing.assert_allclose(np.asarray(grad_hard), np.asarray(grad_soft), rtol=1e-6)
    assert (
        F.gumbel_softmax(jnp.zeros((2, 3, 4)), hard=True, dim=1, key=torsh.random.key(2)).sum(1).tolist()
        == [[1.0] * 4] * 2
    )
    with pytest.raises(torsh.errors.ConfigError, match="key"):
        F.gumbel_softmax(logits)
    with pytest.raises(torsh.errors.ConfigError, match="tau"):
        F.gumbel_softmax(logits, tau=0.0, key=torsh.random.key(0))
