"""Fractional max pooling (F.fractional_max_pool2d/3d, nn.FractionalMaxPool2d/3d) against PyTorch.

With the same ``_random_samples`` the windows, values, indices and input gradients equal PyTorch's
exactly (max pooling picks, it does not round). Shapes are fixed per test so each dtype compiles once;
hypothesis varies the input values (with ties) and the samples.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DTypeError, ShapeError
from torsh.nn import functional as F

# 2D: kernel (2, 3) on 7x8 planes to 4x3 outputs; 3D: kernel 2 on 5x6x7 to 3x4x5 (3D needs out + k - 1 < in)
CASES = {
    2: dict(shape=(2, 3, 7, 8), kernel=(2, 3), out=(4, 3)),
    3: dict(shape=(2, 2, 5, 6, 7), kernel=(2, 2, 2), out=(3, 4, 5)),
}
TORCH_FN = {2: TF.fractional_max_pool2d, 3: TF.fractional_max_pool3d}
TORSH_FN = {2: F.fractional_max_pool2d, 3: F.fractional_max_pool3d}


@functools.cache
def _compiled(n: int):
    """values, indices and d sum(values * cot) / dx under one jit per (n, dtype)."""
    case = CASES[n]

    def run(x, u, cot):
        def loss(x):
            v, i = TORSH_FN[n](x, case["kernel"], case["out"], return_indices=True, _random_samples=u)
            return jnp.sum(v * cot), (v, i)

        (_, (v, i)), g = jax.value_and_grad(loss, has_aux=True)(x)
        return v, i, g

    return jax.jit(run)


def _example(n: int, seed: int, dtype: np.dtype):
    rng = np.random.default_rng(seed)
    case = CASES[n]
    # small integers make ties (the first maximum in row-major window order wins, as in PyTorch)
    x = (rng.integers(-3, 4, case["shape"]) + 0.25 * rng.standard_normal(case["shape"]).round(0)).astype(
        dtype
    )
    u = rng.random((case["shape"][0], case["shape"][1], n)).astype(dtype)
    cot = rng.standard_normal((*case["shape"][:2], *case["out"])).astype(dtype)
    return x, u, cot


def _torch(n: int, x: np.ndarray, u: np.ndarray, cot: np.ndarray):
    case = CASES[n]
    tx = torch.tensor(x, requires_grad=True)
    v, i = TORCH_FN[n](tx, case["kernel"], case["out"], return_indices=True, _random_samples=torch.tensor(u))
    (v * torch.tensor(cot)).sum().backward()
    return v.detach().numpy(), i.numpy(), tx.grad.numpy()


def _check(n: int, seed: int, dtype: np.dtype) -> None:
    x, u, cot = _example(n, seed, dtype)
    tv, ti, tg = _torch(n, x, u, cot)
    v, i, g = _compiled(n)(jnp.asarray(x), jnp.asarray(u), jnp.asarray(cot))
    assert v.dtype == dtype and g.dtype == dtype
    np.testing.assert_array_equal(np.asarray(v), tv)
    np.testing.assert_array_equal(np.asarray(i), ti)
    np.testing.assert_allclose(np.asarray(g), tg, rtol=1e-6 if dtype == np.float32 else 1e-12, atol=0)


@pytest.mark.parametrize("n", [2, 3])
@settings(max_examples=examples(4))
@given(seed=st.integers(0, 2**31 - 1))
def test_values_indices_gradients_equal_torch_float32(n, seed):
    _check(n, seed, np.dtype(np.float32))


@pytest.mark.parametrize("n", [2, 3])
@settings(max_examples=examples(3))
@given(seed=st.integers(0, 2**31 - 1))
def test_values_indices_gradients_equal_torch_float64(n, seed):
    with jax.enable_x64(True):
        _check(n, seed, np.dtype(np.float64))


@pytest.mark.parametrize(("in_size", "out", "k"), [(7, 4, 2), (23, 9, 3), (10, 2, 4), (5, 1, 2), (31, 30, 2)])
def test_intervals_are_torchs_formula(in_size, out, k):
    """Window starts equal ATen's generate_intervals (evaluated with numpy in float32) for many samples,
    including 0 and the largest float32 below 1; they stay inside the input and never step back."""
    from torsh.nn.functional._pooling import fractional_intervals

    f = np.float32
    u = np.concatenate([[0.0, np.nextafter(f(1), f(0))], np.random.default_rng(in_size).random(500)]).astype(
        f
    )
    got = np.asarray(jax.jit(fractional_intervals, static_argnums=(1, 2, 3))(jnp.asarray(u), in_size, out, k))
    alpha = f(in_size - k) / f(max(out - 1, 1))
    for row, ui in zip(got, u, strict=True):
        want = [int(f(f(i) + ui) * alpha) - int(ui * alpha) for i in range(out - 1)] + [in_size - k]
        assert row.tolist() == want
    assert got.min() >= 0 and got.max() <= in_size - k and (np.diff(got, axis=1) >= 0).all()


def test_unbatched_output_ratio_and_module_with_samples():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 9, 10)).astype(np.float32)
    u = rng.random((1, 3, 2)).astype(np.float32)
    tm = torch.nn.FractionalMaxPool2d(
        2, output_ratio=(0.5, 0.7), return_indices=True, _random_samples=torch.tensor(u)
    )
    tv, ti = tm(torch.tensor(x))
    pool = nn.FractionalMaxPool2d(
        2, output_ratio=(0.5, 0.7), return_indices=True, _random_samples=jnp.asarray(u)
    )
    v, i = pool(jnp.asarray(x))
    assert v.shape == (3, 4, 7)
    np.testing.assert_array_equal(np.asarray(v), tv.numpy())
    np.testing.assert_array_equal(np.asarray(i), ti.numpy())
    # the samples are a buffer, saved under torch's key
    assert list(pool.state_dict()) == list(tm.state_dict()) == ["_random_samples"]
    assert [n for n, _ in pool.named_parameters()] == []


def test_keys_draw_samples_reproducibly():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 4, 9, 9)), jnp.float32)
    pool = nn.FractionalMaxPool2d(2, output_size=4)  # alpha = 7/3: the steps depend on the samples
    k0, k1 = torsh.random.key(0), torsh.random.key(1)
    run = jax.jit(lambda m, x, k: m(x, key=k))
    a, b, c = run(pool, x, k0), run(pool, x, k0), run(pool, x, k1)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    # the key's samples are U[0, 1) of the input's dtype, used as _random_samples would be
    fixed = jax.jit(
        lambda x, k: F.fractional_max_pool2d(x, 2, 4, _random_samples=jax.random.uniform(k, (2, 4, 2)))
    )
    np.testing.assert_array_equal(np.asarray(a), np.asarray(fixed(x, k0)))
    # random in eval mode too (as in PyTorch); inside a model the key reaches it (shapes only: traced)
    model = nn.Sequential(nn.FractionalMaxPool2d(2, output_size=4)).eval()
    assert jax.eval_shape(lambda x, k: model(x, key=k), x, k0).shape == (2, 4, 4, 4)
    pool3 = nn.FractionalMaxPool3d(2, output_ratio=0.5, return_indices=True)
    y3 = jax.eval_shape(lambda x, k: pool3(x, key=k), jnp.ones((1, 2, 6, 6, 6)), k1)
    assert y3[0].shape == y3[1].shape == (1, 2, 3, 3, 3)


def test_errors():
    x = jnp.ones((1, 2, 5, 5))
    with pytest.raises(ConfigError, match=r"needs a PRNG key.*key=key.*_random_samples"):
        F.fractional_max_pool2d(x, 2, output_size=3)
    with pytest.raises(ConfigError, match=r"pool\(x, key=key\)"):
        nn.FractionalMaxPool2d(2, output_size=3)(x)
    with pytest.raises(ConfigError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2, key=torsh.random.key(0))
    with pytest.raises(ConfigError, match="either an output size, or a pooling ratio"):
        nn.FractionalMaxPool2d(2)
    with pytest.raises(ConfigError, match="only one of output_size and output_ratio"):
        nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5)
    with pytest.raises(ConfigError, match="between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.0)
    with pytest.raises(ConfigError, match="kernel_size must be positive"):
        nn.FractionalMaxPool3d(0, output_ratio=0.5)
    u = jnp.full((1, 2, 2), 0.5)
    jax.eval_shape(lambda x: F.fractional_max_pool2d(x, 2, 4, _random_samples=u), x)  # 4 + 2 - 1 <= 5 fits
    with pytest.raises(ShapeError, match="pool height 2 too large relative to input height 5"):
        F.fractional_max_pool2d(x, 2, output_size=5, _random_samples=u)
    u3 = jnp.full((1, 2, 3), 0.5)
    with pytest.raises(ShapeError, match="pool time 2 too large relative to input time 5"):  # torch's 3D rule
        F.fractional_max_pool3d(jnp.ones((1, 2, 5, 5, 5)), 2, output_size=4, _random_samples=u3)
    with pytest.raises(ShapeError, match=r"_random_samples of shape \[N >= 1, 2, 2\]"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=jnp.full((1, 3, 2), 0.5))
    with pytest.raises(ShapeError, match="3 dimensions"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=jnp.full((2, 2), 0.5))
    with pytest.raises(DTypeError, match="input's dtype"):
        F.fractional_max_pool2d(x, 2, output_size=3, _random_samples=jnp.full((1, 2, 2), 0.5, jnp.bfloat16))
    with pytest.raises(ShapeError, match="expected 3D"):
        F.fractional_max_pool2d(jnp.ones((5, 5)), 2, output_size=3, key=torsh.random.key(0))
    with pytest.raises(DTypeError):
        F.fractional_max_pool2d(jnp.ones((1, 5, 5), jnp.int32), 2, output_size=3, key=torsh.random.key(0))
