"""Ahead-of-time native code with IREE: StableHLO -> ``.vmfb`` for ``llvm-cpu``, run without JAX.

The model is lowered by JAX at the example shapes (IREE modules here are static-shape: one ``.vmfb``
per input shape) with its weights folded in as constants, so the ``.vmfb`` is self-contained: a C,
C++ or embedded program runs it with IREE's runtime alone, e.g.
``iree-run-module --module=model.vmfb --device=local-task --function=main --input=1x1x8x8xf32=0``.
In Python, :func:`run_iree` needs only ``iree-base-runtime`` and numpy (no JAX, no torsh model code).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax

from ._api import _closed_function
from ._errors import ExportError, UnsupportedOperationError

__all__ = ["to_iree", "run_iree"]


def to_iree(
    fn_or_module: Any,
    *example_args: Any,
    params: Any = None,
    path: str | os.PathLike[str] | None = None,
    target_cpu: str = "generic",
    extra_args: Sequence[str] = (),
) -> bytes:
    """Compile a module (or ``fn(params, *inputs)``) with IREE for the CPU; returns the ``.vmfb`` bytes.

    Args:
      fn_or_module, *example_args, params: as in :func:`torsh.export.export`; the shapes and dtypes of
        the examples are compiled in.
      path: also write the ``.vmfb`` there.
      target_cpu: ``"generic"`` (runs on any x86-64/arm64 CPU) or ``"host"`` (fastest on this CPU
        model; may crash on others), or a CPU name as in clang.
      extra_args: more ``iree-compile`` flags.

    Returns:
      The compiled module (``.vmfb``) as bytes: run it with :func:`run_iree` or IREE's tools.

    Raises:
      ExportError: IREE's compiler is not installed (``pip install 'torsh[iree]'``).
      UnsupportedOperationError: IREE's compiler rejects the program (its diagnostics are included).

    Example:
      >>> import jax.numpy as jnp, numpy as np, torsh
      >>> vmfb = torsh.export.to_iree(lambda x: jnp.tanh(x) * 2, jnp.ones((2, 3)))
      >>> torsh.export.run_iree(vmfb, np.zeros((2, 3), np.float32))[0].shape
      (2, 3)
    """
    try:
        import iree.compiler as compiler
    except ImportError:
        raise ExportError(
            "IREE compilation needs iree-base-compiler; install with: pip install 'torsh[iree]'"
        ) from None
    fn = _closed_function(fn_or_module, params)
    text = jax.jit(fn).lower(*example_args).as_text(dialect="stablehlo")
    flags = [f"--iree-llvmcpu-target-cpu={target_cpu}", *extra_args]
    try:
        vmfb = compiler.compile_str(
            text, target_backends=["llvm-cpu"], input_type="stablehlo", extra_args=flags
        )
    except compiler.CompilerToolError as e:
        lines = [ln for ln in str(e).splitlines() if "error" in ln.lower()][:10]
        raise UnsupportedOperationError("IREE cannot compile the program:\n" + "\n".join(lines)) from e
    if path is not None:
        with open(path, "wb") as f:
            f.write(vmfb)
    return bytes(vmfb)


def run_iree(vmfb: bytes | str | os.PathLike[str], *inputs: Any, function: str = "main") -> list[Any]:
    """Run a ``.vmfb`` (bytes or path) on the CPU with IREE's runtime; returns the outputs as numpy arrays.

    It uses only ``iree.runtime`` and numpy; a serving process without JAX or torsh can run the same
    eight lines (see docs/export.md).

    Args:
      vmfb: the module from :func:`to_iree`, or the path of a ``.vmfb`` file.
      *inputs: numpy arrays of the compiled shapes and dtypes.
      function: the exported function to call (``main`` for modules from :func:`to_iree`).

    Returns:
      The outputs, a list of numpy arrays.

    Raises:
      ExportError: IREE's runtime is not installed (``pip install 'torsh[iree]'``).

    Example:
      >>> import jax.numpy as jnp, numpy as np, torsh
      >>> vmfb = torsh.export.to_iree(lambda x: x * 3, jnp.ones(2))
      >>> torsh.export.run_iree(vmfb, np.array([1.0, 2.0], np.float32))[0].tolist()
      [3.0, 6.0]
    """
    try:
        import iree.runtime as rt
    except ImportError:
        raise ExportError(
            "running a .vmfb needs iree-base-runtime; install with: pip install 'torsh[iree]'"
        ) from None
    if not isinstance(vmfb, bytes | bytearray):
        with open(vmfb, "rb") as f:
            vmfb = f.read()
    config = rt.Config("local-task")
    ctx = rt.SystemContext(config=config)
    ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, vmfb))
    (name,) = [n for n in ctx.modules.keys() if n != "hal"]
    out = getattr(ctx.modules[name], function)(*inputs)
    outs = out if isinstance(out, list | tuple) else [out]
    return [o.to_host() for o in outs]
