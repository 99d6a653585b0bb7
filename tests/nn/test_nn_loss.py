"""Losses and distances against PyTorch: values and gradients w.r.t. inputs (and targets where
PyTorch differentiates them), over reductions and options chosen by hypothesis."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _hypothesis_budget import examples
from _nn_reference import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F

# Losses reduce with sums whose order differs from PyTorch's CPU kernels; for these sizes the
# difference stays within a few ulps of the sum, which 1e-5 relative covers, except the weighted
# means (ratio of two sums), which get 2e-5.
RTOL = 2e-5
ATOL = 1e-6

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def check(j_fn, t_fn, inputs, diff=(0,), rtol=RTOL, atol=ATOL):
    """Compare value and the gradients (of sum(out * cot)) w.r.t. the inputs at positions ``diff``."""
    t_in = [torch.tensor(x, requires_grad=i in diff) for i, x in enumerate(inputs)]
    t_out = t_fn(*t_in)
    cot = np.random.default_rng(0).standard_normal(tuple(t_out.shape)).astype(np.float32)
    (t_out * torch.tensor(cot)).sum().backward()

    def f(*xs):
        return (j_fn(*xs) * cot).sum(), j_fn(*xs)

    (_, j_out), grads = jax.jit(jax.value_and_grad(f, argnums=diff, has_aux=True))(
        *[jnp.asarray(x) for x in inputs]
    )
    assert_close(j_out, t_out.detach().numpy(), rtol, atol, "value")
    for i, g in zip(diff, grads, strict=True):
        assert_close(g, t_in[i].grad.numpy(), rtol, atol, f"grad of argument {i}")


def _logits(rng, shape):
    return (rng.standard_normal(shape) * 2).astype(np.float32)


@settings(max_examples=examples(8))
@given(
    spatial=st.sampled_from([None, (), (3,), (2, 2)]),
    n=st.integers(1, 4),
    c=st.integers(2, 5),
    weighted=st.booleans(),
    ignore=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.1, 0.5]),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_cross_entropy_class_indices(spatial, n, c, weighted, ignore, smoothing, reduction, seed):
    rng = np.random.default_rng(seed)
    shape = (c,) if spatial is None else (n, c, *spatial)
    tshape = () if spatial is None else (n, *spatial)
    x = _logits(rng, shape)
    t = rng.integers(0, c, tshape).astype(np.int64)
    if ignore and t.size > 1:
        t.flat[0] = 1  # ignore one class value (keeps at least one target unless all equal 1)
    w = rng.uniform(0.2, 2.0, c).astype(np.float32) if weighted else None
    ii = 1 if ignore else -100
    if reduction == "mean" and ignore and np.all(t == ii):
        t.flat[-1] = 0  # an all-ignored mean is NaN in both; keep the comparison informative
    check(
        lambda x, t: F.cross_entropy(x, t, None if w is None else jnp.asarray(w), ii, reduction, smoothing),
        lambda x, t: TF.cross_entropy(
            x,
            t,
            None if w is None else torch.tensor(w),
            ignore_index=ii,
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        [x, t],
    )


@settings(max_examples=examples(5))
@given(
    spatial=st.sampled_from([None, (), (3,)]),
    n=st.integers(1, 3),
    c=st.integers(2, 4),
    weighted=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.2]),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_cross_entropy_probabilities(spatial, n, c, weighted, smoothing, reduction, seed):
    rng = np.random.default_rng(seed)
    shape = (c,) if spatial is None else (n, c, *spatial)
    x = _logits(rng, shape)
    p = rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c).astype(np.float32)
    p = np.moveaxis(
        p.reshape((*shape[:1], *shape[2:], c) if spatial is not None else (c,)),
        -1,
        0 if spatial is None else 1,
    )
    w = rng.uniform(0.2, 2.0, c).astype(np.float32) if weighted else None
    check(
        lambda x, p: F.cross_entropy(
            x, p, None if w is None else jnp.asarray(w), reduction=reduction, label_smoothing=smoothing
        ),
        lambda x, p: TF.cross_entropy(
            x, p, None if w is None else torch.tensor(w), reduction=reduction, label_smoothing=smoothing
        ),
        [x, np.ascontiguousarray(p)],
        diff=(0, 1),
    )


@settings(max_examples=examples(8))
@given(
    n=st.integers(1, 4),
    c=st.integers(2, 4),
    weighted=st.booleans(),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_nll_loss(n, c, weighted, reduction, seed):
    rng = np.random.default_rng(seed)
    x = np.log(rng.dirichlet(np.ones(c), size=n)).astype(np.float32)
    t = rng.integers(0, c, n).astype(np.int64)
    t[0] = -100
    if reduction == "mean" and n == 1:
        t[0] = 0
    w = rng.uniform(0.2, 2.0, c).astype(np.float32) if weighted else None
    check(
        lambda x, t: F.nll_loss(x, t, None if w is None else jnp.asarray(w), reduction=reduction),
        lambda x, t: TF.nll_loss(x, t, None if w is None else torch.tensor(w), reduction=reduction),
        [x, t],
    )


def test_nll_loss_all_ignored_mean_is_nan_like_torch():
    x = np.zeros((2, 3), np.float32)
    t = np.array([-100, -100])
    assert np.isnan(float(F.nll_loss(x, t))) and np.isnan(
        TF.nll_loss(torch.tensor(x), torch.tensor(t)).item()
    )


POINTWISE = [
    ("mse", lambda r: (lambda x, y: F.mse_loss(x, y, r), lambda x, y: TF.mse_loss(x, y, reduction=r))),
    ("l1", lambda r: (lambda x, y: F.l1_loss(x, y, r), lambda x, y: TF.l1_loss(x, y, reduction=r))),
    (
        "smooth_l1",
        lambda r: (
            lambda x, y: F.smooth_l1_loss(x, y, r, 0.5),
            lambda x, y: TF.smooth_l1_loss(x, y, reduction=r, beta=0.5),
        ),
    ),
    (
        "smooth_l1_b0",
        lambda r: (
            lambda x, y: F.smooth_l1_loss(x, y, r, 0.0),
            lambda x, y: TF.smooth_l1_loss(x, y, reduction=r, beta=0.0),
        ),
    ),
    (
        "huber",
        lambda r: (
            lambda x, y: F.huber_loss(x, y, r, 0.7),
            lambda x, y: TF.huber_loss(x, y, reduction=r, delta=0.7),
        ),
    ),
    (
        "bce_logits",
        lambda r: (
            lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction=r),
            lambda x, y: TF.binary_cross_entropy_with_logits(x, y, reduction=r),
        ),
    ),
    ("kl", lambda r: (lambda x, y: F.kl_div(x, y, r), lambda x, y: TF.kl_div(x, y, reduction=r))),
    (
        "kl_log",
        lambda r: (
            lambda x, y: F.kl_div(x, y, r, True),
            lambda x, y: TF.kl_div(x, y, reduction=r, log_target=True),
        ),
    ),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=examples(8))
@given(
    which=st.integers(0, len(POINTWISE) - 1),
    shape=st.sampled_from([(3,), (2, 3), (2, 2, 2)]),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_pointwise_losses(which, shape, reduction, seed):
    name, make = POINTWISE[which]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    if name == "bce_logits":
        y = rng.uniform(0, 1, shape).astype(np.float32)
    if name == "kl":
        x = np.log(rng.uniform(0.1, 1, shape)).astype(np.float32)
        y = rng.uniform(0, 1, shape).astype(np.float32)
        y.flat[0] = 0.0  # xlogy(0, 0) = 0
    j_fn, t_fn = make(reduction)
    check(j_fn, t_fn, [x, y], diff=(0, 1))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_batchmean(log_target):
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(4), 3)).astype(np.float32)
    y = rng.dirichlet(np.ones(4), 3).astype(np.float32)
    y = np.log(y) if log_target else y
    check(
        lambda x, y: F.kl_div(x, y, "batchmean", log_target),
        lambda x, y: TF.kl_div(x, y, reduction="batchmean", log_target=log_target),
        [x, y],
        diff=(0, 1),
    )


@settings(max_examples=examples(8))
@given(
    shape=st.sampled_from([(3,), (2, 3)]),
    weighted=st.booleans(),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_binary_cross_entropy(shape, weighted, reduction, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.02, 0.98, shape).astype(np.float32)
    y = rng.uniform(0, 1, shape).astype(np.float32)
    w = rng.uniform(0.5, 2, shape[-1:]).astype(np.float32) if weighted else None
    check(
        lambda p, y: F.binary_cross_entropy(p, y, None if w is None else jnp.asarray(w), reduction),
        lambda p, y: TF.binary_cross_entropy(
            p, y, None if w is None else torch.tensor(w), reduction=reduction
        ),
        [p, y],
    )


def test_binary_cross_entropy_clamps_log_like_torch():
    p = np.array([0.0, 1.0, 0.5], np.float32)
    y = np.array([1.0, 0.0, 1.0], np.float32)
    assert_close(
        F.binary_cross_entropy(p, y, reduction="none"),
        TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none").numpy(),
    )


@settings(max_examples=examples(8))
@given(
    shape=st.sampled_from([(4,), (2, 4)]),
    weighted=st.booleans(),
    pos=st.booleans(),
    reduction=REDUCTIONS,
    seed=st.integers(0, 1000),
)
def test_bce_with_logits_weights(shape, weighted, pos, reduction, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    y = rng.integers(0, 2, shape).astype(np.float32)
    w = rng.uniform(0.5, 2, shape).astype(np.float32) if weighted else None
    pw = rng.uniform(0.5, 3, shape[-1:]).astype(np.float32) if pos else None
    check(
        lambda x, y: F.binary_cross_entropy_with_logits(
            x, y, None if w is None else jnp.asarray(w), reduction, None if pw is None else jnp.asarray(pw)
        ),
        lambda x, y: TF.binary_cross_entropy_with_logits(
            x,
            y,
            None if w is None else torch.tensor(w),
            reduction=reduction,
            pos_weight=None if pw is None else torch.tensor(pw),
        ),
        [x, y],
        diff=(0, 1),
    )


@pytest.mark.parametrize("name", ["mse", "l1", "huber"])
def test_weighted_pointwise_losses(name):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((2, 3, 3)).astype(np.float32)
    w = rng.uniform(0.1, 2, (3, 3)).astype(np.float32)
    for r in ("mean", "sum", "none"):
        j = {
            "mse": F.mse_loss,
            "l1": F.l1_loss,
            "huber": lambda a, b, r, weight: F.huber_loss(a, b, r, 1.0, weight),
        }[name]
        t = {"mse": TF.mse_loss, "l1": TF.l1_loss, "huber": TF.huber_loss}[name]
        check(
            lambda a, b, j=j, r=r: j(a, b, r, weight=jnp.asarray(w)),
            lambda a, b, t=t, r=r: t(a, b, reduction=r, weight=torch.tensor(w)),
            [x, y],
        )


@settings(max_examples=examples(8))
@given(shape=st.sampled_from([(3, 4), (2, 3, 2)]), dim=st.sampled_from([0, 1, -1]), seed=st.integers(0, 1000))
def test_cosine_similarity(shape, dim, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, *shape)).astype(np.float32)
    check(
        lambda a, b: F.cosine_similarity(a, b, dim),
        lambda a, b: TF.cosine_similarity(a, b, dim),
        [a, b],
        diff=(0, 1),
    )


def test_cosine_similarity_broadcasts_and_clamps():
    a = np.zeros((1, 3), np.float32)
    b = np.ones((4, 3), np.float32)
    assert_close(F.cosine_similarity(a, b), TF.cosine_similarity(torch.tensor(a), torch.tensor(b)).numpy())


@settings(max_examples=examples(6))
@given(
    shape=st.sampled_from([(4,), (3, 4), (2, 2, 3)]),
    p=st.sampled_from([1.0, 2.0, 3.0, float("inf")]),
    keepdim=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_pairwise_distance(shape, p, keepdim, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((2, *shape)).astype(np.float32)
    check(
        lambda a, b: F.pairwise_distance(a, b, p, 1e-6, keepdim),
        lambda a, b: TF.pairwise_distance(a, b, p, 1e-6, keepdim),
        [a, b],
        diff=(0, 1),
    )


def test_loss_modules_match_functional_and_keep_weights_as_buffers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 2])
    w = np.array([1.0, 2.0, 0.5], np.float32)
    t_loss = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.1)
    j_loss = nn.CrossEntropyLoss(weight=np.zeros(3, np.float32), label_smoothing=0.1)
    j_loss = j_loss.load_state_dict({k: v.numpy() for k, v in t_loss.state_dict().items()})
    assert list(j_loss.state_dict()) == list(t_loss.state_dict()) == ["weight"]
    assert [n for n, _ in j_loss.named_buffers()] == ["weight"] and j_loss.num_parameters() == 0
    assert_close(j_loss(x, t), t_loss(torch.tensor(x), torch.tensor(t)).numpy())
    pairs = [
        (nn.MSELoss(), torch.nn.MSELoss()),
        (nn.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum")),
        (nn.SmoothL1Loss(beta=0.3), torch.nn.SmoothL1Loss(beta=0.3)),
        (nn.HuberLoss(delta=0.3), torch.nn.HuberLoss(delta=0.3)),
        (
            nn.BCEWithLogitsLoss(pos_weight=np.full(3, 2.0, np.float32)),
            torch.nn.BCEWithLogitsLoss(pos_weight=torch.full((3,), 2.0)),
        ),
        (nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0)),
        (nn.PairwiseDistance(p=1.0), torch.nn.PairwiseDistance(p=1.0)),
    ]
    y = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    for j, tm in pairs:
        assert_close(j(x, y), tm(torch.tensor(x), torch.tensor(y)).numpy(), what=type(j).__name__)
    assert_close(nn.NLLLoss()(x, t), torch.nn.NLLLoss()(torch.tensor(x), torch.tensor(t)).numpy())
    p = 1 / (1 + np.exp(-x))
    assert_close(nn.BCELoss()(p, y), torch.nn.BCELoss()(torch.tensor(p), torch.tensor(y)).numpy())
    lp = np.log(p)
    assert_close(
        nn.KLDivLoss(reduction="batchmean")(lp, y),
        torch.nn.KLDivLoss(reduction="batchmean")(torch.tensor(lp), torch.tensor(y)).numpy(),
    )


def test_loss_errors_are_explicit():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ShapeError, match=r"expected target of shape \[4\]"):
        F.cross_entropy(x, np.zeros((4, 1), np.int32))
    with pytest.raises(DTypeError, match="integer class indices"):
        F.nll_loss(x, np.zeros(4, np.float32))
    with pytest.raises(ShapeError, match="does not broadcast losses silently"):
        F.mse_loss(np.zeros((4, 1), np.float32), np.zeros(4, np.float32))
    with pytest.raises(ConfigError, match="reduction"):
        F.l1_loss(x, x, reduction="avg")
    with pytest.raises(ShapeError, match=r"weight of shape \[3\]"):
        F.cross_entropy(x, np.zeros(4, np.int32), weight=jnp.ones(4))
    with pytest.raises(ConfigError, match="label_smoothing"):
        F.cross_entropy(x, np.zeros(4, np.int32), label_smoothing=1.5)


# -- linear_cross_entropy / LinearCrossEntropyLoss -------------------------------------------------------
def _lce_case(seed: int, out_features: tuple[int, ...] = (), probabilities: bool = False):
    rng = np.random.default_rng(seed)
    n, d, c = 7, 5, 4
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((c, *out_features, d)).astype(np.float32)
    b = rng.standard_normal((c, *out_features)).astype(np.float32)
    if probabilities:
        t = rng.random((n, c, *out_features)).astype(np.float32)
        t = t / t.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, c, (n, *out_features))
        t.reshape(-1)[1] = 2  # the ignore_index used below
    cw = rng.random(c).astype(np.float32) + 0.5
    return x, w, b, t, cw


@settings(max_examples=examples(6))
@given(
    reduction=REDUCTIONS,
    kdim=st.booleans(),
    probabilities=st.booleans(),
    weighted=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.2]),
    chunk=st.sampled_from([None, 3]),
    seed=st.integers(0, 1000),
)
def test_linear_cross_entropy_equals_torch(reduction, kdim, probabilities, weighted, smoothing, chunk, seed):
    """Values and gradients w.r.t. input, linear weight and bias, with PyTorch's options (the chunked
    path against torch's chunked path where torch takes it, otherwise both fall back)."""
    x, w, b, t, cw = _lce_case(seed, (2,) if kdim else (), probabilities)
    ignore = None if probabilities else 2
    t_opts = None if chunk is None else torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    j_opts = None if chunk is None else nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    kw = dict(reduction=reduction, ignore_index=ignore, label_smoothing=smoothing)
    tw = torch.tensor(cw) if weighted else None
    jw = jnp.asarray(cw) if weighted else None
    jt = jnp.asarray(t) if probabilities else jnp.asarray(t, jnp.int32)
    falls_back = chunk is not None and (kdim or probabilities or smoothing > 0)
    with pytest.warns(UserWarning, match="options") if falls_back else contextlib.nullcontext():
        check(
            lambda x, w, b: F.linear_cross_entropy(x, w, jt, linear_bias=b, weight=jw, options=j_opts, **kw),
            lambda x, w, b: TF.linear_cross_entropy(
                x, w, torch.tensor(t), linear_bias=b, weight=tw, options=t_opts, **kw
            ),
            [x, w, b],
            diff=(0, 1, 2),
        )


