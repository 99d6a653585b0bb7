"""JAX's persistent compilation cache, one switch for torsh.

XLA compilation costs seconds per training step function on every program start (5-35 s for small
models on CPU). JAX can keep compiled executables on disk and reuse them when the same program is
compiled again; :func:`torsh.train.fit` and the ``torsh`` command line turn that on by default
(:func:`enable_default`), scripts call :func:`enable`.

* Where: ``$TORSH_CACHE_DIR/xla`` if ``TORSH_CACHE_DIR`` is set, else the user's cache directory
  (``$XDG_CACHE_HOME/torsh/xla``, ``~/.cache/torsh/xla``; ``~/Library/Caches/torsh/xla`` on macOS,
  ``%LOCALAPPDATA%\\torsh\\xla`` on Windows).
* Off: ``TORSH_COMPILE_CACHE=0`` (or ``false``/``no``/``off``) makes :func:`enable_default` a no-op.
  A cache directory you set yourself for JAX (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``) is respected, never replaced.
* What: only programs that take at least ``min_compile_time_secs`` (default 0.1 s) to compile are
  stored, so the many tiny programs of eager array operations do not fill the disk.

* Stored programs: ``torsh.jit(fn, program_key=...)`` (used by ``torsh train`` recipes) keeps whole
  compiled executables in the ``torsh-programs`` subdirectory, so a warm start skips tracing and
  lowering too; this switch turns them on and off with the rest (see :func:`torsh.jit`).

The cache is trusted input (an executable is loaded from it): do not point it at a directory that
others may write to.

Example:
    >>> import tempfile, torsh
    >>> path = torsh.compile_cache.enable(tempfile.mkdtemp())
    >>> torsh.compile_cache.is_enabled()
    True
    >>> torsh.compile_cache.disable()
    >>> torsh.compile_cache.is_enabled()
    False
"""

from __future__ import annotations

import os
import pathlib
import sys

import jax

from .errors import ConfigError

__all__ = ["enable", "disable", "enable_default", "is_enabled", "cache_dir", "default_cache_root"]

_OFF = ("0", "false", "no", "off")
_enabled_by_torsh: pathlib.Path | None = None


def default_cache_root() -> pathlib.Path:
    """torsh's cache directory: ``TORSH_CACHE_DIR`` or the platform's per-user cache location.

    Returns:
        The directory (not created); the XLA cache lives in its ``xla`` subdirectory.

    Example:
        >>> import os, unittest.mock, torsh
        >>> with unittest.mock.patch.dict(os.environ, {"TORSH_CACHE_DIR": "/tmp/torsh-cache"}):
        ...     torsh.compile_cache.default_cache_root()
        PosixPath('/tmp/torsh-cache')
    """
    env = os.environ.get("TORSH_CACHE_DIR")
    if env:
        return pathlib.Path(env).expanduser()
    if sys.platform == "darwin":
        return pathlib.Path.home() / "Library" / "Caches" / "torsh"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(pathlib.Path.home() / "AppData" / "Local")
        return pathlib.Path(base) / "torsh"
    base = os.environ.get("XDG_CACHE_HOME") or str(pathlib.Path.home() / ".cache")
    return pathlib.Path(base) / "torsh"


def cache_dir() -> pathlib.Path | None:
    """The directory JAX's persistent compilation cache uses now, or ``None`` if it is off.

    Returns:
        The cache directory, or None.

    Example:
        >>> import pathlib, tempfile, torsh
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> torsh.compile_cache.enable(tmp) == torsh.compile_cache.cache_dir() == tmp
        True
        >>> torsh.compile_cache.disable()
        >>> torsh.compile_cache.cache_dir() is None
        True
    """
    # getattr, not jax.config.values (which builds a dict of every setting: ~20 us; this runs per call
    # of a torsh.jit(program_key=...) function while the cache is off)
    if not getattr(jax.config, "jax_enable_compilation_cache"):  # noqa: B009 (untyped for mypy)
        return None
    path = getattr(jax.config, "jax_compilation_cache_dir")  # noqa: B009
    return pathlib.Path(path) if path else None


