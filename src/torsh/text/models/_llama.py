"""A Llama-style decoder with HF ``transformers``' ``LlamaForCausalLM`` parameter names and numerics."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ... import nn
from ...errors import ConfigError
from ...nn import Module, RopeScaling
from ...nn import functional as F
from ...tree import static
from ._common import (
    CausalLM,
    KVCache,
    Slots,
    causal_attention,
    check_config,
    inv_sqrt,
    run_layers,
    with_cache,
)
from ._layers import Dense, Embedding, RMSNorm, normal

__all__ = ["LlamaConfig", "LlamaForCausalLM", "RopeScaling", "rope_inv_freq"]


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """Llama hyperparameters with HF ``LlamaConfig``'s names and defaults (Llama-2 7B sizes).

    ``num_key_value_heads < num_attention_heads`` is grouped-query attention; ``head_dim``
    defaults to ``hidden_size // num_attention_heads``; ``rope_scaling`` is a
    :class:`torsh.nn.RopeScaling` (linear, dynamic NTK, YaRN, llama3), HF's ``rope_parameters``
    dict, or None. As in HF, llama3 and YaRN given as a dict without
    ``original_max_position_embeddings`` take ``max_position_embeddings``; dynamic NTK scales past
    ``max_position_embeddings``.

    Args:
      vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads: sizes.
      num_key_value_heads: KV heads (default: ``num_attention_heads``).
      head_dim: the head size (default: ``hidden_size // num_attention_heads``; even).
      hidden_act: ``"silu"``, ``"gelu"`` or ``"relu"``.
      max_position_embeddings: the context length.
      initializer_range: the std of the normal initialisation.
      rms_norm_eps: RMSNorm's epsilon.
      rope_theta: RoPE's base.
      rope_scaling: a :class:`RopeScaling`, a dict of its fields, or ``None``.
      tie_word_embeddings: the output projection is the input embedding.
      attention_bias, mlp_bias: biases in the projections.
      bos_token_id, eos_token_id: special ids (for generation).

    Raises:
      ConfigError: a non-positive size, heads that do not divide, an odd ``head_dim``, an unknown
        activation or rope scaling.

    Example:
      >>> cfg = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
      ...                   num_attention_heads=4, num_key_value_heads=2)
      >>> cfg.head_dim, cfg.num_key_value_heads
      (8, 2)
    """

    vocab_size: int = 32000
    hidden_size: int = 4096
    intermediate_size: int = 11008
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    hidden_act: str = "silu"
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: int = 1
    eos_token_id: int = 2

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", self.hidden_size // max(self.num_attention_heads, 1))
        if isinstance(self.rope_scaling, dict):
            params = dict(self.rope_scaling)
            if params.get("rope_type", params.get("type")) in ("llama3", "yarn"):
                params.setdefault("original_max_position_embeddings", self.max_position_embeddings)
            object.__setattr__(self, "rope_scaling", RopeScaling.from_dict(params))
        check_config(
            "LlamaConfig",
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            head_dim=self.head_dim,
            max_position_embeddings=self.max_position_embeddings,
        )
        # both filled in above; the locals tell the type checker so
        kv_heads, head_dim = self.num_key_value_heads, self.head_dim
        assert kv_heads is not None and head_dim is not None
        if self.num_attention_heads % kv_heads:
            raise ConfigError(
                f"LlamaConfig: num_attention_heads={self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads={self.num_key_value_heads}"
            )
        if head_dim % 2:
            raise ConfigError(f"LlamaConfig: RoPE needs an even head_dim, got {self.head_dim}")
        if self.hidden_act not in ("silu", "gelu", "relu"):
            raise ConfigError(
                f"LlamaConfig: hidden_act must be 'silu', 'gelu' or 'relu', got {self.hidden_act!r}"
            )

    @classmethod
    def from_hf(cls, hf_config: Any) -> LlamaConfig:
        """From a ``transformers.LlamaConfig`` (its ``rope_parameters``/``rope_scaling`` included).

        Args:
          hf_config: the HF configuration or its dict.

        Returns:
          The configuration.

        Raises:
          ConfigError: values that do not form a valid configuration.

        Example:
          >>> from torsh.text.models import LlamaConfig
          >>> d = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
          ...      "rope_scaling": {"rope_type": "linear", "factor": 2.0}}
          >>> LlamaConfig.from_hf(d).rope_scaling.factor
          2.0
        """
        d = dict(hf_config if isinstance(hf_config, dict) else hf_config.to_dict())
        rope = d.pop("rope_parameters", None) or d.pop("rope_scaling", None) or {}
        d.pop("rope_scaling", None)
        if "rope_theta" in rope:
            d["rope_theta"] = rope["rope_theta"]
        partial = rope.get("partial_rotary_factor", d.get("partial_rotary_factor"))
        if partial not in (None, 1, 1.0):
            raise ConfigError(
                f"LlamaConfig.from_hf: partial_rotary_factor={partial!r} is not supported (this Llama "
                "rotates whole heads); for partial rotary embeddings build the attention from "
                "nn.RotaryEmbedding and F.apply_rotary_emb, which rotate the first features only"
            )
        if rope.get("rope_type", rope.get("type", "default")) != "default":
            d["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_hf_dict(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.LlamaConfig``.

        Returns:
          A dict with HF's names (RoPE settings as ``rope_parameters``).

        Example:
          >>> from torsh.text.models import LlamaConfig
          >>> LlamaConfig(hidden_size=32, num_attention_heads=4).to_hf_dict()["rope_parameters"]
          {'rope_type': 'default', 'rope_theta': 10000.0}
        """
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        rs = d.pop("rope_scaling")
        d["rope_parameters"] = {
            **({"rope_type": "default"} if rs is None else rs.to_dict()),
            "rope_theta": self.rope_theta,
        }
        return d


