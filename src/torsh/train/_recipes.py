"""Recipes for ``torsh train``: small modules with a config dataclass and a ``run`` function.

A recipe module defines ``DESCRIPTION`` (one line), ``Config`` (a dataclass with typed defaults:
int/float/str/bool/tuple fields) and ``run(config, out, *, resume=True, progress=True) -> dict``.
Built-in recipes live in ``torsh/train/recipes/`` (file ``digits_cnn.py`` is recipe ``digits-cnn``);
a path to a ``.py`` file works the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import pathlib
import pkgutil
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any

from ._errors import RecipeError

__all__ = ["list_recipes", "load_recipe", "apply_overrides", "parse_value"]

_PACKAGE = "torsh.train.recipes"


def _builtin_names() -> list[str]:
    package = importlib.import_module(_PACKAGE)
    return sorted(
        m.name.replace("_", "-") for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )


def list_recipes() -> dict[str, str]:
    """Built-in recipes: ``{name: DESCRIPTION}``.

    Returns:
      Recipe names (``digits-cnn``...) and their one-line descriptions (or why one cannot load).

    Example:
      >>> from torsh.train import list_recipes
      >>> "digits-cnn" in list_recipes()
      True
    """
    out = {}
    for name in _builtin_names():
        try:
            out[name] = str(getattr(load_recipe(name), "DESCRIPTION", ""))
        except RecipeError as e:  # one broken recipe must not hide the others
            out[name] = f"(cannot load: {e})"
    return out


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def load_recipe(spec: str) -> types.ModuleType:
    """The recipe module for a built-in name (``digits-cnn``) or a ``.py`` file path.

    Args:
      spec: a built-in recipe name (``"digits-cnn"``) or a path to a ``.py`` file.

    Returns:
      The imported module, checked to define ``DESCRIPTION``, ``Config`` and ``run``.

    Raises:
      RecipeError: an unknown name, a missing or unimportable file, or a module that lacks part of
        the recipe contract (all missing parts named).

    Example:
      >>> from torsh.train import load_recipe
      >>> load_recipe("digits-mlp").Config().epochs > 0
      True
    """
    if not isinstance(spec, str) or not spec:
        raise RecipeError(f"recipe: expected a recipe name or a .py file path, got {spec!r}")
    if _is_path(spec):
        path = pathlib.Path(spec).expanduser()
        if not path.is_file():
            raise RecipeError(f"recipe file {spec}: no such file")
        # A stable name (not hash(), which changes per process): pickled classes of the recipe, such
        # as the tree structure of a stored compiled program, must be found again by a later run.
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
        name = f"torsh_user_recipe_{digest}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise RecipeError(f"recipe file {spec}: cannot be imported as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pickling look modules up by name
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            sys.modules.pop(name, None)
            raise RecipeError(f"recipe file {spec}: importing it raised {type(e).__name__}: {e}") from e
    else:
        known = _builtin_names()
        if spec not in known:
            raise RecipeError(
                f"unknown recipe {spec!r}; built-in recipes are {known} (or give a path to a recipe .py file)"
            )
        module = importlib.import_module(f"{_PACKAGE}.{spec.replace('-', '_')}")
    _check_module(module, spec)
    return module


def _check_module(module: types.ModuleType, spec: str) -> None:
    problems = []
    if not isinstance(getattr(module, "DESCRIPTION", None), str):
        problems.append("DESCRIPTION (a one-line str)")
    config = getattr(module, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        problems.append("Config (a @dataclasses.dataclass with defaults)")
    if not callable(getattr(module, "run", None)):
        problems.append("run(config, out, *, resume=True, progress=True) -> dict[str, float]")
    if problems:
        raise RecipeError(f"recipe {spec}: the module must define {', '.join(problems)}")


def _field_types(config_cls: type) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(config_cls)
    except Exception:  # unresolvable annotations: fall back to the defaults' types
        hints = {}
    out = {}
    for f in dataclasses.fields(config_cls):
        if f.name in hints:
            out[f.name] = hints[f.name]
        elif f.default is not dataclasses.MISSING:
            out[f.name] = type(f.default)
        else:
            out[f.name] = str
    return out


def _type_name(t: Any) -> str:
    if typing.get_origin(t) is not None:  # tuple[int, ...], int | None
        return str(t).replace("typing.", "")
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_value(text: str, target: Any, where: str) -> Any:
    """Convert ``text`` to ``target`` (int, float, str, bool, tuple[...], Optional[...]).

    Args:
      text: the value as typed on the command line (tuples comma-separated, ``none`` for None).
      target: the field's type.
      where: the field's name, for messages.

    Returns:
      The converted value.

    Raises:
      RecipeError: ``text`` is not a value of ``target``, or the type cannot be set from text.

    Example:
      >>> from torsh.train import parse_value
      >>> parse_value("1e-3", float, "lr"), parse_value("3,4", tuple[int, ...], "sizes")
      (0.001, (3, 4))
    """
    origin = typing.get_origin(target)
    args = typing.get_args(target)
    if origin in (typing.Union, getattr(types, "UnionType", ())):  # Optional[X]
        if text.lower() == "none" and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(text, inner[0], where) if len(inner) == 1 else text
    if origin is tuple:
        parts = [p.strip() for p in text.split(",") if p.strip()] if text.strip() else []
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(p, args[0], where) for p in parts)
        if args and len(args) != len(parts):
            raise RecipeError(
                f"--set {where}={text}: expected {len(args)} comma-separated values, got {len(parts)}"
            )
        return tuple(parse_value(p, a, where) for p, a in zip(parts, args or [str] * len(parts), strict=True))
    if target is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise RecipeError(f"--set {where}={text}: expected a bool (true/false, 1/0, yes/no)")
    if target is int:
        try:
            return int(text)
        except ValueError:
            raise RecipeError(f"--set {where}={text}: expected an int") from None
    if target is float:
        try:
            return float(text)
        except ValueError:
            raise RecipeError(f"--set {where}={text}: expected a float") from None
    if target is str or target is Any:
        return text
    raise RecipeError(
        f"--set {where}: fields of type {_type_name(target)} cannot be set from the command line"
    )


def describe_config(config: Any) -> list[tuple[str, str, Any]]:
    """``(name, type, value)`` for every field of a config."""
    types_ = _field_types(type(config))
    return [(f.name, _type_name(types_[f.name]), getattr(config, f.name)) for f in dataclasses.fields(config)]


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """A copy of ``config`` with ``key=value`` strings applied (type-checked against the fields).

    Args:
      config: a recipe's ``Config`` dataclass instance.
      overrides: ``"key=value"`` strings (``-`` in keys reads as ``_``).

    Returns:
      A new config.

    Raises:
      RecipeError: a malformed item, an unknown key (the valid keys and types are listed), a value
        of the wrong type, or a config whose own validation rejects it.

    Example:
      >>> from torsh.train import load_recipe, apply_overrides
      >>> cfg = apply_overrides(load_recipe("digits-mlp").Config(), ["epochs=2", "lr=0.01"])
      >>> cfg.epochs, cfg.lr
      (2, 0.01)
    """
    types_ = _field_types(type(config))
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise RecipeError(f"--set expects key=value, got {item!r}")
        if key not in types_:
            valid = ", ".join(f"{n} ({t})" for n, t, _ in describe_config(config))
            raise RecipeError(
                f"--set {key}: {type(config).__name__} has no field {key!r}; valid keys: {valid}"
            )
        changes[key] = parse_value(text, types_[key], key)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as e:  # a __post_init__ that validates
        raise RecipeError(f"--set: {e}") from e