def test_linear_cross_entropy_chunks_unbatched_and_memory_path():
    """Unbatched input; chunk sizes that do not divide the batch; aspect-ratio chunk sizes as torch's."""
    x, w, b, t, cw = _lce_case(3)
    ref = F.linear_cross_entropy(jnp.asarray(x), jnp.asarray(w), jnp.asarray(t, jnp.int32), reduction="none")
    for chunk in (2, 100):  # 4 chunks, the last padded; one chunk larger than the batch
        opts = nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
        got = F.linear_cross_entropy(
            jnp.asarray(x), jnp.asarray(w), jnp.asarray(t, jnp.int32), reduction="none", options=opts
        )
        assert_close(got, ref.tolist())
    one = F.linear_cross_entropy(
        jnp.asarray(x[0]),
        jnp.asarray(w),
        jnp.asarray(t[0], jnp.int32),
        options=nn.LinearCrossEntropyOptions(),
    )
    expect = TF.linear_cross_entropy(torch.tensor(x[0]), torch.tensor(w), torch.tensor(t[0]))
    assert one.shape == () and abs(float(one) - expect.item()) < 1e-5
    for method in ("auto", "aspect_ratio", "aspect_ratio:4"):
        for n, d, c in [(64, 8, 100), (5, 3, 1000), (1000, 16, 32)]:
            mine = nn.LinearCrossEntropyOptions(chunking_method=method).chunk_size(n, d, c)
            theirs = torch.nn.LinearCrossEntropyOptions(chunking_method=method)._adjust(
                num_batches=n, in_features=d, num_classes=c, dtype=torch.float32, device=None
            )
            assert mine == theirs.batch_chunk_size, (method, n, d, c)


