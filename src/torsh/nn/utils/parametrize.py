"""Parametrizations as pure functions of the module tree (``torch.nn.utils.parametrize``).

A parametrization computes a parameter from other arrays: ``weight = f(original)``. As in PyTorch,
:func:`register_parametrization` moves the array to ``parametrizations.<name>.original`` (or
``original0``, ``original1``... when ``f`` takes several), keeps the modules computing ``f`` in
``parametrizations.<name>.0``, ``.1``..., and gives the module a class ``Parametrized<Class>`` whose
``weight`` attribute evaluates ``f`` on every access. So the layer's own ``forward`` is unchanged,
gradients flow to the originals, and the state-dict keys are PyTorch's.

torsh's differences follow from immutability: every function returns a **new** module (the argument
is unchanged), the tensor name may be a dotted path into a sub-module (``"layers.2.weight"``), and a
parametrization that updates buffers in training mode (``spectral_norm``'s power iteration) reports
them like BatchNorm does: ``out, model = nn.stateful(model)(x)``.

Example:
    >>> import torsh, jax.numpy as jnp
    >>> from torsh import nn
    >>> from torsh.nn.utils import parametrize
    >>> class Symmetric(nn.Module):
    ...     def forward(self, X):
    ...         return jnp.triu(X) + jnp.triu(X, 1).T
    >>> layer = parametrize.register_parametrization(nn.Linear(3, 3, key=0), "weight", Symmetric())
    >>> bool((layer.weight == layer.weight.T).all()), list(layer.state_dict())
    (True, ['bias', 'parametrizations.weight.original'])
"""

from __future__ import annotations

import contextlib
import inspect
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

import jax
import jax.numpy as jnp

from ...errors import ConfigError, ShapeError
from ...tree import field, static
from .. import _walk
from .._utils import shape_str
from ..containers import ModuleDict
from ..module import Module
from ..stateful import _stack, stateful

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]

M = TypeVar("M", bound=Module)


# -- running a method of a module so that the buffers it reports are kept ------------------------
class _Apply(Module):
    """``target.<method>(*args)`` as a forward, so :func:`stateful` collects the buffers it reports."""

    target: Module
    method: str = static()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.method == "forward":  # through __call__: errors get the module's path
            return self.target(*args, **kwargs)
        return getattr(self.target, self.method)(*args, **kwargs)


def _run(target: Module, method: str, *args: Any, **kwargs: Any) -> tuple[Any, Module]:
    """``(target.method(*args), target with the buffer updates the call reported)``."""
    out, wrapper = stateful(_Apply(target, method))(*args, **kwargs)
    assert isinstance(wrapper, _Apply)
    return out, wrapper.target


