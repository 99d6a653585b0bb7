"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict`` and ``Lambda``.

Their children live in an ``inline`` field, so parameter names are PyTorch's: ``0.weight``,
``blocks.3.bias``, ``heads.cls.weight``.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, overload

import jax

from ..errors import ConfigError
from ..tree import field, static
from ._errors import IndexOutOfRangeError, MissingKeyError
from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict", "Lambda"]


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
        entries: OrderedDict = OrderedDict()
        for k, v in pairs:
            if not isinstance(k, str) or not k or "." in k:
                raise ConfigError(f"ModuleDict: keys must be non-empty strings without '.', got {k!r}")
            entries[k] = _check_module("ModuleDict", k, v)
        self.entries = entries

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise ConfigError("ModuleDict is not callable; index it in the parent's forward")

    def __getitem__(self, name: str) -> Module:
        try:
            return self.entries[name]
        except (KeyError, TypeError):
            raise MissingKeyError(
                f"ModuleDict has no entry {name!r}; keys are {list(self.entries)}"
            ) from None

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
