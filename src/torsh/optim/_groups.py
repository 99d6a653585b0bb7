"""Per-parameter options ("param groups"), selected by dotted-name pattern or predicate.

PyTorch users pass lists of parameter objects with their own hyperparameters. Parameters here are
leaves of a pytree, so a group *selects* leaves by name instead::

    optim.AdamW(lr=1e-3, weight_decay=0.05, param_groups=[
        optim.ParamGroup("*.bias", "*norm*", weight_decay=0.0, name="no_decay"),
        {"params": "encoder", "lr": 1e-4},          # PyTorch's dict spelling works too
    ])

The first group that selects a trainable leaf owns it; unselected leaves use the defaults.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ConfigError
from ._config import Checker, Config, FrozenDict, option

__all__ = ["ParamGroup", "as_param_group", "assign_groups", "DEFAULT_GROUP"]

DEFAULT_GROUP = "default"
Selector = str | Callable[[str, Any], bool]


def _selector_repr(s: Selector) -> str:
    return repr(s) if isinstance(s, str) else getattr(s, "__name__", repr(s))


def _check_selectors(check: Checker, name: str, value: tuple) -> tuple:
    if not value:
        check.conflict("give at least one selector (a name pattern or a predicate), got none")
    for s in value:
        if not (isinstance(s, str) or callable(s)):
            check.conflict(
                "a selector must be a name pattern (str) or a predicate(path, leaf), got "
                f"{type(s).__name__} {s!r}"
            )
    return value


def _check_name(check: Checker, name: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value or "." in value):
        check.fail(name, "a non-empty string without dots", value)
    return value


class ParamGroup(Config):
    """Hyperparameters for the parameters selected by name patterns or predicates.

    Args:
      *params: selectors. A string selects dotted names by ``fnmatch`` pattern (``"*.bias"``,
        ``"encoder.*"``); a plain prefix such as ``"encoder"`` also selects everything under it. A
        callable ``predicate(path, leaf) -> bool`` selects by anything else (``lambda p, x: x.ndim == 1``).
      name: the group's name in the state (``state.lr["no_decay"]``); default ``group<i>``.
      **options: hyperparameters overriding the optimizer's defaults for this group (any constructor
        argument of the optimizer, e.g. ``lr``, ``weight_decay``, ``betas``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> no_decay = optim.ParamGroup("*.bias", weight_decay=0.0)
      >>> opt = optim.SGD(lr=0.1, weight_decay=0.01, param_groups=[no_decay])
      >>> state = opt.init({"fc": {"weight": jnp.ones(2), "bias": jnp.ones(2)}})
      >>> dict(state.hyperparams["group1"])["weight_decay"]
      0.0
    """

    params: tuple[Selector, ...] = option(check=_check_selectors)
    name: str | None = option(None, _check_name)
    options: FrozenDict = option(FrozenDict())

    def __init__(self, *params: Selector, name: str | None = None, **options: Any) -> None:
        self.params = tuple(params)
        self.name = name
        self.options = FrozenDict(options)

    def __repr__(self) -> str:
        parts = [_selector_repr(s) for s in self.params]
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        parts += [f"{k}={v!r}" for k, v in self.options.items()]
        return f"ParamGroup({', '.join(parts)})"

    def selects(self, path: str, leaf: Any) -> bool:
        """True when one of the selectors selects the leaf at dotted ``path``.

        Args:
            path: The leaf's dotted path (``"fc.bias"``).
            leaf: The leaf itself (for predicate selectors).

        Returns:
            Whether a selector of this group selects the leaf.

        Example:
            >>> import jax.numpy as jnp
            >>> from torsh import optim
            >>> no_decay = optim.ParamGroup("*.bias", weight_decay=0.0)
            >>> no_decay.selects("fc.bias", jnp.zeros(2)), no_decay.selects("fc.weight", jnp.zeros((2, 2)))
            (True, False)
        """
        for s in self.params:
            if isinstance(s, str):
                if fnmatch.fnmatchcase(path, s) or path.startswith(s + "."):
                    return True
            elif s(path, leaf):
                return True
        return False


def as_param_group(spec: Any, index: int, owner: str) -> ParamGroup:
    """Accept a :class:`ParamGroup` or PyTorch's dict spelling ``{"params": ..., "lr": ...}``."""
    if isinstance(spec, ParamGroup):
        return spec
    if isinstance(spec, Mapping):
        if "params" not in spec:
            raise ConfigError(
                f"{owner}: param_groups[{index}] is a dict without a 'params' entry (the name patterns or "
                f"predicates it selects), got keys {sorted(spec)}"
            )
        options = {k: v for k, v in spec.items() if k not in ("params", "name")}
        selectors = spec["params"]
        if isinstance(selectors, str) or callable(selectors):
            selectors = (selectors,)
        if not isinstance(selectors, Sequence):
            raise ConfigError(
                f"{owner}: param_groups[{index}]['params'] must be name patterns or predicates, got "
                f"{type(selectors).__name__} (torsh selects parameters by dotted name, not by object)"
            )
        return ParamGroup(*selectors, name=spec.get("name"), **options)
    raise ConfigError(
        f"{owner}: param_groups[{index}] must be an optim.ParamGroup or a dict with 'params', got "
        f"{type(spec).__name__}"
    )


def assign_groups(
    owner: str,
    groups: Sequence[tuple[str, ParamGroup | None, Any]],
    paths: Sequence[str],
    leaves: Sequence[Any],
    trainable: Sequence[bool],
    check_unmatched: bool,
) -> list[int]:
    """Index (into ``groups``; 0 is the defaults) of the group owning each leaf, -1 if not trained.

    With ``check_unmatched`` a group that selects no trainable leaf raises a ConfigError: a pattern
    that matches nothing is almost always a typo (weight decay silently left on biases).
    """
    owners = []
    used = [False] * len(groups)
    for path, leaf, train in zip(paths, leaves, trainable, strict=True):
        if not train:
            owners.append(-1)
            continue
        owner_index = 0
        for i in range(1, len(groups)):
            group = groups[i][1]
            if group is not None and group.selects(path, leaf):
                owner_index = i
                break
        used[owner_index] = True
        owners.append(owner_index)
    if check_unmatched:
        for i in range(1, len(groups)):
            if not used[i]:
                trained = [p for p, t in zip(paths, trainable, strict=True) if t]
                shown = ", ".join(trained[:12]) + (" ..." if len(trained) > 12 else "")
                raise ConfigError(
                    f"{owner}: param group {groups[i][0]!r} {groups[i][1]!r} selects no trainable parameter "
                    f"(not already taken by an earlier group); trainable parameters are: {shown or '(none)'}"
                )
    return owners
