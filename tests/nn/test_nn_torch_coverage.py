"""Coverage of torch.nn, torch.nn.functional, torch.optim and torch.optim.lr_scheduler by torsh.

Every public torch name must be (a) present in torsh under the same name, (b) on ``EXCLUDED`` with
the torsh way to do it instead, or (c) on ``NOT_YET`` (a ratchet of known gaps: a name listed there
that torsh now has fails the test, so the list only shrinks). A name torch adds in a new release that
is in none of the three fails the test, so it is never silently missed.
"""

from __future__ import annotations

import inspect

import torch

import torsh.nn as nn
import torsh.nn.functional as F
import torsh.optim as optim
from torsh.optim import schedules

# name -> what to use in torsh instead (the reason the name has no meaning in a functional library)
EXCLUDED_MODULES = {
    **{
        name: "shapes are fixed at construction in torsh (modules are pytrees): pass the input size, "
        "e.g. nn.Linear(in_features, out_features); jax.eval_shape on a sample input gives it"
        for name in (
            "LazyBatchNorm1d",
            "LazyBatchNorm2d",
            "LazyBatchNorm3d",
            "LazyConv1d",
            "LazyConv2d",
            "LazyConv3d",
            "LazyConvTranspose1d",
            "LazyConvTranspose2d",
            "LazyConvTranspose3d",
            "LazyInstanceNorm1d",
            "LazyInstanceNorm2d",
            "LazyInstanceNorm3d",
            "LazyLinear",
        )
    },
    "DataParallel": "torsh.distributed: a mesh and sharding rules (docs/distributed.md)",
    "Container": "deprecated in torch; use nn.Sequential / nn.ModuleList / nn.ModuleDict",
    "NLLLoss2d": "deprecated alias in torch; nn.NLLLoss takes (N, C, d1, ...) inputs",
    "RNNCellBase": "torch's private base class of the cells; use nn.RNNCell / nn.LSTMCell / nn.GRUCell",
}

EXCLUDED_FUNCTIONAL = {
    **{
        name: "not a function (typing or torch-dispatch internals of torch.nn.functional)"
        for name in (
            "Callable",
            "DType",
            "Optional",
            "Tensor",
            "ScalingType",
            "SwizzleType",
            "boolean_dispatch",
            "handle_torch_function",
            "has_torch_function",
            "has_torch_function_unary",
            "has_torch_function_variadic",
            "assert_int_or_pair",
        )
    },
    **{
        name: "in-place variant: arrays are immutable; use the out-of-place function "
        f"(F.{name[:-1]}) and rebind the result"
        for name in ("celu_", "elu_", "hardtanh_", "leaky_relu_", "relu_", "rrelu_", "selu_", "threshold_")
    },
    "upsample": "deprecated in torch; use F.interpolate",
    "upsample_bilinear": "deprecated in torch; use F.interpolate(mode='bilinear', align_corners=True)",
    "upsample_nearest": "deprecated in torch; use F.interpolate(mode='nearest')",
    "native_channel_shuffle": "torch's kernel alias of channel_shuffle",
    "conv_tbc": "a fairseq-era time-batch-channel layout; use F.conv1d on a transposed input",
    "grouped_mm": "CUDA grouped-GEMM kernel; use jnp.einsum / jax.lax.ragged_dot",
    "scaled_grouped_mm": "CUDA fp8 kernel; use jax.lax.ragged_dot with preferred_element_type",
    "scaled_mm": "CUDA fp8 kernel; use jnp.matmul with preferred_element_type",
}

EXCLUDED_OPTIM = {
    "SparseAdam": "JAX arrays are dense; torsh.nn.Embedding gradients are dense (use Adam)",
}

