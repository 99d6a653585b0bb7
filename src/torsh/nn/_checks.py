"""Value checks shared by layers and functions: eager errors, and :func:`torsh.debug.checks` under jit."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..debug import require
from ._errors import IndexOutOfRangeError, ValueRangeError


def _first(values: jax.Array, bad: jax.Array) -> jax.Array:
    """The first offending element (for the message)."""
    flat = jnp.ravel(values)
    return flat[jnp.argmax(jnp.ravel(bad))]


def check_indices(
    owner: str, what: str, indices: Any, upper: int, bound_name: str, *, ignore: int | None = None
) -> None:
    """``0 <= indices < upper`` (entries equal to ``ignore`` are allowed), or IndexOutOfRangeError."""

    def bad() -> jax.Array:
        out = (indices < 0) | (indices >= upper)
        return out if ignore is None else out & (indices != ignore)

    extra = "" if ignore is None else f" or ignore_index={ignore}"
    require(
        lambda: ~bad(),
        IndexOutOfRangeError,
        f"{owner}: {what} {{}} is out of range: expected 0 <= {what} < {upper} ({bound_name}){extra}",
        lambda: (_first(indices, bad()),),
        on=indices,
    )


def check_probabilities(owner: str, x: Any) -> None:
    """Every element of ``x`` in [0, 1] (NaN fails), or ValueRangeError (PyTorch's BCE check)."""

    def ok() -> jax.Array:
        return (x >= 0) & (x <= 1)

    require(
        ok,
        ValueRangeError,
        f"{owner}: all elements of input should be between 0 and 1, got {{}} "
        "(pass logits to binary_cross_entropy_with_logits instead of applying sigmoid yourself)",
        lambda: (_first(x, ~ok()),),
        on=x,
    )
