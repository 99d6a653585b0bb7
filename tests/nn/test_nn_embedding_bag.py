"""embedding_bag against torch: every mode, 1-D with offsets (incl. include_last_offset and empty bags),
2-D bags, per_sample_weights, padding_idx; values and gradients w.r.t. the table; errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import torsh
from torsh.nn import functional as F

W = np.random.default_rng(0).standard_normal((10, 4))
FLAT = np.array([1, 2, 4, 5, 4, 3, 2, 9, 0, 0])
OFFSETS = np.array([0, 4, 4, 7])  # bag 1 is empty


def _check(input, offsets=None, **kw):
    psw = kw.pop("per_sample_weights", None)
    tw = torch.tensor(W, requires_grad=True)
    t_args = dict(offsets=None if offsets is None else torch.as_tensor(offsets))
    if psw is not None:
        t_args["per_sample_weights"] = torch.tensor(psw)
    ref = TF.embedding_bag(torch.as_tensor(input), tw, **t_args, **kw)
    cot = np.random.default_rng(1).standard_normal(ref.shape)
    (g_ref,) = torch.autograd.grad(ref, tw, torch.tensor(cot))
    with jax.enable_x64(True):
        out, vjp = jax.vjp(
            lambda w: F.embedding_bag(
                jnp.asarray(input),
                w,
                None if offsets is None else jnp.asarray(offsets),
                per_sample_weights=None if psw is None else jnp.asarray(psw),
                **kw,
            ),
            jnp.asarray(W),
        )
        np.testing.assert_allclose(np.asarray(out), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            np.asarray(vjp(jnp.asarray(cot))[0]), g_ref.numpy(), rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_equals_torch(mode):
    _check(FLAT, OFFSETS, mode=mode)
    _check(FLAT, np.array([0, 4, 4, 7, 10]), mode=mode, include_last_offset=True)
    _check(FLAT.reshape(2, 5), mode=mode)
    _check(FLAT, OFFSETS, mode=mode, padding_idx=4)
    _check(np.array([[4, 4], [1, 4]]), mode=mode, padding_idx=4)  # an all-padding bag gives zeros


def test_embedding_bag_per_sample_weights():
    _check(FLAT, OFFSETS, mode="sum", per_sample_weights=np.linspace(0.1, 1.0, FLAT.size))


def test_embedding_bag_errors():
    w = jnp.asarray(W, jnp.float32)
    with pytest.raises(torsh.errors.ConfigError, match="mode"):
        F.embedding_bag(jnp.array([[1, 2]]), w, mode="median")
    with pytest.raises(torsh.errors.ConfigError, match="offsets"):
        F.embedding_bag(jnp.array([1, 2]), w)
    with pytest.raises(torsh.errors.ConfigError, match="offsets must be None"):
        F.embedding_bag(jnp.array([[1, 2]]), w, jnp.array([0]))
    with pytest.raises(torsh.errors.ConfigError, match="per_sample_weights"):
        F.embedding_bag(jnp.array([[1, 2]]), w, per_sample_weights=jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="offsets must start at 0"):
        F.embedding_bag(jnp.array([1, 2, 3]), w, jnp.array([1, 2]))
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(jnp.array([[1, 12]]), w)
    with pytest.raises(torsh.errors.ConfigError, match="max_norm"):
        F.embedding_bag(jnp.array([[1, 2]]), w, max_norm=1.0)


def test_embedding_bag_module_equals_torch():
    from torsh import nn

    ref = torch.nn.EmbeddingBag(10, 4, mode="max", padding_idx=2)
    ours = nn.EmbeddingBag(10, 4, mode="max", padding_idx=2)
    assert float(jnp.abs(ours.weight[2]).sum()) == 0.0
    ours = ours.load_state_dict({"weight": ref.weight.detach().numpy()})
    out = ours(jnp.asarray(FLAT), jnp.asarray(OFFSETS))
    np.testing.assert_allclose(
        np.asarray(out), ref(torch.as_tensor(FLAT), torch.as_tensor(OFFSETS)).detach().numpy(), rtol=1e-6
    )
    with pytest.raises(torsh.errors.ConfigError, match="mode"):
        nn.EmbeddingBag(10, 4, mode="median")