def test_linear_cross_entropy_loss_module_equals_torch():
    torch.manual_seed(0)
    t_mod = torch.nn.LinearCrossEntropyLoss(5, 4, out_features=(2,), bias=True, weight=torch.rand(4) + 0.5)
    j_mod = nn.LinearCrossEntropyLoss(5, 4, out_features=(2,), bias=True, weight=jnp.ones(4), key=0)
    assert list(j_mod.state_dict()) == list(t_mod.state_dict()) == ["weight", "linear.weight", "linear.bias"]
    j_mod = j_mod.load_state_dict({k: v.numpy() for k, v in t_mod.state_dict().items()})
    x, _, _, t, _ = _lce_case(5, (2,))
    tx = torch.tensor(x, requires_grad=True)
    t_mod(tx, torch.tensor(t)).backward()
    loss, grads = jax.jit(jax.value_and_grad(lambda m, x: m(x, jnp.asarray(t, jnp.int32)), argnums=(0, 1)))(
        j_mod, jnp.asarray(x)
    )
    assert_close(loss, t_mod(torch.tensor(x), torch.tensor(t)).item(), rtol=RTOL)
    assert_close(grads[1], tx.grad.numpy(), rtol=RTOL)
    assert_close(grads[0].linear.weight, t_mod.linear.weight.grad.numpy(), rtol=RTOL)
    assert_close(grads[0].linear.bias, t_mod.linear.bias.grad.numpy(), rtol=RTOL)
    assert [n for n, _ in j_mod.named_parameters()] == ["linear.weight", "linear.bias"]


