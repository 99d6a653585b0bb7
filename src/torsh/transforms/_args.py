"""Resolving argument names to positions, once, at decoration time."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from ..errors import ConfigError

ArgSpec = int | str | Sequence[int | str]


def signature_of(fn: Callable) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def positional_names(fn: Callable) -> list[str] | None:
    """Names of the parameters that can be given positionally, or None if unknown."""
    sig = signature_of(fn)
    if sig is None:
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind in kinds]


def _fn_name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def as_tuple(spec: ArgSpec | None) -> tuple[int | str, ...]:
    if spec is None:
        return ()
    if isinstance(spec, (int, str)):
        return (spec,)
    return tuple(spec)


def resolve_positions(fn: Callable, spec: ArgSpec, what: str) -> tuple[int, ...]:
    """Map names and indices (negative allowed) in ``spec`` to non-negative positional indices."""
    names = positional_names(fn)
    out: list[int] = []
    for item in as_tuple(spec):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ConfigError(f"{what}: expected parameter names or positions, got {item!r}")
        if isinstance(item, str):
            if names is None or item not in names:
                raise ConfigError(
                    f"{what}: {_fn_name(fn)} has no positional parameter named {item!r}; "
                    f"its parameters are {names}"
                )
            out.append(names.index(item))
        else:
            if names is not None and item < 0:
                item += len(names)
            if item < 0 or (names is not None and item >= len(names) and not _has_varargs(fn)):
                raise ConfigError(
                    f"{what}: position {item} is out of range for {_fn_name(fn)} with parameters {names}"
                )
            out.append(item)
    return tuple(out)


def _has_varargs(fn: Callable) -> bool:
    sig = signature_of(fn)
    return sig is not None and any(
        p.kind == inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values()
    )


def split_names_and_positions(
    fn: Callable, spec: ArgSpec | None, what: str
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """For jit-style options: positions and names, both validated against ``fn``'s signature.

    JAX needs both forms (an argument may arrive positionally or by keyword), so each given name is
    also mapped to its position and each position to its name where the signature allows.
    """
    sig = signature_of(fn)
    params = list(sig.parameters.values()) if sig is not None else None
    positions: set[int] = set()
    names: set[str] = set()
    pos_names = positional_names(fn)
    for item in as_tuple(spec):
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ConfigError(f"{what}: expected parameter names or positions, got {item!r}")
        if isinstance(item, str):
            if params is not None:
                match = [p for p in params if p.name == item]
                if not match or match[0].kind in (
                    inspect.Parameter.VAR_POSITIONAL,
                    inspect.Parameter.VAR_KEYWORD,
                ):
                    raise ConfigError(
                        f"{what}: {_fn_name(fn)} has no parameter named {item!r}; its parameters are "
                        f"{[p.name for p in params]}"
                    )
                if match[0].kind != inspect.Parameter.KEYWORD_ONLY and pos_names is not None:
                    positions.add(pos_names.index(item))
                if match[0].kind != inspect.Parameter.POSITIONAL_ONLY:
                    names.add(item)
            else:
                names.add(item)
        else:
            (index,) = resolve_positions(fn, item, what)
            positions.add(index)
            if pos_names is not None and index < len(pos_names):
                p = params[index] if params is not None else None
                if p is not None and p.kind != inspect.Parameter.POSITIONAL_ONLY:
                    names.add(pos_names[index])
    return tuple(sorted(positions)), tuple(sorted(names))


def bind_to_positional(
    fn: Callable, args: tuple, kwargs: dict, wanted: tuple[int, ...]
) -> tuple[tuple, dict]:
    """Move keyword arguments that name positions in ``wanted`` into ``args`` (so they can be
    differentiated or mapped positionally)."""
    if not kwargs:
        return args, kwargs
    names = positional_names(fn) or []
    need = [i for i in wanted if i >= len(args) and i < len(names) and names[i] in kwargs]
    if not need:
        return args, kwargs
    kwargs = dict(kwargs)
    bound = list(args)
    last = max(need)
    for i in range(len(bound), last + 1):
        name = names[i]
        if name in kwargs:
            bound.append(kwargs.pop(name))
        else:
            sig = signature_of(fn)
            default = sig.parameters[name].default if sig is not None else inspect.Parameter.empty
            if default is inspect.Parameter.empty:
                raise ConfigError(f"{_fn_name(fn)}: missing argument {name!r}")
            bound.append(default)
    return tuple(bound), kwargs
