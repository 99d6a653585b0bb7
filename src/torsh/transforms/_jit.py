"""``torsh.jit``: JAX's ``jit`` with static and donated arguments by name, plus ``explain``.

The returned object *is* ``jax.jit``'s compiled-function object (with an ``explain`` method
attached), so a call costs exactly what ``jax.jit`` costs: names are resolved once, here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from ..errors import ConfigError
from ._args import ArgSpec, split_names_and_positions
from ._programs import KeyedProgram
from ._recompile import watch_recompiles

__all__ = ["jit", "explain", "Explanation"]

_UNSPECIFIED: Any = object()


@dataclasses.dataclass(frozen=True)
class Explanation:
    """What XLA reports about one compiled function (see :func:`explain`); printing it gives a summary.

    Args:
        flops: Floating-point operations per call (XLA's cost analysis; ``nan`` if XLA gives no analysis).
        transcendentals: Transcendental operations per call.
        bytes_accessed: Bytes read and written per call.
        argument_bytes: Bytes of the arguments (XLA's memory analysis).
        output_bytes: Bytes of the outputs.
        temp_bytes: Bytes of temporaries.
        alias_bytes: Bytes of outputs that reuse (donated) argument buffers.
        generated_code_bytes: Size of the generated code.
        peak_memory_bytes: Peak device memory of one call as reported by XLA, or arguments + outputs +
            temporaries - aliased bytes where XLA gives no peak.
        hlo: The optimised (compiled) HLO text.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> w, x = jax.ShapeDtypeStruct((64, 32), jnp.float32), jax.ShapeDtypeStruct((8, 64), jnp.float32)
        >>> report = torsh.explain(lambda w, x: (x @ w).sum(), w, x)
        >>> report.argument_bytes, report.flops >= 2 * 8 * 64 * 32
        (10240, True)
        >>> print(str(report).splitlines()[4])
          arguments:      10.0 KiB
    """

    flops: float
    transcendentals: float
    bytes_accessed: float
    argument_bytes: int
    output_bytes: int
    temp_bytes: int
    alias_bytes: int
    generated_code_bytes: int
    peak_memory_bytes: int
    hlo: str

    def __str__(self) -> str:
        from .._format import byte_size as size

        lines = [
            f"FLOPs:            {self.flops:,.0f}",
            f"transcendentals:  {self.transcendentals:,.0f}",
            f"bytes accessed:   {size(self.bytes_accessed)}",
            f"peak memory:      {size(self.peak_memory_bytes)}",
            f"  arguments:      {size(self.argument_bytes)}",
            f"  outputs:        {size(self.output_bytes)}",
            f"  temporaries:    {size(self.temp_bytes)}",
            f"  aliased:        {size(self.alias_bytes)}",
            f"HLO:              {len(self.hlo.splitlines())} lines (see .hlo)",
        ]
        return "\n".join(lines)


def _cost_value(cost: Any, name: str) -> float:
    if isinstance(cost, (list, tuple)):  # older JAX returned one dict per computation
        return float(sum(_cost_value(c, name) for c in cost)) if cost else float("nan")
    if not cost:
        return float("nan")
    # XLA's cost analysis leaves out properties that are zero (no "flops" key for an elementwise tanh).
    return float(cost.get(name, 0.0))


def explain(fn: Callable, *args: Any, **kwargs: Any) -> Explanation:
    r"""Compile ``fn`` for these arguments and report FLOPs, bytes accessed, memory and HLO.

    ``fn`` may be a :func:`jit`-compiled function or a plain one (it is jitted first). Arguments may
    be arrays or ``jax.ShapeDtypeStruct``\s, so nothing needs to be allocated. ``torsh.jit`` functions
    have it as a method: ``step.explain(*args)``.

    Args:
        fn: The function (jitted or not).
        *args: Its positional arguments (arrays or ``jax.ShapeDtypeStruct``\s).
        **kwargs: Its keyword arguments.

    Returns:
        An :class:`Explanation`.

    Example:
        >>> import torsh, jax, jax.numpy as jnp
        >>> step = torsh.jit(lambda w, x: jnp.tanh(x @ w).sum())
        >>> report = step.explain(jnp.ones((64, 32)), jnp.ones((8, 64)))
        >>> report.flops > 2 * 8 * 64 * 32 - 1
        True
    """
    jitted = fn if hasattr(fn, "lower") else jax.jit(fn)
    compiled = jitted.lower(*args, **kwargs).compile()
    cost = compiled.cost_analysis()
    memory = compiled.memory_analysis()
    get = lambda attr: int(getattr(memory, attr, 0) or 0) if memory is not None else 0
    argument, output, temp, alias = (
        get("argument_size_in_bytes"),
        get("output_size_in_bytes"),
        get("temp_size_in_bytes"),
        get("alias_size_in_bytes"),
    )
    peak = get("peak_memory_in_bytes") or (argument + output + temp - alias)
    return Explanation(
        flops=_cost_value(cost, "flops"),
        transcendentals=_cost_value(cost, "transcendentals"),
        bytes_accessed=_cost_value(cost, "bytes accessed"),
        argument_bytes=argument,
        output_bytes=output,
        temp_bytes=temp,
        alias_bytes=alias,
        generated_code_bytes=get("generated_code_size_in_bytes"),
        peak_memory_bytes=peak,
        hlo=compiled.as_text() or "",
    )


def jit(
    fn: Callable | None = None,
    *,
    static: ArgSpec | None = None,
    donate: ArgSpec | None = None,
    in_shardings: Any = _UNSPECIFIED,
    out_shardings: Any = _UNSPECIFIED,
    keep_unused: bool = False,
    inline: bool = False,
    compiler_options: dict[str, Any] | None = None,
    program_key: str | None = None,
) -> Any:
    """Compile ``fn`` with XLA (``torch.compile``'s counterpart). Works on any pytree, torsh modules included.

    Args:
        fn: The function; omit it to use ``@torsh.jit(static=..., donate=...)`` as a decorator.
        static: Arguments (names or positions) that are compile-time constants (hashable); a new value
            recompiles.
        donate: Arguments (names or positions) whose buffers XLA may reuse for outputs: e.g. the model
            and optimizer state in a training step. Do not use a donated input after the call.
        in_shardings: As in :func:`jax.jit`.
        out_shardings: As in :func:`jax.jit`.
        keep_unused: As in :func:`jax.jit`.
        inline: As in :func:`jax.jit`.
        compiler_options: As in :func:`jax.jit`.
        program_key: Keep the compiled program on disk under this key (with the compile cache on,
            :mod:`torsh.compile_cache`), so that a later process loads it without tracing or lowering
            ``fn`` — most of a warm start. The key is your promise: change it whenever the code ``fn``
            runs, or anything it closes over, changes outside the file that defines ``fn`` (that
            file, torsh's own source, the versions, devices, settings and the arguments' shapes are
            added to the key automatically). ``torsh train`` recipes key by recipe and config.

    Returns:
        JAX's jitted function (``.lower(...)``, ``.trace(...)`` work as usual) with an added
        ``.explain(*args)`` that returns an :class:`Explanation`. When a call compiles again because an
        input's shape, dtype or structure changed, a :class:`RecompileWarning` names the argument and
        the old and new shapes (at no cost to calls that reuse a compiled program). With
        ``program_key``, a wrapper with the same methods whose calls run the compiled executable
        directly (1.02x a ``jax.jit`` call's CPU time); a stored program that cannot be read, or a
        program that cannot be stored, gives a :class:`ProgramCacheWarning` and compiles as usual.

    Raises:
        ConfigError: If ``fn`` is not callable, ``static``/``donate`` name unknown parameters, an
            argument is both static and donated, or ``program_key`` is not a non-empty string.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> @torsh.jit(static="power")
        ... def f(x, power):
        ...     return x ** power
        >>> f(jnp.array(2.0), power=3).item()
        8.0
    """
    if fn is None:
        return lambda f: jit(
            f,
            static=static,
            donate=donate,
            in_shardings=in_shardings,
            out_shardings=out_shardings,
            keep_unused=keep_unused,
            inline=inline,
            compiler_options=compiler_options,
            program_key=program_key,
        )
    if not callable(fn):
        raise ConfigError(f"jit: expected a function, got {type(fn).__name__}")
    static_pos, static_names = split_names_and_positions(fn, static, "jit(static=...)")
    donate_pos, donate_names = split_names_and_positions(fn, donate, "jit(donate=...)")
    overlap = (set(static_pos) & set(donate_pos)) | (set(static_names) & set(donate_names))
    if overlap:
        raise ConfigError(f"jit: argument(s) {sorted(map(str, overlap))} cannot be both static and donated")
    options: dict[str, Any] = dict(keep_unused=keep_unused, inline=inline, compiler_options=compiler_options)
    if in_shardings is not _UNSPECIFIED:
        options["in_shardings"] = in_shardings
    if out_shardings is not _UNSPECIFIED:
        options["out_shardings"] = out_shardings
    # The watcher runs only while JAX traces (a cache miss), never on a cached call.
    # Any: JAX's wrapped function takes the extra ``explain`` attribute set below
    jitted: Any = jax.jit(
        watch_recompiles(fn),
        static_argnums=static_pos or None,
        static_argnames=static_names or None,
        donate_argnums=donate_pos or None,
        donate_argnames=donate_names or None,
        **options,
    )
    jitted.explain = lambda *args, **kwargs: explain(jitted, *args, **kwargs)
    if program_key is None:
        return jitted
    if not isinstance(program_key, str) or not program_key:
        raise ConfigError(f"jit: program_key must be a non-empty str, got {program_key!r}")
    options_text = repr((static, donate, options))
    return KeyedProgram(jitted, fn, program_key, static_pos, static_names, options_text)