def rope_inv_freq(head_dim: int, theta: float, scaling: RopeScaling | None) -> np.ndarray:
    """Inverse frequencies ``theta ** (-2i / head_dim)``, scaled as ``scaling`` says (float32).

    The host-array form of :func:`torsh.nn.functional.rope_frequencies` (which also returns YaRN's
    attention factor); dynamic NTK gives the frequencies at the context length.

    Args:
      head_dim: the (even) head size.
      theta: RoPE's base.
      scaling: a :class:`torsh.nn.RopeScaling` or ``None``.

    Returns:
      A float32 array of ``head_dim // 2`` frequencies.

    Raises:
      ConfigError: an odd ``head_dim``, a bad ``theta`` or scaling.

    Example:
      >>> from torsh.text.models import RopeScaling, rope_inv_freq
      >>> rope_inv_freq(4, 100.0, None).tolist()
      [1.0, 0.10000000149011612]
      >>> (rope_inv_freq(4, 10000.0, RopeScaling("linear", 2.0)) * 2).tolist()
      [1.0, 0.009999999776482582]
    """
    return np.asarray(F.rope_frequencies(head_dim, theta, scaling)[0])


_ACTS = {"silu": jax.nn.silu, "gelu": lambda x: jax.nn.gelu(x, approximate=False), "relu": jax.nn.relu}


def _linear(
    d_in: int, d_out: int, bias: bool, axes: tuple[str, str], std: float, rng: Any, dtype: Any
) -> Dense:
    b = jnp.asarray(np.zeros(d_out, np.float32), dtype) if bias else None
    return Dense(normal(rng, (d_out, d_in), std, dtype), b, axes)


LlamaRMSNorm = RMSNorm


