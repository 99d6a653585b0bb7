"""Gradients of the functional forms against float64 finite differences (``jax.test_util.check_grads``),
an independent check of the hand-chosen formulas (kinks, clamps, stable forms)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from torsh.nn import functional as F


def _x(shape, seed=0, scale=1.0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape) * scale, jnp.float64)


CASES = {
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda: (_x((3, 4)), _x(4, 1) + 2, _x(4, 2))),
    "rms_norm": (lambda x, w: F.rms_norm(x, (4,), w, 1e-6), lambda: (_x((3, 4)), _x(4, 1) + 2)),
    "group_norm": (lambda x, w, b: F.group_norm(x, 2, w, b), lambda: (_x((2, 4, 3)), _x(4, 1) + 2, _x(4, 2))),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        lambda: (_x((5, 3)), _x(3, 1) + 2, _x(3, 2)),
    ),
    "instance_norm": (lambda x: F.instance_norm(x), lambda: (_x((2, 2, 3, 3)),)),
    "gelu": (lambda x: F.gelu(x), lambda: (_x((10,), scale=3),)),
    "gelu_tanh": (lambda x: F.gelu(x, "tanh"), lambda: (_x((10,), scale=3),)),
    "mish": (lambda x: F.mish(x), lambda: (_x((10,), scale=3),)),
    "softplus": (lambda x: F.softplus(x, 2.0, 5.0), lambda: (_x((10,), scale=2),)),
    "selu": (lambda x: F.selu(x), lambda: (_x((10,), scale=2),)),
    "log_softmax": (lambda x: F.log_softmax(x, 1), lambda: (_x((3, 5)),)),
    "cross_entropy_smooth_weighted": (
        lambda x: F.cross_entropy(
            x,
            jnp.array([0, 2, 1, 1]),
            jnp.array([0.5, 1.0, 2.0], jnp.float64),
            ignore_index=1,
            label_smoothing=0.2,
        ),
        lambda: (_x((4, 3)),),
    ),
    "cross_entropy_probs": (
        lambda x, p: F.cross_entropy(x, p, label_smoothing=0.1),
        lambda: (_x((4, 3)), jax.nn.softmax(_x((4, 3), 1))),
    ),
    "bce_logits_pos_weight": (
        lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=jnp.array([2.0, 0.5], jnp.float64)),
        lambda: (_x((3, 2), scale=3), jax.nn.sigmoid(_x((3, 2), 1))),
    ),
    "bce": (
        lambda p, y: F.binary_cross_entropy(p, y),
        lambda: (jax.nn.sigmoid(_x((3, 2))), jax.nn.sigmoid(_x((3, 2), 1))),
    ),
    "kl_div": (
        lambda x, y: F.kl_div(x, y, "batchmean"),
        lambda: (jax.nn.log_softmax(_x((3, 4))), jax.nn.softmax(_x((3, 4), 1))),
    ),
    "kl_div_log": (
        lambda x, y: F.kl_div(x, y, "sum", True),
        lambda: (jax.nn.log_softmax(_x((3, 4))), jax.nn.log_softmax(_x((3, 4), 1))),
    ),
    "smooth_l1": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), lambda: (_x((8,)), _x((8,), 1))),
    "huber": (lambda x, y: F.huber_loss(x, y, delta=0.5), lambda: (_x((8,)), _x((8,), 1))),
    "cosine_similarity": (lambda a, b: F.cosine_similarity(a, b, -1), lambda: (_x((3, 4)), _x((3, 4), 1))),
    "pairwise_distance_p3": (
        lambda a, b: F.pairwise_distance(a, b, 3.0),
        lambda: (_x((3, 4)), _x((3, 4), 1)),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradient_matches_finite_differences(name, x64):
    fn, make = CASES[name]
    args = make()
    assert all(a.dtype == jnp.float64 for a in args)
    check_grads(jax.jit(fn), args, order=1, modes=["rev"], atol=1e-6, rtol=1e-6)
