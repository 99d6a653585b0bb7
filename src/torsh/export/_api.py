"""``torsh.export.export`` / ``load``: a model as a StableHLO program plus its weights, in one file.

The program is lowered with :func:`jax.export.export` taking the weights as *arguments*, so the
artifact stores each array once, as a safetensors tensor, instead of baking it into the MLIR as a
constant (a 1 GB model is not a 1 GB program string). The file is a standard safetensors file:

* ``program``: the serialized ``jax.export.Exported`` (uint8 tensor);
* ``weights.0``, ``weights.1``, ...: the model's arrays in leaf order (their state-dict names are in the
  metadata);
* metadata: format version, input/output signature (names, symbolic shapes, dtypes), platforms,
  torsh/jax versions and a SHA-256 content hash checked on load.

Loading needs torsh and JAX only, never the model's Python code; there is no pickle anywhere.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ._errors import ArtifactIntegrityError, ExportError
from ._signature import TensorSpec, check_inputs

__all__ = ["export", "load", "describe", "Exported", "ExportedModel", "FORMAT", "FORMAT_VERSION"]

FORMAT = "torsh.export"
FORMAT_VERSION = 1

PathLike = str | os.PathLike


def _jax_export() -> Any:
    try:
        from jax import export as jax_export
        from jax._src.export import serialization  # noqa: F401 - needs the flatbuffers package
    except ImportError as e:
        raise ExportError(
            f"exported programs need the 'flatbuffers' package ({e}); "
            "install it with: pip install 'torsh[export]'"
        ) from None
    return jax_export


def _is_weight(leaf: Any) -> bool:
    if isinstance(leaf, jax.Array | np.ndarray):
        return not jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)
    return False


def _dtype_name(dtype: Any) -> str:
    return str(jnp.dtype(dtype))


def _input_names(fn: Callable[..., Any], n: int, skip: int) -> list[str]:
    """Names of the first ``n`` positional parameters of ``fn`` after ``skip`` (``self``/params)."""
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):
        params = []
    names: list[str] = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and len(names) < n:
            names.append(p.name)
        elif p.kind == p.VAR_POSITIONAL:
            break
    names += [f"arg{i}" for i in range(len(names), n)]
    return names


def _check_training(model: Any) -> None:
    modules = getattr(model, "named_modules", None)
    if modules is None:
        return
    for path, sub in modules():
        if getattr(sub, "training", False) and type(sub).__name__ in _TRAINING_SENSITIVE:
            where = path or type(model).__name__
            raise ExportError(
                f"{where} ({type(sub).__name__}) is in training mode: export the inference model, "
                "e.g. torsh.export.export(model.eval(), x)"
            )


def _is_module(obj: Any) -> bool:
    return hasattr(obj, "named_modules") and hasattr(type(obj), "forward")


def _signature(fn_or_module: Any, params: Any) -> tuple[Callable[..., Any], int]:
    """The function whose parameters name the inputs, and how many leading parameters are not inputs."""
    if _is_module(fn_or_module):
        source = getattr(fn_or_module, "_signature_source", None)
        return (source() if source is not None else type(fn_or_module).forward), 1
    return fn_or_module, 0 if params is None else 1


def _closed_function(fn_or_module: Any, params: Any) -> Callable[..., Any]:
    """``f(*inputs)`` with the module (checked for training mode) or ``params`` closed over."""
    if _is_module(fn_or_module):
        _check_training(fn_or_module)
        model = fn_or_module
        return lambda *xs: model(*xs)
    if params is not None:
        return lambda *xs: fn_or_module(params, *xs)
    return fn_or_module


# Layers whose forward differs between train() and eval() (dropout needs keys, norms update statistics).
_TRAINING_SENSITIVE = frozenset(
    {
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "MultiheadAttention",
        "TransformerEncoderLayer",
        "TransformerDecoderLayer",
        "RNN",
        "LSTM",
        "GRU",
    }
)


def _as_spec(name: str, value: Any, dims: Mapping[int, str]) -> TensorSpec:
    if isinstance(value, TensorSpec):
        shape: list[int | str] = list(value.shape)
        dtype = value.dtype
    else:
        if not hasattr(value, "shape") or not hasattr(value, "dtype"):
            value = np.asarray(value)
        shape = [int(d) for d in value.shape]
        dtype = _dtype_name(value.dtype)
    for axis, dim_name in dims.items():
        if not isinstance(axis, int) or not -len(shape) <= axis < len(shape):
            raise ExportError(
                f"dynamic[{name!r}]: axis {axis!r} does not exist for a rank-{len(shape)} input"
            )
        if not isinstance(dim_name, str) or not dim_name.isidentifier():
            raise ExportError(
                f"dynamic[{name!r}][{axis}]: expected a dimension name such as 'batch', got {dim_name!r}"
            )
        shape[axis] = dim_name
    return TensorSpec(name, tuple(shape), dtype)


def _abstract(specs: Sequence[TensorSpec], constraints: Sequence[str] = ()) -> list[jax.ShapeDtypeStruct]:
    jax_export = _jax_export()
    try:
        scope = jax_export.SymbolicScope(tuple(constraints))
    except ValueError as e:
        raise ExportError(f"constraints {list(constraints)}: {e}") from None
    out = []
    for s in specs:
        shape = jax_export.symbolic_shape(", ".join(str(d) for d in s.shape), scope=scope) if s.shape else ()
        out.append(jax.ShapeDtypeStruct(shape, jnp.dtype(s.dtype)))
    return out


def _out_specs(out_avals: Sequence[Any], out_tree: Any) -> list[TensorSpec]:
    paths = [
        jax.tree_util.keystr(p)
        for p, _ in jax.tree_util.tree_flatten_with_path(
            jax.tree_util.tree_unflatten(out_tree, [0] * out_tree.num_leaves)
        )[0]
    ]
    specs = []
    for i, (aval, path) in enumerate(zip(out_avals, paths, strict=True)):
        name = f"output{path}" if path else f"output{i}" if len(out_avals) > 1 else "output"
        specs.append(
            TensorSpec(
                name, tuple(d if isinstance(d, int) else str(d) for d in aval.shape), _dtype_name(aval.dtype)
            )
        )
    return specs


def _content_hash(program: bytes, weights: Sequence[np.ndarray], meta_json: str) -> str:
    h = hashlib.sha256()
    h.update(meta_json.encode())
    h.update(len(program).to_bytes(8, "little"))
    h.update(program)
    for w in weights:
        h.update(str(w.dtype).encode() + str(w.shape).encode())
        h.update(np.ascontiguousarray(w).view(np.uint8).reshape(-1).data)
    return h.hexdigest()


@dataclasses.dataclass(frozen=True)
class Exported:
    """An exported program with its weights, ready to :meth:`save` (or to call, to check it).

    Made by :func:`export`, not by hand.

    Args:
      program: the serialized ``jax.export`` program.
      weights: the weight arrays, in argument order.
      weight_names: their state-dict names.
      inputs, outputs: the signature.
      platforms: the platforms lowered for.
      constraints: bounds on symbolic dimensions.
      mlir: the StableHLO text (for reading; not saved).

    Attributes:
      inputs / outputs: the signature (:class:`TensorSpec` list; ``str`` dimensions are symbolic).
      weight_names: state-dict names of the stored weights, in argument order.
      platforms: the XLA platforms the program was lowered for.

    Raises:
      ExportError: calling it needs the ``flatbuffers`` package (``pip install 'torsh[export]'``).

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> exp = torsh.export.export(nn.Linear(3, 2).eval(), jnp.ones((1, 3)), dynamic={"input": {0: "b"}})
      >>> exp.inputs, exp.weight_names
      ((TensorSpec(name='input', shape=('b', 3), dtype='float32'),), ('weight', 'bias'))
      >>> exp(jnp.ones((4, 3))).shape      # runs the exported program here, with the same checks
      (4, 2)
    """

    program: bytes
    weights: tuple[np.ndarray, ...]
    weight_names: tuple[str, ...]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    platforms: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    mlir: str = dataclasses.field(repr=False, default="")

    def metadata(self) -> dict[str, str]:
        """The artifact's metadata (strings, as stored in the safetensors header).

        Returns:
          ``format``, ``format_version``, ``signature`` (JSON), ``platforms``, ``torsh_version``,
          ``jax_version`` and ``sha256`` (of program, weights and signature).

        Example:
          >>> import jax.numpy as jnp, torsh
          >>> meta = torsh.export.export(lambda x: x * 2, jnp.ones(2)).metadata()
          >>> meta["format"], meta["platforms"], len(meta["sha256"])
          ('torsh.export', 'cpu', 64)
        """
        signature = {
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "weights": list(self.weight_names),
            "constraints": list(self.constraints),
        }
        from .. import __version__

        meta = {
            "format": FORMAT,
            "format_version": str(FORMAT_VERSION),
            "signature": json.dumps(signature, sort_keys=True),
            "platforms": ",".join(self.platforms),
            "torsh_version": __version__,
            "jax_version": jax.__version__,
        }
        meta["sha256"] = _content_hash(self.program, self.weights, _hashed_meta(meta))
        return meta

    def save(self, path: PathLike) -> None:
        """Write the artifact as one safetensors file (atomically: a crash never leaves half a file).

        Args:
          path: the file to write (``.torshx`` by convention).

        Example:
          >>> import os, tempfile, jax.numpy as jnp, torsh
          >>> from torsh import nn
          >>> model = nn.Linear(3, 2, key=torsh.random.key(0))
          >>> path = os.path.join(tempfile.mkdtemp(), "linear.torshx")
          >>> torsh.export.export(model, jnp.ones((1, 3)), dynamic={"input": {0: "batch"}}).save(path)
          >>> torsh.export.load(path)(jnp.ones((7, 3))).shape
          (7, 2)
        """
        from ..serialize import save

        tree = {"program": np.frombuffer(self.program, dtype=np.uint8), "weights": list(self.weights)}
        save(path, tree, metadata=self.metadata())

    def __call__(self, *args: Any) -> Any:
        """Run the exported program in this process (same checks as the loaded artifact)."""
        return ExportedModel._from_parts(
            self.program, self.weights, self.inputs, self.outputs, self.metadata()
        )(*args)


def _hashed_meta(meta: Mapping[str, str]) -> str:
    return json.dumps(
        {k: meta[k] for k in ("format", "format_version", "signature", "platforms")}, sort_keys=True
    )


def export(
    fn_or_module: Callable[..., Any],
    *example_args: Any,
    params: Any = None,
    dynamic: Mapping[str, Mapping[int, str]] | None = None,
    platforms: Sequence[str] | None = None,
    input_names: Sequence[str] | None = None,
    constraints: Sequence[str] = (),
) -> Exported:
    """Export a module (or ``fn(params, *inputs)``) as a StableHLO program plus weights.

    Args:
      fn_or_module: a torsh module (called as ``module(*inputs)``; put it in ``.eval()`` mode first), or a
        function. With ``params=``, the function is called as ``fn(params, *inputs)`` and the arrays of
        ``params`` are stored as weights; without, as ``fn(*inputs)``.
      *example_args: one example per input: arrays (their shape and dtype are used) or
        :class:`TensorSpec`.
      params: the weights of a function (any pytree); ignored for modules (the module is the weights).
      dynamic: symbolic dimensions by input name, e.g. ``{"x": {0: "batch"}}``. One name used in several
        inputs means equal sizes. Everything else is fixed to the example's size.
      platforms: XLA platforms to lower for, e.g. ``("cpu", "cuda")`` (several at once; the loaded program
        picks the one it runs on). Default: the current default platform.
      input_names: names of the inputs (default: the parameter names of ``forward``/``fn``).
      constraints: bounds on symbolic dimensions that the model's code relies on, in JAX's syntax
        (``("seq <= 1024",)`` for a language model whose forward checks its context length). Simple
        ``name <= N`` / ``name >= N`` bounds are checked on every call of the loaded artifact.

    Returns:
      An :class:`Exported`; ``.save(path)`` writes it, :func:`load` reads it back in any process.

    Raises:
      ExportError: a training-mode module, an unknown input name or axis in ``dynamic``, outputs that are
        not arrays in tuples/lists/dicts.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
      >>> exp = torsh.export.export(model, jnp.ones((1, 4)), dynamic={"input": {0: "batch"}})
      >>> [str(s) for s in exp.inputs], [str(s) for s in exp.outputs]
      (['input: float32[batch, 4]'], ['output: float32[batch, 2]'])
    """
    jax_export = _jax_export()
    dynamic = dict(dynamic or {})
    if _is_module(fn_or_module):
        _check_training(fn_or_module)
        tree = fn_or_module

        def call(state: Any, *xs: Any) -> Any:  # state: the module
            return state(*xs)
    else:
        if not callable(fn_or_module):
            raise ExportError(f"expected a module or a function to export, got {type(fn_or_module).__name__}")
        tree = params

        def call(state: Any, *xs: Any) -> Any:  # state: the params (or None)
            return fn_or_module(*xs) if params is None else fn_or_module(state, *xs)

    signature_fn, skip = _signature(fn_or_module, params)
    default_names = _input_names(signature_fn, len(example_args), skip)
    names = list(input_names) if input_names is not None else default_names
    if len(names) != len(example_args):
        raise ExportError(f"input_names has {len(names)} names for {len(example_args)} example inputs")
    if len(set(names)) != len(names):
        raise ExportError(f"input names must be distinct, got {names}")
    unknown = set(dynamic) - set(names)
    if unknown:
        raise ExportError(f"dynamic names unknown inputs {sorted(unknown)}; the inputs are {names}")
    in_specs = [_as_spec(n, a, dynamic.get(n, {})) for n, a in zip(names, example_args, strict=True)]

    from ..tree import flatten_with_path

    pairs, _ = flatten_with_path(tree)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    if len(pairs) != len(leaves):  # a node type only JAX knows: fall back to JAX's key paths
        pairs = [(jax.tree_util.keystr(p), v) for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]]
    weight_idx = [i for i, leaf in enumerate(leaves) if _is_weight(leaf)]
    weight_names = tuple(pairs[i][0] for i in weight_idx)

    def flat_fn(weights: list[Any], *xs: Any) -> Any:
        full = list(leaves)
        for i, w in zip(weight_idx, weights, strict=True):
            full[i] = w
        return call(jax.tree_util.tree_unflatten(treedef, full), *xs)

    weight_avals = [jax.ShapeDtypeStruct(leaves[i].shape, leaves[i].dtype) for i in weight_idx]
    lower_platforms = tuple(platforms) if platforms else (jax.default_backend(),)
    try:
        exported = jax_export.export(jax.jit(flat_fn), platforms=lower_platforms)(
            weight_avals, *_abstract(in_specs, constraints)
        )
    except jax.errors.InconclusiveDimensionOperation as e:
        raise _inconclusive(e) from e
    except (TypeError, ValueError) as e:
        if "pytree" in str(e).lower() or "serializ" in str(e).lower():
            raise ExportError(f"cannot export: {e}") from e
        raise
    try:
        program = bytes(exported.serialize())
    except (TypeError, ValueError, NotImplementedError) as e:
        raise ExportError(
            f"cannot serialize the exported program ({e}); outputs must be arrays in tuples, lists or dicts"
        ) from e
    weights = tuple(np.asarray(leaves[i]) for i in weight_idx)
    return Exported(
        program=program,
        weights=weights,
        weight_names=weight_names,
        inputs=tuple(in_specs),
        outputs=tuple(_out_specs(exported.out_avals, exported.out_tree)),
        platforms=tuple(exported.platforms),
        constraints=tuple(constraints),
        mlir=exported.mlir_module(),
    )


def _inconclusive(e: Exception) -> ExportError:
    first = str(e).strip().splitlines()[0]
    return ExportError(
        f"the model compares a symbolic dimension with a number ({first}); state the bound it relies on, "
        "e.g. export(..., constraints=('seq <= 1024',))"
    )


class ExportedModel:
    """A loaded artifact: call it like the model (``out = m(x)``); no model code is needed.

    Made by :func:`load`. Inputs are passed by position or by name; they are checked against the
    signature (dtype, rank, fixed sizes, equal symbolic sizes, declared bounds) before the program runs.

    Attributes:
      inputs / outputs: the signature as :class:`TensorSpec` lists.
      metadata: the stored metadata (versions, platforms, hash, ...).
      weights: a ``{state-dict name: array}`` dict of the stored weights.

    Raises:
      ConfigError: too many, missing or unknown inputs, or a default device whose platform the
        artifact was not lowered for.
      ShapeError: an input's shape does not fit the signature (named in the message).
      DTypeError: an input's dtype differs from the signature's.

    Example:
      >>> import os, tempfile, jax.numpy as jnp, torsh
      >>> path = os.path.join(tempfile.mkdtemp(), "add.torshx")
      >>> torsh.export.export(lambda x, y: x + y, jnp.ones(2), jnp.ones(2)).save(path)
      >>> m = torsh.export.load(path)
      >>> m(jnp.ones(2), y=jnp.ones(2)).tolist()
      [2.0, 2.0]
      >>> m(jnp.ones(3), jnp.ones(3))
      Traceback (most recent call last):
      ...
      torsh.errors.ShapeError: input 'x': expected shape [2], got [3] (dimension 0 must be 2)
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    metadata: dict[str, str]
    weights: dict[str, jax.Array]
    _exported: Any  # a jax.export.Exported
    _weights: list[jax.Array]
    _constraints: tuple[str, ...]
    _run: Callable[..., Any]

    def __init__(self) -> None:  # use torsh.export.load
        raise TypeError("use torsh.export.load(path) to load an exported artifact")

    @classmethod
    def _from_parts(
        cls,
        program: bytes,
        weights: Sequence[Any],
        inputs: Sequence[TensorSpec],
        outputs: Sequence[TensorSpec],
        metadata: Mapping[str, str],
    ) -> ExportedModel:
        self = object.__new__(cls)
        exported = _jax_export().deserialize(bytearray(program))
        self._exported = exported
        self._weights = [jnp.asarray(w) for w in weights]
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.metadata = dict(metadata)
        signature = json.loads(metadata["signature"]) if "signature" in metadata else {}
        names = signature.get("weights", [])
        self._constraints = tuple(signature.get("constraints", ()))
        self.weights = dict(zip(names, self._weights, strict=False))
        self._run = jax.jit(lambda ws, *xs: exported.call(ws, *xs))
        return self

    @property
    def platforms(self) -> tuple[str, ...]:
        """The XLA platforms the program was lowered for (``("cpu",)``, ``("cpu", "cuda")``...)."""
        return tuple(self._exported.platforms)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        names = [s.name for s in self.inputs]
        if len(args) > len(names):
            raise ConfigError(f"expected {len(names)} inputs ({', '.join(names)}), got {len(args)}")
        unknown = sorted(set(kwargs) - set(names[len(args) :]))
        if unknown:
            raise ConfigError(f"unknown inputs {unknown}; the inputs are {names}")
        values = list(args)
        for name in names[len(args) :]:
            if name not in kwargs:
                raise ConfigError(f"missing input {name!r}; the inputs are {names}")
            values.append(kwargs.pop(name))
        check_inputs(self.inputs, values, self._constraints)
        platform = jax.default_backend()
        if platform not in self.platforms:
            raise ConfigError(
                f"this artifact was lowered for {list(self.platforms)}, "
                f"but the default device is {platform!r}: "
                f"export with platforms=({platform!r}, ...)"
            )
        return self._run(self._weights, *values)

    def __repr__(self) -> str:
        sig = ", ".join(str(s) for s in self.inputs)
        out = ", ".join(str(s) for s in self.outputs)
        return f"ExportedModel(({sig}) -> ({out}), platforms={list(self.platforms)})"


