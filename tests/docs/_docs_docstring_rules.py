"""The docstring rules of torsh's public API, checked by test_docs_docstrings.py.

What is checked: the module docstring of every public module (``torsh`` and every submodule found
with :mod:`pkgutil` whose dotted name has no ``_``-prefixed part) and every name in its ``__all__``
that is a function or a class defined in torsh (objects defined elsewhere, such as a dtype taken
from NumPy, are documented upstream and skipped), plus the public methods and properties of those
classes (and of their torsh base classes, private ones included, because their methods are
inherited into the public API). An object exported by several modules is checked once, and
reported under the module that *defines* it: that is the file to edit.

The rules (Google style; a section header is alone on its line, e.g. ``Args:``):

* Summary: the docstring starts with a one-line summary, followed by a blank line or nothing.
* ``Args:`` when the callable takes a parameter other than ``self``/``cls`` (for a class: the
  parameters of the constructor, i.e. of ``inspect.signature(cls)``).
* ``Returns:`` (or ``Yields:``) for functions and methods that return something: the return
  annotation is not ``None``/``NoReturn``, or, without an annotation, the body has a
  ``return <value>`` or ``yield``. Not for classes.
* ``Raises:`` naming every torsh error class (a ``torsh.errors.TorshError`` subclass, or one of
  its bases) that the callable raises *itself*: a ``raise`` statement in its body or in a private
  torsh helper (a ``_name`` function it calls, followed transitively) whose exception class
  resolves to a ``TorshError`` subclass. For a class, the statements of the constructor it uses
  (``__init__``, ``__post_init__``, ``__new__``: its own or a torsh base class's) and of its own
  ``forward`` and ``__call__`` count. Errors raised by *public*
  torsh functions it calls are documented there, not repeated. This is a lower bound the test can
  check without running anything; a ``Raises:`` section on a callable that raises no torsh error
  is allowed (e.g. to document the builtin errors of a parser), never required.
* ``Example:`` (or ``Examples:``) with at least one ``>>>`` line; the examples are run by
  ``pytest --doctest-modules`` (src/torsh is a test path), so they must stay fast.
* Error classes (``TorshError`` subclasses): a summary and an ``Example:`` only. ``Enum`` classes
  need no ``Args:`` (their members are documented, callers do not construct them).
* Properties: a summary only (their docstring reads as the attribute's description).
* Exempt: ``forward`` of classes whose instances are called (``nn.Module`` subclasses, vision
  transforms): the class docstring documents the call and its example calls the instance, as
  PyTorch documents layers (its ``Raises:`` covers ``forward``'s errors, see above); a method that
  overrides a documented method of a torsh base class and has no docstring of its own (it inherits
  the contract, as ``inspect.getdoc`` does); dunder methods; modules without ``__all__`` listed in
  ``NO_ALL`` with the reason.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import types
from collections.abc import Callable, Iterator
from typing import Any

HEADERS = ("Args", "Returns", "Yields", "Raises", "Example", "Examples")
_HEADER = re.compile(r"^[ \t]*(" + "|".join(HEADERS) + r"):[ \t]*$", re.M)

# Public modules without ``__all__`` (their names are a contract of something else).
NO_ALL = {
    "torsh.train.recipes": "recipe plugins of `torsh train` (contract in torsh/train/_recipes.py), not API",
}

_NOT_RETURNING = {"None", "NoReturn", "Never", "typing.NoReturn", "typing.Never", None, type(None)}
_CLASS_RAISING_METHODS = ("__init__", "__post_init__", "__new__", "forward", "__call__")
_CONSTRUCTORS = ("__init__", "__post_init__", "__new__")


@dataclasses.dataclass(frozen=True)
class Offence:
    """One public object whose docstring breaks a rule."""

    module: str  # the module defining the object (the file to edit)
    name: str  # its qualified name inside that module (``Adam.step``), or ``(module)``
    problems: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.module}:{self.name}"


def public_modules(root: str = "torsh") -> list[types.ModuleType]:
    """``root`` and its submodules whose dotted names have no ``_``-prefixed part, imported."""
    package = importlib.import_module(root)
    names = [root]
    for info in pkgutil.walk_packages(package.__path__, root + "."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return [importlib.import_module(n) for n in sorted(names)]


def _torsh_error_base() -> type:
    from torsh.errors import TorshError

    return TorshError


def _is_torsh(obj: Any) -> bool:
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "torsh"


def sections(doc: str) -> dict[str, str]:
    """``{header: body}`` of a cleaned docstring (``Examples`` is filed as ``Example``)."""
    out: dict[str, str] = {}
    matches = list(_HEADER.finditer(doc))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        name = {"Examples": "Example"}.get(m.group(1), m.group(1))
        out[name] = out.get(name, "") + doc[m.end() : end]
    return out


def _summary_problem(doc: str) -> str | None:
    lines = doc.splitlines()
    if not lines or not lines[0].strip():
        return "no docstring" if not doc.strip() else "no one-line summary first"
    if _HEADER.match(lines[0]):
        return "no one-line summary first"
    if len(lines) > 1 and lines[1].strip():
        return "summary is not one line followed by a blank line"
    return None


def _parameters(obj: Any, *, is_class: bool) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    names = [p for p in sig.parameters]
    if not is_class and names and names[0] in ("self", "cls"):
        names = names[1:]
    return names


def _returns_value(fn: Callable) -> bool:
    try:
        ann = inspect.signature(fn).return_annotation
    except (TypeError, ValueError):
        ann = inspect.Signature.empty
    if ann is not inspect.Signature.empty:
        return ann not in _NOT_RETURNING
    node = _function_node(fn)
    if node is None:
        return False
    for sub in _own_nodes(node):
        if isinstance(sub, (ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(sub, ast.Return) and sub.value is not None:
            if not (isinstance(sub.value, ast.Constant) and sub.value.value is None):
                return True
    return False


def _function_node(fn: Callable) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    return node if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def _own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of a function body, not descending into nested functions, lambdas or classes."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        sub = todo.pop()
        yield sub
        if not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(sub))


def _resolve(expr: ast.expr, scope: dict[str, Any], owner: type | None) -> Any:
    """The object an expression ``a``, ``a.b.c`` or ``self._x`` names in ``scope``, or None."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    if expr.id in ("self", "cls") and owner is not None:
        obj: Any = owner
    elif expr.id in scope:
        obj = scope[expr.id]
    else:
        obj = getattr(__import__("builtins"), expr.id, None)
    for part in reversed(parts):
        obj = inspect.getattr_static(obj, part, None) if isinstance(obj, type) else getattr(obj, part, None)
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
    return obj


