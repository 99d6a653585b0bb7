"""``scan_steps``: k optimizer steps in one compiled call (``lax.scan`` over k stacked batches).

For small models a training step is dominated by per-call overhead (dispatch, host sync, Python);
scanning k steps inside one XLA program pays it once per k steps. The trajectory is the same as k
separate calls of the step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import jax
import numpy as np

from ..errors import ConfigError, ShapeError

__all__ = ["scan_steps", "stack_batches", "chunked"]


def scan_steps(
    step_fn: Callable[[Any, Any], tuple[Any, Any]], k: int, *, jit: bool = True, donate: bool = True
) -> Callable[[Any, Any], tuple[Any, Any]]:
    """Turn ``step_fn(state, batch) -> (state, logs)`` into one that takes ``k`` stacked batches.

    The returned ``multi_step(state, batches)`` runs ``step_fn`` on ``batches[0]``, ..., ``batches[k-1]``
    (every leaf of ``batches`` has a leading axis of size ``k``; see :func:`stack_batches` and
    :func:`chunked`) and returns the final state and the logs stacked along a new leading axis.
    With ``jit=True`` it is compiled with ``torsh.jit`` (``donate=True`` donates the state).

    Args:
      step_fn: ``step_fn(state, batch) -> (state, logs)``.
      k: the number of steps per call.
      jit: compile the multi-step function.
      donate: with ``jit``, donate the state (XLA updates it in place).

    Returns:
      ``multi_step(state, batches) -> (state, stacked logs)``.

    Raises:
      ConfigError: ``k`` is not an int >= 1, ``step_fn`` is not callable, or (when called) it does
        not return ``(state, logs)``.
      ShapeError: (when called) a leaf of ``batches`` without a leading axis of ``k``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import train
      >>> step = lambda s, b: (s + b.sum(), {"seen": b.sum()})
      >>> multi = train.scan_steps(step, 3)
      >>> state, logs = multi(jnp.float32(0), jnp.arange(6.0).reshape(3, 2))
      >>> float(state), logs["seen"].tolist()
      (15.0, [1.0, 5.0, 9.0])
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"scan_steps: k must be an int >= 1, got {k!r}")
    if not callable(step_fn):
        raise ConfigError(f"scan_steps: step_fn must be callable, got {type(step_fn).__name__}")

    def multi_step(state: Any, batches: Any) -> tuple[Any, Any]:
        for path, leaf in jax.tree_util.tree_flatten_with_path(batches)[0]:
            shape = np.shape(leaf)
            if not shape or shape[0] != k:
                raise ShapeError(
                    f"scan_steps(k={k}): every batch leaf needs a leading axis of {k} stacked batches; "
                    f"batches{jax.tree_util.keystr(path)} has shape {tuple(shape)} (use train.stack_batches "
                    f"or train.chunked(loader, {k}))"
                )

        def body(s: Any, batch: Any) -> tuple[Any, Any]:
            out = step_fn(s, batch)
            if not (isinstance(out, tuple) and len(out) == 2):
                raise ConfigError("scan_steps: step_fn must return (state, logs)")
            return out

        return jax.lax.scan(body, state, batches, length=k)

    name = getattr(step_fn, "__name__", "step")
    multi_step.__name__ = f"{name}_x{k}"
    multi_step.__qualname__ = multi_step.__name__
    if not jit:
        return multi_step
    from ..transforms import jit as torsh_jit

    return torsh_jit(multi_step, donate="state" if donate else None)


def stack_batches(batches: Sequence[Any]) -> Any:
    """Stack equally shaped batches along a new leading axis (host NumPy arrays stay NumPy).

    Args:
      batches: a non-empty sequence of batches with the same structure and shapes.

    Returns:
      One batch whose leaves have a new leading axis of ``len(batches)``.

    Raises:
      ConfigError: ``batches`` is empty.
      ShapeError: the batches differ in structure or shape.

    Example:
      >>> import numpy as np
      >>> from torsh import train
      >>> x = train.stack_batches([(np.zeros((4, 2)), np.ones(4)), (np.ones((4, 2)), np.zeros(4))])
      >>> x[0].shape, x[1].shape
      ((2, 4, 2), (2, 4))
    """
    if not batches:
        raise ConfigError("stack_batches: no batches")
    try:
        return jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batches)
    except ValueError as e:
        raise ShapeError(f"stack_batches: the batches differ in structure or shape: {e}") from None


def chunked(loader: Iterable[Any], k: int) -> Iterator[Any]:
    """Yield groups of ``k`` consecutive batches of ``loader``, stacked for :func:`scan_steps`.

    A last group shorter than ``k`` is dropped (a different shape would recompile the scanned step).

    Args:
      loader: any iterable of batches (a ``torsh.data.DataLoader``).
      k: batches per group.

    Yields:
      Stacked groups (see :func:`stack_batches`).

    Raises:
      ConfigError: ``k`` is not an int >= 1.
      ShapeError: batches of one group differ in shape.

    Example:
      >>> import numpy as np
      >>> from torsh import train
      >>> groups = list(train.chunked([np.full(2, i) for i in range(5)], 2))   # the 5th is dropped
      >>> len(groups), groups[1].tolist()
      (2, [[2, 2], [3, 3]])
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ConfigError(f"chunked: k must be an int >= 1, got {k!r}")
    group: list[Any] = []
    for batch in loader:
        group.append(batch)
        if len(group) == k:
            yield stack_batches(group)
            group = []
