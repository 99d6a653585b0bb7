"""Warn when a ``torsh.jit`` function compiles again because an input's shape or dtype changed.

The check runs inside the traced function, i.e. only when JAX traces it — which happens exactly when
its cache misses — so a call that reuses a compiled program costs nothing extra (JAX's C++ fast path
never enters Python). Only traces started by a call from ordinary Python (not from inside another
``jit``/``vmap``/``grad`` trace, which compile nothing on their own) are compared.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["RecompileWarning", "watch_recompiles"]

_MAX_LISTED = 4


class RecompileWarning(UserWarning):
    """Warned when a jitted function is compiled again for inputs of a new shape, dtype or structure.

    Silence it where that is intended: ``warnings.filterwarnings("ignore", category=RecompileWarning)``.

    Example:
        >>> import warnings, torsh, jax.numpy as jnp
        >>> double = torsh.jit(lambda x: x * 2)
        >>> _ = double(jnp.ones(2))
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = double(jnp.ones(3))  # a new shape: compiles again
        >>> [w.category.__name__ for w in caught]
        ['RecompileWarning']
        >>> "argument 'x': float32[2] -> float32[3]" in str(caught[0].message)
        True
    """


def _top_level() -> bool:
    """True when the trace in progress was started from eager Python (so it will be compiled)."""
    try:
        from jax._src import core

        parent = getattr(core.trace_ctx.trace, "parent_trace", None)
        return parent is None or isinstance(parent, core.EvalTrace)
    except Exception:  # a JAX without these internals: compare every trace
        return True


def _leaf(x: Any) -> str:
    aval = getattr(x, "aval", None)
    if aval is not None and hasattr(aval, "shape"):
        dims = ",".join(map(str, aval.shape))
        weak = " (weak)" if getattr(aval, "weak_type", False) else ""
        return f"{getattr(aval, 'dtype', '?')}[{dims}]{weak}"
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"{x.dtype}[{','.join(map(str, x.shape))}]"
    text = repr(x)
    return f"static {text[:60]}"


def _signature(sig: inspect.Signature | None, args: tuple, kwargs: dict) -> dict[str, tuple]:
    """``{argument name: (tree structure, ((path, leaf description), ...))}``."""
    named: dict[str, Any] = {}
    bound = None
    if sig is not None:
        try:
            bound = sig.bind_partial(*args, **kwargs)
        except TypeError:
            bound = None
    if bound is not None:
        bound.apply_defaults()
        named = dict(bound.arguments)
    else:
        named = {f"arg{i}": a for i, a in enumerate(args)}
        named.update(kwargs)
    out = {}
    for name, value in named.items():
        leaves, treedef = jax.tree_util.tree_flatten_with_path(value)
        out[name] = (str(treedef), tuple((jax.tree_util.keystr(p), _leaf(v)) for p, v in leaves))
    return out


def _differences(old: dict[str, tuple], new: dict[str, tuple]) -> list[str]:
    changes = []
    for name in list(new) + [n for n in old if n not in new]:
        if name not in old or name not in new:
            changes.append(f"argument {name!r} {'appeared' if name in new else 'is gone'}")
            continue
        (old_tree, old_leaves), (new_tree, new_leaves) = old[name], new[name]
        if old_tree != new_tree:
            changes.append(f"argument {name!r} changed structure: {old_tree[:80]} -> {new_tree[:80]}")
            continue
        for (path, a), (_, b) in zip(old_leaves, new_leaves, strict=True):
            if a != b:
                changes.append(f"argument {name!r}{' at ' + name + path if path else ''}: {a} -> {b}")
    return changes


_JAX_DIR = os.path.dirname(os.path.dirname(jax.__file__))
_JAX_PREFIXES = (os.path.join(_JAX_DIR, "jax") + os.sep, os.path.join(_JAX_DIR, "jaxlib") + os.sep)
# The program cache (``torsh.jit(program_key=...)``) compiles from its own frames: not the user's call.
_TORSH_FILES = (__file__, os.path.join(os.path.dirname(__file__), "_programs.py"))


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside JAX and torsh's jit modules: the user's call."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name in _TORSH_FILES or name.startswith(_JAX_PREFIXES)):
            return level
        frame = frame.f_back
        level += 1
    return 1


def watch_recompiles(fn: Callable) -> Callable:
    """Wrap ``fn`` (the function ``jax.jit`` traces) to warn when a new top-level trace differs from the last.

    A :class:`RecompileWarning` names the arguments whose shape, dtype, structure or static value
    changed. The check runs only while JAX traces (a cache miss), so cached calls cost nothing.
    :func:`torsh.jit` applies it to every function.

    Args:
        fn: The function to be jitted.

    Returns:
        A wrapper with ``fn``'s signature.

    Example:
        >>> import warnings, jax, jax.numpy as jnp
        >>> from torsh.transforms._recompile import watch_recompiles
        >>> f = jax.jit(watch_recompiles(lambda x: x + 1))
        >>> _ = f(jnp.ones(2))
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = f(jnp.ones(3))
        >>> str(caught[0].message).split(":")[0]
        'torsh.jit'
    """
    try:
        sig: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):
        sig = None
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    lock = threading.Lock()
    last: list[dict[str, tuple] | None] = [None]

    @functools.wraps(fn)
    def traced(*args: Any, **kwargs: Any) -> Any:
        if _top_level():
            current = _signature(sig, args, kwargs)
            with lock:
                previous, last[0] = last[0], current
            if previous is not None and previous != current:
                changes = _differences(previous, current)
                if changes:
                    listed = "; ".join(changes[:_MAX_LISTED])
                    more = f" (and {len(changes) - _MAX_LISTED} more)" if len(changes) > _MAX_LISTED else ""
                    warnings.warn(
                        f"torsh.jit: {name} is compiling again because its inputs differ from its last "
                        f"compilation: {listed}{more}. Each new input shape, dtype or static value compiles "
                        "a new program (seconds on a CPU). For a short last batch use "
                        "DataLoader(drop_last=True) "
                        "or DataLoader(pad_last=True) with masks; if intended, silence it with "
                        "warnings.filterwarnings('ignore', category=torsh.transforms.RecompileWarning)",
                        RecompileWarning,
                        stacklevel=_user_stacklevel(),
                    )
        return fn(*args, **kwargs)

    return traced
