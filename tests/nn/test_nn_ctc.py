"""CTC loss against torch.nn.functional.ctc_loss: values and logits gradients (float32, float64), padded
and concatenated targets, unbatched inputs, repeated labels, impossible alignments, errors."""

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

T, N, C, S = 12, 3, 5, 4
TOL = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}


@pytest.fixture(autouse=True, scope="module")
def _x64():
    with jax.enable_x64(True):
        yield


def _case(seed=0):
    r = np.random.default_rng(seed)
    logits = r.standard_normal((T, N, C))
    targets = r.integers(1, C, (N, S))
    targets[1, 1] = targets[1, 0]  # a repeated label needs a blank between its two frames
    input_lengths = np.array([T, T - 3, 7])
    target_lengths = np.array([S, 3, 2])
    return logits, targets, input_lengths, target_lengths


def _torch(logits, targets, il, tl, dtype, **kw):
    lg = torch.tensor(logits.astype(dtype), requires_grad=True)
    loss = TF.ctc_loss(
        torch.log_softmax(lg, -1), torch.as_tensor(targets), torch.as_tensor(il), torch.as_tensor(tl), **kw
    )
    (g,) = torch.autograd.grad(loss.sum(), lg)
    return loss.detach().numpy(), g.numpy()


@jax.jit
def _ours_none(logits, targets, il, tl):
    return F.ctc_loss(jax.nn.log_softmax(logits, -1), targets, il, tl, reduction="none")


def _ours(logits, targets, il, tl, **kw):
    def f(lg):
        return F.ctc_loss(jax.nn.log_softmax(lg, -1), targets, il, tl, **kw)

    loss, vjp = jax.vjp(f, jnp.asarray(logits))
    return np.asarray(loss), np.asarray(vjp(jnp.ones_like(loss))[0])


@pytest.mark.parametrize(
    "reduction,dtype", [("none", np.float64), ("mean", np.float64), ("sum", np.float32)]
)  # 'sum' of the float32 per-sample losses and their gradients covers 'none' in float32
def test_ctc_equals_torch(reduction, dtype):
    logits, targets, il, tl = _case()
    logits = logits.astype(dtype)
    ref_loss, ref_grad = _torch(logits, targets, il, tl, dtype, reduction=reduction)
    loss, grad = _ours(logits, jnp.asarray(targets), jnp.asarray(il), jnp.asarray(tl), reduction=reduction)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    np.testing.assert_allclose(grad, ref_grad, **TOL[dtype])


def test_ctc_concatenated_targets_and_unbatched():
    logits, targets, il, tl = _case(1)
    flat = np.concatenate([targets[i, : tl[i]] for i in range(N)])
    ref, ref_grad = _torch(logits, flat, il, tl, np.float64, reduction="none")
    loss, grad = _ours(logits, jnp.asarray(flat), jnp.asarray(il), jnp.asarray(tl), reduction="none")
    np.testing.assert_allclose(loss, ref, rtol=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
    # unbatched (T, C) with (S,) targets and 0-d lengths
    ref1, _ = _torch(logits[:, 0], targets[0], np.array(il[0]), np.array(tl[0]), np.float64, reduction="none")
    one = F.ctc_loss(
        jax.nn.log_softmax(jnp.asarray(logits[:, 0]), -1),
        jnp.asarray(targets[0]),
        il[0],
        tl[0],
        reduction="none",
    )
    np.testing.assert_allclose(np.asarray(one), ref1, rtol=1e-10)


def test_ctc_under_jit_and_impossible_alignments():
    logits, targets, il, tl = _case(2)
    np.testing.assert_allclose(
        np.asarray(_ours_none(logits, targets, il, tl)),
        _torch(logits, targets, il, tl, np.float64, reduction="none")[0],
        rtol=1e-10,
    )
    # sample 2: 2 frames cannot hold 3 labels -> inf (torch too); zero_infinity -> 0 with zero gradient
    il_bad = np.array([T, T, 2])
    tl_bad = np.array([S, 3, 3])
    ref, _ = _torch(logits, targets, il_bad, tl_bad, np.float64, reduction="none")
    loss, _ = _ours(logits, jnp.asarray(targets), jnp.asarray(il_bad), jnp.asarray(tl_bad), reduction="none")
    assert np.isinf(ref[2]) and np.isinf(loss[2])
    np.testing.assert_allclose(loss[:2], ref[:2], rtol=1e-10)
    ref, ref_grad = _torch(logits, targets, il_bad, tl_bad, np.float64, reduction="mean", zero_infinity=True)
    loss, grad = _ours(
        logits,
        jnp.asarray(targets),
        jnp.asarray(il_bad),
        jnp.asarray(tl_bad),
        reduction="mean",
        zero_infinity=True,
    )
    np.testing.assert_allclose(loss, ref, rtol=1e-10)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-12)
    assert np.all(grad[:, 2] == 0)


def test_ctc_module_and_errors():
    logits, targets, il, tl = _case(3)
    lp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32), -1)
    ref = torch.nn.CTCLoss(blank=0)(
        torch.log_softmax(torch.tensor(logits, dtype=torch.float32), -1),
        torch.as_tensor(targets),
        torch.as_tensor(il),
        torch.as_tensor(tl),
    )
    np.testing.assert_allclose(float(nn.CTCLoss()(lp, targets, il, tl)), float(ref), rtol=1e-5)
    with pytest.raises(torsh.errors.ConfigError, match="blank"):
        F.ctc_loss(lp, targets, il, tl, blank=C)
    with pytest.raises(torsh.errors.ConfigError, match="reduction"):
        nn.CTCLoss(reduction="avg")
    with pytest.raises(ValueError, match="input_lengths"):
        F.ctc_loss(lp, targets, jnp.array([T + 1, 1, 1]), tl)
    with pytest.raises(ValueError, match="target_lengths"):
        F.ctc_loss(lp, targets, il, jnp.array([S + 1, 1, 1]))
    with pytest.raises(torsh.errors.ShapeError, match="one per sample"):
        F.ctc_loss(lp, targets, il[:2], tl)
    with pytest.raises(torsh.errors.DTypeError, match="integer targets"):
        F.ctc_loss(lp, jnp.asarray(targets, jnp.float32), il, tl)