def load(path: PathLike, *, verify: bool = True) -> ExportedModel:
    """Load an artifact written by :meth:`Exported.save` into a callable (no model code needed).

    Args:
      path: the ``.torshx`` file.
      verify: check the SHA-256 content hash (default). A modified file raises ArtifactIntegrityError.

    Returns:
      An :class:`ExportedModel`.

    Raises:
      ExportError: the ``flatbuffers`` package is missing (``pip install 'torsh[export]'``).
      CorruptFileError: not a (complete) safetensors file, or not an exported artifact.
      FormatVersionError: written by a newer torsh with an unknown format version.
      ArtifactIntegrityError: the content hash does not match.

    Example:
      >>> import os, tempfile, jax.numpy as jnp, torsh
      >>> path = os.path.join(tempfile.mkdtemp(), "double.torshx")
      >>> torsh.export.export(lambda x: 2 * x, jnp.ones(3)).save(path)
      >>> torsh.export.load(path)(jnp.arange(3.0))
      Array([0., 2., 4.], dtype=float32)
    """
    from ..serialize import CorruptFileError, FormatVersionError, read_metadata
    from ..serialize import load as load_tree

    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CorruptFileError(
            f"{os.fspath(path)}: not a torsh exported artifact (no 'format: {FORMAT}' metadata)"
        )
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CorruptFileError(
            f"{os.fspath(path)}: malformed format_version {meta.get('format_version')!r}"
        ) from None
    if version > FORMAT_VERSION:
        raise FormatVersionError(
            f"{os.fspath(path)}: artifact format version {version} is newer than this torsh supports "
            f"({FORMAT_VERSION}); upgrade torsh (it was written by torsh {meta.get('torsh_version')})"
        )
    tree = load_tree(path)
    try:
        program = np.asarray(tree["program"], dtype=np.uint8).tobytes()
        weights_tree = tree.get("weights", {})
        signature = json.loads(meta["signature"])
        n = len(signature["weights"])
        if isinstance(weights_tree, list | tuple):
            weights = [np.asarray(w) for w in weights_tree]
        else:
            weights = [np.asarray(weights_tree[str(i)]) for i in range(n)]
        inputs = [TensorSpec.from_json(s) for s in signature["inputs"]]
        outputs = [TensorSpec.from_json(s) for s in signature["outputs"]]
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptFileError(
            f"{os.fspath(path)}: malformed exported artifact ({type(e).__name__}: {e})"
        ) from None
    if len(weights) != n:
        raise CorruptFileError(f"{os.fspath(path)}: expected {n} weights, found {len(weights)}")
    if verify:
        expected = meta.get("sha256")
        actual = _content_hash(program, weights, _hashed_meta(meta))
        if expected != actual:
            raise ArtifactIntegrityError(
                f"{os.fspath(path)}: content hash mismatch (stored {expected}, computed {actual}): "
                "the file was modified after export"
            )
    try:
        return ExportedModel._from_parts(program, weights, inputs, outputs, meta)
    except Exception as e:  # a program jax cannot deserialize (tampered with verify=False, or too new)
        if isinstance(e, ExportError):
            raise
        raise CorruptFileError(
            f"{os.fspath(path)}: cannot deserialize the program ({type(e).__name__}: {e})"
        ) from e


