"""``RotaryEmbedding``: rotary position embeddings (RoPE) as a module, with HF's scaling variants."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..tree import static
from ._utils import check_float_input, positive_int
from .functional._positional import RopeScaling, rope_cos_sin, rope_frequencies
from .module import Module

__all__ = ["RotaryEmbedding", "RopeScaling"]


class RotaryEmbedding(Module):
    """RoPE's ``cos``/``sin`` for given positions (HF ``LlamaRotaryEmbedding``), to rotate q and k with.

    ``forward(x, position_ids)`` returns ``(cos, sin)`` of shape ``position_ids.shape + (head_dim,)``
    in ``x``'s dtype (``x`` only gives the dtype, as in HF); rotate with
    :func:`torsh.nn.functional.apply_rotary_emb` (``cos[:, None]`` for ``[B, H, T, D]`` queries).
    The module holds no arrays: the frequencies follow from the static configuration and are
    constants of the compiled program (``.inv_freq`` shows them), so casting a model to bfloat16
    never rounds them. ``scaling="dynamic"`` recomputes them from ``max(position_ids) + 1`` on every
    call (traceable); unlike HF's stateful module it keeps no memory of earlier, longer calls.

    Args:
      head_dim: the rotated width (even; for partial rotary embeddings the rotated part only).
      base: RoPE's base (HF ``rope_theta``).
      scaling: a :class:`RopeScaling`, HF's ``rope_parameters`` dict, or ``None``.
      max_position_embeddings: the context for dynamic NTK (HF ``config.max_position_embeddings``;
        default ``scaling.original_max_position_embeddings``).
      interleaved: GPT-J's pair layout instead of Llama/GPT-NeoX's halves.

    Raises:
      ConfigError: an odd ``head_dim``, a bad ``base`` or scaling.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> from torsh.nn import functional as F
      >>> rope = nn.RotaryEmbedding(8, scaling=nn.RopeScaling("linear", 2.0))
      >>> q = jnp.ones((1, 2, 5, 8))                                   # [B, H, T, D]
      >>> cos, sin = rope(q, jnp.arange(5)[None])                      # [B, T, D]
      >>> F.apply_rotary_emb(q, cos[:, None], sin[:, None]).shape
      (1, 2, 5, 8)
    """

    head_dim: int = static()
    base: float = static()
    scaling: RopeScaling | None = static()
    max_position_embeddings: int | None = static()
    interleaved: bool = static()

    def __init__(
        self,
        head_dim: int,
        base: float = 10000.0,
        scaling: RopeScaling | dict[str, Any] | None = None,
        *,
        max_position_embeddings: int | None = None,
        interleaved: bool = False,
    ) -> None:
        if isinstance(scaling, dict):
            scaling = RopeScaling.from_dict(scaling)
        if max_position_embeddings is not None:
            positive_int("max_position_embeddings", max_position_embeddings, "RotaryEmbedding")
        rope_frequencies(head_dim, base, scaling)  # validates head_dim, base and scaling now
        self.head_dim, self.base, self.scaling = head_dim, float(base), scaling
        self.max_position_embeddings = max_position_embeddings
        self.interleaved = bool(interleaved)

    @property
    def inv_freq(self) -> jax.Array:
        """The inverse frequencies ``[head_dim // 2]`` (dynamic NTK: those at the context length)."""
        return rope_frequencies(self.head_dim, self.base, self.scaling)[0]

    @property
    def attention_scaling(self) -> float:
        """The factor on ``cos``/``sin`` (YaRN's attention factor; 1 otherwise)."""
        return rope_frequencies(self.head_dim, self.base, self.scaling)[1]

    def forward(self, x: jax.Array, position_ids: jax.Array) -> tuple[jax.Array, jax.Array]:
        check_float_input(x, what="x (it gives the dtype of cos/sin)")
        position_ids = jnp.asarray(position_ids)
        if not jnp.issubdtype(position_ids.dtype, jnp.integer):
            raise ConfigError(f"expected integer position_ids, got {position_ids.dtype}")
        seq_len = None
        if self.scaling is not None and self.scaling.rope_type == "dynamic":
            seq_len = jnp.max(position_ids) + 1
        inv_freq, scale = rope_frequencies(
            self.head_dim,
            self.base,
            self.scaling,
            seq_len=seq_len,
            max_position_embeddings=self.max_position_embeddings,
        )
        cos, sin = rope_cos_sin(position_ids, inv_freq, scale, interleaved=self.interleaved)
        return cos.astype(x.dtype), sin.astype(x.dtype)

    def extra_repr(self) -> str:
        kind = "default" if self.scaling is None else self.scaling.rope_type
        return (
            f"head_dim={self.head_dim}, base={self.base}, rope_type={kind!r}, interleaved={self.interleaved}"
        )
