"""Per-platform formulations of one operation, and a switch for tracing them portably.

Some operations have a faster formulation on XLA:CPU than the plain XLA op (grouped convolutions,
small-map convolutions: see ``torsh.nn.functional._conv``). :func:`cpu_or_default` selects it with
``lax.platform_dependent``, which lowers only the branch of the platform the program runs on (and
both, for a multi-platform ``jax.export``). Converters that read the traced jaxpr and run it
elsewhere (ONNX through jax2onnx) have no ``platform_index`` primitive: they trace inside
:func:`portable`, which makes :func:`cpu_or_default` emit the default formulation only.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from typing import Any

from jax import lax

__all__ = ["cpu_or_default", "portable"]

_PORTABLE: contextvars.ContextVar[bool] = contextvars.ContextVar("torsh_portable_trace", default=False)


@contextlib.contextmanager
def portable() -> Iterator[None]:
    """Trace the platform-independent formulation of every operation while active."""
    token = _PORTABLE.set(True)
    try:
        yield
    finally:
        _PORTABLE.reset(token)


def cpu_or_default(*args: Any, cpu: Callable[..., Any], default: Callable[..., Any]) -> Any:
    """``cpu(*args)`` on CPU, ``default(*args)`` elsewhere (and always inside :func:`portable`)."""
    if _PORTABLE.get():
        return default(*args)
    return lax.platform_dependent(*args, cpu=cpu, default=default)
