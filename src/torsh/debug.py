"""Checked mode: value checks that PyTorch does on every call, also inside ``jit``.

Outside ``jit`` torsh validates values (an embedding index past the table, a class target out of
range, a ``binary_cross_entropy`` input outside [0, 1], ...) and raises the same error PyTorch would.
Inside ``jit``/``grad``/``vmap`` values are abstract, and compiled code cannot raise: by default such
inputs give what XLA computes (NaN rows and losses, wrapped negative indices, zero rows) at no cost.
``checks`` turns them into the same torsh errors, using :mod:`jax.experimental.checkify`:

* ``torsh.debug.checks(fn)`` (or ``@torsh.debug.checks``) returns a checked version of ``fn``: it is
  traced with the checks in (compiled once per argument structure, like ``jit``), runs, and raises the
  first failed check as its torsh error class with the same message as the eager check.
* ``with torsh.debug.checks():`` runs the block with ``jit`` disabled, so every check sees concrete
  values (also inside ``torsh.grad``) and raises at the operation that failed. Slow (op by op):
  for debugging a few steps. Inside ``vmap``/``scan`` bodies values stay abstract: use the decorator.

Example:
  >>> import torsh, jax, jax.numpy as jnp
  >>> from torsh import nn
  >>> emb = nn.Embedding(3, 2, key=torsh.random.key(0))
  >>> lookup = jax.jit(lambda m, i: m(i))
  >>> lookup(emb, jnp.array([5])).shape          # unchecked under jit: no error
  (1, 2)
  >>> torsh.debug.checks(lookup)(emb, jnp.array([5]))
  Traceback (most recent call last):
  ...
  torsh.nn.IndexOutOfRangeError: embedding: index 5 is out of range: expected 0 <= index < 3 (num_embeddings)
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from .errors import ConfigError, TorshError

__all__ = ["checks", "require", "checks_enabled"]

# Part of JAX's jit cache key: functions traced inside a checked call (with checks in them) are cached
# apart from their unchecked traces, so checking a jitted function never leaks checks into it.
_CHECKED = jax.make_user_context(default_value=False)
_ERROR_CLASSES: dict[str, type[TorshError]] = {}


def checks_enabled() -> bool:
    """True while a function wrapped by :func:`checks` is being traced (checks go into the code).

    Returns:
        Whether value checks are being compiled into the function traced now.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> torsh.debug.checks_enabled()
        False
        >>> seen = []
        >>> _ = torsh.debug.checks(lambda x: seen.append(torsh.debug.checks_enabled()) or x)(jnp.ones(2))
        >>> seen
        [True]
    """
    return bool(_CHECKED.value)


def _concrete(x: Any) -> Any:
    """``x`` as a numpy value when it is known now (plain arrays, eager ``grad``), else None."""
    if not isinstance(x, jax.core.Tracer):
        return np.asarray(x)
    from jax._src import core

    try:
        if core.is_concrete(x):
            return np.asarray(core.to_concrete_value(x))
    except Exception:  # pragma: no cover - private API changed: treat as abstract
        return None
    return None


def require(
    ok: Callable[[], Any] | Any,
    error: type[TorshError],
    message: str,
    details: Callable[[], tuple] = tuple,
    *,
    on: Any = None,
) -> None:
    """Raise ``error(message.format(*details()))`` unless every element of ``ok`` is true.

    ``on`` is the array the check is about: when it is abstract (under ``jit``) and no :func:`checks`
    wrapper is tracing, nothing is computed at all (the jitted path costs nothing). ``ok`` and
    ``details`` may be callables so that they are evaluated only when needed; ``details`` gives the
    values for the ``{}`` fields of ``message`` (e.g. the offending minimum and maximum).

    Args:
        ok: A boolean (array), or a callable returning one, that must be all true.
        error: The :class:`~torsh.errors.TorshError` subclass to raise.
        message: The error message, with ``{}`` fields filled from ``details()``.
        details: A callable returning the values for the fields of ``message``.
        on: The array the check is about; if it is abstract and checks are off, the check is skipped.

    Raises:
        TorshError: ``error`` itself, eagerly when the values are concrete, or from the function wrapped
            by :func:`checks` when they are traced.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> def safe_log(x):
        ...     torsh.debug.require(lambda: x > 0, torsh.errors.ConfigError,
        ...                         "safe_log: expected x > 0, got min {}", lambda: (x.min(),), on=x)
        ...     return jnp.log(x)
        >>> safe_log(jnp.array([-1.0, 2.0]))
        Traceback (most recent call last):
        ...
        torsh.errors.ConfigError: safe_log: expected x > 0, got min -1.0
        >>> jax.jit(safe_log)(jnp.array([-1.0, 2.0])).tolist()  # unchecked under jit
        [nan, 0.6931471824645996]
        >>> torsh.debug.checks(jax.jit(safe_log))(jnp.array([-1.0, 2.0]))
        Traceback (most recent call last):
        ...
        torsh.errors.ConfigError: safe_log: expected x > 0, got min -1.0
    """
    probe = _concrete(on) if on is not None else None
    abstract = on is not None and probe is None
    if abstract and not checks_enabled():
        return
    ok_value = ok() if callable(ok) else ok
    if not abstract:
        ok_np = _concrete(ok_value)
        if ok_np is not None:
            if not bool(np.all(ok_np)):
                args = [_concrete(a) for a in details()]
                raise error(message.format(*[a.item() if a is not None and a.ndim == 0 else a for a in args]))
            return
    if checks_enabled():
        _ERROR_CLASSES[_tag(error)] = error
        checkify.check(jnp.all(ok_value), f"{_tag(error)}: {message}", *details())


def _tag(error: type) -> str:
    return f"{error.__module__}.{error.__qualname__}"


def _raise(err: checkify.Error) -> None:
    msg = err.get()
    if msg is None:
        return
    msg = msg.removesuffix(" (`check` failed)")
    tag, sep, text = msg.partition(": ")
    cls = _ERROR_CLASSES.get(tag) if sep else None
    if cls is None:  # a check of JAX's own (or a user's checkify.check)
        err.throw()
        return
    raise cls(text)


class _Checked:
    """``fn`` traced with torsh's checks functionalized by checkify; compiled per argument structure."""

    def __init__(self, fn: Callable) -> None:
        self._fn = fn
        self._cache: dict[Any, Callable] = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        is_array = tuple(isinstance(x, (jax.Array, np.ndarray)) for x in leaves)
        static = tuple(None if a else x for x, a in zip(leaves, is_array, strict=True))
        arrays = [x for x, a in zip(leaves, is_array, strict=True) if a]
        try:
            cache_key: Any = (treedef, is_array, static)
            hash(cache_key)
        except TypeError:  # unhashable non-array arguments: trace every call
            cache_key = None
        compiled = self._cache.get(cache_key) if cache_key is not None else None
        if compiled is None:
            fn = self._fn

            def flat(arrays: list) -> Any:
                it = iter(arrays)
                full = [next(it) if a else s for a, s in zip(is_array, static, strict=True)]
                a, k = jax.tree_util.tree_unflatten(treedef, full)
                return fn(*a, **k)

            compiled = jax.jit(checkify.checkify(flat, errors=checkify.user_checks))
            if cache_key is not None:
                self._cache[cache_key] = compiled
        with _CHECKED(True):
            err, out = compiled(arrays)
        _raise(err)
        return out


