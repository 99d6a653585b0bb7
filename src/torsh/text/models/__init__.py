"""Decoder-only language models with HF ``transformers``' state-dict keys and numerics.

Example:
    >>> import jax.numpy as jnp
    >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
    >>> cfg = GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2)
    >>> model = GPT2LMHeadModel(cfg, key=0)
    >>> model.eval()(jnp.zeros((2, 5), jnp.int32)).shape
    (2, 5, 20)
"""

from ._common import CausalLM, KVCache, causal_attention
from ._gpt2 import Conv1D, GPT2Config, GPT2LMHeadModel, GPT2Model
from ._llama import LlamaConfig, LlamaForCausalLM, LlamaModel, RopeScaling, rope_inv_freq

__all__ = [
    "CausalLM",
    "KVCache",
    "causal_attention",
    "GPT2Config",
    "GPT2LMHeadModel",
    "GPT2Model",
    "Conv1D",
    "LlamaConfig",
    "LlamaForCausalLM",
    "LlamaModel",
    "RopeScaling",
    "rope_inv_freq",
]