def _add_local_imports(node: ast.AST, scope: dict[str, Any], module: str) -> None:
    """Bind the names of ``from x import y`` statements inside a function (lazy imports)."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.ImportFrom):
            continue
        name = ("." * sub.level) + (sub.module or "")
        package = getattr(sys.modules.get(module), "__package__", None)
        try:
            imported = importlib.import_module(name, package=package)
        except (ImportError, TypeError):
            continue
        for alias in sub.names:
            scope[alias.asname or alias.name] = getattr(imported, alias.name, None)


def raised_torsh_errors(fn: Callable, owner: type | None = None, _seen: set | None = None) -> set[type]:
    """TorshError classes raised by ``fn``'s own ``raise`` statements or by private torsh helpers it calls."""
    seen = set() if _seen is None else _seen
    fn = inspect.unwrap(fn)
    if id(fn) in seen:
        return set()
    seen.add(id(fn))
    node = _function_node(fn)
    if node is None:
        return set()
    scope = dict(getattr(fn, "__globals__", {}))
    if fn.__closure__:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__, strict=False):
            try:
                scope[name] = cell.cell_contents
            except ValueError:
                pass
    _add_local_imports(node, scope, fn.__module__)
    base = _torsh_error_base()
    found: set[type] = set()
    # Nested functions are part of the body here (local helpers usually are called).
    for sub in ast.walk(node):
        if isinstance(sub, ast.Raise) and sub.exc is not None:
            exc = sub.exc.func if isinstance(sub.exc, ast.Call) else sub.exc
            obj = _resolve(exc, scope, owner)
            if isinstance(obj, type) and issubclass(obj, base):
                found.add(obj)
        elif isinstance(sub, ast.Call):
            target = sub.func
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if name.startswith("_") and not name.startswith("__"):
                obj = _resolve(target, scope, owner)
                if inspect.isfunction(obj) and (_is_torsh(obj) or obj.__module__ == fn.__module__):
                    found |= raised_torsh_errors(obj, owner, seen)
    return found


def _raises_problem(doc_sections: dict[str, str], errors: set[type]) -> str | None:
    if not errors:
        return None
    if "Raises" not in doc_sections:
        return "no Raises: (raises " + ", ".join(sorted(e.__name__ for e in errors)) + ")"
    body = doc_sections["Raises"]
    base = _torsh_error_base()
    missing = [
        e.__name__
        for e in errors
        if not any(re.search(rf"\b{k.__name__}\b", body) for k in e.__mro__ if issubclass(k, base))
    ]
    if missing:
        return "Raises: does not name " + ", ".join(sorted(missing))
    return None


def _example_problem(doc_sections: dict[str, str]) -> str | None:
    if "Example" not in doc_sections:
        return "no Example:"
    if ">>>" not in doc_sections["Example"]:
        return "Example: has no >>> line"
    return None


def check_callable(fn: Callable, *, owner: type | None = None, doc: str | None = None) -> list[str]:
    """The rule violations of a function or method (``doc`` overrides its own docstring)."""
    doc = inspect.cleandoc(doc if doc is not None else fn.__doc__ or "")
    problem = _summary_problem(doc)
    if problem == "no docstring":
        return [problem]
    found = sections(doc)
    problems = [problem] if problem else []
    if _parameters(fn, is_class=False) and "Args" not in found:
        problems.append("no Args:")
    if _returns_value(fn) and "Returns" not in found and "Yields" not in found:
        problems.append("no Returns:")
    problems.append(_raises_problem(found, raised_torsh_errors(fn, owner)) or "")
    problems.append(_example_problem(found) or "")
    return [p for p in problems if p]


