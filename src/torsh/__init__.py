"""torsh: functional deep learning on JAX/XLA with PyTorch's vocabulary.

Example:
    >>> import torsh
    >>> torsh.manual_seed(0)
    >>> x = torsh.random.normal(torsh.random.next_key(), (4, 3))
    >>> torsh.grad(lambda w: (x @ w).sum())(torsh.ones(3)).shape
    (3,)
"""

from __future__ import annotations

import importlib
from typing import Any

from . import backends, errors, random, transforms, tree
from ._array import (
    Array,
    arange,
    as_tensor,
    empty,
    eye,
    from_dlpack,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    to_dlpack,
    to_numpy,
    zeros,
    zeros_like,
)
from ._dtype import (
    bfloat16,
    bool_,
    complex64,
    complex128,
    double,
    dtype,
    finfo,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    iinfo,
    int8,
    int16,
    int32,
    int64,
    set_default_dtype,
    uint8,
    uint16,
    uint32,
    uint64,
)
from .backends import (
    default_device,
    device,
    device_count,
    devices,
    memory_stats,
    set_cpu_device_count,
    set_default_device,
    synchronize,
    to_device,
)
from .random import manual_seed
from .transforms import (
    Explanation,
    all_gather,
    all_to_all,
    axis_index,
    checkpoint,
    checkpoint_policies,
    explain,
    grad,
    hessian,
    jacfwd,
    jacrev,
    jit,
    jvp,
    pmap,
    pmax,
    pmean,
    pmin,
    ppermute,
    psum,
    psum_scatter,
    remat,
    scan,
    value_and_grad,
    vjp,
    vmap,
)

__version__ = "0.1.0"

backends.apply_environment()  # TORSH_DEVICE, without starting JAX's backends

# Subpackages that pull in heavier dependencies load on first use (``torsh.nn``, ``torsh.data``, ...).
_LAZY_SUBMODULES = (
    "nn",
    "optim",
    "data",
    "serialize",
    "distributed",
    "train",
    "metrics",
    "vision",
    "text",
    "export",
    "quantize",
    "debug",
    "compile_cache",
    "cli",
)

__all__ = [
    "__version__",
    "errors",
    "random",
    "tree",
    "transforms",
    "backends",
    *_LAZY_SUBMODULES,
    "manual_seed",
    "save",
    "load",
    "shard_map",
    # arrays
    "Array",
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "linspace",
    "eye",
    "zeros_like",
    "ones_like",
    "full_like",
    "from_numpy",
    "to_numpy",
    "from_dlpack",
    "to_dlpack",
    # devices
    "devices",
    "device",
    "device_count",
    "default_device",
    "set_default_device",
    "to_device",
    "synchronize",
    "memory_stats",
    "set_cpu_device_count",
    # transforms
    "grad",
    "value_and_grad",
    "jacfwd",
    "jacrev",
    "hessian",
    "jvp",
    "vjp",
    "jit",
    "explain",
    "Explanation",
    "vmap",
    "pmap",
    "checkpoint",
    "remat",
    "checkpoint_policies",
    "scan",
    "psum",
    "pmean",
    "pmax",
    "pmin",
    "all_gather",
    "all_to_all",
    "ppermute",
    "psum_scatter",
    "axis_index",
    # dtypes
    "dtype",
    "get_default_dtype",
    "set_default_dtype",
    "finfo",
    "iinfo",
    "float16",
    "half",
    "bfloat16",
    "float32",
    "float64",
    "double",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool_",
]


# Top-level names that live in lazily loaded subpackages.
_LAZY_ATTRIBUTES = {"save": "serialize", "load": "serialize", "shard_map": "distributed"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        value = getattr(importlib.import_module(f".{_LAZY_ATTRIBUTES[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'torsh' has no attribute {name!r}")
