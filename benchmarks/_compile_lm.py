"""The Transformer LM of ``compile_cache.py`` (a module of its own: a stored program's tree structure
names its classes, which must be importable by the process that loads it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from torsh import nn

D, VOCAB, T = 256, 1024, 128


class LM(nn.Module):
    """2-layer Transformer encoder LM (d=256, 4 heads, dropout 0.1) with a causal mask."""

    def __init__(self) -> None:
        self.embed = nn.Embedding(VOCAB, D)
        layer = nn.TransformerEncoderLayer(D, 4, 4 * D, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2)
        self.head = nn.Linear(D, VOCAB)

    def forward(self, tokens: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        causal = jnp.triu(jnp.full((T, T), -jnp.inf), 1)
        return self.head(self.encoder(self.embed(tokens), mask=causal, key=key))
