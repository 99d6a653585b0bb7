"""``Module``: the immutable, PyTorch-flavoured base class of torsh layers and models.

A module is a :class:`torsh.tree.Struct`: array fields (parameters, buffers) and sub-modules are
pytree children, configuration is ``static``. It therefore goes through ``jax.jit``/``jax.grad`` and
torsh's transforms with no filtering step. On top of the struct it adds what PyTorch users reach for:
``parameters()``/``named_parameters()`` with PyTorch's dotted names, ``state_dict()``/
``load_state_dict()``, ``train()``/``eval()``, ``freeze()``, ``to()``, and a readable repr.
Every "mutating" method returns a new module.
"""

from __future__ import annotations

import contextvars
import dataclasses
import fnmatch
import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from ..errors import ConfigError, TreeError
from ..tree import Struct
from ..tree._struct import _INIT_FLAG, buffer
from . import _walk
from ._context import CONTEXT_ERRORS, annotate
from ._utils import Axes, check_axes, join_path

__all__ = ["Module", "Parameter", "StateDictError", "buffer", "logical_axes"]

M = TypeVar("M", bound="Module")

_BASE_STATIC = {"static": True, "buffer": False, "inline": False}


class StateDictError(TreeError):
    """A state dict does not fit the module: lists missing, unexpected and mis-shaped keys together.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> try:
      ...     nn.Linear(2, 2, key=0).load_state_dict({"weight": jnp.ones((3, 2)), "bias": jnp.ones(2)})
      ... except nn.StateDictError as e:
      ...     print(e)
      load_state_dict into Linear: size mismatch for weight: expected [2, 2], got [3, 2]
    """


def Parameter(data: Any, requires_grad: bool = True) -> jax.Array:
    """``nn.Parameter(x)`` for ported code: the array itself (every float array field is a parameter).


    Args:
      data: an array (not a torch tensor).
      requires_grad: must be True (see above for non-trainable arrays).

    Returns:
      ``data`` as a JAX array.

    Raises:
      ConfigError: ``requires_grad=False``, or a torch tensor.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Parameter(jnp.zeros(3)).shape
      (3,)
    """
    if not requires_grad:
        raise ConfigError(
            "nn.Parameter(..., requires_grad=False): torsh has no per-array requires_grad; use "
            "`self.register_buffer(name, x)` for a non-trainable array, or `model.freeze(name)`"
        )
    if type(data).__module__.split(".")[0] == "torch":
        raise ConfigError("nn.Parameter: got a torch tensor; pass a JAX array (jnp.asarray(t.numpy()))")
    return jnp.asarray(data)


def _takes_key(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "key" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


# A trace-time call hook (``torsh.amp`` installs one): ``hook(module, call, args, kwargs)`` runs
# instead of ``call(module, *args, **kwargs)``. Unset on the normal path: one ContextVar.get per call.
CALL_HOOK: contextvars.ContextVar[Callable[[Any, Callable, tuple, dict], Any] | None] = (
    contextvars.ContextVar("torsh_call_hook", default=None)
)


def _forward(module: Module, *args: Any, **kwargs: Any) -> Any:
    return module.forward(*args, **kwargs)


def _with_error_context(call: Callable, takes_key: bool) -> Callable:
    @functools.wraps(call)
    def __call__(self: Module, *args: Any, **kwargs: Any) -> Any:
        if not takes_key and "key" in kwargs:
            del kwargs["key"]
        try:
            hook = CALL_HOOK.get()
            if hook is not None:
                return hook(self, call, args, kwargs)
            return call(self, *args, **kwargs)
        except CONTEXT_ERRORS as e:
            annotate(e, self)
            raise

    return __call__


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) or path.startswith(p + ".") for p in patterns)


def _as_patterns(pattern: str | Iterable[str] | None, verb: str = "freeze") -> tuple[str, ...] | None:
    if pattern is None:
        return None
    if isinstance(pattern, str):
        return (pattern,)
    patterns = tuple(pattern) if isinstance(pattern, Iterable) else None
    if patterns is None or not all(isinstance(p, str) for p in patterns):
        raise ConfigError(
            f"{verb}: expected a parameter name pattern (a glob string such as 'encoder' or '*.bias'), "
            f"a list of them, or None for every parameter; got {type(pattern).__name__} {pattern!r}"
        )
    return patterns


