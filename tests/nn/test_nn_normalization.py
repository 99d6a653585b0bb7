"""BatchNorm, InstanceNorm, LayerNorm, RMSNorm, GroupNorm against PyTorch (train and eval mode)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import assert_close, compare_module, from_torch, torch_state
from hypothesis import given, settings
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError

# Batch statistics are sums over N*spatial elements; PyTorch's CPU kernel accumulates them in a
# different order (and its backward uses a fused formula), so gradients differ by a few float32 ulps
# times the reduction length: 1e-4 relative covers it for these sizes.
BN_GRAD_RTOL = 1e-4
BN_GRAD_ATOL = 1e-5

BN = {
    1: (torch.nn.BatchNorm1d, nn.BatchNorm1d),
    2: (torch.nn.BatchNorm2d, nn.BatchNorm2d),
    3: (torch.nn.BatchNorm3d, nn.BatchNorm3d),
}
SPATIAL = {1: [(), (4,)], 2: [(3, 2)], 3: [(2, 2, 2)]}


@settings(max_examples=examples(6))
@given(
    dims=st.sampled_from([(1, 0), (1, 1), (2, 0), (3, 0)]),
    n=st.integers(2, 4),
    c=st.integers(1, 3),
    momentum=st.sampled_from([0.1, 0.5, None]),
    affine=st.booleans(),
    track=st.booleans(),
    train=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_batchnorm_matches_torch(dims, n, c, momentum, affine, track, train, seed):
    d, s = dims
    t_cls, j_cls = BN[d]
    rng = np.random.default_rng(seed)
    t_mod = t_cls(c, momentum=momentum, affine=affine, track_running_stats=track)
    with torch.no_grad():  # non-trivial parameters and statistics
        if affine:
            t_mod.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, c)))
            t_mod.bias.copy_(torch.tensor(rng.standard_normal(c)))
        if track:
            t_mod.running_mean.copy_(torch.tensor(rng.standard_normal(c)))
            t_mod.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, c)))
            t_mod.num_batches_tracked.fill_(3)
    j_mod = j_cls(c, momentum=momentum, affine=affine, track_running_stats=track)
    for step in range(2):  # two steps: the cumulative average (momentum=None) depends on the count
        x = (rng.standard_normal((n, c, *SPATIAL[d][s])) * 2 + 1).astype(np.float32)
        j_mod = compare_module(
            t_mod, j_mod, [x], train=train, grad_rtol=BN_GRAD_RTOL, grad_atol=BN_GRAD_ATOL, seed=seed + step
        )


def test_batchnorm_running_stats_under_jit_in_sequential():
    torch.manual_seed(0)
    t_model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU())
    model = from_torch(t_model, nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU()))
    step = jax.jit(lambda m, x: nn.stateful(m)(x))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal((5, 3)).astype(np.float32)
        out, model = step(model, x)
        assert_close(out, t_model(torch.tensor(x)).detach().numpy(), what="output")
    for k, v in torch_state(t_model).items():
        assert_close(model.state_dict()[k], v, what=k)
    assert int(model[1].num_batches_tracked) == 3
    t_model.eval()
    x = rng.standard_normal((2, 3)).astype(np.float32)
    assert_close(model.eval()(x), t_model(torch.tensor(x)).detach().numpy(), what="eval output")


def test_batchnorm_shared_layer_updates_twice_in_order():
    t_bn = torch.nn.BatchNorm1d(2)
    bn = nn.BatchNorm1d(2)

    class Twice(nn.Module):
        bn: nn.BatchNorm1d

        def __init__(self, bn):
            self.bn = bn

        def forward(self, x):
            return self.bn(self.bn(x) * 2 + 1)

    x = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    expected = t_bn(t_bn(torch.tensor(x)) * 2 + 1).detach().numpy()
    out, twice = nn.stateful(Twice(bn))(x)
    assert_close(out, expected)
    for k, v in torch_state(t_bn).items():
        assert_close(twice.bn.state_dict()[k], v, what=k)


def test_batchnorm_train_mode_outside_stateful_explains_the_pattern():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with pytest.raises(ConfigError, match=r"1 \(BatchNorm1d 2\).*nn.stateful\(model\)"):
        model(np.ones((3, 2), np.float32))
    model.eval()(np.ones((3, 2), np.float32))  # eval mode needs nothing
    nn.BatchNorm1d(2, track_running_stats=False)(np.ones((3, 2), np.float32))  # nothing to update


def test_batchnorm_input_checks():
    bn = nn.BatchNorm2d(3)
    with pytest.raises(ShapeError, match=r"expected 4D input \(N, C, H, W\), got 3D"):
        nn.stateful(bn)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ShapeError, match="expected 3 channels"):
        nn.stateful(bn)(np.ones((2, 4, 2, 2), np.float32))
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        nn.stateful(nn.BatchNorm1d(3))(np.ones((1, 3), np.float32))
    with pytest.raises(ConfigError, match="momentum"):
        nn.BatchNorm1d(3, momentum=2.0)


def test_batchnorm_gradients_skip_buffers():
    import torsh

    bn = nn.BatchNorm1d(3)

    def loss(m, x):
        out, m = nn.stateful(m)(x)
        return (out * x).sum(), m

    grads, _ = torsh.grad(loss, has_aux=True)(
        bn, np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    )
    assert grads.running_mean is None and grads.running_var is None and grads.num_batches_tracked is None
    assert grads.weight.shape == (3,)


@settings(max_examples=examples(8))
@given(
    n=st.integers(1, 3),
    c=st.integers(1, 3),
    hw=st.sampled_from([(2, 3), (3, 3)]),
    affine=st.booleans(),
    track=st.booleans(),
    train=st.booleans(),
    unbatched=st.booleans(),
    momentum=st.sampled_from([0.1, None]),
    seed=st.integers(0, 1000),
)
def test_instancenorm2d_matches_torch(n, c, hw, affine, track, train, unbatched, momentum, seed):
    rng = np.random.default_rng(seed)
    t_mod = torch.nn.InstanceNorm2d(c, affine=affine, track_running_stats=track, momentum=momentum)
    with torch.no_grad():
        if affine:
            t_mod.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, c)))
            t_mod.bias.copy_(torch.tensor(rng.standard_normal(c)))
        if track:
            t_mod.running_mean.copy_(torch.tensor(rng.standard_normal(c)))
            t_mod.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, c)))
    shape = (c, *hw) if unbatched else (n, c, *hw)
    x = (rng.standard_normal(shape) * 3 - 1).astype(np.float32)
    j_mod = nn.InstanceNorm2d(c, affine=affine, track_running_stats=track, momentum=momentum)
    compare_module(t_mod, j_mod, [x], train=train, grad_rtol=BN_GRAD_RTOL, grad_atol=BN_GRAD_ATOL, seed=seed)


@settings(max_examples=examples(6))
@given(
    lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    affine=st.booleans(),
    bias=st.booleans(),
    eps=st.sampled_from([1e-5, 1e-3]),
    seed=st.integers(0, 1000),
)
def test_layernorm_matches_torch(lead, norm, affine, bias, eps, seed):
    rng = np.random.default_rng(seed)
    t_mod = torch.nn.LayerNorm(norm, eps=eps, elementwise_affine=affine, bias=bias)
    with torch.no_grad():
        if affine:
            t_mod.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, norm)))
            if bias:
                t_mod.bias.copy_(torch.tensor(rng.standard_normal(norm)))
    x = (rng.standard_normal((*lead, *norm)) * 2 + 0.5).astype(np.float32)
    j_mod = nn.LayerNorm(norm, eps=eps, elementwise_affine=affine, bias=bias)
    compare_module(t_mod, j_mod, [x], grad_rtol=BN_GRAD_RTOL, grad_atol=BN_GRAD_ATOL, seed=seed)


@settings(max_examples=examples(6))
@given(
    lead=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    norm=st.lists(st.integers(1, 4), min_size=1, max_size=2),
    affine=st.booleans(),
    eps=st.sampled_from([None, 1e-6]),
    seed=st.integers(0, 1000),
)
def test_rmsnorm_matches_torch(lead, norm, affine, eps, seed):
    rng = np.random.default_rng(seed)
    t_mod = torch.nn.RMSNorm(norm, eps=eps, elementwise_affine=affine)
    with torch.no_grad():
        if affine:
            t_mod.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, norm)))
    x = rng.standard_normal((*lead, *norm)).astype(np.float32)
    compare_module(
        t_mod,
        nn.RMSNorm(norm, eps=eps, elementwise_affine=affine),
        [x],
        grad_rtol=BN_GRAD_RTOL,
        grad_atol=BN_GRAD_ATOL,
        seed=seed,
    )


@settings(max_examples=examples(6))
@given(
    n=st.integers(1, 3),
    groups=st.sampled_from([1, 2, 3]),
    per=st.integers(1, 3),
    spatial=st.sampled_from([(), (3,), (2, 2)]),
    affine=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_groupnorm_matches_torch(n, groups, per, spatial, affine, seed):
    rng = np.random.default_rng(seed)
    c = groups * per
    if per * int(np.prod(spatial)) == 1:  # a group of one element has zero variance: skip the degenerate case
        spatial = (2,)
    t_mod = torch.nn.GroupNorm(groups, c, affine=affine)
    with torch.no_grad():
        if affine:
            t_mod.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, c)))
            t_mod.bias.copy_(torch.tensor(rng.standard_normal(c)))
    x = rng.standard_normal((n, c, *spatial)).astype(np.float32)
    compare_module(
        t_mod,
        nn.GroupNorm(groups, c, affine=affine),
        [x],
        grad_rtol=BN_GRAD_RTOL,
        grad_atol=BN_GRAD_ATOL,
        seed=seed,
    )


def test_norm_input_errors():
    with pytest.raises(ShapeError, match=r"expected input of shape \[\*, 4\]"):
        nn.LayerNorm(4)(np.ones((2, 3), np.float32))
    with pytest.raises(ShapeError, match=r"expected input \(N, 4, \*\)"):
        nn.GroupNorm(2, 4)(np.ones((2, 3), np.float32))
    with pytest.raises(ConfigError, match="divisible"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ShapeError, match="3D or 4D"):
        nn.InstanceNorm2d(2)(np.ones((2, 2), np.float32))


@settings(max_examples=examples(6))
@given(
    size=st.integers(2, 7),
    c=st.integers(1, 8),
    hw=st.sampled_from([(1, 1), (2, 3)]),
    params=st.sampled_from([(1e-4, 0.75, 1), (0.5, 0.75, 1.0), (2.0, 0.5, 2.0)]),
    seed=st.integers(0, 1000),
)
def test_cross_map_lrn2d_matches_torch(size, c, hw, params, seed):
    # outputs and PyTorch's gradients (its hand-written backward), quirky window included
    alpha, beta, k = params
    x = (np.random.default_rng(seed).standard_normal((2, c, *hw)) * 2).astype(np.float32)
    compare_module(
        torch.nn.CrossMapLRN2d(size, alpha, beta, k), nn.CrossMapLRN2d(size, alpha, beta, k), [x], seed=seed
    )


def _torch_lrn_f64(size, x, g, alpha=0.5, beta=0.75, k=1.0):
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.CrossMapLRN2d(size, alpha, beta, k)(xt)
    if size > 1:  # PyTorch's backward fails for size 1 (its buffer is too short)
        (out * torch.tensor(g)).sum().backward()
    return out.detach().numpy(), None if xt.grad is None else xt.grad.numpy()


def _check_fd(layer, x, g, gx, indices, eps=1e-6):
    """Central finite differences of ``sum(layer(x) * g)`` (float64) at ``indices`` equal ``gx``."""
    loss = jax.jit(lambda v: (layer(v) * g).sum())
    for idx in indices:
        d = np.zeros_like(x)
        d[idx] = eps
        fd = (float(loss(x + d)) - float(loss(x - d))) / (2 * eps)
        np.testing.assert_allclose(gx[idx], fd, rtol=1e-6, atol=1e-8, err_msg=str(idx))


@pytest.mark.parametrize("size", [1, 3, 4, 6])
def test_cross_map_lrn2d_f64(size, x64):
    rng = np.random.default_rng(size)
    x, g = rng.standard_normal((2, 7, 2, 2)), rng.standard_normal((2, 7, 2, 2))
    layer = nn.CrossMapLRN2d(size, alpha=0.5)
    out, vjp = jax.vjp(layer, jax.numpy.asarray(x))
    (gx,) = vjp(jax.numpy.asarray(g))
    t_out, t_gx = _torch_lrn_f64(size, x, g)
    np.testing.assert_allclose(out, t_out, rtol=1e-13, atol=1e-14)
    assert out.dtype == np.float64
    if t_gx is not None:
        np.testing.assert_allclose(gx, t_gx, rtol=1e-12, atol=1e-13)
    else:  # size 1: the exact derivative, against central finite differences
        _check_fd(layer, x, g, gx, [(1, 4, 0, 1), (0, 0, 1, 0), (1, 6, 1, 1)])


def test_cross_map_lrn2d_one_channel_gradient_is_exact(x64):
    # with one channel PyTorch's backward is the true derivative: ours equals finite differences there
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((1, 1, 2, 2)), rng.standard_normal((1, 1, 2, 2))
    layer = nn.CrossMapLRN2d(3, alpha=2.0)
    gx = jax.grad(lambda v: (layer(v) * g).sum())(jax.numpy.asarray(x))
    _check_fd(layer, x, g, gx, list(np.ndindex(x.shape)))


def test_cross_map_lrn2d_errors_and_repr():
    with pytest.raises(ShapeError, match="CrossMapLRN2d: expected 4D input"):
        nn.CrossMapLRN2d(3)(np.ones((2, 3, 4), np.float32))
    with pytest.raises(ConfigError, match="size"):
        nn.CrossMapLRN2d(0)
    with pytest.raises(DTypeError):
        nn.CrossMapLRN2d(3)(np.ones((1, 2, 2, 2), np.int32))
    assert repr(nn.CrossMapLRN2d(3)) == repr(torch.nn.CrossMapLRN2d(3))
    assert repr(nn.CrossMapLRN2d(3, 1e-3, 0.5, 2.5)) == repr(torch.nn.CrossMapLRN2d(3, 1e-3, 0.5, 2.5))
    assert nn.CrossMapLRN2d(3)(np.ones((0, 2, 2, 2), np.float32)).shape == (0, 2, 2, 2)
