"""Margin, ranking, embedding and likelihood losses against torch.nn.functional: values and gradients
(float32 and float64, every reduction), the module classes, and PyTorch's error cases."""

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

REDUCTIONS = ("none", "mean", "sum")
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _torsh_call(name, other_args, kwargs, *float_args):
    return getattr(F, name)(*float_args, *other_args, **kwargs)


@functools.partial(jax.jit, static_argnums=0)
def _value_and_vjp(fn, cot, *args):
    """One compiled program per case (eager op-by-op dispatch would compile every primitive apart)."""
    out, vjp = jax.vjp(fn, *args)
    return out, vjp(cot)


def _compare(name, float_args, other_args=(), dtype=np.float64, **kwargs):
    """Forward and gradients (w.r.t. every float argument) of F.<name> vs torch's, for every reduction.

    A keyword given as a pair ``(torsh_value, torch_value)`` differs between the two libraries.
    """
    tol = TOL[dtype]
    f_np = [np.asarray(a, dtype) for a in float_args]
    mine = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    theirs = {k: (v[1] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    mine = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in mine.items()}
    theirs = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in theirs.items()}
    # every reduction in float64; float32 (same code path, looser tolerance) on the unreduced loss
    for reduction in REDUCTIONS if dtype == np.float64 else ("none",):
        t_args = [torch.tensor(a, requires_grad=True) for a in f_np]
        t_out = getattr(TF, name)(
            *t_args, *[torch.as_tensor(o) for o in other_args], **theirs, reduction=reduction
        )

        o_args = [jnp.asarray(o) for o in other_args]
        ours = functools.partial(_torsh_call, name, o_args, {**mine, "reduction": reduction})

        j_args = [jnp.asarray(a) for a in f_np]
        cot = _rng(9).standard_normal(t_out.shape).astype(dtype)
        j_out, j_grads = _value_and_vjp(ours, jnp.asarray(cot), *j_args)
        np.testing.assert_allclose(
            np.asarray(j_out), t_out.detach().numpy(), **tol, err_msg=f"{name} {reduction}"
        )
        t_grads = torch.autograd.grad(t_out, t_args, torch.tensor(cot), allow_unused=True)
        for tg, jg in zip(t_grads, j_grads, strict=True):
            expected = np.zeros_like(np.asarray(jg)) if tg is None else tg.numpy()
            np.testing.assert_allclose(np.asarray(jg), expected, **tol, err_msg=f"{name} {reduction} grad")


@pytest.fixture(autouse=True, scope="module")
def _x64():
    with jax.enable_x64(True):
        yield


DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


@DTYPES
def test_margin_ranking_loss(dtype):
    r = _rng(1)
    y = np.where(r.random(7) > 0.5, 1.0, -1.0).astype(dtype)
    _compare("margin_ranking_loss", [r.standard_normal(7), r.standard_normal(7)], [y], dtype, margin=0.3)


@DTYPES
def test_hinge_soft_margin_and_multilabel_soft_margin(dtype):
    r = _rng(2)
    x = r.standard_normal((4, 5)) * 2
    y = np.where(r.random((4, 5)) > 0.5, 1, -1)
    _compare("hinge_embedding_loss", [np.abs(x)], [y], dtype, margin=0.7)
    _compare("soft_margin_loss", [x], [y.astype(dtype)], dtype)
    w = r.random(5).astype(dtype)
    _compare("multilabel_soft_margin_loss", [x], [(y > 0).astype(dtype), w], dtype)


@DTYPES
def test_cosine_embedding_loss(dtype):
    r = _rng(3)
    x1, x2 = r.standard_normal((6, 4)), r.standard_normal((6, 4))
    _compare("cosine_embedding_loss", [x1, x2], [np.array([1, -1, 1, -1, -1, 1])], dtype, margin=-0.2)
    _compare("cosine_embedding_loss", [x1[0], x2[0]], [np.array(-1)], dtype)  # 1-D inputs, 0-d target