def _to_numpy(value: Any) -> np.ndarray:
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu()
        if str(value.dtype) == "torch.bfloat16":
            return np.asarray(jnp.asarray(value.float().numpy(), jnp.bfloat16))
        return value.numpy()
    return np.asarray(value)


def _axes_for(owner: str, field: str, value: Any, axes: Any) -> Axes:
    shape = value.shape if _walk.is_array(value) else None
    return check_axes(axes, shape, name=f"{owner}.{field}")


def _merged_axes(old: tuple, new: Mapping[str, Axes]) -> tuple:
    """The ``_torsh_axes`` static field: (field, axes) pairs sorted by field (hashable, one order)."""
    merged = dict(old)
    merged.update(new)
    return tuple(sorted(merged.items()))


def _tree_struct_reserved(name: str) -> bool:
    return name.startswith("__torsh") or name in ("training", "_torsh_frozen", "_torsh_axes")


def _class_axes(owner: str, axes: Any) -> dict[str, Axes]:
    if not isinstance(axes, Mapping):
        raise ConfigError(
            f"class {owner}(..., axes=...): expected a mapping from field names to axis-name tuples, "
            f"got {type(axes).__name__} {axes!r}"
        )
    return {name: check_axes(value, name=f"{owner}.{name}") for name, value in axes.items()}