# torch's schedulers are stateful objects; torsh's are functions of the step (docs/optim.md)
EXCLUDED_SCHEDULERS = {
    "LRScheduler": "torch's base class: a torsh schedule is any function of the step",
    "ChainedScheduler": "schedules.join or multiply two schedules: lambda t: a(t) * b(t)",
    "ConstantLR": "schedules.constant",
    "CosineAnnealingLR": "schedules.cosine_annealing",
    "CosineAnnealingWarmRestarts": "schedules.cosine_annealing_warm_restarts",
    "CyclicLR": "schedules.cyclic",
    "ExponentialLR": "schedules.exponential_decay",
    "LambdaLR": "pass any function of the step as lr=",
    "LinearLR": "schedules.linear",
    "MultiStepLR": "schedules.multistep_decay",
    "MultiplicativeLR": "schedules.multiplicative",
    "OneCycleLR": "schedules.one_cycle",
    "PolynomialLR": "schedules.polynomial_decay",
    "SequentialLR": "schedules.sequence",
    "StepLR": "schedules.step_decay",
}

# known gaps (issue: breadth): remove a name when torsh gains it
NOT_YET_MODULES: set[str] = set()

NOT_YET_FUNCTIONAL: set[str] = set()

NOT_YET_OPTIM: set[str] = set()


def _torch_modules() -> set[str]:
    return {
        n
        for n, o in vars(torch.nn).items()
        if inspect.isclass(o) and issubclass(o, torch.nn.Module) and not n.startswith("_")
    }


def _torch_functional() -> set[str]:
    tf = torch.nn.functional
    return {n for n in dir(tf) if not n.startswith("_") and callable(getattr(tf, n))}


def _torch_optimizers() -> set[str]:
    return {
        n for n, o in vars(torch.optim).items() if inspect.isclass(o) and issubclass(o, torch.optim.Optimizer)
    }


def _torch_schedulers() -> set[str]:
    sched = torch.optim.lr_scheduler
    return {
        n
        for n, o in vars(sched).items()
        if inspect.isclass(o)
        and n[0].isupper()
        and o.__module__ == sched.__name__
        and n != "ReduceLROnPlateau"
    }


def _check(kind: str, torch_names: set[str], has, excluded: dict[str, str], not_yet: set[str]) -> None:
    unknown = sorted(n for n in torch_names if not has(n) and n not in excluded and n not in not_yet)
    done = sorted(n for n in not_yet if has(n))
    stale = sorted((set(excluded) | not_yet) - torch_names)
    problems = []
    if unknown:
        problems.append(f"{kind}: torch names neither in torsh nor excluded nor listed as not yet: {unknown}")
    if done:
        problems.append(f"{kind}: now implemented, remove from NOT_YET: {done}")
    if stale:
        problems.append(f"{kind}: listed but not in this torch: {stale}")
    both = sorted(n for n in excluded if has(n))
    if both:
        problems.append(f"{kind}: excluded but present in torsh (remove the exclusion): {both}")
    assert not problems, "\n".join(problems)


def test_torch_nn_modules_are_covered():
    _check("torch.nn", _torch_modules(), lambda n: hasattr(nn, n), EXCLUDED_MODULES, NOT_YET_MODULES)


def test_torch_nn_functional_is_covered():
    _check(
        "torch.nn.functional",
        _torch_functional(),
        lambda n: hasattr(F, n),
        EXCLUDED_FUNCTIONAL,
        NOT_YET_FUNCTIONAL,
    )


def test_torch_optim_is_covered():
    _check("torch.optim", _torch_optimizers(), lambda n: hasattr(optim, n), EXCLUDED_OPTIM, NOT_YET_OPTIM)


def test_torch_lr_schedulers_have_a_torsh_schedule():
    _check("torch.optim.lr_scheduler", _torch_schedulers(), lambda n: False, EXCLUDED_SCHEDULERS, set())
    for name, way in EXCLUDED_SCHEDULERS.items():
        if way.startswith("schedules."):
            assert hasattr(schedules, way.split()[0].split(".")[1]), f"{name}: {way} does not exist"


def test_coverage_counts_are_reported():
    """The coverage fraction (informative; documented in docs/nn.md)."""
    mods = _torch_modules() - set(EXCLUDED_MODULES)
    have = sum(hasattr(nn, n) for n in mods)
    assert have + len(NOT_YET_MODULES & mods) == len(mods)
