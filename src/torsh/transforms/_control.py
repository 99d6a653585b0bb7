"""Rematerialisation (``checkpoint``) and loops (``scan``) over pytrees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .. import tree as _tree
from ..errors import ConfigError, ShapeError, TreeError
from ._args import ArgSpec, resolve_positions

__all__ = ["checkpoint", "remat", "scan", "checkpoint_policies"]

checkpoint_policies = jax.checkpoint_policies

_POLICY_NAMES = sorted(
    name
    for name in dir(jax.checkpoint_policies)
    if not name.startswith("_") and callable(getattr(jax.checkpoint_policies, name))
)
# Policies that are used directly; the others are factories (e.g. save_only_these_names(*names)).
_DIRECT_POLICIES = {
    "everything_saveable",
    "nothing_saveable",
    "dots_saveable",
    "checkpoint_dots",
    "dots_with_no_batch_dims_saveable",
    "checkpoint_dots_with_no_batch_dims",
}


def _resolve_policy(policy: str | Callable | None) -> Callable | None:
    if policy is None or callable(policy):
        return policy
    if isinstance(policy, str) and policy in _DIRECT_POLICIES:
        return getattr(jax.checkpoint_policies, policy)
    raise ConfigError(
        f"checkpoint: unknown policy {policy!r}; use one of {sorted(_DIRECT_POLICIES)} or a callable "
        f"from torsh.checkpoint_policies (available: {_POLICY_NAMES})"
    )


def checkpoint(
    fn: Callable | None = None,
    *,
    policy: str | Callable | None = None,
    static: ArgSpec | None = None,
    prevent_cse: bool = True,
) -> Any:
    """Rematerialise ``fn``'s intermediates in the backward pass instead of storing them.

    Trades compute for memory (gradient checkpointing, ``torch.utils.checkpoint``). ``policy`` chooses
    what may still be saved: a name (``"nothing_saveable"``, ``"dots_saveable"``,
    ``"everything_saveable"``, ``"dots_with_no_batch_dims_saveable"``) or a callable from
    :data:`checkpoint_policies`, e.g. ``torsh.checkpoint_policies.save_only_these_names("attn")``.

    Args:
        fn: The function; omit it to use ``@torsh.checkpoint(policy=...)`` as a decorator.
        policy: What may be saved for the backward pass (a name or a policy callable); None saves nothing
            but the inputs.
        static: Arguments (names or positions) that are compile-time constants.
        prevent_cse: As in :func:`jax.checkpoint`.

    Returns:
        The rematerialising function (or a decorator when ``fn`` is None).

    Raises:
        ConfigError: If ``policy`` is an unknown name, or ``static`` names unknown parameters.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> f = torsh.checkpoint(lambda x: jnp.sin(jnp.sin(x)).sum(), policy="nothing_saveable")
        >>> round(float(torsh.grad(f)(jnp.array([0.5]))[0]), 6)
        0.778644
    """
    if fn is None:
        return lambda f: checkpoint(f, policy=policy, static=static, prevent_cse=prevent_cse)
    static_pos = resolve_positions(fn, static, "checkpoint(static=...)") if static is not None else ()
    return jax.checkpoint(
        fn, prevent_cse=prevent_cse, policy=_resolve_policy(policy), static_argnums=static_pos
    )


remat = checkpoint


def _leading_sizes(xs: Any) -> list[tuple[str, int | None]]:
    pairs, _ = _tree.flatten_with_path(xs)
    out = []
    for path, leaf in pairs:
        shape = np.shape(leaf)
        out.append((path or "<xs>", shape[0] if shape else None))
    return out


def scan(
    fn: Callable[[Any, Any], tuple[Any, Any]],
    init: Any,
    xs: Any = None,
    length: int | None = None,
    reverse: bool = False,
    unroll: int | bool = 1,
) -> tuple[Any, Any]:
    r"""Loop ``carry, y = fn(carry, x)`` over the leading axis of ``xs``, stacking the ``y``\ s.

    Compiles the body once (unlike a Python loop under jit). ``xs`` may be any pytree whose leaves
    share their leading dimension, or ``None`` with ``length``.

    Args:
        fn: The body, ``(carry, x) -> (new_carry, y)``; ``new_carry`` must match ``carry``'s structure.
        init: The initial carry (any pytree).
        xs: The pytree to loop over (its leaves' leading axis), or None.
        length: The number of steps when ``xs`` is None.
        reverse: Loop from the last element to the first.
        unroll: How many iterations to unroll per loop step (as in :func:`jax.lax.scan`).

    Returns:
        ``(final_carry, stacked_ys)``.

    Raises:
        ShapeError: If a leaf of ``xs`` is a scalar, the leaves' leading dimensions differ, or they
            differ from ``length``.
        ConfigError: If neither ``xs`` (with leaves) nor ``length`` is given.
        TreeError: If the body returns a carry that does not match ``init``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> total, running = torsh.scan(lambda c, x: (c + x, c + x), 0.0, jnp.arange(4.0))
        >>> float(total), running.tolist()
        (6.0, [0.0, 1.0, 3.0, 6.0])
    """
    sizes = _leading_sizes(xs)
    scalars = [p for p, n in sizes if n is None]
    if scalars:
        raise ShapeError(
            f"scan: every leaf of xs needs a leading axis to scan over; scalar leaves at {scalars}"
        )
    distinct = {n for _, n in sizes}
    if len(distinct) > 1:
        listing = ", ".join(f"{p}: {n}" for p, n in sizes)
        raise ShapeError(f"scan: the leaves of xs must share their leading dimension; got {listing}")
    if length is not None and distinct and distinct != {length}:
        raise ShapeError(f"scan: length={length} but xs has leading dimension {distinct.pop()}")
    if not sizes and length is None:  # xs is None or has no leaves
        raise ConfigError("scan: give xs with a leading axis, or length= when xs is None")
    try:
        return jax.lax.scan(fn, init, xs, length=length, reverse=reverse, unroll=unroll)
    except TypeError as e:
        if "carry" in str(e):
            raise TreeError(
                f"scan: the carry returned by the body must match the initial carry: {e}"
            ) from None
        raise