@DTYPES
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss(p, dtype):
    r = _rng(4)
    x = r.standard_normal((5, 4))
    w = r.random(4).astype(dtype)
    _compare("multi_margin_loss", [x], [np.array([0, 3, 1, 1, 2])], dtype, p=p, margin=0.8, weight=w)
    _compare("multi_margin_loss", [x[0]], [np.array(2)], dtype)


@DTYPES
def test_multilabel_margin_loss(dtype):
    r = _rng(5)
    x = r.standard_normal((4, 5))
    # classes first, then -1 padding; entries after the first -1 are ignored; a repeated class counts
    t = np.array([[3, 0, -1, 1, 4], [1, 1, 2, -1, -1], [-1, 2, 3, 0, 0], [0, 1, 2, 3, 4]])
    _compare("multilabel_margin_loss", [x], [t], dtype)
    _compare("multilabel_margin_loss", [x[0]], [t[0]], dtype)


def _cos_distance(u, v):
    return 1 - F.cosine_similarity(u, v)


def _torch_cos_distance(u, v):
    return 1 - TF.cosine_similarity(u, v)


@DTYPES
@pytest.mark.parametrize("swap", [False, True])
def test_triplet_losses(swap, dtype):
    r = _rng(6)
    trip = [r.standard_normal((6, 3)) for _ in range(3)]
    _compare("triplet_margin_loss", trip, (), dtype, margin=1.5, p=3.0, swap=swap)
    dist = (_cos_distance, _torch_cos_distance)
    _compare("triplet_margin_with_distance_loss", trip, (), dtype, distance_function=dist, swap=swap)
    _compare("triplet_margin_with_distance_loss", trip, (), dtype)


@DTYPES
def test_gaussian_nll_loss(dtype):
    r = _rng(7)
    mean, target = r.standard_normal((4, 3)), r.standard_normal((4, 3)).astype(dtype)
    for var in (r.random((4, 3)), r.random(4), r.random((4, 1))):  # same shape, one short, broadcast
        var[0, ...] = 1e-9  # below eps: clamped, with the gradient passing through as in torch
        _compare("gaussian_nll_loss", [mean], [target, var.astype(dtype)], dtype, full=True)
        # the gradient w.r.t. var (an argument after target: differentiate through a wrapper)
        t_var = torch.tensor(var.astype(dtype), requires_grad=True)
        TF.gaussian_nll_loss(torch.tensor(mean.astype(dtype)), torch.tensor(target), t_var).backward()
        g = jax.grad(lambda v: F.gaussian_nll_loss(jnp.asarray(mean.astype(dtype)), jnp.asarray(target), v))(
            jnp.asarray(var.astype(dtype))
        )
        np.testing.assert_allclose(np.asarray(g), t_var.grad.numpy(), **TOL[dtype])
    _compare("gaussian_nll_loss", [mean], [target], dtype, var=0.5)  # a float variance


@DTYPES
@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_loss(log_input, dtype):
    r = _rng(8)
    x = r.standard_normal((3, 4)) if log_input else r.random((3, 4)) + 0.1
    counts = r.poisson(2.0, (3, 4)).astype(dtype)
    for full in (False, True):
        _compare("poisson_nll_loss", [x], [counts], dtype, log_input=log_input, full=full)


def test_losses_under_jit_equal_eager():
    r = _rng(10)
    x = jnp.asarray(r.standard_normal((4, 5)), jnp.float32)
    t = jnp.array([1, 0, 4, 2])
    eager = F.multi_margin_loss(x, t)
    np.testing.assert_allclose(jax.jit(F.multi_margin_loss)(x, t), eager, rtol=1e-6)