class LlamaAttention(Module):
    q_proj: Dense
    k_proj: Dense
    v_proj: Dense
    o_proj: Dense
    num_heads: int = static()
    num_kv_heads: int = static()
    head_dim: int = static()

    def __init__(self, c: LlamaConfig, *, key: Any, dtype: Any) -> None:
        kq = kk = kv = ko = key  # one host generator, drawn in order
        assert c.num_key_value_heads is not None and c.head_dim is not None  # set by LlamaConfig
        h, hkv, d, e, std = (
            c.num_attention_heads,
            c.num_key_value_heads,
            c.head_dim,
            c.hidden_size,
            c.initializer_range,
        )
        self.q_proj = _linear(e, h * d, c.attention_bias, ("heads", "embed"), std, kq, dtype)
        self.k_proj = _linear(e, hkv * d, c.attention_bias, ("heads", "embed"), std, kk, dtype)
        self.v_proj = _linear(e, hkv * d, c.attention_bias, ("heads", "embed"), std, kv, dtype)
        self.o_proj = _linear(h * d, e, c.attention_bias, ("embed", "heads"), std, ko, dtype)
        self.num_heads, self.num_kv_heads, self.head_dim = h, hkv, d

    def forward(
        self, x: jax.Array, rope: tuple[jax.Array, jax.Array], slots: Slots, kv: tuple | None
    ) -> tuple[jax.Array, tuple | None]:
        b, t, _ = x.shape
        d = self.head_dim
        cos, sin = (c[:, None] for c in rope)  # [B, 1, T, D] against [B, heads, T, D]
        q = self.q_proj(x).reshape(b, t, self.num_heads, d).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(b, t, self.num_kv_heads, d).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(b, t, self.num_kv_heads, d).transpose(0, 2, 1, 3)
        q, k = F.apply_rotary_emb(q, cos, sin), F.apply_rotary_emb(k, cos, sin)
        k, v, kv = with_cache(k, v, kv, slots.index)
        y = causal_attention(q, k, v, slots.q_slots, slots.valid, inv_sqrt(d))
        return self.o_proj(y.transpose(0, 2, 1, 3).reshape(b, t, self.num_heads * d)), kv


class LlamaMLP(Module):
    """SwiGLU: ``down(act(gate(x)) * up(x))``."""

    gate_proj: Dense
    up_proj: Dense
    down_proj: Dense
    act: str = static()

    def __init__(self, c: LlamaConfig, *, key: Any, dtype: Any) -> None:
        kg = ku = kd = key
        e, i, std = c.hidden_size, c.intermediate_size, c.initializer_range
        self.gate_proj = _linear(e, i, c.mlp_bias, ("mlp", "embed"), std, kg, dtype)
        self.up_proj = _linear(e, i, c.mlp_bias, ("mlp", "embed"), std, ku, dtype)
        self.down_proj = _linear(i, e, c.mlp_bias, ("embed", "mlp"), std, kd, dtype)
        self.act = c.hidden_act

    def forward(self, x: jax.Array) -> jax.Array:
        return self.down_proj(_ACTS[self.act](self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(Module):
    self_attn: LlamaAttention
    mlp: LlamaMLP
    input_layernorm: LlamaRMSNorm
    post_attention_layernorm: LlamaRMSNorm

    def __init__(self, c: LlamaConfig, *, key: Any, dtype: Any) -> None:
        self.self_attn = LlamaAttention(c, key=key, dtype=dtype)
        self.mlp = LlamaMLP(c, key=key, dtype=dtype)
        self.input_layernorm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps, dtype)
        self.post_attention_layernorm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps, dtype)

    def forward(
        self, x: jax.Array, rope: tuple[jax.Array, jax.Array], slots: Slots, kv: tuple | None
    ) -> tuple[jax.Array, tuple | None]:
        a, kv = self.self_attn(self.input_layernorm(x), rope, slots, kv)
        x = x + a
        return x + self.mlp(self.post_attention_layernorm(x)), kv


