"""``Embedding``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Integer

from ..errors import ConfigError, DTypeError, ShapeError
from ..tree import static
from . import functional as F
from . import init
from ._shapes import shaped
from ._utils import Axes, float_dtype, positive_int, resolve_key
from .functional._embedding import _BAG_MODES
from .module import Module

__all__ = ["Embedding", "EmbeddingBag"]

# Embedding.forward's jaxtyping annotations, checked by nn.shaped ("dim" bound from embedding_dim).
_Indices = Integer[Array, "*batch"]
_Embedded = Float[Array, "*batch dim"]


def _lookup_table(
    owner: str,
    num_embeddings: int,
    embedding_dim: int,
    padding_idx: int | None,
    max_norm: float | None,
    scale_grad_by_freq: bool,
    sparse: bool,
    _weight: Any,
    key: Any,
    dtype: Any,
) -> tuple[int | None, jax.Array]:
    """The checked ``padding_idx`` (made non-negative) and the ``[num, dim]`` table of an Embedding
    or EmbeddingBag: ``_weight`` when given, else N(0, 1) with the padding row zeroed (PyTorch's init)."""
    positive_int("num_embeddings", num_embeddings, owner)
    positive_int("embedding_dim", embedding_dim, owner)
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise ConfigError(
            f"{owner}: max_norm, scale_grad_by_freq and sparse are not supported (max_norm renormalises "
            "the weight in place in PyTorch); renormalise explicitly with F.normalize if needed"
        )
    if padding_idx is not None:
        if not -num_embeddings <= padding_idx < num_embeddings:
            raise ConfigError(
                f"{owner}: padding_idx must be within [-{num_embeddings}, {num_embeddings}), "
                f"got {padding_idx}"
            )
        padding_idx %= num_embeddings
    d = float_dtype(dtype)
    if _weight is not None:
        weight = jnp.asarray(_weight, d)
        if weight.shape != (num_embeddings, embedding_dim):
            raise ShapeError(
                f"{owner}: _weight must have shape [{num_embeddings}, {embedding_dim}], "
                f"got {list(weight.shape)}"
            )
        return padding_idx, weight
    weight = init.normal(resolve_key(key), (num_embeddings, embedding_dim), dtype=d)
    if padding_idx is not None:
        weight = weight.at[padding_idx].set(0)
    return padding_idx, weight


class Embedding(Module, axes={"weight": ("vocab", "embed")}):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim`` (``torch.nn.Embedding``).

    Initialised N(0, 1) with the ``padding_idx`` row zeroed; positions holding ``padding_idx`` give
    no gradient to that row. Logical axes default to ``("vocab", "embed")``.

    Args:
      num_embeddings: number of rows.
      embedding_dim: size of each row.
      padding_idx: a row that is zeroed and gets no gradient (negative: from the end).
      max_norm: refused (PyTorch renormalises the weight in place); must be None.
      norm_type: used only with ``max_norm``.
      scale_grad_by_freq: refused; must be False.
      sparse: refused; must be False.
      _weight: an initial weight of shape ``[num_embeddings, embedding_dim]`` (PyTorch's argument).
      _freeze: freeze the weight (as ``from_pretrained(freeze=True)``).
      key: PRNG key for initialisation (default: the ``torsh.manual_seed`` stream).
      dtype: weight dtype (default: ``torsh.get_default_dtype()``).
      axes: logical axis names of the weight.

    Raises:
      ConfigError: bad sizes, ``padding_idx`` out of range, a refused option, bad axis names.
      ShapeError: a ``_weight`` of another shape, or axis names that do not fit it.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> emb = nn.Embedding(10, 3, padding_idx=0, key=torsh.random.key(0))
      >>> emb(jnp.array([[0, 5]])).shape
      (1, 2, 3)
      >>> emb.weight[0].tolist()
      [0.0, 0.0, 0.0]
    """

    weight: jax.Array
    num_embeddings: int = static()
    embedding_dim: int = static()
    padding_idx: int | None = static()

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        padding_idx, weight = _lookup_table(
            "Embedding",
            num_embeddings,
            embedding_dim,
            padding_idx,
            max_norm,
            scale_grad_by_freq,
            sparse,
            _weight,
            key,
            dtype,
        )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.weight = weight
        if _freeze:
            self._torsh_frozen = frozenset({"weight"})
        if axes is not None:
            self.with_axes(weight=axes)

    @classmethod
    def from_pretrained(
        cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None, **kwargs: Any
    ) -> Embedding:
        """An Embedding holding ``embeddings`` (2-D); frozen unless ``freeze=False``.

        Args:
            embeddings: The table, ``(num_embeddings, embedding_dim)``, floating.
            freeze: Keep the table out of training (a frozen field).
            padding_idx: As in :class:`Embedding`.
            **kwargs: Other arguments of :class:`Embedding` (``max_norm``, ``dtype``, ``axes``...).

        Returns:
            An :class:`Embedding` holding ``embeddings``.

        Raises:
            ShapeError: If ``embeddings`` is not 2-D.
            DTypeError: If ``embeddings`` is not floating.

        Example:
            >>> import torsh, jax.numpy as jnp
            >>> from torsh import nn
            >>> emb = nn.Embedding.from_pretrained(jnp.eye(3))
            >>> emb(jnp.array([1])).tolist(), torsh.tree.trainable_mask(emb).weight  # frozen by default
            ([[0.0, 1.0, 0.0]], False)
        """
        arr = jnp.asarray(embeddings)
        if arr.ndim != 2:
            raise ShapeError(f"Embedding.from_pretrained: expected a 2-D array, got shape {list(arr.shape)}")
        if not jnp.issubdtype(arr.dtype, jnp.floating):
            raise DTypeError(f"Embedding.from_pretrained: expected floating embeddings, got {arr.dtype}")
        kwargs.setdefault("dtype", arr.dtype)
        return cls(arr.shape[0], arr.shape[1], padding_idx, _weight=arr, _freeze=freeze, **kwargs)

    @shaped(dims={"dim": "embedding_dim"})
    def forward(self, input: _Indices) -> _Embedded:
        indices = input
        return F.embedding(indices, self.weight, self.padding_idx)

    def _describe(self) -> str:
        return f"Embedding {self.num_embeddings}x{self.embedding_dim}"

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class EmbeddingBag(Module, axes={"weight": ("vocab", "embed")}):
    """Sums, means or maxima of bags of embeddings (``torch.nn.EmbeddingBag``).

    ``forward(input, offsets=None, per_sample_weights=None)``: bags are the rows of a 2-D input or
    the slices of a 1-D input starting at ``offsets``; see :func:`torsh.nn.functional.embedding_bag`.
    Initialised N(0, 1) with the ``padding_idx`` row zeroed, as PyTorch.

    Args:
      num_embeddings: number of rows.
      embedding_dim: size of each row.
      max_norm: refused (PyTorch renormalises the weight in place); must be None.
      norm_type: used only with ``max_norm``.
      scale_grad_by_freq: refused; must be False.
      mode: ``'sum'``, ``'mean'`` or ``'max'``.
      sparse: refused; must be False.
      _weight: an initial weight of shape ``[num_embeddings, embedding_dim]``.
      include_last_offset: offsets have ``B + 1`` entries (the last is the input's length).
      padding_idx: an index left out of every bag (its row is zeroed at initialisation).
      key: PRNG key for initialisation (default: the ``torsh.manual_seed`` stream).
      dtype: weight dtype (default: ``torsh.get_default_dtype()``).

    Raises:
      ConfigError: bad sizes or mode, ``padding_idx`` out of range, a refused option.
      ShapeError: a ``_weight`` of another shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> bag = nn.EmbeddingBag(10, 3, mode="sum", key=torsh.random.key(0))
      >>> bag(jnp.array([1, 2, 4, 5, 4]), jnp.array([0, 2])).shape
      (2, 3)
    """

    weight: jax.Array
    num_embeddings: int = static()
    embedding_dim: int = static()
    mode: str = static()
    include_last_offset: bool = static()
    padding_idx: int | None = static()

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Any = None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        *,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        if mode not in _BAG_MODES:
            raise ConfigError(f"EmbeddingBag: mode must be one of {list(_BAG_MODES)}, got {mode!r}")
        padding_idx, weight = _lookup_table(
            "EmbeddingBag",
            num_embeddings,
            embedding_dim,
            padding_idx,
            max_norm,
            scale_grad_by_freq,
            sparse,
            _weight,
            key,
            dtype,
        )
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.mode = mode
        self.include_last_offset = bool(include_last_offset)
        self.padding_idx = padding_idx
        self.weight = weight

    def forward(
        self, input: jax.Array, offsets: jax.Array | None = None, per_sample_weights: jax.Array | None = None
    ) -> jax.Array:
        return F.embedding_bag(
            input,
            self.weight,
            offsets,
            mode=self.mode,
            per_sample_weights=per_sample_weights,
            include_last_offset=self.include_last_offset,
            padding_idx=self.padding_idx,
        )

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}, mode={self.mode!r}{pad}"