def test_errors_are_pytorchs():
    x = jnp.ones((2, 3))
    with pytest.raises(torsh.errors.ConfigError, match="reduction"):
        F.soft_margin_loss(x, x, reduction="avg")
    with pytest.raises(torsh.errors.ConfigError, match="p == 1 and p == 2"):
        F.multi_margin_loss(x, jnp.array([0, 1]), p=3)
    with pytest.raises(IndexError, match="out of range"):
        F.multi_margin_loss(x, jnp.array([0, 3]))
    with pytest.raises(IndexError, match="out of range"):
        F.multilabel_margin_loss(x, jnp.array([[0, 5, -1], [1, -1, -1]]))
    with pytest.raises(torsh.errors.ShapeError, match="same number of dimensions"):
        F.margin_ranking_loss(jnp.ones(3), jnp.ones((1, 3)), jnp.ones(3))
    with pytest.raises(torsh.errors.ShapeError, match="same number of dimensions"):
        F.triplet_margin_loss(jnp.ones((2, 3)), jnp.ones(3), jnp.ones((2, 3)))
    with pytest.raises(torsh.errors.ConfigError, match="margin must be greater than 0"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(torsh.errors.ShapeError, match="target"):
        F.cosine_embedding_loss(x, x, jnp.ones((2, 1)))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(torsh.errors.ShapeError, match="var of shape"):
        F.gaussian_nll_loss(x, x, jnp.ones((3,)))
    with pytest.raises(torsh.errors.ShapeError, match="shape"):
        F.poisson_nll_loss(x, jnp.ones(3))


MODULES = [
    ("MarginRankingLoss", dict(margin=0.2), 3),
    ("HingeEmbeddingLoss", dict(margin=0.5), 2),
    ("SoftMarginLoss", {}, 2),
    ("CosineEmbeddingLoss", dict(margin=0.1), 3),
    ("MultiMarginLoss", dict(p=2, margin=0.5), 2),
    ("MultiLabelMarginLoss", {}, 2),
    ("MultiLabelSoftMarginLoss", {}, 2),
    ("TripletMarginLoss", dict(margin=0.5, p=1.0, swap=True), 3),
    ("TripletMarginWithDistanceLoss", dict(margin=0.5), 3),
    ("GaussianNLLLoss", dict(full=True), 3),
    ("PoissonNLLLoss", dict(log_input=False, full=True), 2),
]


def _module_inputs(name, r):
    x1, x2, x3 = (r.standard_normal((4, 5)).astype(np.float32) for _ in range(3))
    sign = np.where(r.random(4) > 0.5, 1.0, -1.0).astype(np.float32)
    return {
        "MarginRankingLoss": (x1[:, 0], x2[:, 0], sign),
        "HingeEmbeddingLoss": (np.abs(x1), np.where(x2 > 0, 1.0, -1.0).astype(np.float32)),
        "SoftMarginLoss": (x1, np.where(x2 > 0, 1.0, -1.0).astype(np.float32)),
        "CosineEmbeddingLoss": (x1, x2, sign),
        "MultiMarginLoss": (x1, np.array([0, 4, 2, 1])),
        "MultiLabelMarginLoss": (x1, np.array([[0, 1, -1, 0, 0]] * 4)),
        "MultiLabelSoftMarginLoss": (x1, (x2 > 0).astype(np.float32)),
        "TripletMarginLoss": (x1, x2, x3),
        "TripletMarginWithDistanceLoss": (x1, x2, x3),
        "GaussianNLLLoss": (x1, x2, np.abs(x3) + 0.1),
        "PoissonNLLLoss": (np.abs(x1) + 0.1, np.round(np.abs(x2) * 3).astype(np.float32)),
    }[name]


@pytest.mark.parametrize("name,kwargs,n_args", MODULES, ids=[m[0] for m in MODULES])
def test_loss_modules_equal_torch(name, kwargs, n_args):
    args = _module_inputs(name, _rng(11))
    assert len(args) == n_args
    ours = getattr(nn, name)(**kwargs)
    theirs = getattr(torch.nn, name)(**kwargs)
    out = ours(*[jnp.asarray(a) for a in args])
    ref = theirs(*[torch.as_tensor(a) for a in args])
    np.testing.assert_allclose(np.asarray(out), ref.numpy(), rtol=1e-5, atol=1e-6)
    assert nn.__dict__[name].__name__ == name
