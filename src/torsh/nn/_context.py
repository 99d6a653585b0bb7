"""Error context: which module (by dotted path) raised a shape/dtype/config error.

A layer raises a plain :class:`~torsh.errors.ShapeError` ('dim "in" is 256 in input [128, 256], expected
512 (in_features)').
``Module.__call__`` catches it on the way out and records the layer as the *origin*; every enclosing
module's ``__call__`` then looks the origin up among its own sub-modules (by identity, which holds
under ``jax.jit`` tracing because the traced tree is unflattened once) and rewrites the message with
the path relative to itself. The outermost module therefore leaves the full path::

    layers.2 (Linear 512->10): dim "in" is 256 in input [128, 256], expected 512 (in_features)

Nothing happens unless an error is raised, so the normal call path costs one ``try`` block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError, DTypeError, ShapeError
from ._errors import IndexOutOfRangeError, ValueRangeError

if TYPE_CHECKING:
    from .module import Module

CONTEXT_ERRORS = (ShapeError, DTypeError, ConfigError, IndexOutOfRangeError, ValueRangeError)


class _Where:
    __slots__ = ("origin", "desc", "detail", "path")

    def __init__(self, origin: Module, desc: str, detail: str) -> None:
        self.origin = origin
        self.desc = desc
        self.detail = detail
        self.path = ""

    def format(self) -> str:
        where = f"{self.path} ({self.desc})" if self.path else self.desc
        return f"{where}: {self.detail}"


def annotate(exc: BaseException, module: Module) -> None:
    """Record ``module`` as the origin of ``exc`` or, if it already has one, prefix its path."""
    from ._walk import modules

    where = getattr(exc, "__torsh_where__", None)
    if where is None:
        detail = str(exc.args[0]) if exc.args else type(exc).__name__
        where = _Where(module, module._describe(), detail)
        exc.__torsh_where__ = where  # type: ignore[attr-defined]
    elif where.origin is not module:
        for path, m in modules(module):
            if m is where.origin:
                where.path = path
                break
    exc.args = (where.format(), *exc.args[1:])
    exc.module_path = where.path  # type: ignore[attr-defined]