class LlamaModel(Module):
    """The Llama trunk (HF ``LlamaModel``): ``embed_tokens``, ``layers.{i}``, final ``norm``.

    Built by :class:`LlamaForCausalLM` (its ``model``); it returns the final hidden states.

    Args:
      c: the configuration.
      key: a host generator for the initialisation.
      dtype: the parameter dtype.

    Example:
      >>> from torsh.text.models import LlamaConfig, LlamaForCausalLM
      >>> cfg = LlamaConfig(vocab_size=10, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
      ...                   num_attention_heads=2)
      >>> model = LlamaForCausalLM(cfg, key=0).model
      >>> sorted(model.state_dict())[:2]
      ['embed_tokens.weight', 'layers.0.input_layernorm.weight']
      >>> model.rotary_emb.inv_freq.tolist()
      [1.0, 0.009999999776482582]
    """

    embed_tokens: Embedding
    layers: nn.ModuleList
    norm: LlamaRMSNorm
    rotary_emb: nn.RotaryEmbedding

    def __init__(self, c: LlamaConfig, *, key: Any, dtype: Any) -> None:
        self.embed_tokens = Embedding(
            normal(key, (c.vocab_size, c.hidden_size), c.initializer_range, dtype), ("vocab", "embed")
        )
        self.layers = nn.ModuleList(
            [LlamaDecoderLayer(c, key=key, dtype=dtype) for _ in range(c.num_hidden_layers)]
        )
        self.norm = LlamaRMSNorm(c.hidden_size, c.rms_norm_eps, dtype)
        assert c.head_dim is not None  # set by LlamaConfig
        self.rotary_emb = nn.RotaryEmbedding(
            c.head_dim, c.rope_theta, c.rope_scaling, max_position_embeddings=c.max_position_embeddings
        )

    def forward(
        self, input_ids: jax.Array, position_ids: jax.Array, slots: Slots, cache: KVCache | None, key: Any
    ) -> tuple[jax.Array, KVCache | None]:
        x = jnp.take(self.embed_tokens.weight, input_ids, axis=0)
        rope = self.rotary_emb(x, position_ids)  # key unused: Llama has no dropout
        x, cache = run_layers(self.layers, x, cache, lambda i, layer, x, kv: layer(x, rope, slots, kv))
        return self.norm(x), cache


class LlamaForCausalLM(CausalLM, init=False):
    """Llama-style decoder LM with HF ``LlamaForCausalLM``'s state-dict keys, shapes and logits.

    RMSNorm, rotary position embeddings (:class:`torsh.nn.RotaryEmbedding` in HF's rotate-half
    layout; ``rope_scaling`` linear, dynamic NTK, YaRN or llama3), SwiGLU MLP, grouped-query
    attention, untied (default) or tied embeddings. There is no dropout. The RoPE frequencies follow
    from the configuration (``model.model.rotary_emb.inv_freq``) and are no array of the model, as
    HF keeps its ``inv_freq`` out of the state dict.

    Logical axes: embeddings ``("vocab", "embed")``, q/k/v ``("heads", "embed")``, o ``("embed",
    "heads")``, gate/up ``("mlp", "embed")``, down ``("embed", "mlp")``, norms ``("embed",)``.

    Args:
      config: a :class:`LlamaConfig`.
      key: the construction key (an int or PRNG key; default: the ``torsh.manual_seed`` stream).
      dtype: the parameter dtype (default float32).

    Raises:
      ConfigError: ``config`` is not a :class:`LlamaConfig`.

    Example:
      >>> import jax.numpy as jnp
      >>> cfg = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
      ...                   num_attention_heads=4, num_key_value_heads=2)
      >>> model = LlamaForCausalLM(cfg, key=0)
      >>> model(jnp.array([[1, 2, 3]])).shape
      (1, 3, 40)
      >>> sorted(model.state_dict())[:2]
      ['lm_head.weight', 'model.embed_tokens.weight']
    """

    model: LlamaModel
    lm_head: Dense | None

    _embedding_path = "model.embed_tokens.weight"
    _config_class = LlamaConfig
    _trunk, _hidden_field, _context_field = "model", "hidden_size", "max_position_embeddings"

    def _build_trunk(self, config: LlamaConfig, rng: np.random.Generator, dtype: Any) -> LlamaModel:
        return LlamaModel(config, key=rng, dtype=dtype)

    def cache_spec(self) -> tuple[int, int, int]:
        c = self.config
        assert c.num_key_value_heads is not None and c.head_dim is not None  # set by LlamaConfig
        return c.num_hidden_layers, c.num_key_value_heads, c.head_dim
