"""Rotary position embeddings: the ``RotaryEmbedding`` module and ``RopeScaling``, HF's scaling variants.

The variants are linear, dynamic NTK, YaRN and llama3; the math is in ``nn.functional._positional``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError
from ..tree import static
from ._utils import check_float_input, positive_int
from .functional._positional import rope_cos_sin, rope_frequencies
from .module import Module

__all__ = ["RotaryEmbedding", "RopeScaling"]

ROPE_TYPES = ("linear", "dynamic", "yarn", "llama3")


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    """RoPE frequency scaling with HF ``rope_parameters``' names (``rope_type`` and its fields).

    * ``"linear"``: every frequency divided by ``factor`` (position interpolation).
    * ``"dynamic"``: dynamic NTK. Past the context (``max_position_embeddings`` given to
      :func:`rope_frequencies`, else ``original_max_position_embeddings``) the base grows with the
      current length ``seq_len``: ``base * (factor * seq_len / max_pos - (factor - 1)) ** (d / (d - 2))``.
    * ``"yarn"``: YaRN (Peng et al. 2023) as HF's ``_compute_yarn_parameters``: a linear ramp between
      interpolated and extrapolated frequencies over the dimensions between ``beta_fast`` and
      ``beta_slow`` rotations within ``original_max_position_embeddings``, and an attention factor
      (``0.1 * ln(factor) + 1`` unless ``attention_factor`` or ``mscale``/``mscale_all_dim`` are given)
      that multiplies ``cos``/``sin``.
    * ``"llama3"``: Llama 3.1's band-wise scaling (``low_freq_factor``, ``high_freq_factor``,
      ``original_max_position_embeddings``).

    Args:
      rope_type: ``"linear"``, ``"dynamic"``, ``"yarn"`` or ``"llama3"``.
      factor: the scaling factor (> 0).
      low_freq_factor: llama3's low band edge.
      high_freq_factor: llama3's high band edge.
      original_max_position_embeddings: the pre-training context (llama3, yarn; dynamic's fallback).
      beta_fast: YaRN's extrapolation boundary (rotations).
      beta_slow: YaRN's interpolation boundary (rotations).
      mscale: YaRN's (DeepSeek) attention-factor numerator scale.
      mscale_all_dim: YaRN's (DeepSeek) attention-factor denominator scale.
      attention_factor: YaRN's ``cos``/``sin`` multiplier (default: derived from ``factor``).
      truncate: YaRN rounds its correction range to whole dimensions (HF's default ``True``).

    Raises:
      ConfigError: an unknown ``rope_type``, ``factor <= 0``, llama3 bands in the wrong order, or
        ``beta_fast < beta_slow``.

    Example:
      >>> from torsh import nn
      >>> s = nn.RopeScaling("yarn", factor=4.0, original_max_position_embeddings=32)
      >>> round(nn.functional.rope_frequencies(8, 10000.0, s)[1], 4)     # YaRN's attention factor
      1.1386
    """

    rope_type: str = "linear"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192
    beta_fast: float = 32.0
    beta_slow: float = 1.0
    mscale: float | None = None
    mscale_all_dim: float | None = None
    attention_factor: float | None = None
    truncate: bool = True

    def __post_init__(self) -> None:
        if self.rope_type not in ROPE_TYPES:
            raise ConfigError(
                f"RopeScaling: rope_type must be one of {list(ROPE_TYPES)}, got {self.rope_type!r} "
                "(for unscaled RoPE pass scaling=None)"
            )
        if isinstance(self.factor, bool) or not isinstance(self.factor, (int, float)) or not self.factor > 0:
            raise ConfigError(f"RopeScaling: factor must be a number > 0, got {self.factor!r}")
        if self.rope_type == "llama3" and not self.high_freq_factor > self.low_freq_factor:
            raise ConfigError(
                f"RopeScaling: llama3 needs high_freq_factor > low_freq_factor, got "
                f"{self.high_freq_factor} and {self.low_freq_factor}"
            )
        if self.rope_type == "yarn" and self.beta_fast < self.beta_slow:
            raise ConfigError(
                f"RopeScaling: yarn needs beta_fast >= beta_slow, got {self.beta_fast} and {self.beta_slow}"
            )
        positive_int("original_max_position_embeddings", self.original_max_position_embeddings, "RopeScaling")

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> RopeScaling | None:
        """From HF's ``rope_parameters``/``rope_scaling`` dict (unknown keys such as ``rope_theta`` ignored).

        Args:
          params: the dict; ``rope_type`` (or the older ``type``) ``"default"`` gives ``None``.

        Returns:
          The scaling, or ``None`` for unscaled RoPE.

        Raises:
          ConfigError: an unknown rope type or invalid values.

        Example:
          >>> from torsh import nn
          >>> nn.RopeScaling.from_dict({"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1e4}).rope_type
          'dynamic'
        """
        kind = params.get("rope_type", params.get("type", "default"))
        if kind == "default":
            return None
        names = {f.name for f in dataclasses.fields(cls)} - {"rope_type"}
        return cls(rope_type=kind, **{k: v for k, v in params.items() if k in names and v is not None})

    def to_dict(self) -> dict[str, Any]:
        """HF's ``rope_parameters`` for this scaling (the keys its ``rope_type`` reads; no ``rope_theta``).

        Returns:
          A dict that :meth:`from_dict` turns back into this scaling.

        Example:
          >>> from torsh import nn
          >>> nn.RopeScaling("dynamic", 2.0).to_dict()
          {'rope_type': 'dynamic', 'factor': 2.0}
        """
        keys = {
            "linear": ("factor",),
            "dynamic": ("factor",),
            "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
            "yarn": (
                "factor",
                "original_max_position_embeddings",
                "beta_fast",
                "beta_slow",
                "mscale",
                "mscale_all_dim",
                "attention_factor",
                "truncate",
            ),
        }[self.rope_type]
        return {
            "rope_type": self.rope_type,
            **{k: getattr(self, k) for k in keys if getattr(self, k) is not None},
        }


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
