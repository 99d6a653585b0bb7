"""Compiled programs kept on disk under a key the caller gives: a warm start skips tracing and lowering.

JAX's persistent compilation cache (:mod:`torsh.compile_cache`) is keyed by the lowered program, so
every process still traces and lowers each step function before it can find the executable: for a
2-layer Transformer LM that is most of a warm start. ``torsh.jit(fn, program_key=...)`` stores the
compiled executable itself under a key built from

* the caller's ``program_key`` (their promise that it changes whenever the code or anything the
  function closes over changes), the function's name and a hash of the file that defines it;
* a hash of torsh's own source, the JAX/jaxlib/Python versions, the devices, ``XLA_FLAGS`` and the
  JAX and torsh settings that change what a trace produces;
* the arguments' pytree structure, shapes, dtypes and shardings, and the static arguments' values;

and a later process with the same key loads it (one file read) instead of tracing. Files live in the
compile cache directory's ``torsh-programs`` subdirectory; the cache switch turns both on and off.
A file that cannot be read, or an executable that cannot be stored, gives a warning and the function
is compiled as usual: the cache can make a start faster, never make it fail.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pathlib
import pickle
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax

from .._dtype import get_default_dtype
from ._recompile import _user_stacklevel

__all__ = ["ProgramCacheWarning", "KeyedProgram"]

_FORMAT = "torsh.program/1"
LOAD_EVENT = "/torsh/program_cache/load_duration"
_SUBDIR = "torsh-programs"
# JAX settings that change the program a trace produces (read through jax.config, so thread-local
# context managers such as jax.default_matmul_precision count).
_JAX_SETTINGS = (
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
    "jax_numpy_rank_promotion",
    "jax_numpy_dtype_promotion",
    "jax_debug_nans",
    "jax_debug_infs",
    "jax_disable_jit",
)


class ProgramCacheWarning(UserWarning):
    """Warned when a stored program cannot be read or a compiled one cannot be stored.

    The call goes on with an ordinary compile, so nothing is lost but the warm start.

    Example:
        >>> import torsh
        >>> issubclass(torsh.transforms.ProgramCacheWarning, UserWarning)
        True
    """


@functools.cache
def _torsh_source_digest() -> str:
    """SHA-256 of every ``.py`` file of the installed torsh (an edited checkout gets a new key)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _file_digest(path: str | None) -> str:
    try:
        return hashlib.sha256(pathlib.Path(path or "").read_bytes()).hexdigest()
    except OSError:  # a function defined in a REPL or notebook: only the caller's key identifies it
        return "no file"


@functools.cache
def _installation() -> str:
    """What identifies this installation and machine (fixed for the process once JAX has started)."""
    import jaxlib

    from .. import __version__

    devices = jax.devices()
    return "\n".join(
        [
            f"torsh {__version__} {_torsh_source_digest()}",
            f"jax {jax.__version__} jaxlib {jaxlib.__version__} python {sys.version}",
            f"devices {[(d.platform, d.device_kind, d.id) for d in devices]} process {jax.process_index()}"
            f"/{jax.process_count()} platform_version {devices[0].client.platform_version}",
            f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '')}",
        ]
    )


@functools.cache
def _context_vars() -> tuple[Any, Any, Any]:
    """torsh's trace-changing context variables: the module call hook (amp), the sharding rules, the
    portable-trace switch (imported on first use: torsh.transforms must not import torsh.nn)."""
    from .._platform import _PORTABLE
    from ..distributed._mesh import _RULES
    from ..nn.module import CALL_HOOK

    return CALL_HOOK, _RULES, _PORTABLE


def _trace_context() -> tuple[Any, ...]:
    """What, besides the arguments, changes the program a trace produces: read on every call (~3 us),
    so that a program is never run under settings it was not compiled for. Starts with the values of
    :func:`_context_vars`."""
    return (
        *(var.get() for var in _context_vars()),
        *(getattr(jax.config, name, None) for name in _JAX_SETTINGS),
        get_default_dtype(),
        jax.sharding.get_abstract_mesh(),
    )


