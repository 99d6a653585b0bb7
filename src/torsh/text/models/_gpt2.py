"""GPT-2 with HF ``transformers``' ``GPT2LMHeadModel`` parameter names, shapes and numerics."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ... import nn
from ...errors import ConfigError
from ...nn import Module
from ...tree import static
from ._common import (
    CausalLM,
    KVCache,
    Slots,
    causal_attention,
    check_config,
    dropout,
    inv_sqrt,
    run_layers,
    with_cache,
)
from ._layers import Dense, Embedding, LayerNorm, normal

__all__ = ["GPT2Config", "GPT2LMHeadModel", "GPT2Model", "Conv1D"]

_SIZES = {
    "gpt2": {"n_layer": 12, "n_embd": 768, "n_head": 12},
    "gpt2-medium": {"n_layer": 24, "n_embd": 1024, "n_head": 16},
    "gpt2-large": {"n_layer": 36, "n_embd": 1280, "n_head": 20},
    "gpt2-xl": {"n_layer": 48, "n_embd": 1600, "n_head": 25},
}


@dataclasses.dataclass(frozen=True)
class GPT2Config:
    """GPT-2 hyperparameters with HF ``GPT2Config``'s names and defaults (GPT-2 small).

    ``GPT2Config.named("gpt2-medium")`` gives the published sizes (``gpt2``, ``gpt2-medium``,
    ``gpt2-large``, ``gpt2-xl``); keywords override fields.

    Args:
      vocab_size, n_positions, n_embd, n_layer, n_head, n_inner: sizes (``n_inner`` defaults to
        ``4 * n_embd``).
      activation_function: ``"gelu_new"``, ``"gelu_pytorch_tanh"``, ``"gelu"``, ``"relu"`` or
        ``"silu"``.
      resid_pdrop, embd_pdrop, attn_pdrop: dropout probabilities.
      layer_norm_epsilon: the layer norms' epsilon.
      initializer_range: the std of the normal initialisation.
      tie_word_embeddings: the output projection is the input embedding.
      bos_token_id, eos_token_id: special ids (for generation).

    Raises:
      ConfigError: a non-positive size, ``n_embd`` not divisible by ``n_head``, or an unknown
        activation.

    Example:
      >>> GPT2Config.named("gpt2-xl").n_embd
      1600
      >>> GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=100).n_inner is None
      True
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_new"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    tie_word_embeddings: bool = True
    bos_token_id: int = 50256
    eos_token_id: int = 50256

    def __post_init__(self) -> None:
        check_config(
            "GPT2Config",
            vocab_size=self.vocab_size,
            n_positions=self.n_positions,
            n_embd=self.n_embd,
            n_layer=self.n_layer,
            n_head=self.n_head,
        )
        if self.n_embd % self.n_head:
            raise ConfigError(f"GPT2Config: n_embd={self.n_embd} is not divisible by n_head={self.n_head}")
        if self.activation_function not in _ACTIVATIONS:
            raise ConfigError(
                f"GPT2Config: activation_function must be one of {sorted(_ACTIVATIONS)}, got "
                f"{self.activation_function!r}"
            )

    @classmethod
    def named(cls, name: str, **overrides: Any) -> GPT2Config:
        """The configuration of a published GPT-2 size.

        Args:
          name: ``"gpt2"``, ``"gpt2-medium"``, ``"gpt2-large"`` or ``"gpt2-xl"``.
          **overrides: fields to change.

        Returns:
          The configuration.

        Raises:
          ConfigError: an unknown size (or invalid overrides).

        Example:
          >>> from torsh.text.models import GPT2Config
          >>> GPT2Config.named("gpt2-medium", n_positions=256).n_layer
          24
        """
        if name not in _SIZES:
            raise ConfigError(f"GPT2Config.named: unknown size {name!r}; sizes are {sorted(_SIZES)}")
        return cls(**{**_SIZES[name], **overrides})

    @classmethod
    def from_hf(cls, hf_config: Any) -> GPT2Config:
        """From a ``transformers.GPT2Config`` (or its ``to_dict()``).

        Args:
          hf_config: the HF configuration or its dict.

        Returns:
          The configuration (fields torsh does not use are ignored).

        Raises:
          ConfigError: values that do not form a valid configuration.

        Example:
          >>> from torsh.text.models import GPT2Config
          >>> GPT2Config.from_hf({"n_layer": 2, "n_embd": 64, "n_head": 4, "use_cache": True}).n_layer
          2
        """
        d = hf_config if isinstance(hf_config, dict) else hf_config.to_dict()
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names and (v is not None or k == "n_inner")})


_ACTIVATIONS = {
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
}