def is_enabled() -> bool:
    """Whether compiled programs are stored on disk and reused.

    Returns:
        True when JAX's persistent compilation cache is on with a directory.

    Example:
        >>> import tempfile, torsh
        >>> _ = torsh.compile_cache.enable(tempfile.mkdtemp())
        >>> torsh.compile_cache.is_enabled()
        True
        >>> torsh.compile_cache.disable()
        >>> torsh.compile_cache.is_enabled()
        False
    """
    return cache_dir() is not None


def _reset_jax_cache() -> None:
    # JAX opens its cache once, at the first compilation; reopen so that a new directory takes effect.
    try:
        from jax._src import compilation_cache as _cc

        _cc.reset_cache()
    except (ImportError, AttributeError):  # pragma: no cover - a JAX without this private hook
        pass


def enable(path: str | os.PathLike | None = None, *, min_compile_time_secs: float = 0.1) -> pathlib.Path:
    """Store compiled XLA programs in ``path`` (default ``default_cache_root() / "xla"``) and reuse them.

    Args:
        path: The cache directory (created if needed).
        min_compile_time_secs: Only programs that took at least this long to compile are stored.

    Returns:
        The cache directory.

    Raises:
        ConfigError: If ``min_compile_time_secs`` is not a number ``>= 0`` or the directory cannot be created.

    Example:
        >>> import tempfile, torsh
        >>> path = torsh.compile_cache.enable(tempfile.mkdtemp(), min_compile_time_secs=0.5)
        >>> path.is_dir(), torsh.compile_cache.is_enabled()
        (True, True)
        >>> torsh.compile_cache.disable()
    """
    if not isinstance(min_compile_time_secs, (int, float)) or min_compile_time_secs < 0:
        raise ConfigError(
            "compile_cache.enable: min_compile_time_secs must be a number >= 0, got "
            f"{min_compile_time_secs!r}"
        )
    target = pathlib.Path(path).expanduser() if path is not None else default_cache_root() / "xla"
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"compile_cache.enable: cannot create the cache directory {target}: {e.strerror or e}; "
            "set TORSH_CACHE_DIR to a writable directory or TORSH_COMPILE_CACHE=0 to turn the cache off"
        ) from None
    global _enabled_by_torsh
    jax.config.update("jax_compilation_cache_dir", str(target))
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    _reset_jax_cache()
    _enabled_by_torsh = target
    return target


def disable() -> None:
    """Stop reading and writing the persistent compilation cache (files on disk are kept).

    Example:
        >>> import tempfile, torsh
        >>> path = torsh.compile_cache.enable(tempfile.mkdtemp())
        >>> torsh.compile_cache.disable()
        >>> torsh.compile_cache.is_enabled(), path.is_dir()
        (False, True)
    """
    global _enabled_by_torsh
    jax.config.update("jax_enable_compilation_cache", False)
    _reset_jax_cache()
    _enabled_by_torsh = None


def enable_default() -> pathlib.Path | None:
    """Turn the cache on unless ``TORSH_COMPILE_CACHE=0`` or the user configured JAX's cache already.

    Called by :func:`torsh.train.fit` and the ``torsh`` command line. An unwritable cache directory gives
    a warning, not an error (it must not stop training).

    Returns:
        The directory in use, or ``None`` when the cache is off.

    Example:
        >>> import os, unittest.mock, torsh
        >>> with unittest.mock.patch.dict(os.environ, {"TORSH_COMPILE_CACHE": "0"}):
        ...     torsh.compile_cache.enable_default() is None
        True
    """
    if os.environ.get("TORSH_COMPILE_CACHE", "1").strip().lower() in _OFF:
        return None
    if _enabled_by_torsh is not None or jax.config.values["jax_compilation_cache_dir"]:
        return cache_dir()  # already on (by torsh, or the user's own JAX setting): leave it
    try:
        return enable()
    except ConfigError as e:  # an unwritable home directory must not stop training
        import warnings

        warnings.warn(f"torsh: compilation cache off: {e}", stacklevel=2)
        return None