def check_class(cls: type) -> list[str]:
    """The rule violations of a class docstring (constructor arguments, raises, example)."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    problem = _summary_problem(doc)
    if problem == "no docstring":
        return [problem]
    found = sections(doc)
    problems = [problem] if problem else []
    if issubclass(cls, BaseException):
        problems.append(_example_problem(found) or "")
        return [p for p in problems if p]
    # Enum members are not constructed by callers: an Enum documents its members, not Args.
    if not issubclass(cls, enum.Enum) and _parameters(cls, is_class=True) and "Args" not in found:
        problems.append("no Args:")
    errors: set[type] = set()
    seen: set = set()
    for name in _CLASS_RAISING_METHODS:
        # The constructor actually used (possibly a torsh base's); forward/__call__ of the class itself.
        owner = next((k for k in cls.__mro__ if name in vars(k)), None) if name in _CONSTRUCTORS else cls
        if owner is None or not _is_torsh(owner):
            continue
        member = vars(owner).get(name)
        if isinstance(member, (staticmethod, classmethod)):
            member = member.__func__
        if inspect.isfunction(member):
            errors |= raised_torsh_errors(member, cls, seen)
    problems.append(_raises_problem(found, errors) or "")
    problems.append(_example_problem(found) or "")
    return [p for p in problems if p]


def _documented_by_class(cls: type, name: str) -> bool:
    """``forward`` of a callable class (``nn.Module``, a vision transform): the class documents the call."""
    return name == "forward" and any("__call__" in vars(k) for k in cls.__mro__ if k is not object)


def _inherits_doc(cls: type, owner: type, name: str) -> bool:
    """True when ``name`` (undocumented on ``owner``) overrides a documented torsh base method."""
    mro = cls.__mro__
    for base in mro[mro.index(owner) + 1 :]:
        member = vars(base).get(name)
        if member is not None and _is_torsh(base):
            inner = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if getattr(inner, "__doc__", None):  # the nearest documented base, as inspect.getdoc
                return True
    return False


def check_members(cls: type, done: set[int]) -> Iterator[Offence]:
    """Offences of the public methods and properties of ``cls`` and of its torsh base classes."""
    for owner in cls.__mro__:
        if not _is_torsh(owner) or owner is object:
            continue
        for name, member in vars(owner).items():
            if name.startswith("_"):
                continue
            if _documented_by_class(cls, name):
                continue
            inner = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if isinstance(member, property):
                inner = member.fget
            if not (inspect.isfunction(inner) or isinstance(member, property)) or id(inner) in done:
                continue
            done.add(id(inner))
            qual = f"{owner.__qualname__}.{name}"
            if not getattr(inner, "__doc__", None) and _inherits_doc(cls, owner, name):
                continue
            if isinstance(member, property):
                doc = inspect.cleandoc(member.__doc__ or "")
                problem = _summary_problem(doc)
                problems = [problem] if problem else []
            else:
                problems = check_callable(inner, owner=owner)
            if problems:
                yield Offence(owner.__module__, qual, tuple(problems))


def offences(root: str = "torsh") -> list[Offence]:
    """Every rule violation in the public API of ``root``, sorted by module and name."""
    out: list[Offence] = []
    done: set[int] = set()
    for module in public_modules(root):
        name = module.__name__
        problem = _summary_problem(inspect.cleandoc(module.__doc__ or ""))
        if problem:
            out.append(Offence(name, "(module)", ("module docstring: " + problem,)))
        exported = getattr(module, "__all__", None)
        if exported is None:
            if not any(name == m or name.startswith(m + ".") for m in NO_ALL):
                out.append(Offence(name, "(module)", ("no __all__",)))
            continue
        for attr in exported:
            if not hasattr(module, attr):
                out.append(Offence(name, attr, (f"in {name}.__all__ but not defined",)))
                continue
            obj = getattr(module, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or not _is_torsh(obj):
                continue
            if inspect.isfunction(obj):
                obj = inspect.unwrap(obj)
            if id(obj) in done:
                continue
            done.add(id(obj))
            owner_module = obj.__module__
            qual = obj.__qualname__
            problems = check_class(obj) if inspect.isclass(obj) else check_callable(obj)
            if problems:
                out.append(Offence(owner_module, qual, tuple(problems)))
            if inspect.isclass(obj):
                out.extend(check_members(obj, done))
    return sorted(out, key=lambda o: (o.module, o.name))


def report(found: list[Offence]) -> str:
    """Offences grouped by defining module, one line per object."""
    lines: list[str] = []
    current = None
    for o in found:
        if o.module != current:
            current = o.module
            lines.append(f"{current}:")
        lines.append(f"    {o.name}: {'; '.join(o.problems)}")
    return "\n".join(lines)
