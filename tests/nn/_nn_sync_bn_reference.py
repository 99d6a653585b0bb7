"""PyTorch reference for synchronised BatchNorm: torch's BatchNorm on the concatenated global batch.

Shared by tests/nn/test_nn_sync_batchnorm.py (``vmap`` in process) and the 8-device subprocess
_nn_sync_bn_checks8.py (``shard_map`` / ``pmap``): a batch split into per-device shards along axis 0
must give exactly what torch.nn.BatchNorm*d gives on the whole batch (outputs, running statistics
after each step, and the gradients of ``sum(out * g)`` for input, weight and bias).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

TORCH_BN = {
    0: torch.nn.BatchNorm1d,
    1: torch.nn.BatchNorm1d,
    2: torch.nn.BatchNorm2d,
    3: torch.nn.BatchNorm3d,
}

# f32: the global sums are reduced in another order than PyTorch's CPU kernel (per device, then
# across devices), and its backward uses a fused formula: a few ulps times the reduction length.
TOLERANCES = {"float32": (1e-4, 1e-5), "float64": (1e-10, 1e-12)}


def torch_bn(spatial: int, c: int, momentum: float | None, dtype: str, seed: int) -> torch.nn.Module:
    """A torch BatchNorm (by number of spatial axes) with non-trivial weights and running statistics."""
    rng = np.random.default_rng(seed)
    t = TORCH_BN[spatial](c, momentum=momentum).to(getattr(torch, dtype))
    with torch.no_grad():
        t.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, c)))
        t.bias.copy_(torch.tensor(rng.standard_normal(c)))
        t.running_mean.copy_(torch.tensor(rng.standard_normal(c)))
        t.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, c)))
        t.num_batches_tracked.fill_(3)
    return t


def state(t: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in t.state_dict().items()}


def batches(
    n: int, c: int, spatial: int, steps: int, dtype: str, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` (input, cotangent) pairs of shape ``(n, c, 3, ...)``; the mean is offset from 0."""
    rng = np.random.default_rng(seed + 1)
    shape = (n, c) + (3,) * spatial
    return [
        ((rng.standard_normal(shape) * 2 + 3).astype(dtype), rng.standard_normal(shape).astype(dtype))
        for _ in range(steps)
    ]


def torch_steps(t: torch.nn.Module, data: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, Any]]:
    """Per training step: output, gradients of ``sum(out * g)`` and the state dict afterwards."""
    t.train()
    results = []
    for x, g in data:
        xt = torch.tensor(x, requires_grad=True)
        t.zero_grad()
        out = t(xt)
        (out * torch.tensor(g)).sum().backward()
        assert xt.grad is not None and t.weight.grad is not None and t.bias.grad is not None
        results.append(
            {
                "out": out.detach().numpy(),
                "input": xt.grad.numpy(),
                "weight": t.weight.grad.numpy().copy(),
                "bias": t.bias.grad.numpy().copy(),
                "state": state(t),
            }
        )
    return results


def compare(got: dict[str, Any], want: dict[str, Any], dtype: str, where: str) -> None:
    """Assert the torsh step ``got`` (same keys, numpy-convertible) equals torch's ``want``."""
    rtol, atol = TOLERANCES[dtype]
    for k in ("out", "input", "weight", "bias"):
        np.testing.assert_allclose(
            np.asarray(got[k], np.float64), want[k], rtol=rtol, atol=atol, err_msg=f"{where}: {k}"
        )
    for k, v in want["state"].items():
        np.testing.assert_allclose(
            np.asarray(got["state"][k], np.float64), v, rtol=rtol, atol=atol, err_msg=f"{where}: {k}"
        )
