"""``MultiheadAttention`` (``torch.nn.MultiheadAttention``): same arguments, parameters and masks."""

from __future__ import annotations

from typing import Any

import jax

from ..errors import ConfigError
from ..tree import static
from . import init
from ._utils import check_p, float_dtype, positive_int, resolve_key
from .functional._attention import check_implementation, check_mha_inputs, run_mha
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class MultiheadAttention(
    Module,
    axes={
        "in_proj_weight": ("heads", "embed"),
        "q_proj_weight": ("heads", "embed"),
        "k_proj_weight": ("heads", "embed"),
        "v_proj_weight": ("heads", "embed"),
        "in_proj_bias": ("heads",),
        "bias_k": (None, None, "heads"),
        "bias_v": (None, None, "heads"),
    },
):
    """Multi-head attention ``softmax(Q K^T / sqrt(d) + mask) V`` with input and output projections.

    Parameters are PyTorch's, by name and shape: ``in_proj_weight [3E, E]`` when ``kdim == vdim ==
    embed_dim``, else ``q_proj_weight [E, E]``, ``k_proj_weight [E, kdim]``, ``v_proj_weight [E, vdim]``;
    ``in_proj_bias [3E]``, ``out_proj.weight``/``out_proj.bias``, and ``bias_k``/``bias_v [1, 1, E]`` with
    ``add_bias_kv``. Initialisation is PyTorch's (xavier-uniform projections, zero biases,
    xavier-normal ``bias_k``/``bias_v``, ``out_proj`` weight as ``Linear``).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False, *, dropout_key=None)`` returns ``(attn_output,
    attn_weights)`` as PyTorch (weights ``None`` unless ``need_weights``). Inputs are ``[L, N, E]``, or
    ``[N, L, E]`` with ``batch_first=True``, or unbatched ``[L, E]``. Masks: boolean ``True`` = do not
    attend, float masks are added to the logits; ``attn_mask`` is ``[L, S]`` or ``[N * num_heads, L,
    S]``, ``key_padding_mask`` ``[N, S]``. ``is_causal=True`` applies the causal mask (PyTorch requires
    ``attn_mask`` as well and treats the flag as a hint; torsh builds the mask when none is given).
    Dropout on the attention weights in training mode takes ``dropout_key`` (``key`` is the key
    tensor, as in PyTorch). A query whose keys are all masked gets zeros.

    Logical axes: projections ``("heads", "embed")`` (column-split over heads with a rule
    ``{"heads": "model"}``), ``out_proj.weight`` ``("embed", "heads")`` (row-split).

    Args:
      embed_dim: Width ``E`` of the queries and outputs.
      num_heads: Attention heads (divides ``embed_dim``).
      dropout: Dropout on the attention weights (training mode needs ``dropout_key=``).
      bias: Projection biases.
      add_bias_kv: Learn ``bias_k``/``bias_v`` appended to the keys and values.
      add_zero_attn: Append a zero key/value position.
      kdim: Key width (default ``embed_dim``).
      vdim: Value width (default ``embed_dim``).
      batch_first: Inputs are ``[N, L, E]``.
      dtype: Parameter dtype.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      implementation: The attention implementation (static), as
        ``F.scaled_dot_product_attention``'s: ``None`` (automatic), ``"math"``, ``"xla"`` or
        ``"cudnn"`` (the last two need ``need_weights=False`` and no dropout).

    Raises:
      ConfigError: If a size is not a positive int, ``embed_dim`` is not divisible by ``num_heads``, or
        ``dropout`` is outside ``[0, 1]``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> mha = nn.MultiheadAttention(16, 4, batch_first=True, key=torsh.random.key(0))
      >>> x = jnp.ones((2, 5, 16))
      >>> out, weights = mha(x, x, x)
      >>> out.shape, weights.shape
      ((2, 5, 16), (2, 5, 5))
      >>> [name for name, _ in mha.named_parameters()]
      ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']
    """

    in_proj_weight: jax.Array | None
    q_proj_weight: jax.Array | None
    k_proj_weight: jax.Array | None
    v_proj_weight: jax.Array | None
    in_proj_bias: jax.Array | None
    out_proj: Linear
    bias_k: jax.Array | None
    bias_v: jax.Array | None
    embed_dim: int = static()
    num_heads: int = static()
    dropout: float = static()
    batch_first: bool = static()
    kdim: int = static()
    vdim: int = static()
    add_zero_attn: bool = static()
    implementation: str | None = static(default=None)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        dtype: Any = None,
        *,
        key: Any = None,
        implementation: str | None = None,
    ) -> None:
        positive_int("embed_dim", embed_dim, "MultiheadAttention")
        check_implementation(implementation, "MultiheadAttention")
        self.implementation = implementation
        positive_int("num_heads", num_heads, "MultiheadAttention")
        if embed_dim % num_heads:
            raise ConfigError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        check_p(dropout)
        kdim = embed_dim if kdim is None else positive_int("kdim", kdim, "MultiheadAttention")
        vdim = embed_dim if vdim is None else positive_int("vdim", vdim, "MultiheadAttention")
        d = float_dtype(dtype)
        k_in, k_q, k_k, k_v, k_out, k_bk, k_bv = jax.random.split(resolve_key(key), 7)
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim, self.vdim, self.batch_first = kdim, vdim, bool(batch_first)
        self.add_zero_attn = bool(add_zero_attn)
        if kdim == embed_dim and vdim == embed_dim:
            self.in_proj_weight = init.xavier_uniform(k_in, (3 * embed_dim, embed_dim), dtype=d)
            self.q_proj_weight = self.k_proj_weight = self.v_proj_weight = None
        else:
            self.in_proj_weight = None
            self.q_proj_weight = init.xavier_uniform(k_q, (embed_dim, embed_dim), dtype=d)
            self.k_proj_weight = init.xavier_uniform(k_k, (embed_dim, kdim), dtype=d)
            self.v_proj_weight = init.xavier_uniform(k_v, (embed_dim, vdim), dtype=d)
        self.in_proj_bias = init.zeros((3 * embed_dim,), d) if bias else None
        out_proj = Linear(embed_dim, embed_dim, bias=bias, key=k_out, dtype=d, axes=("embed", "heads"))
        if bias:
            out_proj = out_proj.replace(bias=init.zeros((embed_dim,), d))
        self.out_proj = out_proj
        if add_bias_kv:
            self.bias_k = init.xavier_normal(k_bk, (1, 1, embed_dim), dtype=d)
            self.bias_v = init.xavier_normal(k_bv, (1, 1, embed_dim), dtype=d)
        else:
            self.bias_k = self.bias_v = None

    @property
    def head_dim(self) -> int:
        """``embed_dim // num_heads``."""
        return self.embed_dim // self.num_heads

    @property
    def _qkv_same_embed_dim(self) -> bool:
        return self.in_proj_weight is not None

    def forward(
        self,
        query: jax.Array,
        key: jax.Array,
        value: jax.Array,
        key_padding_mask: jax.Array | None = None,
        need_weights: bool = True,
        attn_mask: jax.Array | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
        *,
        dropout_key: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array | None]:
        like = self.in_proj_weight if self.in_proj_weight is not None else self.q_proj_weight
        assert like is not None  # a layer has the packed or the separate projections
        batched, key_padding_mask, attn_mask = check_mha_inputs(
            query,
            key,
            value,
            key_padding_mask,
            attn_mask,
            embed_dim=self.embed_dim,
            kdim=self.kdim,
            vdim=self.vdim,
            num_heads=self.num_heads,
            batch_first=self.batch_first,
            like=like,
        )
        return run_mha(
            query,
            key,
            value,
            batch_first=self.batch_first,
            batched=batched,
            num_heads=self.num_heads,
            in_proj_weight=self.in_proj_weight,
            in_proj_bias=self.in_proj_bias,
            q_proj_weight=self.q_proj_weight,
            k_proj_weight=self.k_proj_weight,
            v_proj_weight=self.v_proj_weight,
            bias_k=self.bias_k,
            bias_v=self.bias_v,
            add_zero_attn=self.add_zero_attn,
            out_proj_weight=self.out_proj.weight,
            out_proj_bias=self.out_proj.bias,
            dropout_p=self.dropout if self.training else 0.0,
            dropout_key=dropout_key,
            key_padding_mask=key_padding_mask,
            attn_mask=attn_mask,
            is_causal=is_causal,
            need_weights=need_weights,
            average_attn_weights=average_attn_weights,
            implementation=self.implementation,
        )

    def _describe(self) -> str:
        return f"MultiheadAttention embed_dim={self.embed_dim} num_heads={self.num_heads}"

    def extra_repr(self) -> str:
        extra = "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (
            f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
            f"batch_first={self.batch_first}{extra}"
        )


# ``key`` in forward is the key tensor, not a PRNG key: Sequential must not pass one (see Module).
MultiheadAttention.__torsh_takes_key__ = False