def _untraceable(context: tuple[Any, ...]) -> str | None:
    """Why no program may be stored or loaded under ``context``: a torsh context with no stable key."""
    hook, rules = context[0], context[1]
    if hook is not None:
        return "a module call hook (torsh.amp.autocast or similar) is active"
    if rules is not None:
        return "torsh.distributed sharding rules are active"
    return None


def _leaf_text(leaf: Any) -> str:
    text = str(jax.typeof(leaf))
    sharding = getattr(leaf, "sharding", None) if isinstance(leaf, jax.Array) else None
    return f"{text} {sharding}" if sharding is not None else text


def _stable(text: str) -> bool:
    # Default reprs name memory addresses: such a key would never match in another process, and two
    # different objects could share one repr only by accident; neither is a key.
    return " at 0x" not in text


_BYPASS_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_xla_cache() -> Iterator[None]:
    """Compile for real: an XLA:CPU executable that JAX loaded from its own cache serializes without
    its kernels (measured: loading such a file fails with "Function ... not found"), so a program that
    is stored must not come from that cache. Other threads compiling meanwhile only miss the cache."""
    from ..compile_cache import _reset_jax_cache

    with _BYPASS_LOCK:
        was_on = bool(jax.config.values["jax_enable_compilation_cache"])
        if was_on:
            jax.config.update("jax_enable_compilation_cache", False)
            _reset_jax_cache()
        try:
            yield
        finally:
            if was_on:
                jax.config.update("jax_enable_compilation_cache", True)
                _reset_jax_cache()


