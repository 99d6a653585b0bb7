"""Embedding lookup with PyTorch's ``padding_idx`` gradient rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ...debug import require
from ...errors import ConfigError, DTypeError, ShapeError
from .._checks import check_indices
from .._errors import ValueRangeError
from .._utils import shape_str

__all__ = ["embedding", "one_hot", "embedding_bag"]


def embedding(input: jax.Array, weight: jax.Array, padding_idx: int | None = None) -> jax.Array:
    """Rows of ``weight`` at the integer indices ``input``: shape ``input.shape + (embedding_dim,)``.

    Positions equal to ``padding_idx`` contribute no gradient to ``weight`` (as PyTorch); their
    output is the row itself. Indices outside ``[0, num_embeddings)`` raise
    :class:`~torsh.nn.IndexOutOfRangeError`; under ``jit`` they are checked only inside
    :func:`torsh.debug.checks` (otherwise they give NaN rows, or wrap when negative; see docs/debug.md).

    Args:
      input: Integer indices, any shape.
      weight: The table, ``(num_embeddings, embedding_dim)``.
      padding_idx: An index whose row gets no gradient (None: none).

    Returns:
      ``input.shape + (embedding_dim,)``.

    Raises:
      DTypeError: If ``input`` is not an integer array.
      ConfigError: If ``padding_idx`` is out of range.
      IndexOutOfRangeError: Eagerly (or under :func:`torsh.debug.checks`), for an index out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.embedding(jnp.array([2, 0]), jnp.arange(6.0).reshape(3, 2)).tolist()
      [[4.0, 5.0], [0.0, 1.0]]
    """
    if not jnp.issubdtype(getattr(input, "dtype", jnp.float32), jnp.integer):
        raise DTypeError(f"expected integer indices, got {getattr(input, 'dtype', type(input).__name__)}")
    num = weight.shape[0]
    check_indices("embedding", "index", input, num, "num_embeddings")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ConfigError(f"padding_idx must be within [-{num}, {num}), got {padding_idx}")
        padding_idx = padding_idx % num
    out = jnp.take(weight, input, axis=0)
    if padding_idx is not None:
        out = jnp.where((input == padding_idx)[..., None], jax.lax.stop_gradient(out), out)
    return out


def one_hot(tensor: jax.Array, num_classes: int = -1) -> jax.Array:
    """Integer indices to one-hot integer arrays (``torch.nn.functional.one_hot``).

    ``num_classes`` must be given under ``jit``. A class value outside ``[0, num_classes)`` raises
    :class:`~torsh.nn.IndexOutOfRangeError` (under ``jit``: inside :func:`torsh.debug.checks`).

    Args:
        tensor: Integer class indices.
        num_classes: The number of classes; -1: ``max + 1`` (not under ``jit``).

    Returns:
        An integer array of shape ``tensor.shape + (num_classes,)``.

    Raises:
        DTypeError: If ``tensor`` is not an integer array.
        IndexOutOfRangeError: For a class outside ``[0, num_classes)``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh.nn import functional as F
        >>> F.one_hot(jnp.array([0, 2]), 3).tolist()
        [[1, 0, 0], [0, 0, 1]]
    """
    if not jnp.issubdtype(tensor.dtype, jnp.integer):
        raise DTypeError(f"one_hot: expected integer indices, got {tensor.dtype}")
    if num_classes < 0:
        num_classes = int(jnp.max(tensor)) + 1
    check_indices("one_hot", "class value", tensor, num_classes, "num_classes")
    return jax.nn.one_hot(tensor, num_classes, dtype=jnp.int32)


_BAG_MODES = ("sum", "mean", "max")


def _bag_ids(input: jax.Array, offsets: jax.Array | None, include_last_offset: bool) -> tuple[jax.Array, int]:
    """The bag of every position of the flattened ``input``, and the number of bags."""
    if input.ndim == 2:
        if offsets is not None:
            raise ConfigError("embedding_bag: offsets must be None for a 2-D input (each row is one bag)")
        b, n = input.shape
        return jnp.repeat(jnp.arange(b), n), b
    if input.ndim != 1:
        raise ShapeError(f"embedding_bag: expected a 1-D or 2-D input, got {shape_str(input.shape)}")
    if offsets is None:
        raise ConfigError("embedding_bag: a 1-D input needs offsets (the start of each bag in it)")
    offsets = jnp.asarray(offsets)
    if offsets.ndim != 1 or not jnp.issubdtype(offsets.dtype, jnp.integer):
        raise ShapeError(
            f"embedding_bag: expected 1-D integer offsets, got {shape_str(offsets.shape)} {offsets.dtype}"
        )
    starts = offsets[:-1] if include_last_offset else offsets
    require(
        lambda: (starts[:1] == 0) & jnp.all(starts[1:] >= starts[:-1]),
        ValueRangeError,
        "embedding_bag: offsets must start at 0 and be non-decreasing, got {}",
        lambda: (offsets,),
        on=offsets,
    )
    positions = jnp.arange(input.shape[0])
    # the last bag runs to the end of the input; with include_last_offset, PyTorch reads the extra
    # offset as the input's length and does not cut the last bag at it either
    bags = jnp.searchsorted(starts, positions, side="right") - 1
    return bags, int(starts.shape[0])


def embedding_bag(
    input: jax.Array,
    weight: jax.Array,
    offsets: jax.Array | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: jax.Array | None = None,
    include_last_offset: bool = False,
    padding_idx: int | None = None,
) -> jax.Array:
    """Sums, means or maxima of bags of embeddings (``torch.nn.functional.embedding_bag``).

    Bags are the rows of a 2-D ``input``, or the slices of a 1-D ``input`` that start at ``offsets``.
    Entries equal to ``padding_idx`` are left out (also from a mean's count); an empty bag gives zeros.

    Args:
      input: integer indices ``(B, N)``, or ``(L,)`` with ``offsets``.
      weight: the embedding table ``(num_embeddings, D)``.
      offsets: ``(B,)`` start of each bag in a 1-D input (``(B + 1,)`` with ``include_last_offset``).
      max_norm: not supported (PyTorch renormalises ``weight`` in place); must be None.
      norm_type: unused without ``max_norm``.
      scale_grad_by_freq: not supported; must be False.
      mode: ``'sum'``, ``'mean'`` or ``'max'``.
      sparse: accepted for compatibility (gradients are dense arrays in JAX).
      per_sample_weights: weights of the input's shape, multiplied in (``mode='sum'`` only).
      include_last_offset: ``offsets`` has ``B + 1`` entries, the last being the input's length.
      padding_idx: an index whose entries are left out.

    Returns:
      ``(B, D)``.

    Raises:
      ConfigError: an unknown ``mode``, ``max_norm``/``scale_grad_by_freq`` set, offsets with a 2-D
        input or none with a 1-D one, ``per_sample_weights`` with a mode other than ``'sum'``.
      ShapeError: inputs, offsets or weights of the wrong shape.
      DTypeError: non-integer indices.
      IndexOutOfRangeError: indices outside the table (eagerly; under ``jit`` in ``torsh.debug.checks``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> table = jnp.arange(8.0).reshape(4, 2)
      >>> F.embedding_bag(jnp.array([0, 1, 3]), table, jnp.array([0, 2]), mode="sum").tolist()
      [[2.0, 4.0], [6.0, 7.0]]
    """
    if mode not in _BAG_MODES:
        raise ConfigError(f"embedding_bag: mode must be one of {list(_BAG_MODES)}, got {mode!r}")
    if max_norm is not None or scale_grad_by_freq:
        raise ConfigError(
            "embedding_bag: max_norm and scale_grad_by_freq are not supported (PyTorch renormalises the "
            "weight in place and rescales its gradient); renormalise the table yourself, e.g. "
            "weight * min(1, max_norm / norm(weight, axis=1))"
        )
    input = jnp.asarray(input)
    if not jnp.issubdtype(input.dtype, jnp.integer):
        raise DTypeError(f"embedding_bag: expected integer indices, got {input.dtype}")
    if weight.ndim != 2:
        raise ShapeError(
            f"embedding_bag: expected a 2-D weight (num_embeddings, D), got {shape_str(weight.shape)}"
        )
    if per_sample_weights is not None:
        if mode != "sum":
            raise ConfigError(
                f"embedding_bag: per_sample_weights is only supported for mode='sum', got mode={mode!r}"
            )
        if jnp.shape(per_sample_weights) != input.shape:
            raise ShapeError(
                "embedding_bag: expected per_sample_weights of the input's shape "
                f"{shape_str(input.shape)}, got {shape_str(jnp.shape(per_sample_weights))}"
            )
    bags, n_bags = _bag_ids(input, offsets, include_last_offset)
    flat = input.reshape(-1)
    num = weight.shape[0]
    check_indices("embedding_bag", "index", flat, num, "num_embeddings")
    rows = jnp.take(weight, flat, axis=0)
    keep = jnp.ones(flat.shape, bool) if padding_idx is None else flat != (padding_idx % num)
    if per_sample_weights is not None:
        rows = rows * jnp.asarray(per_sample_weights, rows.dtype).reshape(-1, 1)
    if mode == "max":
        masked = jnp.where(keep[:, None], rows, -jnp.inf)
        top = jax.ops.segment_max(masked, bags, num_segments=n_bags)
        return jnp.where(jnp.isfinite(top), top, jnp.zeros_like(top))
    total = jax.ops.segment_sum(
        jnp.where(keep[:, None], rows, jnp.zeros_like(rows)), bags, num_segments=n_bags
    )
    if mode == "sum":
        return total
    count = jax.ops.segment_sum(keep.astype(rows.dtype), bags, num_segments=n_bags)
    return total / jnp.maximum(count, 1)[:, None]