class Conv1D(Module):
    """HF's ``Conv1D``: a linear layer with weight ``[in, out]`` (transposed from ``nn.Linear``).

    Args:
      nx: input features.
      nf: output features.
      std: the std of the normal weight initialisation (bias zero).
      axes: the weight's logical axis names.
      key: a host generator or key for the initialisation.
      dtype: the parameter dtype.

    Example:
      >>> import jax.numpy as jnp, numpy as np
      >>> from torsh.text.models._gpt2 import Conv1D
      >>> layer = Conv1D(3, 2, std=0.02, axes=("embed", "mlp"), key=np.random.default_rng(0),
      ...                dtype=jnp.float32)
      >>> layer.weight.shape, layer(jnp.ones((5, 3))).shape
      ((3, 2), (5, 2))
    """

    weight: jax.Array
    bias: jax.Array

    def __init__(self, nx: int, nf: int, *, std: float, axes: tuple[str, str], key: Any, dtype: Any) -> None:
        self.weight = normal(key, (nx, nf), std, dtype)
        self.bias = jnp.asarray(np.zeros((nf,), np.float32), dtype)
        self.with_axes(weight=axes, bias=axes[1:])

    def forward(self, x: jax.Array) -> jax.Array:
        return x @ self.weight + self.bias


class GPT2Attention(Module):
    c_attn: Conv1D
    c_proj: Conv1D
    n_head: int = static()
    attn_pdrop: float = static()
    resid_pdrop: float = static()

    def __init__(self, c: GPT2Config, *, key: Any, dtype: Any) -> None:
        std = c.initializer_range
        self.c_attn = Conv1D(c.n_embd, 3 * c.n_embd, std=std, axes=("embed", "heads"), key=key, dtype=dtype)
        self.c_proj = Conv1D(
            c.n_embd,
            c.n_embd,
            std=std / (2 * c.n_layer) ** 0.5,
            axes=("heads", "embed"),
            key=key,
            dtype=dtype,
        )
        self.n_head, self.attn_pdrop, self.resid_pdrop = c.n_head, c.attn_pdrop, c.resid_pdrop

    def forward(
        self, x: jax.Array, slots: Slots, kv: tuple | None, key: Any
    ) -> tuple[jax.Array, tuple | None]:
        b, t, e = x.shape
        h = self.n_head
        q, k, v = jnp.split(self.c_attn(x), 3, axis=-1)
        q, k, v = (a.reshape(b, t, h, e // h).transpose(0, 2, 1, 3) for a in (q, k, v))
        k, v, kv = with_cache(k, v, kv, slots.index)
        k_attn, k_res = (None, None) if key is None else jax.random.split(key)
        drop = self.training and self.attn_pdrop > 0
        if drop and key is None:
            dropout(x, self.attn_pdrop, True, None)
        y = causal_attention(
            q, k, v, slots.q_slots, slots.valid, inv_sqrt(e // h), self.attn_pdrop if drop else 0.0, k_attn
        )
        y = self.c_proj(y.transpose(0, 2, 1, 3).reshape(b, t, e))
        return dropout(y, self.resid_pdrop, self.training, k_res), kv


class GPT2MLP(Module):
    c_fc: Conv1D
    c_proj: Conv1D
    activation: str = static()
    resid_pdrop: float = static()

    def __init__(self, c: GPT2Config, *, key: Any, dtype: Any) -> None:
        inner = c.n_inner or 4 * c.n_embd
        std = c.initializer_range
        self.c_fc = Conv1D(c.n_embd, inner, std=std, axes=("embed", "mlp"), key=key, dtype=dtype)
        self.c_proj = Conv1D(
            inner, c.n_embd, std=std / (2 * c.n_layer) ** 0.5, axes=("mlp", "embed"), key=key, dtype=dtype
        )
        self.activation, self.resid_pdrop = c.activation_function, c.resid_pdrop

    def forward(self, x: jax.Array, key: Any) -> jax.Array:
        y = self.c_proj(_ACTIVATIONS[self.activation](self.c_fc(x)))
        return dropout(y, self.resid_pdrop, self.training, key)


class GPT2Block(Module):
    ln_1: LayerNorm
    attn: GPT2Attention
    ln_2: LayerNorm
    mlp: GPT2MLP

    def __init__(self, c: GPT2Config, *, key: Any, dtype: Any) -> None:
        self.ln_1 = LayerNorm(c.n_embd, c.layer_norm_epsilon, dtype)
        self.attn = GPT2Attention(c, key=key, dtype=dtype)
        self.ln_2 = LayerNorm(c.n_embd, c.layer_norm_epsilon, dtype)
        self.mlp = GPT2MLP(c, key=key, dtype=dtype)

    def forward(
        self, x: jax.Array, slots: Slots, kv: tuple | None, key: Any
    ) -> tuple[jax.Array, tuple | None]:
        ka, km = (None, None) if key is None else jax.random.split(key)
        a, kv = self.attn(self.ln_1(x), slots, kv, ka)
        x = x + a
        return x + self.mlp(self.ln_2(x), km), kv


class GPT2Model(Module):
    """The GPT-2 trunk (HF ``GPT2Model``): ``wte``, ``wpe``, blocks ``h.{i}``, final ``ln_f``.

    Built by :class:`GPT2LMHeadModel` (its ``transformer``); it returns the final hidden states.

    Args:
      c: the configuration.
      key: a host generator for the initialisation.
      dtype: the parameter dtype.

    Example:
      >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
      >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
      ...                 key=0).eval()
      >>> sorted(model.transformer.state_dict())[:3]
      ['h.0.attn.c_attn.bias', 'h.0.attn.c_attn.weight', 'h.0.attn.c_proj.bias']
    """

    wte: Embedding
    wpe: Embedding
    h: nn.ModuleList
    ln_f: LayerNorm
    embd_pdrop: float = static()

    def __init__(self, c: GPT2Config, *, key: Any, dtype: Any) -> None:
        std = c.initializer_range
        self.wte = Embedding(normal(key, (c.vocab_size, c.n_embd), std, dtype), ("vocab", "embed"))
        self.wpe = Embedding(normal(key, (c.n_positions, c.n_embd), std, dtype), ("positions", "embed"))
        self.h = nn.ModuleList([GPT2Block(c, key=key, dtype=dtype) for _ in range(c.n_layer)])
        self.ln_f = LayerNorm(c.n_embd, c.layer_norm_epsilon, dtype)
        self.embd_pdrop = c.embd_pdrop

    def forward(
        self, input_ids: jax.Array, position_ids: jax.Array, slots: Slots, cache: KVCache | None, key: Any
    ) -> tuple[jax.Array, KVCache | None]:
        x = jnp.take(self.wte.weight, input_ids, axis=0) + jnp.take(self.wpe.weight, position_ids, axis=0)
        x = dropout(
            x,
            self.embd_pdrop,
            self.training,
            None if key is None else jax.random.fold_in(key, len(self.h)),
        )
        x, cache = run_layers(
            self.h,
            x,
            cache,
            lambda i, block, x, kv: block(x, slots, kv, None if key is None else jax.random.fold_in(key, i)),
        )
        return self.ln_f(x), cache


class GPT2LMHeadModel(CausalLM, init=False):
    """GPT-2 language model: HF ``GPT2LMHeadModel``'s state-dict keys, shapes and logits.

    ``model(input_ids, attention_mask=None, position_ids=None, *, key=None)`` returns logits
    ``[batch, seq, vocab]``. Initialisation is HF's (normal(0, 0.02), residual projections scaled by
    ``1/sqrt(2 n_layer)``). The output projection is tied to ``transformer.wte`` by default
    (``tie_word_embeddings``): see :class:`~torsh.text.models.CausalLM`. Like every torsh module it
    starts in training mode (dropout on, needs ``key=``); call ``.eval()`` for inference.

    Args:
      config: a :class:`GPT2Config`.
      key: the construction key (an int or PRNG key; default: the ``torsh.manual_seed`` stream).
      dtype: the parameter dtype (default float32).

    Raises:
      ConfigError: ``config`` is not a :class:`GPT2Config`; (when called) dropout in training mode
        without ``key=``.

    Logical axes: ``wte``/``lm_head`` ``("vocab", "embed")``, ``wpe`` ``("positions", "embed")``,
    ``c_attn`` ``("embed", "heads")``, attention ``c_proj`` ``("heads", "embed")``, ``c_fc``
    ``("embed", "mlp")``, MLP ``c_proj`` ``("mlp", "embed")``, layer norms ``("embed",)``.

    Example:
      >>> import jax.numpy as jnp
      >>> cfg = GPT2Config(vocab_size=50, n_positions=16, n_embd=8, n_layer=1, n_head=2)
      >>> model = GPT2LMHeadModel(cfg, key=0).eval()
      >>> model(jnp.array([[1, 2, 3]])).shape
      (1, 3, 50)
      >>> "lm_head.weight" in model.state_dict(), model.num_parameters()
      (True, 1416)
    """

    transformer: GPT2Model
    lm_head: Dense | None

    _embedding_path = "transformer.wte.weight"
    _config_class = GPT2Config
    _trunk, _hidden_field, _context_field = "transformer", "n_embd", "n_positions"

    def _build_trunk(self, config: GPT2Config, rng: np.random.Generator, dtype: Any) -> GPT2Model:
        return GPT2Model(config, key=rng, dtype=dtype)

    def cache_spec(self) -> tuple[int, int, int]:
        c = self.config
        return c.n_layer, c.n_head, c.n_embd // c.n_head