class KeyedProgram:
    """What ``torsh.jit(fn, program_key=...)`` returns: the jitted function with an on-disk program cache.

    A call checks the trace-changing settings and runs the executable compiled for the arguments'
    signature (JAX's C++ call path; 1.02x a ``jax.jit`` call's CPU time measured); a new signature
    looks for a stored program first and compiles only when none is found. ``lower``, ``trace``,
    ``eval_shape`` and ``explain`` are the jitted function's own.
    """

    def __init__(
        self,
        jitted: Any,
        fn: Callable,
        program_key: str,
        static_positions: tuple[int, ...],
        static_names: tuple[str, ...],
        options_text: str,
    ) -> None:
        self._jitted = jitted
        self._fn = fn
        self._key = program_key
        self._static_positions = frozenset(static_positions)
        self._static_names = frozenset(static_names)
        self._options_text = options_text
        self._programs: dict[Any, Any] = {}
        self._current: Any = None
        self._current_static: tuple[Any, ...] = ()
        self._current_context: tuple[Any, ...] = ()
        self._warned: set[str] = set()
        functools.update_wrapper(self, fn)

    def __getattr__(self, name: str) -> Any:  # lower, trace, eval_shape, explain, clear_cache ...
        return getattr(self._jitted, name)

    def _split(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, tuple[Any, ...]]:
        """(dynamic args, dynamic kwargs, static values): compiled executables take no static arguments."""
        if not self._static_positions and not self._static_names:
            return args, kwargs, ()
        dyn_args = tuple(a for i, a in enumerate(args) if i not in self._static_positions)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self._static_names}
        static = tuple(
            [(i, a) for i, a in enumerate(args) if i in self._static_positions]
            + sorted((k, v) for k, v in kwargs.items() if k in self._static_names)
        )
        return dyn_args, dyn_kwargs, static

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        dyn_args, dyn_kwargs, static = self._split(args, kwargs)
        current = self._current
        context = _trace_context()
        if current is not None and static == self._current_static and context == self._current_context:
            try:
                return current(*dyn_args, **dyn_kwargs)
            except TypeError:  # compiled for other shapes, dtypes or structure: resolve below
                pass
        from ..compile_cache import cache_dir

        directory = cache_dir()
        if directory is None or getattr(jax.config, "jax_disable_jit"):  # noqa: B009 (untyped for mypy)
            return self._jitted(*args, **kwargs)
        leaves, treedef = jax.tree.flatten((dyn_args, dyn_kwargs))
        try:
            signature: Any = (treedef, tuple(_leaf_text(x) for x in leaves), static, context)
            program = self._programs.get(signature)
        except TypeError:  # not an array, or an unhashable static value: jax.jit reports it clearly
            return self._jitted(*args, **kwargs)
        if program is None:
            program = self._load_or_compile(directory / _SUBDIR, args, kwargs, signature)
            if program is None:  # no program may be stored or loaded in this context
                self._current = None  # the next call checks again
                return self._jitted(*args, **kwargs)
            self._programs[signature] = program
        self._current, self._current_static, self._current_context = program, static, context
        return program(*dyn_args, **dyn_kwargs)

    def _warn(self, reason: str) -> None:
        if reason not in self._warned:  # once per function and reason, not once per step
            self._warned.add(reason)
            warnings.warn(
                f"torsh.jit(program_key={self._key!r}) {getattr(self._fn, '__qualname__', self._fn)}: "
                f"{reason}; compiling as usual",
                ProgramCacheWarning,
                stacklevel=_user_stacklevel(),
            )

    def _key_text(self, signature: Any) -> str | None:
        treedef, leaf_texts, static, context = signature
        code = getattr(self._fn, "__code__", None)
        parts = [
            _FORMAT,
            f"key {self._key}",
            f"function {getattr(self._fn, '__module__', '')}.{getattr(self._fn, '__qualname__', '')}",
            f"file {_file_digest(getattr(code, 'co_filename', None))}",
            f"options {self._options_text}",
            _installation(),
            f"settings {context!r}",  # no hook or rules here (_untraceable): values that print stably
            f"structure {treedef}",
            f"leaves {leaf_texts}",
            f"static {static!r}",
        ]
        text = "\n".join(parts)
        return text if _stable(text) else None

    def _load_or_compile(self, directory: pathlib.Path, args: Any, kwargs: Any, signature: Any) -> Any:
        blocked = _untraceable(signature[3])
        if blocked is not None:
            self._warn(f"no program is stored or loaded while {blocked}")
            return None
        key_text = self._key_text(signature)
        if key_text is None:
            self._warn(
                "the arguments' structure or static values print with memory addresses (a default "
                "__repr__), so they cannot be part of a key that another process will match"
            )
            return None
        path = directory / f"{hashlib.sha256(key_text.encode()).hexdigest()}.program"
        if path.exists():
            loaded = self._load(path, key_text)
            if loaded is not None:
                return loaded
        lowered = self._jitted.lower(*args, **kwargs)
        with _without_xla_cache():
            compiled = lowered.compile()
        self._store(path, key_text, compiled)
        return compiled

    def _load(self, path: pathlib.Path, key_text: str) -> Any:
        from jax.experimental import serialize_executable

        start = time.perf_counter()
        try:
            record = pickle.loads(path.read_bytes())
            if not isinstance(record, dict) or record.get("format") != _FORMAT:
                raise ValueError(f"not a {_FORMAT} file")
            if record["key"] != key_text:  # a SHA-256 collision, or a file copied under another name
                raise ValueError("its key does not match this call's")
            program = serialize_executable.deserialize_and_load(
                record["executable"], record["in_tree"], record["out_tree"]
            )
        except Exception as e:  # truncated, corrupt, or written by another jaxlib: recompile, overwrite
            self._warn(f"the stored program {path} cannot be loaded ({type(e).__name__}: {e})")
            return None
        # Reported like JAX's own compile events, so fit's "compiled train_step in ..." counts it.
        jax.monitoring.record_event_duration_secs(LOAD_EVENT, time.perf_counter() - start)
        return program

    def _store(self, path: pathlib.Path, key_text: str, compiled: Any) -> None:
        from jax.experimental import serialize_executable

        try:
            executable, in_tree, out_tree = serialize_executable.serialize(compiled)
            blob = pickle.dumps(
                {
                    "format": _FORMAT,
                    "key": key_text,
                    "executable": executable,
                    "in_tree": in_tree,
                    "out_tree": out_tree,
                }
            )
        except Exception as e:  # host callbacks, closed-over arrays, unpicklable tree nodes
            self._warn(f"the compiled program cannot be stored ({type(e).__name__}: {e})")
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside the target and renamed: a reader never sees half a file.
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(blob)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as e:
            self._warn(f"the compiled program cannot be written to {path.parent} ({e.strerror or e})")
