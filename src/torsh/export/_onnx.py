"""ONNX export through a maintained converter (``jax2onnx``), checked in ONNX Runtime.

torsh does not convert primitives itself: it traces the model, asks ``jax2onnx`` which primitives it
knows, and fails *before* converting with the complete list of those it does not. With ``check=True``
(default) the converted graph is run in ONNX Runtime on the example inputs and compared with the
live model, so a graph that converts but that ONNX Runtime cannot run (or runs differently) is an
error at export time rather than in production.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from .._platform import portable
from ._api import _closed_function, _input_names, _signature
from ._errors import ExportError, UnsupportedOperationError

__all__ = ["to_onnx", "unsupported_onnx_primitives"]


@contextlib.contextmanager
def _jax_namespaces_kept() -> Iterator[None]:
    """Undo attributes that jax2onnx's plugins set on ``jax.numpy``/``jax.lax`` when imported.

    jax2onnx 0.17 replaces ``jnp.cumsum`` process-wide at import with a wrapper that rejects
    ``jnp.cumsum(x, -1)``: after one ONNX export, users' (and torsh's) code would break. Conversion does
    not need the replacement (the ``cumsum`` primitive has its own converter).
    """
    import jax.lax
    import jax.numpy

    saved = [(m, dict(vars(m))) for m in (jax.numpy, jax.lax)]
    try:
        yield
    finally:
        for module, before in saved:
            for name in set(vars(module)) - set(before):
                delattr(module, name)
            for name, value in before.items():
                if vars(module).get(name) is not value:
                    setattr(module, name, value)


def _import_jax_plugins(plugin_system: Any) -> None:
    """Register jax2onnx's converters for JAX primitives only.

    ``import_all_plugins`` (which jax2onnx's converter calls too) also imports its Flax, Equinox and
    example trees, several of which build models at import time: ~11 s and 79 XLA compiles per
    process here, against 1.2 s for the ``jax`` tree. torsh models trace to plain JAX primitives,
    so the ``jax`` tree is all a conversion needs; it is imported with jax2onnx's own importer and
    the registry marked complete. A jax2onnx without that layout gets the complete import.
    """
    root = Path(plugin_system.__file__).parent / "jax"
    importer = getattr(plugin_system, "_import_tree", None)
    if importer is None or not root.is_dir() or not hasattr(plugin_system, "_already_imported_plugins"):
        plugin_system.import_all_plugins()
        return
    if not plugin_system._already_imported_plugins:
        importer(root, "jax2onnx.plugins.jax")
        plugin_system._already_imported_plugins = True


def _require() -> tuple[Any, Any]:
    try:
        with _jax_namespaces_kept():
            import jax2onnx
            from jax2onnx.plugins import plugin_system

            _import_jax_plugins(plugin_system)
        import onnxruntime
    except ImportError as e:
        raise ExportError(
            f"ONNX export needs jax2onnx and onnxruntime ({e}); install with: pip install 'torsh[onnx]'"
        ) from None
    return jax2onnx, onnxruntime


def _primitives(jaxpr: Any) -> Iterator[str]:
    for eqn in jaxpr.eqns:
        yield eqn.primitive.name
        for value in eqn.params.values():
            for sub in value if isinstance(value, list | tuple) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _primitives(inner)


def unsupported_onnx_primitives(fn_or_module: Any, *example_args: Any, params: Any = None) -> list[str]:
    """The JAX primitives of the traced model that ``jax2onnx`` has no converter for (sorted).

    Args:
      fn_or_module, *example_args, params: as in :func:`torsh.export.export`.

    Returns:
      The sorted primitive names (empty when :func:`to_onnx` can convert everything).

    Raises:
      ExportError: jax2onnx or onnxruntime is not installed (``pip install 'torsh[onnx]'``).

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> torsh.export.unsupported_onnx_primitives(lambda x: jnp.tanh(x) + 1, jnp.ones(3))
      []
    """
    _require()
    from jax2onnx.plugins import plugin_system

    known = set(plugin_system.PLUGIN_REGISTRY)
    fn = _closed_function(fn_or_module, params)
    with portable():  # the graph to_onnx converts: no per-platform switches
        jaxpr = jax.make_jaxpr(fn)(*example_args)
    return sorted({p for p in _primitives(jaxpr.jaxpr) if p not in known} - _STRUCTURAL)


# Call wrappers that jax2onnx inlines rather than converts.
_STRUCTURAL = frozenset(
    {"pjit", "jit", "closed_call", "core_call", "remat", "checkpoint", "custom_vjp_call", "custom_jvp_call"}
)


def to_onnx(
    fn_or_module: Any,
    *example_args: Any,
    params: Any = None,
    dynamic: Mapping[str, Mapping[int, str]] | None = None,
    input_names: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    opset: int = 23,
    check: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> Any:
    """Convert a module (or ``fn(params, *inputs)``) to an ONNX model with ``jax2onnx``.

    Args:
      fn_or_module, *example_args, params, dynamic, input_names: as in :func:`torsh.export.export`
        (``dynamic={"x": {0: "batch"}}`` becomes a symbolic ONNX dimension ``batch``).
      path: also write the model there (``.onnx``).
      opset: ONNX opset version.
      check: run the converted model in ONNX Runtime on the examples and compare with the live model.
      rtol, atol: tolerances of that check.

    Returns:
      The ``onnx.ModelProto`` (weights are initializers inside it).

    Raises:
      ExportError: jax2onnx or onnxruntime is not installed (``pip install 'torsh[onnx]'``).
      UnsupportedOperationError: primitives jax2onnx cannot convert (all of them listed), a conversion
        jax2onnx refuses, or (with ``check``) a graph ONNX Runtime cannot run or that gives other numbers.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
      >>> proto = torsh.export.to_onnx(model, jnp.ones((3, 4)), dynamic={"input": {0: "batch"}})
      >>> [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
      ['batch', 4]
    """
    jax2onnx, ort = _require()
    fn = _closed_function(fn_or_module, params)
    signature_fn, skip = _signature(fn_or_module, params)
    names = (
        list(input_names) if input_names is not None else _input_names(signature_fn, len(example_args), skip)
    )
    dynamic = dict(dynamic or {})
    unknown = set(dynamic) - set(names)
    if unknown:
        raise ExportError(f"dynamic names unknown inputs {sorted(unknown)}; the inputs are {names}")
    missing = unsupported_onnx_primitives(fn_or_module, *example_args, params=params)
    if missing:
        raise UnsupportedOperationError(
            f"jax2onnx cannot convert these JAX primitives of the model: {', '.join(missing)} "
            "(export a StableHLO artifact with torsh.export.export instead, or avoid these operations)"
        )
    specs = []
    for name, arg in zip(names, example_args, strict=True):
        shape: list[int | str] = list(np.shape(arg))
        for axis, dim in dynamic.get(name, {}).items():
            shape[axis] = dim
        specs.append(
            jax.ShapeDtypeStruct(tuple(shape), np.asarray(arg).dtype)
            if not any(isinstance(d, str) for d in shape)
            else tuple(shape)
        )
    try:
        with _jax_namespaces_kept(), portable():
            proto = jax2onnx.to_onnx(fn, specs, model_name="torsh_model", opset=opset, input_names=names)
    except NotImplementedError as e:
        raise UnsupportedOperationError(f"jax2onnx cannot convert the model: {e}") from e
    if check:
        _check_in_onnxruntime(ort, proto, fn, names, example_args, rtol, atol)
    if path is not None:
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
    return proto


def _check_in_onnxruntime(
    ort: Any,
    proto: Any,
    fn: Callable[..., Any],
    names: Sequence[str],
    args: Sequence[Any],
    rtol: float,
    atol: float,
) -> None:
    feeds = {n: np.asarray(a) for n, a in zip(names, args, strict=True)}
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        got = session.run(None, feeds)
    except Exception as e:  # onnxruntime raises its own (pybind) exception types
        raise UnsupportedOperationError(
            f"the converted ONNX graph does not run in ONNX Runtime {ort.__version__}: "
            f"{str(e).splitlines()[0]}"
        ) from e
    want = [np.asarray(w) for w in jax.tree_util.tree_leaves(fn(*args))]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g.shape != w.shape or not np.allclose(g, w, rtol=rtol, atol=atol):
            err = float(np.max(np.abs(g - w))) if g.shape == w.shape else f"shape {g.shape} vs {w.shape}"
            raise UnsupportedOperationError(
                f"ONNX Runtime's output {i} differs from the live model (max abs difference {err}; "
                f"rtol={rtol}, atol={atol})"
            )