def describe(path: PathLike) -> dict[str, Any]:
    """The signature and metadata of an artifact, without loading its weights (for ``torsh inspect``).

    Args:
      path: the ``.torshx`` file.

    Returns:
      A dict with ``inputs``/``outputs`` (strings such as ``'x: float32[batch, 3]'``), the weight
      count and sizes, platforms, versions and the content hash.

    Raises:
      CorruptFileError: not a safetensors file, or not an exported artifact.

    Example:
      >>> import os, tempfile, jax.numpy as jnp, torsh
      >>> path = os.path.join(tempfile.mkdtemp(), "f.torshx")
      >>> torsh.export.export(lambda x: x + 1, jnp.ones((2, 3))).save(path)
      >>> torsh.export.describe(path)["inputs"]
      ['x: float32[2, 3]']
    """
    from ..serialize import CorruptFileError, read_metadata
    from ..serialize import inspect as inspect_file

    meta = read_metadata(path)
    if meta.get("format") != FORMAT:
        raise CorruptFileError(f"{os.fspath(path)}: not a torsh exported artifact")
    signature = json.loads(meta["signature"])
    entries = inspect_file(path)
    weight_bytes = sum(e.nbytes for k, e in entries.items() if k.startswith("weights."))
    program_bytes = sum(e.nbytes for k, e in entries.items() if k == "program")
    return {
        "inputs": [str(TensorSpec.from_json(s)) for s in signature["inputs"]],
        "outputs": [str(TensorSpec.from_json(s)) for s in signature["outputs"]],
        "weights": len(signature["weights"]),
        "weight_bytes": weight_bytes,
        "program_bytes": program_bytes,
        "platforms": meta.get("platforms", "").split(","),
        "format_version": meta.get("format_version"),
        "torsh_version": meta.get("torsh_version"),
        "jax_version": meta.get("jax_version"),
        "sha256": meta.get("sha256"),
        "exported_at": time.strftime("%Y-%m-%d", time.gmtime(os.path.getmtime(path))),
    }
