"""Comparison of torsh modules against PyTorch modules with identical weights and inputs.

Weights move from PyTorch to torsh **by state-dict key** (``load_state_dict`` of the torch state dict
converted to numpy): no renaming table, so a name mismatch fails the comparison.

Gradients are compared for ``sum(output * cotangent)`` with a random cotangent (not ``sum(output)``,
whose gradient vanishes for normalisation layers and would hide errors).

Tolerances: ``rtol=1e-5`` with an absolute floor ``atol=1e-6`` for entries that are ~0 (a relative
comparison of a value that is zero up to rounding is meaningless). Tests loosen them only where the
order of a floating-point reduction differs, and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

import torsh
from torsh import nn

RTOL = 1e-5
ATOL = 1e-6


def torch_state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}


def from_torch(module: torch.nn.Module, like: nn.Module) -> nn.Module:
    """``like`` with the torch module's parameters and buffers, matched by state-dict key."""
    return like.load_state_dict(torch_state(module))


def assert_close(actual: Any, expected: Any, rtol: float = RTOL, atol: float = ATOL, what: str = "") -> None:
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


def _is_float(x: np.ndarray) -> bool:
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def run_torch(module: torch.nn.Module, inputs: Sequence[np.ndarray], grad: bool, seed: int = 0):
    """Output, cotangent, input grads, parameter grads (by name) and state dict after the call."""
    t_in = [torch.tensor(x, requires_grad=grad and _is_float(x)) for x in inputs]
    out = module(*t_in)
    grads_in: list[np.ndarray | None] = [None] * len(inputs)
    grads_p: dict[str, np.ndarray] = {}
    cot = None
    if grad:
        cot = np.random.default_rng(seed).standard_normal(tuple(out.shape)).astype(np.float32)
        module.zero_grad()
        (out * torch.tensor(cot)).sum().backward()
        grads_in = [None if t.grad is None else t.grad.numpy() for t in t_in]
        grads_p = {k: p.grad.numpy() for k, p in module.named_parameters() if p.grad is not None}
    return out.detach().numpy(), cot, grads_in, grads_p, torch_state(module)


def _forward(m: nn.Module, c: Any, *args: Any):
    out, new = nn.stateful(m)(*args)
    value = (out * c).sum() if c is not None else out.sum()
    return value, (out, new)


_STEPS: dict[tuple[bool, ...], Callable] = {}


def _step(float_inputs: tuple[bool, ...]) -> Callable:
    """One jitted value-and-grad per input signature, shared by all tests, so repeated shapes hit
    JAX's compilation cache instead of compiling a fresh closure each time."""
    if float_inputs not in _STEPS:
        argnums = (0, *(i + 2 for i, f in enumerate(float_inputs) if f))
        _STEPS[float_inputs] = jax.jit(torsh.value_and_grad(_forward, argnums=argnums, has_aux=True))
    return _STEPS[float_inputs]


_FORWARD = jax.jit(_forward)


def run_torsh(module: nn.Module, inputs: Sequence[np.ndarray], cot: np.ndarray | None):
    """Output, input grads, parameter grads (by name) and the module after the call (``nn.stateful``),
    all under one ``jax.jit`` (which also exercises modules under jit)."""
    xs = [jnp.asarray(x) for x in inputs]
    if cot is None:
        _, (out, new) = _FORWARD(module, None, *xs)
        return np.asarray(out), [None] * len(xs), {}, new
    floats = tuple(_is_float(x) for x in inputs)
    (_, (out, new)), grads = _step(floats)(module, jnp.asarray(cot), *xs)
    grads_p = {k: np.asarray(v) for k, v in grads[0].named_parameters()}
    it = iter(grads[1:])
    grads_in = [np.asarray(next(it)) if f else None for f in floats]
    return np.asarray(out), grads_in, grads_p, new


def compare_module(
    t_mod: torch.nn.Module,
    j_mod: nn.Module,
    inputs: Sequence[np.ndarray],
    *,
    train: bool = False,
    grad: bool = True,
    rtol: float = RTOL,
    atol: float = ATOL,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> nn.Module:
    """Compare outputs, gradients and post-call state; returns the updated torsh module."""
    t_mod.train(train)
    j_mod = from_torch(t_mod, j_mod).train(train)
    t_out, cot, t_gin, t_gp, t_state = run_torch(t_mod, inputs, grad, seed)
    j_out, j_gin, j_gp, j_new = run_torsh(j_mod, inputs, cot)
    assert_close(j_out, t_out, rtol, atol, "output")
    if grad:
        gr, ga = grad_rtol or rtol, grad_atol or atol
        for i, (jg, tg) in enumerate(zip(j_gin, t_gin, strict=True)):
            if tg is not None:
                assert_close(jg, tg, gr, ga, f"grad of input {i}")
        assert set(j_gp) == set(t_gp), f"parameter grads: torsh {sorted(j_gp)} vs torch {sorted(t_gp)}"
        for name, tg in t_gp.items():
            assert_close(j_gp[name], tg, gr, ga, f"grad of {name}")
    j_state = {k: np.asarray(v) for k, v in j_new.state_dict().items()}
    assert set(j_state) == set(t_state), f"state keys: torsh {sorted(j_state)} vs torch {sorted(t_state)}"
    for name, tv in t_state.items():
        assert_close(j_state[name], tv, rtol, atol, f"state {name} after the call")
    return j_new
