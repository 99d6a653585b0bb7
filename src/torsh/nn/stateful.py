"""Buffers that change in training (BatchNorm running statistics), updated functionally.

The one pattern: **call a model through** :func:`stateful` **when it may update buffers**::

    out, model = nn.stateful(model)(x)        # train mode: new running stats in the returned model
    out = model(x)                            # eval mode (or no such layers): nothing to update

During a ``stateful`` call, a layer that updates buffers (``BatchNorm*`` in training mode) reports
its new buffer values to the active collector instead of mutating anything; when the forward pass
returns, ``stateful`` rebuilds the model with those values. Layers report wherever they sit
(``Sequential``, a user module, several levels deep), so containers need no plumbing, and it works
under ``jax.jit``/``jax.grad`` (the collector lives only while the function is traced).

Calling such a layer in training mode *outside* ``stateful`` raises
:class:`~torsh.errors.ConfigError`: silently dropping the update would leave stale statistics.

Example:
    >>> import torsh, jax, jax.numpy as jnp
    >>> from torsh import nn
    >>> torsh.manual_seed(0)
    >>> model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    >>> @jax.jit
    ... def forward(model, x):
    ...     return nn.stateful(model)(x)
    >>> out, model = forward(model, jnp.ones((8, 3)))
    >>> int(model[1].num_batches_tracked)
    1
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax

from ..errors import ConfigError

if TYPE_CHECKING:
    from .module import Module

__all__ = ["stateful"]

_local = threading.local()


class _Collector:
    __slots__ = ("updates",)

    def __init__(self) -> None:
        # id(module) -> (module, {field: new value}); the module is kept so its id is not reused.
        self.updates: dict[int, tuple[Any, dict[str, Any]]] = {}


def _stack() -> list[_Collector]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def is_collecting() -> bool:
    """True inside a :func:`stateful` call."""
    return bool(_stack())


def current_buffers(module: Module) -> dict[str, Any]:
    """The buffers ``module`` reported earlier in this ``stateful`` call (empty if none).

    A layer applied twice in one forward pass (weight sharing) updates its statistics twice, in
    order, as PyTorch does.
    """
    stack = _stack()
    if not stack:
        return {}
    entry = stack[-1].updates.get(id(module))
    return dict(entry[1]) if entry is not None else {}


def record_update(module: Module, **buffers: Any) -> None:
    """Report new buffer values of ``module`` to the active :func:`stateful` call.

    Values are detached (``stop_gradient``), as PyTorch updates running statistics without autograd.
    Raises :class:`~torsh.errors.ConfigError` when no ``stateful`` call is active.
    """
    stack = _stack()
    if not stack:
        raise ConfigError(
            "in training mode this layer updates its buffers (running statistics), which needs the "
            "functional pattern: `out, model = nn.stateful(model)(x)` returns the updated model "
            "(inside jit too); call `model.eval()` to use the running statistics instead"
        )
    detached = {k: jax.lax.stop_gradient(v) for k, v in buffers.items()}
    updates = stack[-1].updates
    previous = updates.get(id(module))
    merged = {**previous[1], **detached} if previous is not None else detached
    updates[id(module)] = (module, merged)


def stateful(module: Module) -> Callable[..., tuple[Any, Module]]:
    """Wrap ``module`` so that calling it returns ``(output, updated_module)``.

    Args:
      module: any module (a model); its layers may update buffers during the call.

    Returns:
      A function taking the module's call arguments and returning ``(output, new_module)``, where
      ``new_module`` carries the buffers the layers reported (the same object if none did).

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> bn = nn.BatchNorm1d(2, key=torsh.random.key(0))
      >>> y, bn = nn.stateful(bn)(jnp.array([[0.0, 1.0], [2.0, 3.0]]))
      >>> bn.running_mean.tolist()
      [0.10000000149011612, 0.20000000298023224]
    """
    from ._walk import map_modules, modules

    def call(*args: Any, **kwargs: Any) -> tuple[Any, Module]:
        collector = _Collector()
        stack = _stack()
        stack.append(collector)
        try:
            out = module(*args, **kwargs)
        finally:
            stack.pop()
        if not collector.updates:
            return out, module
        by_path = {}
        for path, m in modules(module):
            entry = collector.updates.get(id(m))
            if entry is not None and entry[0] is m:
                by_path[path] = entry[1]
        if not by_path:
            return out, module
        return out, map_modules(module, lambda path, m: m.replace(**by_path[path]) if path in by_path else m)

    call.__name__ = f"stateful({type(module).__name__})"
    return call
