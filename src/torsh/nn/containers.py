"""Containers of modules (``Sequential``, ``ModuleList``, ``ModuleDict``, ``Lambda``) and of arrays.

Their children live in an ``inline`` field, so parameter names are PyTorch's: ``0.weight``,
``blocks.3.bias``, ``heads.cls.weight``; the arrays of ``ParameterList``/``ParameterDict`` are ``0``,
``1`` / ``name``.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ..tree import field, static
from ._errors import IndexOutOfRangeError, MissingKeyError
from ._walk import is_array
from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict", "Lambda", "ParameterList", "ParameterDict"]


def _position(owner: str, idx: Any, length: int) -> int:
    """``idx`` as a valid position into ``length`` items (negative counts from the end), or a torsh error."""
    try:
        i = operator.index(idx)
    except TypeError:
        raise ConfigError(
            f"{owner} indices must be integers or slices, got {type(idx).__name__} {idx!r}"
        ) from None
    if not -length <= i < length:
        raise IndexOutOfRangeError(
            f"{owner} index {i} is out of range: it has {length} entr{'y' if length == 1 else 'ies'} "
            f"(valid indices {-length}..{length - 1})"
            if length
            else f"{owner} index {i} is out of range: it is empty"
        )
    return i % length


def _check_module(owner: str, name: Any, value: Any) -> Module:
    if not isinstance(value, Module):
        hint = " (wrap a function as nn.Lambda(fn))" if callable(value) else ""
        raise ConfigError(f"{owner}: entry {name!r} must be an nn.Module, got {type(value).__name__}{hint}")
    return value


class Lambda(Module):
    """Wraps a stateless function (e.g. ``jax.nn.relu``) as a module; the function is static.

    Args:
      fn: The function to wrap (called with the module's inputs).

    Raises:
      ConfigError: If ``fn`` is not callable.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Lambda(jnp.abs)(jnp.array([-1.0, 2.0])).tolist()
      [1.0, 2.0]
    """

    fn: Callable = static()

    def __init__(self, fn: Callable) -> None:
        if not callable(fn):
            raise ConfigError(f"Lambda: expected a callable, got {type(fn).__name__}")
        self.fn = fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__qualname__", None) or repr(self.fn)


class Sequential(Module):
    """Applies its layers in order (``torch.nn.Sequential``).

    ``model(x, key=key)`` hands each layer that takes a ``key`` (e.g. Dropout) its own key derived
    with ``fold_in(key, index)``. Layers may be given positionally (named ``0``, ``1``, ...) or as a
    mapping of names to layers.

    Args:
      *layers: Modules, called in order; or one ``OrderedDict``/dict of name → module.

    Raises:
      ConfigError: If an entry is not an ``nn.Module``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> torsh.manual_seed(0)
      >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
      >>> [name for name, _ in model.named_parameters()]
      ['0.weight', '0.bias', '2.weight', '2.bias']
      >>> model(jnp.ones((3, 4))).shape
      (3, 2)
    """

    layers: tuple | OrderedDict = field(inline=True)

    def __init__(self, *layers: Module | Mapping[str, Module]) -> None:
        if len(layers) == 1 and isinstance(layers[0], Mapping):
            items = OrderedDict((str(k), _check_module("Sequential", k, v)) for k, v in layers[0].items())
            self.layers = items
        else:
            self.layers = tuple(_check_module("Sequential", i, m) for i, m in enumerate(layers))

    def _items(self) -> list[tuple[str, Module]]:
        if isinstance(self.layers, Mapping):
            return list(self.layers.items())
        return [(str(i), m) for i, m in enumerate(self.layers)]

    def forward(self, input: Any, *, key: jax.Array | None = None) -> Any:
        x = input
        for i, layer in enumerate(self.layers.values() if isinstance(self.layers, Mapping) else self.layers):
            if key is not None and layer.__torsh_takes_key__:
                x = layer(x, key=jax.random.fold_in(key, i))
            else:
                x = layer(x)
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(m for _, m in self._items())

    @overload
    def __getitem__(self, idx: int | str) -> Module: ...
    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...
    def __getitem__(self, idx: int | str | slice) -> Module | Sequential:
        items = self._items()
        if isinstance(idx, slice):
            chosen = items[idx]
            if isinstance(self.layers, Mapping):
                return Sequential(OrderedDict(chosen)).train(self.training)
            return Sequential(*(m for _, m in chosen)).train(self.training)
        if isinstance(idx, str):
            if not isinstance(self.layers, Mapping) or idx not in self.layers:
                raise MissingKeyError(
                    f"Sequential has no layer named {idx!r}; names are {[n for n, _ in items]}"
                )
            return self.layers[idx]
        return items[_position("Sequential", idx, len(items))][1]

    def append(self, module: Module) -> Sequential:
        """A new Sequential with ``module`` added at the end.

        Args:
            module: The module to add at the end.

        Returns:
            A new ``Sequential`` (the original is unchanged).

        Raises:
            ConfigError: If an entry is not an ``nn.Module``.

        Example:
            >>> import torsh
            >>> from torsh import nn
            >>> seq = nn.Sequential(nn.Linear(2, 3, key=torsh.random.key(0)))
            >>> longer = seq.append(nn.ReLU())
            >>> len(seq), len(longer)
            (1, 2)
        """
        _check_module("Sequential.append", len(self), module)
        if isinstance(self.layers, Mapping):
            return self.replace(layers=OrderedDict([*self.layers.items(), (str(len(self)), module)]))
        return self.replace(layers=(*self.layers, module))

    def extend(self, modules: Iterable[Module]) -> Sequential:
        """A new Sequential with ``modules`` added at the end.

        Args:
            modules: The modules to add at the end.

        Returns:
            A new ``Sequential`` (the original is unchanged).

        Example:
            >>> import torsh
            >>> from torsh import nn
            >>> seq = nn.Sequential(nn.ReLU()).extend([nn.Linear(3, 1, key=torsh.random.key(0))])
            >>> [type(m).__name__ for m in seq]
            ['ReLU', 'Linear']
        """
        new = self
        for m in modules:
            new = new.append(m)
        return new


class ModuleList(Module):
    """An immutable list of modules (``torch.nn.ModuleList``): indexable, iterable, not callable.

    Args:
      modules: The initial modules.

    Raises:
      ConfigError: If an entry is not an ``nn.Module``.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> torsh.manual_seed(0)
      >>> blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
      >>> [name for name, _ in blocks.named_parameters()][-1]
      '2.bias'
    """

    items: tuple = field(inline=True)

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self.items = tuple(_check_module("ModuleList", i, m) for i, m in enumerate(modules))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ModuleList is not callable; iterate over it in the parent's forward")

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.items)

    @overload
    def __getitem__(self, idx: int) -> Module: ...
    @overload
    def __getitem__(self, idx: slice) -> ModuleList: ...
    def __getitem__(self, idx: int | slice) -> Module | ModuleList:
        if isinstance(idx, slice):
            return self.replace(items=self.items[idx])
        return self.items[_position("ModuleList", idx, len(self.items))]

    def append(self, module: Module) -> ModuleList:
        """A new ModuleList with ``module`` at the end.

        Args:
            module: The module to add.

        Returns:
            A new ``ModuleList`` (the original is unchanged).

        Raises:
            ConfigError: If an entry is not an ``nn.Module``.

        Example:
            >>> from torsh import nn
            >>> layers = nn.ModuleList([nn.ReLU()])
            >>> len(layers.append(nn.Tanh())), len(layers)
            (2, 1)
        """
        return self.replace(items=(*self.items, _check_module("ModuleList.append", len(self), module)))

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """A new ModuleList with ``modules`` at the end.

        Args:
            modules: The modules to add.

        Returns:
            A new ``ModuleList`` (the original is unchanged).

        Raises:
            ConfigError: If an entry is not an ``nn.Module``.

        Example:
            >>> from torsh import nn
            >>> len(nn.ModuleList([nn.ReLU()]).extend([nn.ReLU(), nn.Tanh()]))
            3
        """
        extra = tuple(_check_module("ModuleList.extend", i, m) for i, m in enumerate(modules))
        return self.replace(items=self.items + extra)

    def insert(self, index: int, module: Module) -> ModuleList:
        """A new ModuleList with ``module`` inserted before ``index``.

        Args:
            index: Where to insert (as ``list.insert``).
            module: The module to insert.

        Returns:
            A new ``ModuleList`` (the original is unchanged).

        Raises:
            ConfigError: If an entry is not an ``nn.Module``.

        Example:
            >>> from torsh import nn
            >>> [type(m).__name__ for m in nn.ModuleList([nn.ReLU()]).insert(0, nn.Tanh())]
            ['Tanh', 'ReLU']
        """
        items = list(self.items)
        items.insert(index, _check_module("ModuleList.insert", index, module))
        return self.replace(items=tuple(items))


def _named_entries(
    owner: str, pairs: Iterable[tuple[Any, Any]], check: Callable[[str, Any, Any], Any]
) -> OrderedDict:
    """``name -> checked value`` in order; names are non-empty strings without ``.`` (state-dict keys)."""
    entries: OrderedDict = OrderedDict()
    for k, v in pairs:
        if not isinstance(k, str) or not k or "." in k:
            raise ConfigError(f"{owner}: keys must be non-empty strings without '.', got {k!r}")
        entries[k] = check(owner, k, v)
    return entries


def _entry(owner: str, entries: OrderedDict, name: Any) -> Any:
    try:
        return entries[name]
    except (KeyError, TypeError):
        raise MissingKeyError(f"{owner} has no entry {name!r}; keys are {list(entries)}") from None


class ModuleDict(Module):
    """An immutable, insertion-ordered mapping of names to modules (``torch.nn.ModuleDict``).

    Args:
      modules: A mapping (or pairs) of name → module; names are non-empty and without ``.``.

    Raises:
      ConfigError: If a name is empty or contains ``.``, or an entry is not an ``nn.Module``.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> torsh.manual_seed(0)
      >>> heads = nn.ModuleDict({"cls": nn.Linear(4, 3), "box": nn.Linear(4, 2)})
      >>> [name for name, _ in heads.named_parameters()]
      ['cls.weight', 'cls.bias', 'box.weight', 'box.bias']
    """

    entries: OrderedDict = field(inline=True)

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else (modules or ())
        self.entries = _named_entries("ModuleDict", pairs, _check_module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ModuleDict is not callable; index it in the parent's forward")

    def __getitem__(self, name: str) -> Module:
        return _entry("ModuleDict", self.entries, name)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def keys(self) -> Iterable[str]:
        """The entry names, in insertion order (as ``dict.keys``).

        Returns:
            An iterable of names.

        Example:
            >>> from torsh import nn
            >>> acts = nn.ModuleDict({"act": nn.ReLU(), "out": nn.Tanh()})
            >>> list(acts.keys())
            ['act', 'out']
        """
        return self.entries.keys()

    def values(self) -> Iterable[Module]:
        """The modules, in insertion order (as ``dict.values``).

        Returns:
            An iterable of modules.

        Example:
            >>> from torsh import nn
            >>> acts = nn.ModuleDict({"act": nn.ReLU(), "out": nn.Tanh()})
            >>> [type(m).__name__ for m in acts.values()]
            ['ReLU', 'Tanh']
        """
        return self.entries.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        """``(name, module)`` pairs, in insertion order (as ``dict.items``).

        Returns:
            An iterable of pairs.

        Example:
            >>> from torsh import nn
            >>> acts = nn.ModuleDict({"act": nn.ReLU(), "out": nn.Tanh()})
            >>> [name for name, _ in acts.items()]
            ['act', 'out']
        """
        return self.entries.items()

    def update(self, modules: Mapping[str, Module]) -> ModuleDict:
        """A new ModuleDict with entries added or replaced.

        Args:
            modules: Name → module entries to add or replace.

        Returns:
            A new ``ModuleDict`` (the original is unchanged).

        Example:
            >>> from torsh import nn
            >>> acts = nn.ModuleDict({"act": nn.ReLU()}).update({"out": nn.Tanh()})
            >>> list(acts.keys())
            ['act', 'out']
        """
        return ModuleDict(OrderedDict([*self.entries.items(), *dict(modules).items()])).train(self.training)


def _check_array(owner: str, name: Any, value: Any) -> jax.Array:
    if isinstance(value, Module):
        raise ConfigError(
            f"{owner}: entry {name!r} is an nn.Module; parameter containers hold arrays (use nn.ModuleList "
            "/ nn.ModuleDict for modules)"
        )
    if type(value).__module__.split(".")[0] == "torch":
        raise ConfigError(
            f"{owner}: entry {name!r} is a torch tensor; pass a JAX array (jnp.asarray(t.numpy()))"
        )
    if not is_array(value):
        raise ConfigError(
            f"{owner}: entry {name!r} must be an array (a parameter), got {type(value).__name__}; "
            "wrap numbers with jnp.asarray"
        )
    return jnp.asarray(value) if isinstance(value, np.ndarray) else value


def _arrays_repr(owner: str, items: Iterable[tuple[str, Any]]) -> str:
    """PyTorch's layout: one ``(name): Parameter containing: [dtype of size shape]`` line per array."""
    lines = [f"({k}): Parameter containing: [{v.dtype} of size {list(v.shape)}]" for k, v in items]
    return f"{owner}(\n  " + "\n  ".join(lines) + "\n)" if lines else f"{owner}()"


class ParameterList(Module):
    """An immutable list of parameter arrays (``torch.nn.ParameterList``): state-dict keys ``0``, ``1``, ...

    Inside a module (``self.scales = nn.ParameterList([...])``) the arrays are named ``scales.0``,
    ``scales.1`` as in PyTorch, trained like any other parameter and loaded by ``load_state_dict``.
    ``append``/``extend`` return a new list (modules are immutable): rebind it
    (``params = params.append(w)``), or build the whole list in ``__init__``.

    Args:
      values: the initial arrays (``nn.Parameter(x)`` or plain arrays).

    Raises:
      ConfigError: an entry that is not an array (a module, a torch tensor, a number).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> params = nn.ParameterList([nn.Parameter(jnp.ones(2)), jnp.zeros((2, 3))])
      >>> params = params.append(jnp.ones(1))
      >>> list(params.state_dict()), params[1].shape, len(params)
      (['0', '1', '2'], (2, 3), 3)
    """

    values: tuple = field(inline=True)

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        self.values = tuple(_check_array("ParameterList", i, v) for i, v in enumerate(values or ()))

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ParameterList is not callable; index or iterate over it in the parent's forward")

    def __len__(self) -> int:
        return len(self.values)

    def __iter__(self) -> Iterator[jax.Array]:
        return iter(self.values)

    @overload
    def __getitem__(self, idx: int) -> jax.Array: ...
    @overload
    def __getitem__(self, idx: slice) -> ParameterList: ...
    def __getitem__(self, idx: int | slice) -> jax.Array | ParameterList:
        if isinstance(idx, slice):
            return self.replace(values=self.values[idx])
        return self.values[_position("ParameterList", idx, len(self.values))]

    def append(self, value: Any) -> ParameterList:
        """A new ParameterList with ``value`` at the end.

        Args:
          value: the array to add.

        Returns:
          A new ``ParameterList`` (the original is unchanged).

        Raises:
          ConfigError: ``value`` is not an array.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> params = nn.ParameterList([jnp.ones(2)])
          >>> len(params.append(jnp.ones(3))), len(params)
          (2, 1)
        """
        return self.replace(values=(*self.values, _check_array("ParameterList.append", len(self), value)))

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """A new ParameterList with ``values`` at the end.

        Args:
          values: the arrays to add.

        Returns:
          A new ``ParameterList`` (the original is unchanged).

        Raises:
          ConfigError: an entry is not an array.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> list(nn.ParameterList([jnp.ones(2)]).extend([jnp.ones(1), jnp.ones(3)]).state_dict())
          ['0', '1', '2']
        """
        start = len(self)
        extra = tuple(_check_array("ParameterList.extend", start + i, v) for i, v in enumerate(values))
        return self.replace(values=self.values + extra)

    def __repr__(self) -> str:
        return _arrays_repr("ParameterList", ((str(i), v) for i, v in enumerate(self.values)))


def _parameter_pairs(parameters: Any) -> Iterable[tuple[Any, Any]]:
    """PyTorch's order: OrderedDict, ParameterDict or pairs keep theirs; a plain mapping is sorted by key."""
    if isinstance(parameters, (OrderedDict, ParameterDict)):
        return list(parameters.items())
    if isinstance(parameters, Mapping):
        return sorted(parameters.items(), key=lambda kv: str(kv[0]))
    return list(parameters)


class ParameterDict(Module):
    """An immutable, ordered mapping of names to parameter arrays (``torch.nn.ParameterDict``).

    Inside a module (``self.heads = nn.ParameterDict({...})``) the arrays are named ``heads.<name>``, as
    in PyTorch. The order is PyTorch's too: a plain ``dict`` is sorted by key, an ``OrderedDict`` or a
    list of pairs keeps its order. ``update`` returns a new dict (modules are immutable).

    Args:
      parameters: a mapping (or ``(name, array)`` pairs) of names to arrays; names are non-empty
        strings without ``.``.

    Raises:
      ConfigError: a bad name, or an entry that is not an array.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> params = nn.ParameterDict({"shift": jnp.zeros(3), "scale": jnp.ones(3)})
      >>> list(params.state_dict()), params["scale"].shape, "shift" in params
      (['scale', 'shift'], (3,), True)
    """

    entries: OrderedDict = field(inline=True)

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        self.entries = _named_entries("ParameterDict", _parameter_pairs(parameters or ()), _check_array)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ParameterDict is not callable; index it in the parent's forward")

    def __getitem__(self, name: str) -> jax.Array:
        return _entry("ParameterDict", self.entries, name)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def get(self, key: str, default: Any = None) -> Any:
        """The array named ``key``, or ``default`` (as ``dict.get``).

        Args:
          key: the entry name.
          default: returned when there is no such entry.

        Returns:
          The array or ``default``.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> nn.ParameterDict({"w": jnp.ones(2)}).get("b") is None
          True
        """
        return self.entries.get(key, default)

    def keys(self) -> Iterable[str]:
        """The entry names, in insertion order (as ``dict.keys``).

        Returns:
          An iterable of names.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> list(nn.ParameterDict([("w", jnp.ones(2)), ("b", jnp.ones(1))]).keys())
          ['w', 'b']
        """
        return self.entries.keys()

    def values(self) -> Iterable[jax.Array]:
        """The arrays, in insertion order (as ``dict.values``).

        Returns:
          An iterable of arrays.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> [v.shape for v in nn.ParameterDict({"w": jnp.ones(2), "b": jnp.ones(1)}).values()]
          [(1,), (2,)]
        """
        return self.entries.values()

    def items(self) -> Iterable[tuple[str, jax.Array]]:
        """``(name, array)`` pairs, in insertion order (as ``dict.items``).

        Returns:
          An iterable of pairs.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> [k for k, _ in nn.ParameterDict({"w": jnp.ones(2)}).items()]
          ['w']
        """
        return self.entries.items()

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> ParameterDict:
        """A new ParameterDict with entries added or replaced (existing names keep their position).

        Args:
          parameters: a mapping or ``(name, array)`` pairs.

        Returns:
          A new ``ParameterDict`` (the original is unchanged).

        Raises:
          ConfigError: a bad name, or an entry that is not an array.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> d = nn.ParameterDict({"w": jnp.ones(2)}).update({"b": jnp.zeros(2), "a": jnp.ones(1)})
          >>> list(d.keys())
          ['w', 'a', 'b']
        """
        merged = OrderedDict(self.entries)
        merged.update(_parameter_pairs(parameters))
        return ParameterDict(merged).train(self.training)

    def __repr__(self) -> str:
        return _arrays_repr("ParameterDict", self.entries.items())