@contextlib.contextmanager
def _checked_block() -> Iterator[None]:
    with jax.disable_jit():
        yield


def checks(fn: Callable | None = None) -> Any:
    """Checked mode: ``checks(fn)`` returns a checked ``fn``; ``with checks():`` checks a block eagerly.

    The decorator form traces ``fn`` with torsh's value checks compiled in
    (:mod:`jax.experimental.checkify`) and raises the first failed check as the torsh error (and
    message) the eager check gives. Array arguments are traced; other arguments are static (a new
    value compiles again). The block form disables ``jit`` so every check runs eagerly. See the
    module docstring and ``docs/debug.md``.

    Args:
        fn: The function to check (jitted or not); None for the ``with`` form.

    Returns:
        The checked function, or a context manager when ``fn`` is None.

    Raises:
        TorshError: From the checked function: the first failed check's error class (for example
            :class:`~torsh.nn.IndexOutOfRangeError`), with the eager message.
        ConfigError: If ``fn`` is neither None nor callable.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> import torsh.nn.functional as F
        >>> loss = torsh.debug.checks(jax.jit(F.cross_entropy))
        >>> round(float(loss(jnp.zeros((2, 3)), jnp.array([0, 2]))), 4)
        1.0986
        >>> loss(jnp.zeros((2, 3)), jnp.array([0, 3]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        torsh.nn.IndexOutOfRangeError: cross_entropy: target 3 is out of range: expected 0 <= target < 3 ...
        >>> with torsh.debug.checks():  # eager block: raises at the failing operation
        ...     jax.jit(F.cross_entropy)(jnp.zeros((2, 3)), jnp.array([0, 3]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        torsh.nn.IndexOutOfRangeError: cross_entropy: target 3 is out of range: expected 0 <= target < 3 ...
    """
    if fn is None:
        return _checked_block()
    if not callable(fn):
        raise ConfigError(
            f"torsh.debug.checks: expected a function to check (or no argument, for the block form), got "
            f"{type(fn).__name__} {fn!r}; write `torsh.debug.checks(fn)` (or `@torsh.debug.checks` above "
            "`def fn`) for a checked function, or `with torsh.debug.checks():` to check a block eagerly"
        )
    return _Checked(fn)
