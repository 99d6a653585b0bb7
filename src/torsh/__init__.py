"""torsh: functional deep learning on JAX/XLA with PyTorch's vocabulary.

``import torsh`` is cheap (a few milliseconds, JAX not imported): every public name below loads
from its submodule on first use (PEP 562 module ``__getattr__``). So a data-loader worker process,
which only needs :mod:`torsh.data`, never imports JAX, and ``python -c "import torsh"`` does not pay
JAX's ~2 s import. ``dir(torsh)``, ``from torsh import *`` and type checkers (through the
``TYPE_CHECKING`` imports) see every name as if it were imported eagerly.

Example:
    >>> import torsh
    >>> torsh.manual_seed(0)
    >>> x = torsh.random.normal(torsh.random.next_key(), (4, 3))
    >>> torsh.grad(lambda w: (x @ w).sum())(torsh.ones(3)).shape
    (3,)
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # subpackages
    "errors",
    "random",
    "tree",
    "transforms",
    "backends",
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
    "amp",
    "quantize",
    "debug",
    "compile_cache",
    "cli",
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

# The import block, read by type checkers (and by tests/test_star_imports.py, which checks that it,
# ``_SOURCES`` and ``__all__`` name the same things). At run time the names load lazily, below.
if TYPE_CHECKING:
    from . import (
        amp,
        backends,
        cli,
        compile_cache,
        data,
        debug,
        distributed,
        errors,
        export,
        metrics,
        nn,
        optim,
        quantize,
        random,
        serialize,
        text,
        train,
        transforms,
        tree,
        vision,
    )
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
    from .distributed import shard_map
    from .random import manual_seed
    from .serialize import load, save
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

_SUBMODULES = (
    "errors", "random", "tree", "transforms", "backends", "nn", "optim", "data", "serialize",
    "distributed", "train", "metrics", "vision", "text", "export", "amp", "quantize", "debug",
    "compile_cache", "cli",
)  # fmt: skip

# Where each non-module name of ``__all__`` lives (relative module -> names).
_SOURCES: dict[str, tuple[str, ...]] = {
    "._array": (
        "Array", "arange", "as_tensor", "empty", "eye", "from_dlpack", "from_numpy", "full",
        "full_like", "linspace", "ones", "ones_like", "tensor", "to_dlpack", "to_numpy", "zeros",
        "zeros_like",
    ),
    "._dtype": (
        "bfloat16", "bool_", "complex64", "complex128", "double", "dtype", "finfo", "float16",
        "float32", "float64", "get_default_dtype", "half", "iinfo", "int8", "int16", "int32", "int64",
        "set_default_dtype", "uint8", "uint16", "uint32", "uint64",
    ),
    ".backends": (
        "default_device", "device", "device_count", "devices", "memory_stats",
        "set_cpu_device_count", "set_default_device", "synchronize", "to_device",
    ),
    ".distributed": ("shard_map",),
    ".random": ("manual_seed",),
    ".serialize": ("load", "save"),
    ".transforms": (
        "Explanation", "all_gather", "all_to_all", "axis_index", "checkpoint", "checkpoint_policies",
        "explain", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp", "pmap", "pmax", "pmean",
        "pmin", "ppermute", "psum", "psum_scatter", "remat", "scan", "value_and_grad", "vjp", "vmap",
    ),
}  # fmt: skip
_ORIGIN = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load a public name on first access (PEP 562) and cache it in the module's namespace."""
    if name in _ORIGIN:
        value = getattr(importlib.import_module(_ORIGIN[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'torsh' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if os.environ.get("TORSH_DEVICE"):
    # TORSH_DEVICE must apply before the first array is made, ``jnp`` arrays included, so it is the one
    # setting that imports JAX with torsh (without starting JAX's backends).
    importlib.import_module(".backends", __name__).apply_environment()
