"""Forward + backward per layer family: torsh under ``jax.jit`` vs hand-written JAX vs PyTorch eager.

Each family builds the same computation three ways, with the same shapes:

* **torsh**: a ``torsh.nn`` module, ``jax.jit(torsh.value_and_grad(loss))`` over the module (modules
  with buffers go through ``nn.stateful``);
* **jax**: the same math written by hand on a dict of arrays, ``jax.jit(jax.value_and_grad(loss))``;
* **torch**: the PyTorch module, eager ``loss.backward()`` (CPU, default threads).

The loss is ``sum(output * cotangent)`` (or the loss itself for loss families), so the backward pass
computes gradients for every parameter and the input. Candidates run interleaved in one process;
the table prints the median µs per step and ratios to hand-written JAX and to PyTorch.

Run:  python benchmarks/layers.py [--rounds 7] [--only mlp,layernorm]

Convolution and pooling families are registered by ``benchmarks/layers_conv.py``-style additions in
the ``FAMILIES`` table below (see "conv families" marker).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved

import torsh
from torsh import nn
from torsh.nn import functional as F

Family = Callable[[], tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]]]
FAMILIES: dict[str, Family] = {}

BATCH, WIDTH = 128, 512


def family(name: str) -> Callable[[Family], Family]:
    def register(fn: Family) -> Family:
        FAMILIES[name] = fn
        return fn

    return register


def _np(shape: tuple[int, ...], seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def _torsh_step(
    model: nn.Module, inputs: tuple, cot: np.ndarray | None, stateful: bool = False
) -> Callable[[], Any]:
    cot = None if cot is None else jnp.asarray(cot)

    def loss(m: nn.Module, *xs: Any) -> Any:
        # Only a stateful step returns the (updated) module; returning an unchanged module would
        # copy every parameter into a new output buffer per call.
        out, new = nn.stateful(m)(*xs) if stateful else (m(*xs), None)
        value = out.sum() if cot is None else (out * cot).sum()
        return value, new

    argnums = (0, *(i + 1 for i, x in enumerate(inputs) if jnp.issubdtype(x.dtype, jnp.floating)))
    step = jax.jit(torsh.value_and_grad(loss, argnums=argnums, has_aux=True))
    xs = tuple(jnp.asarray(x) for x in inputs)
    return lambda: step(model, *xs)


def _jax_step(
    fn: Callable[..., Any], params: dict, inputs: tuple, cot: np.ndarray | None, aux: bool = False
) -> Callable[[], Any]:
    """``fn(params, *inputs)`` returns the output (or ``(output, aux)`` with ``aux=True``)."""
    cot = None if cot is None else jnp.asarray(cot)

    def loss(p: dict, *xs: Any) -> Any:
        out, extra = fn(p, *xs) if aux else (fn(p, *xs), None)
        return (out.sum() if cot is None else (out * cot).sum()), extra

    argnums = (0, *(i + 1 for i, x in enumerate(inputs) if jnp.issubdtype(x.dtype, jnp.floating)))
    step = jax.jit(jax.value_and_grad(loss, argnums=argnums, has_aux=True))
    xs = tuple(jnp.asarray(x) for x in inputs)
    params = {k: jnp.asarray(v) for k, v in params.items()}
    return lambda: step(params, *xs)


def _torch_step(module: torch.nn.Module, inputs: tuple, cot: np.ndarray | None) -> Callable[[], Any]:
    xs = [torch.tensor(x, requires_grad=np.issubdtype(x.dtype, np.floating)) for x in inputs]
    c = None if cot is None else torch.tensor(cot)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        for x in xs:
            x.grad = None
        out = module(*xs)
        (out.sum() if c is None else (out * c).sum()).backward()

    return step


def _params(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


# -- families -------------------------------------------------------------------------------------
@family("mlp (3x Linear 512 + GELU)")
def mlp() -> tuple:
    t = torch.nn.Sequential(
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.GELU(),
        torch.nn.Linear(WIDTH, WIDTH),
        torch.nn.GELU(),
        torch.nn.Linear(WIDTH, 10),
    )
    j = nn.Sequential(
        nn.Linear(WIDTH, WIDTH), nn.GELU(), nn.Linear(WIDTH, WIDTH), nn.GELU(), nn.Linear(WIDTH, 10)
    )
    j = j.load_state_dict(_params(t))
    x, cot = _np((BATCH, WIDTH)), _np((BATCH, 10), 1)

    def hand(p: dict, x: jax.Array) -> jax.Array:
        for i in (0, 2):
            x = jax.nn.gelu(x @ p[f"{i}.weight"].T + p[f"{i}.bias"], approximate=False)
        return x @ p["4.weight"].T + p["4.bias"]

    return _torsh_step(j, (x,), cot), _jax_step(hand, _params(t), (x,), cot), _torch_step(t, (x,), cot)


@family("layernorm 512")
def layernorm() -> tuple:
    t = torch.nn.LayerNorm(WIDTH)
    j = nn.LayerNorm(WIDTH).load_state_dict(_params(t))
    x, cot = _np((BATCH * 8, WIDTH)), _np((BATCH * 8, WIDTH), 1)

    def hand(p: dict, x: jax.Array) -> jax.Array:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["weight"] + p["bias"]

    return _torsh_step(j, (x,), cot), _jax_step(hand, _params(t), (x,), cot), _torch_step(t, (x,), cot)


@family("rmsnorm 512")
def rmsnorm() -> tuple:
    t = torch.nn.RMSNorm(WIDTH)
    j = nn.RMSNorm(WIDTH).load_state_dict(_params(t))
    x, cot = _np((BATCH * 8, WIDTH)), _np((BATCH * 8, WIDTH), 1)
    eps = float(jnp.finfo(jnp.float32).eps)

    def hand(p: dict, x: jax.Array) -> jax.Array:
        return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + eps) * p["weight"]

    return _torsh_step(j, (x,), cot), _jax_step(hand, _params(t), (x,), cot), _torch_step(t, (x,), cot)


@family("batchnorm1d 512 (train, running stats)")
def batchnorm() -> tuple:
    t = torch.nn.BatchNorm1d(WIDTH)
    j = nn.BatchNorm1d(WIDTH).load_state_dict(_params(t))
    x, cot = _np((BATCH, WIDTH)), _np((BATCH, WIDTH), 1)

    def hand(p: dict, x: jax.Array) -> tuple:  # returns the updated statistics, as torsh does
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)
        n = x.shape[0]
        stats = {
            "running_mean": 0.9 * p["running_mean"] + 0.1 * jax.lax.stop_gradient(mean),
            "running_var": 0.9 * p["running_var"] + 0.1 * jax.lax.stop_gradient(var) * n / (n - 1),
            "num_batches_tracked": p["num_batches_tracked"] + 1,
        }
        return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p["weight"] + p["bias"], stats

    params = _params(t)
    params["num_batches_tracked"] = params["num_batches_tracked"].astype(
        np.float32
    )  # a float leaf for jax.grad
    return (
        _torsh_step(j, (x,), cot, stateful=True),
        _jax_step(hand, params, (x,), cot, aux=True),
        _torch_step(t, (x,), cot),
    )


@family("groupnorm 32x512 (N,C,L)")
def groupnorm() -> tuple:
    t = torch.nn.GroupNorm(32, WIDTH)
    j = nn.GroupNorm(32, WIDTH).load_state_dict(_params(t))
    x, cot = _np((32, WIDTH, 16)), _np((32, WIDTH, 16), 1)

    def hand(p: dict, x: jax.Array) -> jax.Array:
        g = x.reshape(32, 32, -1)
        mean = g.mean(-1, keepdims=True)
        var = ((g - mean) ** 2).mean(-1, keepdims=True)
        y = ((g - mean) * jax.lax.rsqrt(var + 1e-5)).reshape(x.shape)
        return y * p["weight"][:, None] + p["bias"][:, None]

    return _torsh_step(j, (x,), cot), _jax_step(hand, _params(t), (x,), cot), _torch_step(t, (x,), cot)


@family("embedding 32000x512 (padding_idx)")
def embedding() -> tuple:
    t = torch.nn.Embedding(32000, WIDTH, padding_idx=0)
    j = nn.Embedding(32000, WIDTH, padding_idx=0).load_state_dict(_params(t))
    idx = np.random.default_rng(0).integers(0, 32000, (BATCH, 16)).astype(np.int32)
    cot = _np((BATCH, 16, WIDTH), 1)

    def hand(p: dict, i: jax.Array) -> jax.Array:
        out = jnp.take(p["weight"], i, axis=0)
        return jnp.where((i == 0)[..., None], jax.lax.stop_gradient(out), out)

    return (
        _torsh_step(j, (idx,), cot),
        _jax_step(hand, _params(t), (idx,), cot),
        _torch_step(t, (idx.astype(np.int64),), cot),
    )


@family("activations (GELU tanh, SiLU, Mish, Softplus)")
def activations() -> tuple:
    t = torch.nn.Sequential(torch.nn.GELU("tanh"), torch.nn.SiLU(), torch.nn.Mish(), torch.nn.Softplus())
    j = nn.Sequential(nn.GELU("tanh"), nn.SiLU(), nn.Mish(), nn.Softplus())
    x, cot = _np((BATCH * 8, WIDTH)), _np((BATCH * 8, WIDTH), 1)

    def hand(p: dict, x: jax.Array) -> jax.Array:
        x = jax.nn.gelu(x, approximate=True)
        x = jax.nn.silu(x)
        x = x * jnp.tanh(jax.nn.softplus(x))
        return jax.nn.softplus(x)

    return _torsh_step(j, (x,), cot), _jax_step(hand, {}, (x,), cot), _torch_step(t, (x,), cot)


@family("cross_entropy 1024x1000 (label_smoothing)")
def cross_entropy() -> tuple:
    logits = _np((1024, 1000), scale=2.0)
    target = np.random.default_rng(1).integers(0, 1000, 1024).astype(np.int32)

    class Loss(nn.Module):
        def forward(self, x: jax.Array, y: jax.Array) -> jax.Array:
            return F.cross_entropy(x, y, label_smoothing=0.1)

    class TLoss(torch.nn.Module):
        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.cross_entropy(x, y, label_smoothing=0.1)

    def hand(p: dict, x: jax.Array, y: jax.Array) -> jax.Array:
        logp = jax.nn.log_softmax(x, -1)
        nll = -jnp.take_along_axis(logp, y[:, None], -1)[:, 0]
        return (0.9 * nll - 0.1 * logp.mean(-1)).mean()

    return (
        _torsh_step(Loss(), (logits, target), None),
        _jax_step(hand, {}, (logits, target), None),
        _torch_step(TLoss(), (logits, target.astype(np.int64)), None),
    )


# -- conv families ----------------------------------------------------------------------------------
# Convolution / pooling families (conv engineer): register with @family("conv2d ...") here, returning
# (torsh_step, jax_step, torch_step) built with the helpers above.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated substrings of family names")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="torch intra-op threads (0: PyTorch's default); OpenMP spin-waiting makes "
        "PyTorch very slow on an oversubscribed machine, where 1 is fairer",
    )
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    torsh.manual_seed(0)
    torch.manual_seed(0)
    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs"
    )
    print(
        f"\n{'family':<46} {'torsh µs':>10} {'jax µs':>10} {'torch µs':>10} "
        f"{'torsh/jax':>10} {'torsh/torch':>12}"
    )
    for name, build in FAMILIES.items():
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        t_step, j_step, p_step = build()
        probe = interleaved({"x": t_step}, calls=1, rounds=1)["x"]  # calibrate calls per round (~50 ms)
        calls = max(3, min(200, int(50_000 / max(probe, 1.0))))
        res = interleaved({"torsh": t_step, "jax": j_step, "torch": p_step}, calls=calls, rounds=args.rounds)
        print(
            f"{name:<46} {res['torsh']:>10.1f} {res['jax']:>10.1f} {res['torch']:>10.1f} "
            f"{res['torsh'] / res['jax']:>9.2f}x {res['torsh'] / res['torch']:>11.2f}x"
        )


if __name__ == "__main__":
    main()