def _takes_key(fn: Callable) -> bool:
    try:
        return "key" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _is_array_seq(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and all(_walk.is_array(t) for t in x)


class ParametrizationList(Module):
    """The parametrizations of one tensor and its original array(s) (``parametrizations.<name>``).

    Built by :func:`register_parametrization` (as in PyTorch, constructing it yourself is rare). On
    construction the ``right_inverse`` methods of ``modules`` (last to first; a parametrization
    without one, or raising ``NotImplementedError``, counts as the identity) turn ``original`` into
    the stored array ``original``, or ``original0``, ``original1``... when the first returns several.
    Calling the list computes the parametrized tensor. Buffers a parametrization updates while this
    happens (``spectral_norm``'s power iteration, ``orthogonal``'s ``base``) are kept, as PyTorch's
    in-place updates are.

    Args:
      modules: one or more parametrization modules (``forward`` of the first takes the originals).
      original: the array being parametrized.
      unsafe: skip the check that the parametrized tensor keeps the original's shape and dtype.
      original_is_buffer: store the original(s) as buffers (PyTorch keeps a buffer a buffer).
      key: PRNG key passed to a ``right_inverse`` that takes ``key=`` (``orthogonal`` draws with it).

    Raises:
      ConfigError: no modules, a ``right_inverse`` returning something other than arrays, a dtype
        change (without ``unsafe``).
      ShapeError: the parametrized tensor's shape differs from the original's (without ``unsafe``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils.parametrize import ParametrizationList
      >>> class Double(nn.Module):
      ...     def forward(self, x):
      ...         return 2 * x
      ...     def right_inverse(self, y):
      ...         return y / 2
      >>> plist = ParametrizationList([Double()], jnp.ones(2))
      >>> plist.original.tolist(), plist().tolist()
      ([0.5, 0.5], [1.0, 1.0])
    """

    items: tuple = field(inline=True)
    is_tensor: bool = static(default=True)
    ntensors: int = static(default=1)
    unsafe: bool = static(default=False)

    def __init__(
        self,
        modules: Sequence[Module],
        original: jax.Array,
        unsafe: bool = False,
        *,
        original_is_buffer: bool = False,
        key: Any = None,
    ) -> None:
        items = list(modules)
        if not items:
            raise ConfigError("ParametrizationList requires one or more modules")
        for i, m in enumerate(items):
            if not isinstance(m, Module):
                raise ConfigError(
                    f"ParametrizationList: entry {i} must be an nn.Module with a forward, "
                    f"got {type(m).__name__}"
                )
        new: Any = original
        for i in reversed(range(len(items))):
            m = items[i]
            if not hasattr(m, "right_inverse"):
                continue
            kwargs = {"key": key} if key is not None and _takes_key(m.right_inverse) else {}
            try:
                new, items[i] = _run(m, "right_inverse", new, **kwargs)
            except NotImplementedError:
                pass  # PyTorch: a right_inverse that is not implemented counts as the identity
        if not _walk.is_array(new) and not _is_array_seq(new):
            raise ConfigError(
                "ParametrizationList: right_inverse must return an array or a sequence of arrays "
                f"(list, tuple), got {type(new).__name__}"
            )
        is_tensor = _walk.is_array(new)
        if is_tensor and new.dtype != original.dtype:
            raise ConfigError(
                "ParametrizationList: when right_inverse returns one array it may not change the dtype: "
                f"original dtype {original.dtype}, right_inverse(original) dtype {new.dtype}"
            )
        self.items = tuple(items)
        self.is_tensor = is_tensor
        self.ntensors = 1 if is_tensor else len(new)
        self.unsafe = bool(unsafe)
        named = {"original": new} if is_tensor else {f"original{i}": t for i, t in enumerate(new)}
        for name, value in named.items():
            if original_is_buffer:
                self.register_buffer(name, jnp.asarray(value))
            else:
                self.register_parameter(name, jnp.asarray(value))

    def originals(self) -> tuple[jax.Array, ...]:
        """The stored arrays: ``(original,)`` or ``(original0, original1, ...)``.

        Returns:
          A tuple of arrays, in the order the first parametrization's ``forward`` takes them.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> from torsh.nn.utils.parametrizations import weight_norm
          >>> plist = weight_norm(nn.Linear(3, 2, key=0)).parametrizations["weight"]
          >>> [t.shape for t in plist.originals()]
          [(2, 1), (2, 3)]
        """
        if self.is_tensor:
            return (self.__dict__["original"],)
        return tuple(self.__dict__[f"original{i}"] for i in range(self.ntensors))

    def forward(self) -> jax.Array:
        x = self.items[0](*self.originals())
        for m in self.items[1:]:
            x = m(x)
        return x

    def right_inverse(self, value: jax.Array, *, key: Any = None) -> ParametrizationList:
        """A copy whose originals make the list compute ``value`` (PyTorch assigns in place).

        Every parametrization must define ``right_inverse``. Buffers they update are kept.

        Args:
          value: the new value of the parametrized tensor.
          key: PRNG key for a ``right_inverse`` that draws random numbers (``orthogonal``).

        Returns:
          The updated list.

        Raises:
          ConfigError: a parametrization without ``right_inverse``, or results of another dtype or
            number than the stored originals.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> from torsh.nn.utils.parametrizations import weight_norm
          >>> plist = weight_norm(nn.Linear(2, 1, key=0)).parametrizations["weight"]
          >>> plist.right_inverse(jnp.array([[3.0, 4.0]])).original0.tolist()
          [[5.0]]
        """
        items = list(self.items)
        new: Any = value
        for i in reversed(range(len(items))):
            m = items[i]
            if not hasattr(m, "right_inverse"):
                raise ConfigError(
                    f"parametrization {type(m).__name__} does not implement right_inverse, so the "
                    "parametrized tensor cannot be assigned"
                )
            kwargs = {"key": key} if key is not None and _takes_key(m.right_inverse) else {}
            new, items[i] = _run(m, "right_inverse", new, **kwargs)
        olds = self.originals()
        news = (new,) if self.is_tensor else new
        if (self.is_tensor and not _walk.is_array(new)) or (not self.is_tensor and not _is_array_seq(new)):
            what = "an array" if self.is_tensor else f"a sequence of {self.ntensors} arrays"
            raise ConfigError(f"right_inverse must return {what}, got {type(new).__name__}")
        if len(news) != len(olds):
            raise ConfigError(f"right_inverse must return a sequence of {len(olds)} arrays, got {len(news)}")
        changes: dict[str, Any] = {"items": tuple(items)}
        names = ("original",) if self.is_tensor else tuple(f"original{i}" for i in range(self.ntensors))
        for name, old, t in zip(names, olds, news, strict=True):
            if t.dtype != old.dtype:
                raise ConfigError(f"right_inverse returned dtype {t.dtype} for {name}, which has {old.dtype}")
            changes[name] = jnp.asarray(t)
        return self.replace(**changes)

    def extra_repr(self) -> str:
        return ""  # PyTorch shows the parametrizations only

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> Module:
        return self.items[idx]

    def __iter__(self) -> Any:
        return iter(self.items)


# -- the Parametrized<Class> subclasses -----------------------------------------------------------
_CLASSES: dict[tuple[type, frozenset[str]], type] = {}


_local = threading.local()  # .cache: (the stateful call's collector, {id(plist): (plist, value)})


def _evaluate_once(plist: ParametrizationList) -> jax.Array:
    """``plist()``, computed once per :func:`~torsh.nn.stateful` call (or :func:`cached` block).

    Layers may read ``self.weight`` more than once in a forward (a shape check, then the product);
    PyTorch's layers read it once, so a parametrization that updates buffers (spectral_norm) must
    update them once per call, as under PyTorch's ``parametrize.cached()``.
    """
    stack = _stack()
    owner: Any = stack[-1] if stack else getattr(_local, "cached", None)
    if owner is None:
        return plist()
    cache: tuple[Any, dict[int, tuple[ParametrizationList, jax.Array]]] | None
    cache = getattr(_local, "cache", None)
    if cache is None or cache[0] is not owner:
        entries: dict[int, tuple[ParametrizationList, jax.Array]] = {}
        cache = _local.cache = (owner, entries)
    hit = cache[1].get(id(plist))
    if hit is not None and hit[0] is plist:
        return hit[1]
    value = plist()
    cache[1][id(plist)] = (plist, value)
    return value


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Inside the block each parametrized tensor is computed once (``torch.nn.utils.parametrize.cached``).

    Useful when eager code reads a parametrized weight many times (an RNN's weight per step); under
    ``jit`` XLA removes the repeated computation anyway, and inside :func:`~torsh.nn.stateful` torsh
    always computes each tensor once per call. The cache holds values by module identity, which is
    safe because modules are immutable.

    Returns:
      A context manager.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize
      >>> calls = []
      >>> class Counted(nn.Module):
      ...     def forward(self, x):
      ...         calls.append(1)
      ...         return x
      >>> layer = nn.Linear(2, 2, key=0)
      >>> layer = parametrize.register_parametrization(layer, "weight", Counted(), unsafe=True)
      >>> with parametrize.cached():
      ...     w1, w2 = layer.weight, layer.weight
      >>> len(calls), w1 is w2
      (1, True)
    """
    outer = getattr(_local, "cached", None)
    if outer is None:
        _local.cached = object()  # identifies this outermost block's cache
    try:
        yield
    finally:
        if outer is None:
            _local.cached = None
            _local.cache = None


def _param_property(name: str) -> property:
    def get(self: Module) -> jax.Array:
        return _evaluate_once(self.__dict__["parametrizations"][name])

    get.__name__ = name
    return property(get, doc=f"``{name}`` computed by ``parametrizations.{name}`` on every access.")


def _replace(self: Module, **changes: Any) -> Module:
    """``replace`` of a parametrized module: a parametrized name goes through ``right_inverse``."""
    cls = type(self)
    names = cls.__torsh_param_names__  # type: ignore[attr-defined]
    assigned = {k: changes.pop(k) for k in list(changes) if k in names}
    new = cls.__torsh_param_base__.replace(self, **changes)  # type: ignore[attr-defined]
    if not assigned:
        return new
    plists = dict(new.__dict__["parametrizations"].entries)
    for name, value in assigned.items():
        plists[name] = plists[name].right_inverse(value)
    return cls.__torsh_param_base__.replace(new, parametrizations=ModuleDict(plists))  # type: ignore[attr-defined]


def _parametrized_class(base: type, names: frozenset[str]) -> type:
    """``Parametrized<base>`` with a property per parametrized name (one class per base and names)."""
    cls = _CLASSES.get((base, names))
    if cls is None:
        namespace: dict[str, Any] = {
            "__module__": base.__module__,
            "__qualname__": f"Parametrized{base.__qualname__}",
            "__doc__": f"{base.__name__} with parametrized {sorted(names)} (see torsh.nn.utils.parametrize).",
            "__torsh_param_base__": base,
            "__torsh_param_names__": names,
            "replace": _replace,
        }
        namespace.update({n: _param_property(n) for n in sorted(names)})
        cls = type(f"Parametrized{base.__name__}", (base,), namespace)
        _CLASSES[(base, names)] = cls
    return cls


def _base_class(module: Module) -> type:
    return getattr(type(module), "__torsh_param_base__", type(module))


def _rebuild(module: Module, plists: dict[str, ParametrizationList], restored: dict[str, Any]) -> Module:
    """``module`` with ``parametrizations`` = ``plists`` and the class for those names.

    ``restored`` holds values for tensors leaving the parametrization (a plain field again).
    """
    base = _base_class(module)
    cls = _parametrized_class(base, frozenset(plists)) if plists else base
    new: Module = object.__new__(cls)
    d = new.__dict__
    d.update(module.__dict__)
    d.update(restored)
    for name in plists:
        d[name] = None
    if plists:
        d.pop("parametrizations", None)  # re-added last: PyTorch registers it after the layer's children
        d["parametrizations"] = ModuleDict(plists).train(module.training)
    else:
        d.pop("parametrizations", None)
    new._torsh_collect_instance_fields()
    return new


# -- locating the tensor ---------------------------------------------------------------------------
def _where(path: str, module: Module) -> str:
    return f"{path!r} ({type(module).__name__})" if path else f"the module ({type(module).__name__})"


def _locate(root: Module, name: Any, fn: str) -> tuple[str, Module, str]:
    """``(owner_path, owner, tensor_name)`` for a tensor name that may be a dotted path."""
    if not isinstance(root, Module):
        raise ConfigError(f"{fn}: expected an nn.Module, got {type(root).__name__}")
    if (
        not isinstance(name, str)
        or not name
        or not all(p.isidentifier() or p.isdigit() for p in name.split("."))
    ):
        raise ConfigError(
            f"{fn}: the tensor name must be a parameter or buffer name such as 'weight' (or a dotted path "
            f"such as 'layers.2.weight'), got {name!r}"
        )
    owner_path, _, tensor = name.rpartition(".")
    modules = dict(_walk.modules(root))
    if owner_path not in modules:
        raise ConfigError(
            f"{fn}: no sub-module at path {owner_path!r} (from {name!r}); sub-modules are "
            f"{[p for p in modules if p][:20]}"
        )
    return owner_path, modules[owner_path], tensor


def _evaluate(owner: Module, tensor: str) -> tuple[jax.Array, Module]:
    """A parametrized tensor's value and ``owner`` with the buffers its evaluation updated (as PyTorch)."""
    plists = dict(owner.__dict__["parametrizations"].entries)
    value, plists[tensor] = _run(plists[tensor], "forward")
    return value, _rebuild(owner, plists, {})


def tensor_of(root: Module, name: Any, fn: str, evaluate: bool = True) -> tuple[str, Module, str, Any]:
    """``(owner_path, owner, tensor_name, value)`` of a parameter/buffer, parametrized or plain.

    A parametrized tensor is evaluated (``evaluate``; buffer updates land in the returned owner, as
    PyTorch's ``getattr`` updates them in place) or returned as None. ConfigError names the module
    path when there is no such array.
    """
    owner_path, owner, tensor = _locate(root, name, fn)
    if is_parametrized(owner, tensor):
        if not evaluate:
            return owner_path, owner, tensor, None
        evaluated, owner = _evaluate(owner, tensor)
        return owner_path, owner, tensor, evaluated
    value = owner.__dict__.get(tensor) if tensor in owner._torsh_field_names() else None
    if not _walk.is_array(value):
        names = sorted({leaf.field for leaf in _walk.direct_leaves(owner)} | set(_param_names(owner)))
        got = "is None" if tensor in owner._torsh_field_names() and value is None else "does not exist"
        raise ConfigError(
            f"{fn}: {_where(owner_path, owner)} has no parameter or buffer named {tensor!r} (it {got}); "
            f"its parameters and buffers are {names}"
        )
    return owner_path, owner, tensor, value


def _param_names(module: Module) -> list[str]:
    p = module.__dict__.get("parametrizations")
    return list(p.entries) if isinstance(p, ModuleDict) and is_parametrized(module) else []


def _put(root: M, owner_path: str, owner: Module) -> M:
    """``root`` with the module at ``owner_path`` replaced (``owner`` itself for the root)."""
    if not owner_path:
        return cast("M", owner)
    return root.replace(**{owner_path: owner})


def _check_same(what: str, tensor: str, where: str, ref: jax.Array, got: Any) -> None:
    if not _walk.is_array(got):
        raise ConfigError(f"{where}: {what} must return an array for {tensor!r}, got {type(got).__name__}")
    if got.dtype != ref.dtype:
        raise ConfigError(
            f"{where}: {what} may not change the dtype of {tensor!r} (unless unsafe=True): "
            f"expected {ref.dtype}, got {got.dtype}"
        )
    if got.shape != ref.shape:
        raise ShapeError(
            f"{where}: {what} may not change the shape of {tensor!r} (unless unsafe=True): "
            f"expected {shape_str(ref.shape)}, got {shape_str(got.shape)}"
        )


# -- public functions ------------------------------------------------------------------------------
def register_parametrization(
    module: M, tensor_name: str, parametrization: Module, *, unsafe: bool = False, key: Any = None
) -> M:
    """A copy of ``module`` whose ``tensor_name`` is computed by ``parametrization`` (PyTorch's rules).

    The array moves to ``parametrizations.<name>.original`` (``original0``, ``original1``... if
    ``parametrization.right_inverse`` returns several arrays) and ``module.<name>`` becomes
    ``parametrization(original)``, evaluated on every access, so gradients reach the originals.
    Registering on a name that is already parametrized appends to its list (applied after the
    others). ``parametrization`` is put in ``module``'s training mode.

    Args:
      module: the module to parametrize (unchanged).
      tensor_name: a parameter or buffer of ``module``, or a dotted path into a sub-module
        (``"layers.2.weight"``; the result is then the whole ``module`` with that layer parametrized).
      parametrization: an ``nn.Module`` whose ``forward`` maps the original(s) to the tensor; it may
        define ``right_inverse`` (tensor to original(s)).
      unsafe: skip the checks that the parametrized tensor keeps its shape and dtype.
      key: PRNG key for a ``right_inverse`` that draws random numbers.

    Returns:
      The parametrized module (class ``Parametrized<Class>``, a subclass of the original class).

    Raises:
      ConfigError: no such parameter/buffer (the message names the module path), a parametrization
        that is not a module, a dtype change, appending a parametrization that takes several arrays.
      ShapeError: a shape change (without ``unsafe``).

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize
      >>> class Doubled(nn.Module):
      ...     def forward(self, x):
      ...         return 2 * x
      ...     def right_inverse(self, y):
      ...         return y / 2
      >>> model = nn.Sequential(nn.Linear(2, 2, key=0), nn.Linear(2, 1, key=1))
      >>> new = parametrize.register_parametrization(model, "1.bias", Doubled())
      >>> list(new.state_dict())[-1], bool(new[1].bias == model[1].bias)
      ('1.parametrizations.bias.original', True)
    """
    fn = "register_parametrization"
    if not isinstance(parametrization, Module):
        raise ConfigError(
            f"{fn}: parametrization must be an nn.Module (forward maps the original to the tensor), "
            f"got {type(parametrization).__name__}"
        )
    owner_path, owner, tensor, value = tensor_of(module, tensor_name, fn, evaluate=False)
    where = f"{fn}({tensor_name!r})"
    parametrization = parametrization.train(owner.training)
    plists = dict(owner.__dict__["parametrizations"].entries) if is_parametrized(owner) else {}
    if tensor in plists:
        if not unsafe:
            y, owner = _evaluate(owner, tensor)
            plists = dict(owner.__dict__["parametrizations"].entries)
            x, parametrization = _run(parametrization, "forward", y)
            _check_same("a parametrization", tensor, where, y, x)
            if hasattr(parametrization, "right_inverse"):
                try:
                    z, parametrization = _run(parametrization, "right_inverse", x)
                except NotImplementedError:
                    pass
                else:
                    _check_same("right_inverse", tensor, where, y, z)
        n_inputs = _positional_inputs(parametrization)
        if n_inputs is not None and n_inputs != 1:
            raise ConfigError(
                f"{where}: {_where(owner_path, owner)}.{tensor} is already parametrized "
                f"({[type(m).__name__ for m in plists[tensor].items]}), and "
                f"{type(parametrization).__name__}.forward "
                f"takes {n_inputs} arrays, so it can only be the first parametrization: call "
                f"remove_parametrizations(module, {tensor_name!r}) first"
            )
        plist = plists[tensor]
        plists[tensor] = plist.replace(
            items=(*plist.items, parametrization), unsafe=plist.unsafe or bool(unsafe)
        )
        return _put(module, owner_path, _rebuild(owner, plists, {}))
    is_buffer = tensor in owner.__torsh_buffer_fields__
    plist = ParametrizationList([parametrization], value, unsafe, original_is_buffer=is_buffer, key=key)
    if tensor in owner._torsh_frozen and not is_buffer:  # a frozen parameter stays frozen
        plist = plist.freeze()
    plist = plist.train(owner.training)
    if not unsafe:
        z, plist = _run(plist, "forward")
        _check_same("a parametrization", tensor, where, value, z)
    plists[tensor] = plist
    new = _rebuild(owner, plists, {})
    if tensor in owner._torsh_frozen:
        new = Module.replace(new, _torsh_frozen=owner._torsh_frozen - {tensor})
    return _put(module, owner_path, new)


def _positional_inputs(m: Module) -> int | None:
    """The number of positional arrays ``m.forward`` takes (None when it takes ``*args``)."""
    try:
        params = list(inspect.signature(m.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module`` has a parametrization (on ``tensor_name``, if given).

    Args:
      module: a module.
      tensor_name: a parameter/buffer name, or None for any.

    Returns:
      True if ``module`` (not its sub-modules) has that parametrization.

    Example:
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize, parametrizations
      >>> layer = parametrizations.weight_norm(nn.Linear(2, 2, key=0))
      >>> parametrize.is_parametrized(layer), parametrize.is_parametrized(layer, "bias")
      (True, False)
    """
    if not isinstance(module, Module) or not hasattr(type(module), "__torsh_param_names__"):
        return False
    names = type(module).__torsh_param_names__  # type: ignore[attr-defined]
    return bool(names) if tensor_name is None else tensor_name in names


def type_before_parametrizations(module: Module) -> type:
    """The class of ``module`` before it was parametrized (its own class otherwise).

    Args:
      module: a module.

    Returns:
      The original class (``Linear`` for a ``ParametrizedLinear``).

    Example:
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize, parametrizations
      >>> layer = parametrizations.weight_norm(nn.Linear(2, 2, key=0))
      >>> type(layer).__name__, parametrize.type_before_parametrizations(layer).__name__
      ('ParametrizedLinear', 'Linear')
    """
    return _base_class(module)


def remove_parametrizations(module: M, tensor_name: str, leave_parametrized: bool = True) -> M:
    """A copy of ``module`` with the parametrizations of ``tensor_name`` removed (PyTorch's rules).

    With ``leave_parametrized`` the tensor keeps its current parametrized value; otherwise it gets
    back the stored ``original`` (only possible when there is one original). A parameter stays a
    parameter (a buffer a buffer); when no parametrization is left the module gets its class back.
    A parametrization that updates buffers in training mode (``spectral_norm``) is evaluated as in
    PyTorch (one more power iteration) and its buffers are dropped with it.

    Args:
      module: the module (unchanged).
      tensor_name: a parametrized name, or a dotted path into a sub-module (``"layers.2.weight"``).
      leave_parametrized: keep the parametrized value (True) or the original (False).

    Returns:
      The module without that parametrization.

    Raises:
      ConfigError: the tensor is not parametrized (the message names the module path), or
        ``leave_parametrized=False`` with several originals.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize, parametrizations
      >>> layer = nn.Linear(3, 2, key=0)
      >>> plain = parametrize.remove_parametrizations(parametrizations.weight_norm(layer), "weight")
      >>> type(plain).__name__, list(plain.state_dict())
      ('Linear', ['weight', 'bias'])
      >>> bool(abs(plain.weight - layer.weight).max() < 1e-6)
      True
    """
    fn = "remove_parametrizations"
    owner_path, owner, tensor = _locate(module, tensor_name, fn)
    if not is_parametrized(owner, tensor):
        raise ConfigError(
            f"{fn}: {_where(owner_path, owner)} has no parametrization on {tensor!r}; parametrized: "
            f"{_param_names(owner)}"
        )
    plists = dict(owner.__dict__["parametrizations"].entries)
    plist = plists.pop(tensor)
    if leave_parametrized:
        value, _ = _run(plist, "forward")  # buffer updates are dropped with the parametrization
        value = jax.lax.stop_gradient(value)
    elif plist.is_tensor:
        value = plist.originals()[0]
    else:
        raise ConfigError(
            f"{fn}: cannot leave {_where(owner_path, owner)}.{tensor} unparametrized "
            f"(leave_parametrized=False): it is parametrized by {plist.ntensors} arrays "
            f"(original0..original{plist.ntensors - 1}); use leave_parametrized=True"
        )
    new = _rebuild(owner, plists, {tensor: value})
    originals = {"original"} if plist.is_tensor else {f"original{i}" for i in range(plist.ntensors)}
    if originals & plist._torsh_frozen:
        new = Module.replace(new, _torsh_frozen=new._torsh_frozen | {tensor})
    return _put(module, owner_path, new)


def transfer_parametrizations_and_params(
    from_module: Module, to_module: M, tensor_name: str | None = None
) -> M:
    """A copy of ``to_module`` with ``from_module``'s parametrizations and originals (PyTorch's rules).

    For each parametrized tensor of ``from_module`` (or only ``tensor_name``), the same
    parametrizations are registered on ``to_module`` and the originals are copied over, so both
    compute the same tensor. A ``to_module`` field that is None takes ``from_module``'s current
    value first (PyTorch creates the parameter when it is missing; an immutable module can only
    fill a declared field).

    Args:
      from_module: the parametrized module to copy from.
      to_module: the module to parametrize (unchanged).
      tensor_name: one parametrized name, or None for all of them.

    Returns:
      The parametrized copy of ``to_module`` (``to_module`` itself if ``from_module`` has none).

    Raises:
      ConfigError: ``tensor_name`` is not parametrized on ``from_module``, ``to_module`` has no
        such field, or its parametrization stores other originals.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn.utils import parametrize, parametrizations
      >>> a = parametrizations.weight_norm(nn.Linear(3, 2, key=0))
      >>> b = parametrize.transfer_parametrizations_and_params(a, nn.Linear(3, 2, key=1))
      >>> list(b.state_dict())[1:], bool(jnp.allclose(a.weight, b.weight))
      (['parametrizations.weight.original0', 'parametrizations.weight.original1'], True)
    """
    fn = "transfer_parametrizations_and_params"
    if not isinstance(to_module, Module):
        raise ConfigError(f"{fn}: to_module must be an nn.Module, got {type(to_module).__name__}")
    if not is_parametrized(from_module):
        return to_module
    names = _param_names(from_module) if tensor_name is None else [tensor_name]
    new: Module = to_module
    for name in names:
        if not is_parametrized(from_module, name):
            raise ConfigError(
                f"{fn}: from_module ({type(from_module).__name__}) has no parametrization on {name!r}; "
                f"parametrized: {_param_names(from_module)}"
            )
        source = from_module.__dict__["parametrizations"][name]
        if not is_parametrized(new, name):
            if name not in new._torsh_field_names():
                raise ConfigError(
                    f"{fn}: to_module ({type(new).__name__}) has no field {name!r} to parametrize; "
                    "declare it (an array or None) in its __init__"
                )
            if new.__dict__[name] is None:
                value, _ = _run(source, "forward")
                new = Module.replace(new, **{name: jax.lax.stop_gradient(value)})
        for parametrization in source.items:
            new = register_parametrization(new, name, parametrization)
        plists = dict(new.__dict__["parametrizations"].entries)
        target = plists[name]
        if (target.is_tensor, target.ntensors) != (source.is_tensor, source.ntensors):
            raise ConfigError(
                f"{fn}: {type(new).__name__}.{name} stores {target.ntensors} original(s) and from_module "
                f"{source.ntensors}; they cannot be copied"
            )
        originals = ("original",) if source.is_tensor else [f"original{i}" for i in range(source.ntensors)]
        plists[name] = target.replace(**dict(zip(originals, source.originals(), strict=True)))
        new = _rebuild(new, plists, {})
    return cast("M", new)
