"""bfloat16/float16 forward passes run, keep their dtype, and stay within dtype tolerance of float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import torsh
from torsh import nn
from torsh.nn import functional as F

# Tolerance relative to the output's scale: a few units of each format's epsilon (bf16: 2^-8 with 8
# bits of mantissa, f16: 2^-11), allowing for the rounding of inputs, weights and a short reduction.
TOL = {jnp.bfloat16: 4e-2, jnp.float16: 5e-3}

LAYERS = {
    "linear": (lambda: nn.Linear(16, 8, key=torsh.random.key(0)), (4, 16)),
    "layernorm": (lambda: nn.LayerNorm(16), (4, 16)),
    "rmsnorm": (lambda: nn.RMSNorm(16), (4, 16)),
    "groupnorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "batchnorm_eval": (lambda: nn.BatchNorm2d(4).eval(), (2, 4, 3, 3)),
    "batchnorm_train": (lambda: nn.BatchNorm2d(4), (2, 4, 3, 3)),
    "instancenorm": (lambda: nn.InstanceNorm2d(4, affine=True), (2, 4, 3, 3)),
    "gelu": (lambda: nn.GELU(), (4, 16)),
    "gelu_tanh": (lambda: nn.GELU("tanh"), (4, 16)),
    "silu": (lambda: nn.SiLU(), (4, 16)),
    "mish": (lambda: nn.Mish(), (4, 16)),
    "softplus": (lambda: nn.Softplus(), (4, 16)),
    "elu": (lambda: nn.ELU(), (4, 16)),
    "selu": (lambda: nn.SELU(), (4, 16)),
    "hardswish": (lambda: nn.Hardswish(), (4, 16)),
    "softmax": (lambda: nn.Softmax(-1), (4, 16)),
    "logsoftmax": (lambda: nn.LogSoftmax(-1), (4, 16)),
    "mlp": (
        lambda: nn.Sequential(
            nn.Linear(16, 32, key=torsh.random.key(1)),
            nn.GELU(),
            nn.LayerNorm(32),
            nn.Linear(32, 4, key=torsh.random.key(2)),
        ),
        (8, 16),
    ),
}


def _close(low, ref, tol, what):
    low = np.asarray(low.astype(jnp.float32))
    ref = np.asarray(ref)
    scale = np.abs(ref).max() + 1e-6
    assert np.isfinite(low).all(), what
    np.testing.assert_allclose(low, ref, rtol=tol, atol=tol * scale, err_msg=what)


def _run_all(models, xs):
    return {name: nn.stateful(m)(xs[name]) for name, m in models.items()}


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_half_precision_forward(dtype):
    # All layers in one jitted call: one compilation per dtype instead of one per layer.
    models = {name: make() for name, (make, _) in LAYERS.items()}
    xs = {name: jax.random.normal(torsh.random.key(3), shape) * 2 for name, (_, shape) in LAYERS.items()}
    ref = jax.jit(_run_all)(models, xs)
    low = jax.jit(_run_all)(
        {k: m.to(dtype) for k, m in models.items()}, {k: x.astype(dtype) for k, x in xs.items()}
    )
    for name in LAYERS:
        (out_ref, new_ref), (out_low, new_low) = ref[name], low[name]
        assert out_low.dtype == dtype, name
        _close(out_low, out_ref, TOL[dtype], name)
        for (k, a), b in zip(new_low.state_dict().items(), new_ref.state_dict().values(), strict=True):
            if jnp.issubdtype(a.dtype, jnp.floating):
                assert a.dtype == dtype, f"{name} {k}"
                _close(a, b, TOL[dtype], f"{name} {k}")


def _embedding_and_losses(emb, idx, logits, target, y, t):
    return {
        "embedding": emb(idx),
        "cross_entropy": F.cross_entropy(logits, target, label_smoothing=0.1),
        "mse": F.mse_loss(logits, y),
        "bce_logits": F.binary_cross_entropy_with_logits(logits, t),
        "bce": F.binary_cross_entropy(jax.nn.sigmoid(logits), t),
        "kl": F.kl_div(jax.nn.log_softmax(logits, -1), jax.nn.softmax(y, -1), "batchmean"),
    }


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16], ids=["bf16", "f16"])
def test_half_precision_embedding_and_losses(dtype):
    emb = nn.Embedding(10, 4, key=torsh.random.key(0))
    idx = jnp.array([[1, 2], [3, 9]])
    logits = jax.random.normal(torsh.random.key(1), (6, 5)) * 3
    target = jnp.array([0, 1, 2, 3, 4, 0])
    y = jax.random.normal(torsh.random.key(2), (6, 5))
    t = (y > 0).astype(jnp.float32)
    f = jax.jit(_embedding_and_losses)
    ref = f(emb, idx, logits, target, y, t)
    low = f(emb.to(dtype), idx, logits.astype(dtype), target, y.astype(dtype), t.astype(dtype))
    for name, value in low.items():
        assert value.dtype == dtype, name
        _close(value, ref[name], TOL[dtype], name)