class Module(Struct):
    """Base class of torsh layers and models: an immutable pytree with PyTorch's module API.

    Subclasses declare fields with annotations (arrays and sub-modules are children; configuration
    is :func:`torsh.tree.static`; non-trainable arrays are :func:`buffer`), build them in
    ``__init__`` (which may assign ``self.x = ...``), and define ``forward``. ``module(x)`` calls
    ``forward`` and adds the module's path to shape/dtype/config errors raised inside; a ``key=``
    argument is passed on only if ``forward`` takes one, so ``model(x, key=key)`` works for any model.

    Base fields, all static: ``training`` (set by :meth:`train`/:meth:`eval`), the frozen field names
    (:meth:`freeze`) and logical-axis overrides (:meth:`with_axes`).

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> from torsh import nn
      >>> class MLP(nn.Module):
      ...     fc1: nn.Linear
      ...     fc2: nn.Linear
      ...     def __init__(self, d_in, d_hidden, d_out, *, key=None):
      ...         k1, k2 = nn.split_key(key, 2)
      ...         self.fc1 = nn.Linear(d_in, d_hidden, key=k1)
      ...         self.fc2 = nn.Linear(d_hidden, d_out, key=k2)
      ...     def forward(self, x):
      ...         return self.fc2(jax.nn.relu(self.fc1(x)))
      >>> mlp = MLP(4, 8, 2, key=torsh.random.key(0))
      >>> [name for name, _ in mlp.named_parameters()]
      ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
      >>> jax.jit(lambda m, x: m(x))(mlp, jnp.ones((3, 4))).shape
      (3, 2)
    """

    training: bool = dataclasses.field(default=True, init=False, repr=False, metadata=_BASE_STATIC)
    _torsh_frozen: frozenset = dataclasses.field(
        default=frozenset(), init=False, repr=False, metadata=_BASE_STATIC
    )
    _torsh_axes: tuple = dataclasses.field(default=(), init=False, repr=False, metadata=_BASE_STATIC)

    # Default logical axis names per field (subclasses override, e.g. Linear: weight ("out", "in")).
    # (Class attributes without annotations: they are not dataclass fields.)
    __torsh_axes__ = {}  # type: Mapping[str, Axes]
    __torsh_inline_fields__ = frozenset()  # type: frozenset[str]
    __torsh_takes_key__ = False
    __torsh_open__ = True  # attributes assigned in __init__ without annotations become fields

    def __init_subclass__(cls, *, axes: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if axes is not None:
            cls.__torsh_axes__ = {**cls.__torsh_axes__, **_class_axes(cls.__name__, axes)}
        cls.__torsh_inline_fields__ = frozenset(
            f.name for f in dataclasses.fields(cls) if f.metadata.get("inline", False)
        )
        if "__call__" in cls.__dict__:  # a module written Struct-style, with __call__ as forward
            call = cls.__dict__["__call__"]
            cls.__torsh_takes_key__ = _takes_key(call)
            cls.__call__ = _with_error_context(call, cls.__torsh_takes_key__)  # type: ignore[method-assign]
        elif "forward" in cls.__dict__:
            cls.__torsh_takes_key__ = _takes_key(cls.__dict__["forward"])

    def _torsh_check_init(self) -> None:
        # Fields with defaults need not be assigned by a hand-written __init__ (e.g. ``training``).
        d = self.__dict__
        for f in dataclasses.fields(self):
            if f.name not in d:
                if f.default is not dataclasses.MISSING:
                    d[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    d[f.name] = f.default_factory()
        super()._torsh_check_init()

    # -- PyTorch-style registration (inside __init__) ------------------------------------------------
    def _require_init(self, method: str, name: Any) -> None:
        if _INIT_FLAG not in self.__dict__:
            raise ConfigError(
                f"{type(self).__name__}.{method} can only be called inside __init__ (modules are immutable); "
                f"use `model = model.replace({name}=...)` to change a built module"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ConfigError(
                f"{type(self).__name__}.{method}: name must be an identifier string, got {name!r}"
            )

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Inside ``__init__``: ``self.name = tensor`` as a buffer (saved, never trained), as in PyTorch.


        Args:
          name: the attribute name (an identifier).
          tensor: an array, or None.
          persistent: must be True (every array of a torsh module is in ``state_dict``).

        Raises:
          ConfigError: called outside ``__init__``, a bad name, not an array, ``persistent=False``, or a
            name declared as a non-buffer field.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> class Causal(nn.Module):
          ...     def __init__(self, n):
          ...         super().__init__()
          ...         self.register_buffer("mask", jnp.tril(jnp.ones((n, n), bool)))
          >>> [name for name, _ in Causal(3).named_buffers()]
          ['mask']
        """
        self._require_init("register_buffer", name)
        if not persistent:
            raise ConfigError(
                f"{type(self).__name__}.register_buffer({name!r}, persistent=False): non-persistent buffers "
                "are not supported (every array of a torsh module is in state_dict); register it as a "
                "persistent buffer (load torch checkpoints with strict=False) or compute it in forward"
            )
        if tensor is not None and not _walk.is_array(tensor):
            raise ConfigError(
                f"{type(self).__name__}.register_buffer({name!r}): expected an array or None, got "
                f"{type(tensor).__name__}"
            )
        if name in type(self).__dataclass_fields__ and name not in self.__torsh_buffer_fields__:
            raise ConfigError(
                f"{type(self).__name__}.register_buffer({name!r}): {name!r} is declared as a non-buffer "
                "field; declare it with `nn.buffer()` instead"
            )
        d = self.__dict__
        d["__torsh_new_buffers__"] = d.get("__torsh_new_buffers__", frozenset()) | {name}
        setattr(self, name, tensor)

    def register_parameter(self, name: str, param: Any) -> None:
        """Inside ``__init__``: ``self.name = param`` (an array, or None for an absent one).

        Args:
          name: the attribute name (an identifier).
          param: an array, or None.

        Raises:
          ConfigError: called outside ``__init__``, a bad name, or not an array.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> class Scale(nn.Module):
          ...     def __init__(self):
          ...         self.register_parameter("w", jnp.ones(2))
          >>> [name for name, _ in Scale().named_parameters()]
          ['w']
        """
        self._require_init("register_parameter", name)
        if param is not None and not _walk.is_array(param):
            raise ConfigError(
                f"{type(self).__name__}.register_parameter({name!r}): expected an array or None, got "
                f"{type(param).__name__}"
            )
        setattr(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Inside ``__init__``: ``self.name = module`` (PyTorch's ``add_module``/``register_module``).

        Args:
          name: the attribute name (an identifier).
          module: an ``nn.Module``, or None.

        Raises:
          ConfigError: called outside ``__init__``, a bad name, or not a module.

        Example:
          >>> from torsh import nn
          >>> class Net(nn.Module):
          ...     def __init__(self):
          ...         self.add_module("fc", nn.Linear(2, 2, key=0))
          >>> [name for name, _ in Net().named_children()]
          ['fc']
        """
        self._require_init("add_module", name)
        if module is not None and not isinstance(module, Module):
            raise ConfigError(
                f"{type(self).__name__}.add_module({name!r}): expected an nn.Module or None, got "
                f"{type(module).__name__}"
            )
        setattr(self, name, module)

    register_module = add_module

    def _torsh_frozen_fields(self) -> frozenset[str]:
        """Fields excluded from training (consulted by :func:`torsh.tree.trainable_mask`)."""
        return self._torsh_frozen

    # -- forward -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The forward computation; subclasses define it (``module(x)`` calls it)."""
        raise NotImplementedError(f"{type(self).__name__} defines no forward(); define `forward(self, ...)`")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # ``model(x, key=key)`` works for every model: layers without randomness ignore the key.
        if "key" in kwargs and not self.__torsh_takes_key__:
            del kwargs["key"]
        try:
            hook = CALL_HOOK.get()
            if hook is not None:
                return hook(self, _forward, args, kwargs)
            return self.forward(*args, **kwargs)
        except CONTEXT_ERRORS as e:
            annotate(e, self)
            raise

    def _describe(self) -> str:
        """Short description used in error messages, e.g. ``Linear 512->10``."""
        return type(self).__name__

    # -- traversal -----------------------------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, jax.Array]]:
        """``(dotted_name, array)`` for every parameter (non-buffer array), frozen ones included.

        Names and order follow PyTorch: each module's own parameters, then its children's.

        Args:
          prefix: prepended to every name (with a dot).

        Returns:
          An iterator of ``(name, array)`` pairs.

        Example:
          >>> from torsh import nn
          >>> [name for name, _ in nn.Linear(2, 2, key=0).named_parameters("fc")]
          ['fc.weight', 'fc.bias']
        """
        for leaf in _walk.leaves(self):
            if not leaf.is_buffer:
                yield join_path(prefix, leaf.path), leaf.value

    def parameters(self) -> Iterator[jax.Array]:
        """Every parameter array (see :meth:`named_parameters`).

        Returns:
          An iterator over the parameters.

        Example:
          >>> from torsh import nn
          >>> [p.shape for p in nn.Linear(2, 3, key=0).parameters()]
          [(3, 2), (3,)]
        """
        for _, value in self.named_parameters():
            yield value

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, jax.Array]]:
        """``(dotted_name, array)`` for every buffer (e.g. BatchNorm running statistics).

        Args:
          prefix: prepended to every name (with a dot).

        Returns:
          An iterator of ``(name, array)`` pairs.

        Example:
          >>> from torsh import nn
          >>> [name for name, _ in nn.BatchNorm1d(3).named_buffers("bn")]
          ['bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']
        """
        for leaf in _walk.leaves(self):
            if leaf.is_buffer:
                yield join_path(prefix, leaf.path), leaf.value

    def buffers(self) -> Iterator[jax.Array]:
        """Every buffer array.

        Returns:
          An iterator over the buffers, in :meth:`named_buffers` order.

        Example:
          >>> from torsh import nn
          >>> [b.shape for b in nn.BatchNorm1d(3).buffers()]
          [(3,), (3,), ()]
        """
        for _, value in self.named_buffers():
            yield value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(dotted_name, module)`` for this module (name ``""``) and all sub-modules, pre-order.

        Args:
          prefix: prepended to every name (with a dot).

        Returns:
          An iterator of ``(name, module)`` pairs.

        Example:
          >>> from torsh import nn
          >>> [name for name, _ in nn.Sequential(nn.Linear(2, 2, key=0)).named_modules()]
          ['', '0']
        """
        yield from _walk.modules(self, prefix)

    def modules(self) -> Iterator[Module]:
        """This module and all sub-modules, pre-order.

        Returns:
          An iterator over the modules.

        Example:
          >>> from torsh import nn
          >>> [type(m).__name__ for m in nn.Sequential(nn.Linear(2, 2, key=0)).modules()]
          ['Sequential', 'Linear']
        """
        for _, m in _walk.modules(self):
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their names.

        Returns:
          An iterator of ``(name, module)`` pairs.

        Example:
          >>> from torsh import nn
          >>> [name for name, _ in nn.Sequential(nn.Linear(2, 2, key=0), nn.ReLU()).named_children()]
          ['0', '1']
        """
        yield from _walk.children(self)

    def children(self) -> Iterator[Module]:
        """Direct sub-modules.

        Returns:
          An iterator over the direct sub-modules.

        Example:
          >>> from torsh import nn
          >>> [type(m).__name__ for m in nn.Sequential(nn.Linear(2, 2, key=0), nn.ReLU()).children()]
          ['Linear', 'ReLU']
        """
        for _, m in _walk.children(self):
            yield m

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path (``""`` is this module).

        Args:
          target: a dotted module path such as ``"encoder.layers.0"``.

        Returns:
          The module at that path.

        Example:
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Sequential(nn.Linear(2, 2, key=0)))
          >>> type(model.get_submodule("0.0")).__name__
          'Linear'
        """
        return _walk.find_module(self, target)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of parameter elements (``trainable_only``: excluding frozen and non-float ones).


        Args:
          trainable_only: count only trainable parameters (not frozen, floating).

        Returns:
          The number of parameter elements.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> nn.Linear(10, 5, key=torsh.random.key(0)).num_parameters()
          55
        """
        total = 0
        for leaf in _walk.leaves(self):
            if leaf.is_buffer:
                continue
            if trainable_only and (
                leaf.field in leaf.owner._torsh_frozen or not jnp.issubdtype(leaf.value.dtype, jnp.inexact)
            ):
                continue
            total += int(np.prod(leaf.value.shape))
        return total

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, jax.Array]:
        """Parameters and buffers by dotted name, as PyTorch's ``state_dict()`` (same keys).

        Returns:
          A dict from dotted names to arrays.

        Example:
          >>> from torsh import nn
          >>> list(nn.Sequential(nn.Linear(2, 2, key=0)).state_dict())
          ['0.weight', '0.bias']
        """
        return {leaf.path: leaf.value for leaf in _walk.leaves(self)}

    def load_state_dict(self: M, state_dict: Mapping[str, Any], strict: bool = True) -> M:
        """A new module with values from ``state_dict`` (numpy, JAX or torch arrays, by dotted name).

        Values are cast to each leaf's dtype. With ``strict`` (the default) missing and unexpected
        keys are errors; mis-shaped values always are. One :class:`StateDictError` lists them all.


        Args:
          state_dict: a mapping from dotted names to arrays (numpy, JAX or torch).
          strict: whether missing and unexpected keys are errors.

        Returns:
          A new module holding the loaded values.

        Raises:
          ConfigError: ``state_dict`` is not a mapping.
          StateDictError: missing/unexpected keys (with ``strict``) or mis-shaped values, listed together.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> a = nn.Linear(3, 2, key=torsh.random.key(0))
          >>> b = nn.Linear(3, 2, key=torsh.random.key(1)).load_state_dict(a.state_dict())
          >>> bool((a.weight == b.weight).all())
          True
        """
        if not isinstance(state_dict, Mapping):
            raise ConfigError(
                f"load_state_dict: expected a mapping from names to arrays, got {type(state_dict).__name__}"
            )
        expected = {leaf.path: leaf.value for leaf in _walk.leaves(self)}
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        converted: dict[str, np.ndarray] = {}
        mismatched = []
        for k, v in state_dict.items():
            if k not in expected:
                continue
            arr = _to_numpy(v)
            want = tuple(expected[k].shape)
            if tuple(arr.shape) != want:
                mismatched.append(f"{k}: expected {list(want)}, got {list(arr.shape)}")
            converted[k] = arr
        if mismatched or (strict and (missing or unexpected)):
            parts = []
            if missing:
                parts.append(f"missing keys {missing}")
            if unexpected:
                parts.append(f"unexpected keys {unexpected}")
            if mismatched:
                parts.append("size mismatch for " + "; ".join(mismatched))
            raise StateDictError(f"load_state_dict into {type(self).__name__}: " + "; ".join(parts))

        def put(path: str, leaf: Any) -> Any:
            if path not in converted or not _walk.is_array(leaf):
                return leaf
            # Always copy: numpy views of torch tensors share memory, and XLA on CPU may alias an
            # aligned numpy buffer, so an in-place update of the source would change the module.
            value = np.array(converted[path], dtype=leaf.dtype, copy=True)
            try:
                return jax.device_put(value, leaf.sharding)
            except Exception:  # tracers and numpy leaves have no sharding
                return jnp.asarray(value)

        return _tree.map_with_path(put, self)

    # -- functional updates --------------------------------------------------------------------
    def replace(self: M, **changes: Any) -> M:
        """A copy with fields replaced; keys may also be dotted paths (``"0.weight"``, ``"encoder"``).


        Args:
          **changes: field names or dotted paths, and their new values.

        Returns:
          The changed copy (the original is unchanged).

        Raises:
          ConfigError: an unknown field or path.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Linear(2, 2, key=torsh.random.key(0)))
          >>> model.replace(**{"0.bias": jnp.ones(2)})[0].bias.tolist()
          [1.0, 1.0]
        """
        names = set(self._torsh_field_names())
        direct = {k: v for k, v in changes.items() if k in names}
        dotted = {k: v for k, v in changes.items() if k not in names}
        new = super().replace(**direct) if direct else self
        if not dotted:
            return new
        module_paths = {p for p, _ in _walk.modules(new)}
        leaf_paths = set(_tree.paths(new))
        unknown = sorted(k for k in dotted if k not in module_paths and k not in leaf_paths)
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}.replace: unknown field(s) or path(s) {unknown}; fields are "
                f"{sorted(n for n in names if not n.startswith('_'))}, "
                f"paths include {sorted(leaf_paths)[:10]}"
            )
        mods = {k: v for k, v in dotted.items() if k in module_paths}
        if mods:
            new = _walk.map_modules(new, lambda p, m: mods.get(p, m))
        leafs = {k: v for k, v in dotted.items() if k not in module_paths}
        if leafs:
            new = _tree.map_with_path(lambda p, x: leafs.get(p, x), new)
        return new

    def train(self: M, mode: bool = True) -> M:
        """A copy with this module and all sub-modules in training mode (``mode=False``: eval).

        Args:
          mode: True for training, False for evaluation.

        Returns:
          The module in the requested mode.

        Raises:
          ConfigError: ``mode`` is not a bool.

        Example:
          >>> from torsh import nn
          >>> nn.Dropout(0.5).eval().train().training
          True
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise ConfigError(f"train: mode must be a bool, got {type(mode).__name__} {mode!r}")
        mode = bool(mode)
        return _walk.map_modules(
            self, lambda _, m: m if m.training == mode else Struct.replace(m, training=mode)
        )

    def eval(self: M) -> M:
        """A copy in evaluation mode (Dropout off, BatchNorm uses running statistics).

        Returns:
          The module and all its sub-modules with ``training=False``.

        Example:
          >>> from torsh import nn
          >>> nn.Dropout(0.5).eval().training
          False
        """
        return self.train(False)

    def apply(self: M, fn: Callable[[Module], Module]) -> M:
        """Rebuild the tree with ``fn(m)`` for every module ``m``, children first (as PyTorch).

        Args:
          fn: called with each module, returns the module to put in its place.

        Returns:
          The rebuilt module.

        Example:
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Linear(2, 2, key=0), nn.ReLU())
          >>> names = []
          >>> _ = model.apply(lambda m: names.append(type(m).__name__) or m)
          >>> names
          ['Linear', 'ReLU', 'Sequential']
        """
        return _walk.map_modules(self, lambda _, m: fn(m))

    def to(self: M, *args: Any, dtype: Any = None, device: Any = None) -> M:
        """A copy on another device and/or with floating arrays cast to another dtype.

        ``to("cpu")``, ``to(torsh.bfloat16)``, ``to("cpu", "float16")``, ``to(dtype=..., device=...)``.
        Integer arrays (e.g. ``num_batches_tracked``) keep their dtype, as in PyTorch.

        Args:
          *args: a device and/or a dtype, in any order.
          dtype: a floating dtype.
          device: a device or device name.

        Returns:
          The converted module.

        Raises:
          ConfigError: a dtype that is not floating.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> nn.Linear(2, 2, key=0).to(torsh.bfloat16).weight.dtype
          dtype(bfloat16)
        """
        from .._dtype import _NAMES
        from .._dtype import dtype as as_dtype

        for arg in args:
            is_dtype = (isinstance(arg, str) and arg.removeprefix("torch.") in _NAMES) or (
                not isinstance(arg, str) and not isinstance(arg, jax.Device) and _dtype_like(arg)
            )
            if is_dtype:
                dtype = arg
            else:
                device = arg
        new = self
        if dtype is not None:
            d = as_dtype(dtype)
            if not jnp.issubdtype(d, jnp.floating):
                raise ConfigError(f"Module.to: expected a floating dtype, got {d}")
            new = _tree.map(
                lambda x: x.astype(d) if _walk.is_array(x) and jnp.issubdtype(x.dtype, jnp.floating) else x,
                new,
            )
        if device is not None:
            from ..backends import to_device

            new = to_device(new, device)
        return new

    # -- freezing ------------------------------------------------------------------------------
    def freeze(self: M, pattern: str | Iterable[str] | None = None) -> M:
        """A copy whose matching parameters are excluded from gradients and optimizer updates.

        ``pattern`` is a glob (or list of globs) over parameter names, or a module path that
        freezes everything below it (``"encoder"``); ``None`` freezes every parameter. Freezing is
        per field: freezing one array of a field holding a list freezes the whole list.


        Args:
          pattern: a glob (or list of globs) over parameter names, or a module path; None for all.

        Returns:
          The module with those parameters frozen.

        Raises:
          ConfigError: a pattern that matches no parameter, or is not a string.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)).freeze("0")
          >>> model.num_parameters(trainable_only=True)
          4
        """
        return self._set_frozen(_as_patterns(pattern, "freeze"), True)

    def unfreeze(self: M, pattern: str | Iterable[str] | None = None) -> M:
        """A copy with matching parameters trainable again (``None``: all).

        Args:
          pattern: a glob (or list of globs) over parameter names, or a module path; None for all.

        Returns:
          The module with those parameters unfrozen.

        Raises:
          ConfigError: a pattern that matches no parameter, or is not a string.

        Example:
          >>> from torsh import nn
          >>> model = nn.Linear(2, 2, key=0).freeze()
          >>> model.unfreeze("bias").num_parameters(trainable_only=True)
          2
        """
        return self._set_frozen(_as_patterns(pattern, "unfreeze"), False)

    def _set_frozen(self: M, patterns: tuple[str, ...] | None, frozen: bool) -> M:
        targets: dict[str, set[str]] = {}
        names = []
        for leaf in _walk.leaves(self):
            if leaf.is_buffer:
                continue
            names.append(leaf.path)
            if patterns is None or _matches(leaf.path, patterns):
                targets.setdefault(leaf.owner_path, set()).add(leaf.field)
        if patterns is not None and not targets:
            verb = "freeze" if frozen else "unfreeze"
            raise ConfigError(
                f"{verb}: pattern(s) {list(patterns)} match no parameter; parameters are {names[:20]}"
            )

        def update(path: str, m: Module) -> Module:
            if path not in targets:
                return m
            new = m._torsh_frozen | targets[path] if frozen else m._torsh_frozen - targets[path]
            return m if new == m._torsh_frozen else Struct.replace(m, _torsh_frozen=frozenset(new))

        return _walk.map_modules(self, update)

    # -- logical axes --------------------------------------------------------------------------
    def axes_of(self, field: str) -> Axes | None:
        """Logical axis names of one of this module's own fields (``None`` when not declared).

        Args:
          field: the field name (``"weight"``).

        Returns:
          The instance's names if set (``axes=``/``with_axes``), else the class default, else None.

        Example:
          >>> from torsh import nn
          >>> nn.Linear(2, 3, key=0).axes_of("weight")
          ('out', 'in')
        """
        for name, axes in self._torsh_axes:
            if name == field:
                return axes
        return type(self).__torsh_axes__.get(field)

    def with_axes(self: M, mapping: Mapping[str, Axes] | None = None, /, **fields: Axes) -> M:
        """Give parameters/buffers logical axis names (static metadata used for sharding).

        Outside ``__init__`` it returns a changed copy, and keys may be this module's field names
        (``weight=("mlp", "embed")``) or dotted paths into sub-modules (``{"0.weight": ...}``).
        Inside ``__init__`` (a layer declaring the names of the fields it has just assigned, e.g. from
        an ``axes=`` argument) it records them on the instance being built and returns it; keys are
        then this module's own, already assigned fields. Class-wide defaults are declared with the
        class keyword ``axes=`` (``class Linear(nn.Module, axes={"weight": ("out", "in")})``).

        Args:
          mapping: field names or dotted paths to axis-name tuples (positional; for dotted paths).
          **fields: field names to axis-name tuples.

        Returns:
          The module with the names recorded (a copy, or ``self`` inside ``__init__``).

        Raises:
          ConfigError: an unknown field or path, axes that are not names/None, a repeated name.
          ShapeError: the number of names differs from the array's number of axes.

        Example:
          >>> import torsh, jax
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Linear(4, 8)).with_axes({"0.weight": ("mlp", "embed")})
          >>> nn.logical_axes(model)["0.weight"]
          ('mlp', 'embed')
          >>> class Scale(nn.Module, axes={"w": ("embed",)}):
          ...     def __init__(self, n, axes=None):
          ...         self.w = jax.numpy.ones(n)
          ...         if axes is not None:
          ...             self.with_axes(w=axes)
          >>> nn.logical_axes(Scale(3)), nn.logical_axes(Scale(3, axes=("mlp",)))
          ({'w': ('embed',)}, {'w': ('mlp',)})
        """
        wanted = {**(mapping or {}), **fields}
        if _INIT_FLAG in self.__dict__:
            return self._record_axes(wanted)
        by_leaf = {leaf.path: leaf for leaf in _walk.leaves(self)}
        own_fields = set(self.__torsh_data_fields__)
        per_module: dict[str, dict[str, Axes]] = {}
        for key, axes in wanted.items():
            if key in own_fields:
                value = self.__dict__[key]
                per_module.setdefault("", {})[key] = _axes_for(type(self).__name__, key, value, axes)
            elif key in by_leaf:
                leaf = by_leaf[key]
                owner = f"{leaf.owner_path or type(self).__name__}"
                per_module.setdefault(leaf.owner_path, {})[leaf.field] = _axes_for(
                    owner, leaf.field, leaf.value, axes
                )
            else:
                raise ConfigError(
                    f"with_axes: {key!r} is neither a field of {type(self).__name__} nor a parameter/buffer "
                    f"path; paths are {sorted(by_leaf)[:20]}"
                )

        def update(path: str, m: Module) -> Module:
            if path not in per_module:
                return m
            return Struct.replace(m, _torsh_axes=_merged_axes(m._torsh_axes, per_module[path]))

        return _walk.map_modules(self, update)

    def _record_axes(self: M, wanted: Mapping[str, Any]) -> M:
        """``with_axes`` inside ``__init__``: validate against the assigned fields, record in place."""
        owner = type(self).__name__
        d = self.__dict__
        new = {}
        for key, axes in wanted.items():
            if key not in d or _tree_struct_reserved(key):
                raise ConfigError(
                    f"{owner}.with_axes({key}=...) inside __init__: {key!r} is not a field assigned so far; "
                    f"assign `self.{key} = ...` first (sub-modules: pass axes to their constructor or use "
                    "`self.sub = Layer(...).with_axes(...)`)"
                )
            new[key] = _axes_for(owner, key, d[key], axes)
        self._torsh_axes = _merged_axes(d.get("_torsh_axes", ()), new)
        return self

    # -- repr ----------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The configuration shown in the repr (PyTorch convention); defaults to the static fields.

        Returns:
          A string such as ``"in_features=2, out_features=3, bias=True"``.

        Example:
          >>> from torsh import nn
          >>> nn.Linear(2, 3, key=0).extra_repr()
          'in_features=2, out_features=3, bias=True'
        """
        base = {"training", "_torsh_frozen", "_torsh_axes"}
        parts = []
        for f in dataclasses.fields(self):
            if f.name in base or not f.metadata.get("static", False) or not f.repr:
                continue
            parts.append(f"{f.name}={self.__dict__[f.name]!r}")
        return ", ".join(parts)

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in _walk.children(self)]
        suffix = f" [frozen: {', '.join(sorted(self._torsh_frozen))}]" if self._torsh_frozen else ""
        if not lines:
            return f"{type(self).__name__}({extra}){suffix}"
        body = "\n  ".join(([extra] if extra else []) + lines)
        return f"{type(self).__name__}(\n  {body}\n){suffix}"


def _dtype_like(x: Any) -> bool:
    if type(x).__module__ == "torch" and type(x).__name__ == "dtype":
        return True
    try:
        np.dtype(x)
    except TypeError:
        return False
    return True


def logical_axes(module: Module) -> dict[str, Axes]:
    """Logical axis names of every parameter and buffer, keyed by dotted path.

    Each layer declares defaults (Linear weight ``("out", "in")``, bias ``("out",)``); instances
    override them with ``axes=`` in the constructor or :meth:`Module.with_axes`. Arrays without
    declared names get ``None`` per axis. ``torsh.distributed`` maps the names onto a device mesh.


    Args:
      module: any module.

    Returns:
      A dict from dotted parameter/buffer paths to axis-name tuples.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> nn.logical_axes(nn.Linear(4, 8, axes=("mlp", "embed")))
      {'weight': ('mlp', 'embed'), 'bias': ('mlp',)}
    """
    out: dict[str, Axes] = {}
    for leaf in _walk.leaves(module):
        axes = leaf.owner.axes_of(leaf.field)
        ndim = leaf.value.ndim
        out[leaf.path] = axes if axes is not None and len(axes) == ndim else (None,) * ndim
    return out