def test_linear_cross_entropy_errors():
    x, w = jnp.ones((3, 4)), jnp.ones((5, 4))
    y = jnp.zeros(3, jnp.int32)
    with pytest.raises(ShapeError, match="dimensionality 1 or 2"):
        F.linear_cross_entropy(jnp.ones((2, 3, 4)), w, y)
    with pytest.raises(ShapeError, match="at least 2"):
        F.linear_cross_entropy(x, jnp.ones(4), y)
    with pytest.raises(ShapeError, match="in_features"):
        F.linear_cross_entropy(x, jnp.ones((5, 3)), y)
    with pytest.raises(ShapeError, match="linear_bias"):
        F.linear_cross_entropy(x, w, y, linear_bias=jnp.ones(4))
    with pytest.raises(ShapeError, match="batched input"):
        F.linear_cross_entropy(jnp.ones(4), jnp.ones((5, 2, 4)), jnp.zeros(2, jnp.int32))
    with pytest.raises(ConfigError, match="ignore_index cannot be specified"):
        F.linear_cross_entropy(x, w, jnp.full((3, 5), 0.2), ignore_index=0)
    with pytest.raises(ConfigError, match="options must be"):
        F.linear_cross_entropy(x, w, y, options={"batch_chunk_size": 2})
    with pytest.raises(ConfigError, match="batch_chunk_size"):
        nn.LinearCrossEntropyOptions(batch_chunk_size=0)
    with pytest.raises(ConfigError, match="chunking_method"):
        nn.LinearCrossEntropyOptions(chunking_method="rows")
    with pytest.raises(ConfigError, match="acc_policy"):
        nn.LinearCrossEntropyOptions(acc_policy="fast")
    with pytest.raises(ConfigError, match="give different chunk sizes"):
        nn.LinearCrossEntropyOptions(batch_chunk_size=3, chunking_method="aspect_ratio").chunk_size(
            64, 8, 100
        )
    with pytest.raises(ShapeError, match="weight shape"):
        nn.LinearCrossEntropyLoss(4, 5, weight=jnp.ones(3))
    with pytest.raises(ConfigError, match="label_smoothing"):
        nn.LinearCrossEntropyLoss(4, 5, label_smoothing=1.5)
    from torsh.nn import IndexOutOfRangeError

    with pytest.raises(IndexOutOfRangeError):  # checked eagerly on the chunked path too
        F.linear_cross_entropy(x, w, jnp.array([0, 5, 1]), options=nn.LinearCrossEntropyOptions())
