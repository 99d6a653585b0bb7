"""Transformer layers and stacks (``torch.nn.Transformer*``): same arguments, masks and state-dict keys.

State-dict keys equal PyTorch's (``layers.0.self_attn.in_proj_weight``, ``layers.0.linear1.weight``,
``layers.0.norm1.weight``, ``norm.weight``, ``encoder.layers.1...``), so weights move between the two
by ``load_state_dict`` with no renaming table.

Randomness: ``forward(..., key=key)`` in training mode hands every dropout (including the attention
weights' dropout) its own key derived from ``key``; eval mode, or ``dropout=0.0``, needs none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError, ShapeError
from ..tree import static
from . import functional as F
from . import init
from ._utils import float_dtype, positive_int, resolve_key, shape_str, split_key
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = [
    "TransformerEncoderLayer",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerDecoder",
    "Transformer",
    "generate_square_subsequent_mask",
]

Activation = str | Callable[[jax.Array], jax.Array]


def generate_square_subsequent_mask(sz: int, dtype: Any = None) -> jax.Array:
    """The ``[sz, sz]`` causal float mask: ``-inf`` above the diagonal, ``0`` elsewhere (as PyTorch).

    Args:
      sz: The sequence length.
      dtype: The mask's floating dtype (default: the default float dtype).

    Returns:
      A ``[sz, sz]`` float mask: 0 on and below the diagonal, ``-inf`` above.

    Example:
      >>> from torsh import nn
      >>> nn.Transformer.generate_square_subsequent_mask(3).tolist()
      [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    """
    positive_int("sz", sz, "generate_square_subsequent_mask", allow_zero=True)
    d = float_dtype(dtype)
    return jnp.where(
        jnp.triu(jnp.ones((sz, sz), jnp.bool_), k=1), jnp.asarray(-jnp.inf, d), jnp.asarray(0.0, d)
    )


def _check_activation(activation: Any) -> Activation:
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise ConfigError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r}")
        return activation
    if not callable(activation):
        raise ConfigError(
            f"activation should be 'relu', 'gelu' or a callable, got {type(activation).__name__}"
        )
    return activation


def _activate(activation: Activation, x: jax.Array) -> jax.Array:
    if isinstance(activation, str):  # "relu" or "gelu" (_check_activation ran at construction)
        return F.relu(x) if activation == "relu" else F.gelu(x)
    return activation(x)


def _check_d_model(x: Any, d_model: int, name: str, batch_first: bool) -> None:
    layout = "[batch, seq, {d}]" if batch_first else "[seq, batch, {d}]"
    if getattr(x, "ndim", None) not in (2, 3) or x.shape[-1] != d_model:
        raise ShapeError(
            f"expected {name} {layout.format(d=d_model)} or unbatched [seq, {d_model}], got "
            f"{shape_str(getattr(x, 'shape', ()))}"
        )


class _FeedForwardBlock(Module):
    """Shared pieces of encoder and decoder layers (not public)."""

    if TYPE_CHECKING:  # fields of both subclasses (declared there, in PyTorch's order)
        linear1: Linear
        dropout: Dropout
        linear2: Linear
        activation: Any

    def _ff_block(self, x: jax.Array, k_drop: Any, k_drop_out: Any, out_dropout: Dropout) -> jax.Array:
        h = self.dropout(_activate(self.activation, self.linear1(x)), key=k_drop)
        return out_dropout(self.linear2(h), key=k_drop_out)


class TransformerEncoderLayer(_FeedForwardBlock):
    """Self-attention and a feed-forward block with residuals and LayerNorm.

    PyTorch's ``torch.nn.TransformerEncoderLayer``, same arguments and state-dict keys..

    ``norm_first=False`` (post-norm): ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``;
    ``norm_first=True`` (pre-norm): ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``.
    ``activation`` is ``"relu"``, ``"gelu"`` (exact) or any callable. Logical axes give
    Megatron-style tensor parallelism with ``{"heads": "model", "mlp": "model", "embed": None}``:
    ``linear1.weight`` ``("mlp", "embed")``, ``linear2.weight`` ``("embed", "mlp")``.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False, *, key=None)``; masks
    as :class:`MultiheadAttention`'s (boolean ``True`` = masked, float = added).

    Args:
      d_model: Width of the inputs and outputs.
      nhead: Attention heads (divides ``d_model``).
      dim_feedforward: Hidden width of the feed-forward block.
      dropout: Dropout rate (training mode needs ``key=``).
      activation: ``"relu"``, ``"gelu"`` or a callable.
      layer_norm_eps: LayerNorm epsilon.
      batch_first: Inputs are ``[batch, seq, d_model]`` (else ``[seq, batch, d_model]``).
      norm_first: Pre-norm (LayerNorm before each sub-block) instead of post-norm.
      bias: Linear and LayerNorm biases.
      dtype: Parameter dtype.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      attention_implementation: The attention layers' ``implementation`` (static; see
        ``F.scaled_dot_product_attention``): ``None`` (automatic), ``"math"``, ``"xla"`` or ``"cudnn"``.

    Raises:
      ConfigError: For an unknown ``activation`` or invalid sizes.
      ShapeError: When called on inputs whose last dimension is not ``d_model``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, key=torsh.random.key(0))
      >>> layer.eval()(jnp.ones((2, 5, 16))).shape
      (2, 5, 16)
      >>> [n for n, _ in layer.named_parameters()][:3]
      ['self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight']
    """

    self_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm1: LayerNorm
    norm2: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    norm_first: bool = static()
    activation: Any = static()

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
        *,
        key: Any = None,
        attention_implementation: str | None = None,
    ) -> None:
        positive_int("dim_feedforward", dim_feedforward, "TransformerEncoderLayer")
        k_attn, k1, k2 = jax.random.split(resolve_key(key), 3)
        self.self_attn = MultiheadAttention(
            d_model,
            nhead,
            dropout=dropout,
            bias=bias,
            batch_first=batch_first,
            dtype=dtype,
            key=k_attn,
            implementation=attention_implementation,
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, key=k1, dtype=dtype, axes=("mlp", "embed"))
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, key=k2, dtype=dtype, axes=("embed", "mlp"))
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype, axes=("embed",))
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype, axes=("embed",))
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _check_activation(activation)

    def forward(
        self,
        src: jax.Array,
        src_mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        _check_d_model(src, self.self_attn.embed_dim, "src", self.self_attn.batch_first)
        k_attn, k_d1, k_d, k_d2 = split_key(key, 4)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, k_attn, k_d1)
            x = x + self._ff_block(self.norm2(x), k_d, k_d2, self.dropout2)
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal, k_attn, k_d1))
            x = self.norm2(x + self._ff_block(x, k_d, k_d2, self.dropout2))
        return x

    def _sa_block(
        self, x: jax.Array, attn_mask: Any, key_padding_mask: Any, is_causal: bool, k_attn: Any, k_drop: Any
    ) -> jax.Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
            dropout_key=k_attn,
        )[0]
        return self.dropout1(x, key=k_drop)

    def _describe(self) -> str:
        return f"TransformerEncoderLayer d_model={self.self_attn.embed_dim}"

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, activation={_activation_name(self.activation)}"


class TransformerDecoderLayer(_FeedForwardBlock):
    """Self-attention, cross-attention over ``memory`` and a feed-forward block.

    PyTorch's ``torch.nn.TransformerDecoderLayer``, same arguments and state-dict keys..

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *, key=None)``.

    Args:
      d_model: Width of the inputs and outputs.
      nhead: Attention heads (divides ``d_model``).
      dim_feedforward: Hidden width of the feed-forward block.
      dropout: Dropout rate (training mode needs ``key=``).
      activation: ``"relu"``, ``"gelu"`` or a callable.
      layer_norm_eps: LayerNorm epsilon.
      batch_first: Inputs are ``[batch, seq, d_model]`` (else ``[seq, batch, d_model]``).
      norm_first: Pre-norm (LayerNorm before each sub-block) instead of post-norm.
      bias: Linear and LayerNorm biases.
      dtype: Parameter dtype.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      attention_implementation: The attention layers' ``implementation`` (static; see
        ``F.scaled_dot_product_attention``): ``None`` (automatic), ``"math"``, ``"xla"`` or ``"cudnn"``.

    Raises:
      ConfigError: For an unknown ``activation`` or invalid sizes.
      ShapeError: When called on inputs whose last dimension is not ``d_model``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, key=torsh.random.key(0)).eval()
      >>> tgt, memory = jnp.ones((4, 2, 8)), jnp.ones((6, 2, 8))      # [seq, batch, d_model]
      >>> mask = nn.Transformer.generate_square_subsequent_mask(4)
      >>> layer(tgt, memory, tgt_mask=mask).shape
      (4, 2, 8)
    """

    self_attn: MultiheadAttention
    multihead_attn: MultiheadAttention
    linear1: Linear
    dropout: Dropout
    linear2: Linear
    norm1: LayerNorm
    norm2: LayerNorm
    norm3: LayerNorm
    dropout1: Dropout
    dropout2: Dropout
    dropout3: Dropout
    norm_first: bool = static()
    activation: Any = static()

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
        *,
        key: Any = None,
        attention_implementation: str | None = None,
    ) -> None:
        positive_int("dim_feedforward", dim_feedforward, "TransformerDecoderLayer")
        k_sa, k_mha, k1, k2 = jax.random.split(resolve_key(key), 4)
        self.self_attn, self.multihead_attn = (
            MultiheadAttention(
                d_model,
                nhead,
                dropout=dropout,
                batch_first=batch_first,
                bias=bias,
                dtype=dtype,
                key=k,
                implementation=attention_implementation,
            )
            for k in (k_sa, k_mha)
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, key=k1, dtype=dtype, axes=("mlp", "embed"))
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, key=k2, dtype=dtype, axes=("embed", "mlp"))
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype, axes=("embed",))
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype, axes=("embed",))
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype, axes=("embed",))
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _check_activation(activation)

    def forward(
        self,
        tgt: jax.Array,
        memory: jax.Array,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        d_model, bf = self.self_attn.embed_dim, self.self_attn.batch_first
        _check_d_model(tgt, d_model, "tgt", bf)
        _check_d_model(memory, d_model, "memory", bf)
        k_sa, k_d1, k_mha, k_d2, k_d, k_d3 = split_key(key, 6)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal, k_sa, k_d1)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal, k_mha, k_d2
            )
            x = x + self._ff_block(self.norm3(x), k_d, k_d3, self.dropout3)
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal, k_sa, k_d1))
            x = self.norm2(
                x
                + self._mha_block(
                    x, memory, memory_mask, memory_key_padding_mask, memory_is_causal, k_mha, k_d2
                )
            )
            x = self.norm3(x + self._ff_block(x, k_d, k_d3, self.dropout3))
        return x

    def _sa_block(
        self, x: jax.Array, attn_mask: Any, key_padding_mask: Any, is_causal: bool, k_attn: Any, k_drop: Any
    ) -> jax.Array:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
            dropout_key=k_attn,
        )[0]
        return self.dropout1(x, key=k_drop)

    def _mha_block(
        self,
        x: jax.Array,
        mem: jax.Array,
        attn_mask: Any,
        key_padding_mask: Any,
        is_causal: bool,
        k_attn: Any,
        k_drop: Any,
    ) -> jax.Array:
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
            dropout_key=k_attn,
        )[0]
        return self.dropout2(x, key=k_drop)

    def _describe(self) -> str:
        return f"TransformerDecoderLayer d_model={self.self_attn.embed_dim}"

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, activation={_activation_name(self.activation)}"


def _activation_name(activation: Activation) -> str:
    return (
        activation if isinstance(activation, str) else getattr(activation, "__qualname__", repr(activation))
    )


def _clones(layer: Module, num_layers: int, owner: str, kind: type) -> ModuleList:
    """``num_layers`` copies of ``layer``, each with its own buffers (PyTorch deep-copies the layer)."""
    if not isinstance(layer, kind):
        raise ConfigError(f"{owner}: expected a {kind.__name__}, got {type(layer).__name__}")
    positive_int("num_layers", num_layers, owner)
    # Separate buffers per layer, so that donating the model to a jitted step never donates one twice.
    return ModuleList([jax.tree.map(jnp.copy, layer) for _ in range(num_layers)])


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer``, then optionally ``norm`` (``torch.nn.TransformerEncoder``).

    As in PyTorch, the layers start as copies of ``encoder_layer`` (equal initial weights); for
    ``nn.Transformer``'s xavier initialisation use :func:`torsh.nn.init.reset_xavier_uniform`.
    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None, *, key=None)``; layer ``i``
    gets ``fold_in(key, i)``. PyTorch's inference fast path with nested tensors (which returns zeros
    at padded positions) has no counterpart: padded positions are computed like any other.

    Args:
      encoder_layer: The layer to repeat (copied ``num_layers`` times, as PyTorch's deep copies: the
        copies start equal).
      num_layers: How many layers.
      norm: A final normalisation module, or None.
      enable_nested_tensor: Accepted for PyTorch compatibility.
      mask_check: Accepted for PyTorch compatibility.

    Raises:
      ConfigError: If ``encoder_layer`` is not a ``TransformerEncoderLayer`` or ``num_layers`` is not
        positive.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, key=torsh.random.key(0))
      >>> encoder = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(8))
      >>> encoder(jnp.ones((5, 3, 8))).shape
      (5, 3, 8)
      >>> [k for k in encoder.state_dict() if k.endswith("linear1.weight")]
      ['layers.0.linear1.weight', 'layers.1.linear1.weight']
    """

    layers: ModuleList
    norm: Module | None
    num_layers: int = static()

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder", TransformerEncoderLayer)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        src: jax.Array,
        mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        is_causal: bool | None = None,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        out = src
        for i, layer in enumerate(self.layers):
            k = None if key is None else jax.random.fold_in(key, i)
            out = layer(
                out,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
                key=k,
            )
        return out if self.norm is None else self.norm(out)

    def _describe(self) -> str:
        return f"TransformerEncoder num_layers={self.num_layers}"

    def extra_repr(self) -> str:
        return ""


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer``, then optionally ``norm`` (``torch.nn.TransformerDecoder``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, *, key=None)``.

    Args:
      decoder_layer: The layer to repeat (copied ``num_layers`` times; the copies start equal).
      num_layers: How many layers.
      norm: A final normalisation module, or None.

    Raises:
      ConfigError: If ``decoder_layer`` is not a ``TransformerDecoderLayer`` or ``num_layers`` is not
        positive.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> layer = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, key=torsh.random.key(0))
      >>> decoder = nn.TransformerDecoder(layer, num_layers=2).eval()
      >>> decoder(jnp.ones((3, 4, 8)), jnp.ones((3, 6, 8))).shape
      (3, 4, 8)
    """

    layers: ModuleList
    norm: Module | None
    num_layers: int = static()

    def __init__(
        self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: Module | None = None
    ) -> None:
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder", TransformerDecoderLayer)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: jax.Array,
        memory: jax.Array,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        out = tgt
        for i, layer in enumerate(self.layers):
            k = None if key is None else jax.random.fold_in(key, i)
            out = layer(
                out,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
                key=k,
            )
        return out if self.norm is None else self.norm(out)

    def _describe(self) -> str:
        return f"TransformerDecoder num_layers={self.num_layers}"

    def extra_repr(self) -> str:
        return ""


class Transformer(Module):
    """Encoder-decoder transformer (``torch.nn.Transformer``): same arguments, keys and initialisation.

    ``encoder``/``decoder`` end with a LayerNorm (``encoder.norm``, ``decoder.norm``); every parameter
    with more than one dimension is re-initialised xavier-uniform, as PyTorch does
    (:func:`torsh.nn.init.reset_xavier_uniform` applies the same to a ``TransformerEncoder`` alone).
    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
    tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
    memory_is_causal=False, *, key=None)``.

    Args:
      d_model: Width of the inputs and outputs.
      nhead: Attention heads.
      num_encoder_layers: Encoder depth.
      num_decoder_layers: Decoder depth.
      dim_feedforward: Hidden width of the feed-forward blocks.
      dropout: Dropout rate (training mode needs ``key=``).
      activation: ``"relu"``, ``"gelu"`` or a callable.
      custom_encoder: Use this encoder instead of building one.
      custom_decoder: Use this decoder instead of building one.
      layer_norm_eps: LayerNorm epsilon.
      batch_first: Inputs are ``[batch, seq, d_model]``.
      norm_first: Pre-norm instead of post-norm.
      bias: Linear and LayerNorm biases.
      dtype: Parameter dtype.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      attention_implementation: The attention layers' ``implementation`` (static; see
        ``F.scaled_dot_product_attention``): ``None`` (automatic), ``"math"``, ``"xla"`` or ``"cudnn"``.

    Raises:
      ShapeError: When called on ``src``/``tgt`` of mismatched batch sizes or a last dimension other than
        ``d_model``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
      ...                        dim_feedforward=16, batch_first=True, key=torsh.random.key(0)).eval()
      >>> tgt_mask = nn.Transformer.generate_square_subsequent_mask(4)
      >>> model(jnp.ones((2, 6, 8)), jnp.ones((2, 4, 8)), tgt_mask=tgt_mask).shape
      (2, 4, 8)
    """

    encoder: Module
    decoder: Module
    d_model: int = static()
    nhead: int = static()
    batch_first: bool = static()

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: Activation = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = None,
        *,
        key: Any = None,
        attention_implementation: str | None = None,
    ) -> None:
        k_enc, k_dec, k_init = jax.random.split(resolve_key(key), 3)
        d = float_dtype(dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            enc_layer = TransformerEncoderLayer(
                d_model,
                nhead,
                dim_feedforward,
                dropout,
                activation,
                layer_norm_eps,
                batch_first,
                norm_first,
                bias,
                dtype=d,
                key=k_enc,
                attention_implementation=attention_implementation,
            )
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=d, axes=("embed",))
            self.encoder = TransformerEncoder(enc_layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            dec_layer = TransformerDecoderLayer(
                d_model,
                nhead,
                dim_feedforward,
                dropout,
                activation,
                layer_norm_eps,
                batch_first,
                norm_first,
                bias,
                dtype=d,
                key=k_dec,
                attention_implementation=attention_implementation,
            )
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=d, axes=("embed",))
            self.decoder = TransformerDecoder(dec_layer, num_decoder_layers, norm)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, bool(batch_first)
        self._reset_parameters(k_init)

    def _reset_parameters(self, key: jax.Array) -> None:
        # PyTorch: xavier_uniform_ on every parameter with more than one dimension
        # (init.reset_xavier_uniform offers the same to encoder-only models).
        for i, name in enumerate(("encoder", "decoder")):
            self.__dict__[name] = init.reset_xavier_uniform(self.__dict__[name], jax.random.fold_in(key, i))

    def forward(
        self,
        src: jax.Array,
        tgt: jax.Array,
        src_mask: jax.Array | None = None,
        tgt_mask: jax.Array | None = None,
        memory_mask: jax.Array | None = None,
        src_key_padding_mask: jax.Array | None = None,
        tgt_key_padding_mask: jax.Array | None = None,
        memory_key_padding_mask: jax.Array | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
        *,
        key: jax.Array | None = None,
    ) -> jax.Array:
        for name, x in (("src", src), ("tgt", tgt)):
            _check_d_model(x, self.d_model, name, self.batch_first)
        if src.ndim == 3:
            b = 0 if self.batch_first else 1
            if tgt.ndim != 3 or src.shape[b] != tgt.shape[b]:
                raise ShapeError(
                    f"the batch number of src and tgt must be equal, got src {shape_str(src.shape)} and tgt "
                    f"{shape_str(tgt.shape)} ({'batch_first' if self.batch_first else 'seq-first'})"
                )
        k_enc, k_dec = split_key(key, 2)
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal, key=k_enc
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
            key=k_dec,
        )

    def _describe(self) -> str:
        return f"Transformer d_model={self.d_model}"

    def extra_repr(self) -> str:
        return ""
