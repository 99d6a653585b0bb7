"""Pieces shared by the decoder-only models: the KV cache, masked causal attention, weight tying, the
construction of the output head and the loop over the layers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from ...nn import Module
from ...nn._utils import float_dtype, resolve_key
from ...nn.module import StateDictError
from ...tree import Struct, static
from .._errors import ContextLengthError, TokenIdError
from ._layers import Dense, Embedding, host_rng, normal

__all__ = ["KVCache", "CausalLM", "causal_attention"]


class KVCache(Struct):
    """Preallocated keys/values of every layer and the mask of filled slots.

    ``k``/``v`` hold one ``[batch, kv_heads, max_len, head_dim]`` array per layer, ``valid
    [batch, max_len]`` is ``False`` at empty slots and at padding.

    A decode step writes slot ``index`` of every layer with ``jax.lax.dynamic_update_slice``; the
    shapes never change, so one compiled step serves every position.

    Args:
      k: the keys, one array per layer.
      v: the values, one array per layer.
      valid: which slots hold real tokens.

    Example:
      >>> cache = KVCache.create(2, 16, num_layers=3, num_kv_heads=4, head_dim=8)
      >>> cache.k[0].shape, cache.valid.shape, cache.max_len
      ((2, 4, 16, 8), (2, 16), 16)
    """

    k: tuple
    v: tuple
    valid: jax.Array

    @classmethod
    def create(
        cls,
        batch: int,
        max_len: int,
        *,
        num_layers: int,
        num_kv_heads: int,
        head_dim: int,
        dtype: Any = jnp.float32,
    ) -> KVCache:
        """An empty cache.

        Args:
          batch: sequences.
          max_len: slots per sequence.
          num_layers: decoder layers.
          num_kv_heads: key/value heads per layer.
          head_dim: the size of one head.
          dtype: the dtype of keys and values.

        Returns:
          A zero-filled :class:`KVCache` with no valid slot.

        Example:
          >>> from torsh.text.models import KVCache
          >>> c = KVCache.create(1, 4, num_layers=1, num_kv_heads=2, head_dim=3)
          >>> c.v[0].shape, bool(c.valid.any())
          ((1, 2, 4, 3), False)
        """
        shape = (batch, num_kv_heads, max_len, head_dim)
        zeros = tuple(jnp.zeros(shape, dtype) for _ in range(num_layers))
        return cls(
            k=zeros,
            v=tuple(jnp.zeros(shape, dtype) for _ in range(num_layers)),
            valid=jnp.zeros((batch, max_len), bool),
        )

    @property
    def max_len(self) -> int:
        """The number of slots per sequence."""
        return self.valid.shape[1]


def causal_attention(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    q_slots: jax.Array,
    valid: jax.Array,
    scale: float,
    dropout_p: float = 0.0,
    dropout_key: Any = None,
) -> jax.Array:
    """Softmax attention of queries at slots ``q_slots [T]`` over keys at slots ``0..S-1``.

    ``q [B, H, T, D]``, ``k``/``v [B, Hkv, S, D]`` (grouped-query attention when ``Hkv < H``: query
    head ``h`` reads key head ``h // (H // Hkv)``, as ``repeat_interleave``). A key is visible when
    its slot is ``<= `` the query's and ``valid [B, S]``. Masked scores are set to the dtype's
    minimum (as HF transformers), so a query with nothing visible (padding) gets a uniform average
    rather than NaN. Scores and softmax run in float32. ``dropout_key`` drops attention weights.

    Args:
      q: queries ``[B, H, T, D]``.
      k: keys ``[B, Hkv, S, D]``.
      v: values ``[B, Hkv, S, D]``.
      q_slots: the slot of each query ``[T]``.
      valid: visible key slots ``[B, S]``.
      scale: the score scale (``1 / sqrt(D)``).
      dropout_p: attention dropout probability.
      dropout_key: the dropout key (``None``: no dropout).

    Returns:
      ``[B, H, T, D]``.

    Raises:
      ConfigError: ``dropout_p > 0`` with a key of the wrong kind (see ``torsh.random``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.text.models import causal_attention
      >>> q = k = jnp.ones((1, 2, 3, 4)); v = jnp.arange(24.0).reshape(1, 2, 3, 4)
      >>> out = causal_attention(q, k, v, jnp.arange(3), jnp.ones((1, 3), bool), 0.5)
      >>> out[0, 0, :, 0].tolist()     # query t averages the values of slots 0..t
      [0.0, 2.0, 4.0]
    """
    b, h, t, d = q.shape
    hkv = k.shape[1]
    qg = q.reshape(b, hkv, h // hkv, t, d)
    scores = jnp.einsum("bkgtd,bksd->bkgts", qg, k, preferred_element_type=jnp.float32) * scale
    s = k.shape[2]
    visible = (jnp.arange(s)[None, :] <= q_slots[:, None])[None, None, None] & valid[:, None, None, None, :]
    scores = jnp.where(visible, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    if dropout_key is not None and dropout_p > 0.0:
        probs = dropout(probs, dropout_p, True, dropout_key)
    out = jnp.einsum("bkgts,bksd->bkgtd", probs, v)
    return out.reshape(b, h, t, d)


def write_cache(cache: jax.Array, new: jax.Array, index: Any) -> jax.Array:
    """``cache [B, H, S, D]`` with ``new [B, H, T, D]`` written at slots ``index .. index+T-1``."""
    return jax.lax.dynamic_update_slice(cache, new.astype(cache.dtype), (0, 0, index, 0))


class Slots(NamedTuple):
    """Where a forward pass reads and writes: the new tokens' slots, the visible keys, the first slot."""

    q_slots: jax.Array  # [T] slot of each new token
    valid: jax.Array  # [B, S] keys that hold real tokens
    index: Any  # the first slot written (a traced scalar while decoding)


def with_cache(
    k: jax.Array, v: jax.Array, kv: tuple | None, index: Any
) -> tuple[jax.Array, jax.Array, tuple | None]:
    """The keys/values to attend over: the new ones alone, or written into the layer's cache ``kv``."""
    if kv is None:
        return k, v, None
    k, v = write_cache(kv[0], k, index), write_cache(kv[1], v, index)
    return k, v, (k, v)


def run_layers(
    layers: Any,
    x: jax.Array,
    cache: KVCache | None,
    call: Callable[[int, Any, jax.Array, tuple | None], tuple[jax.Array, tuple | None]],
) -> tuple[jax.Array, KVCache | None]:
    """``x`` through every layer (``call(i, layer, x, kv) -> (x, kv)``), collecting the updated cache."""
    ks, vs = [], []
    for i, layer in enumerate(layers):
        x, kv = call(i, layer, x, None if cache is None else (cache.k[i], cache.v[i]))
        if kv is not None:
            ks.append(kv[0])
            vs.append(kv[1])
    return x, (None if cache is None else cache.replace(k=tuple(ks), v=tuple(vs)))


class CausalLM(Module):
    """Base of torsh's decoder-only language models (GPT-2, Llama).

    Subclasses name their configuration class, trunk attribute and sizes (class attributes) and
    build the trunk in ``_build_trunk``; the trunk's ``forward(input_ids, position_ids, slots, cache,
    key)`` returns the final hidden states. This base adds input checks, the cached entry point used by
    :func:`torsh.text.generate`, and **weight tying**: a tied model has *no* ``lm_head`` array; its
    output projection reads the input embedding (``logits = h @ wte.T``), so there is one array
    and autodiff adds both uses' gradients into it. ``state_dict()`` still lists ``lm_head.weight``
    (the same array) so its keys equal HF ``transformers``'; ``load_state_dict`` accepts it and
    checks that it equals the embedding.

    Args:
      config: the model's configuration (subclasses take their own config class).

    Raises:
      ConfigError: ``config`` is not the model's configuration class.
      ShapeError: ``input_ids`` that are not ``[batch, seq]`` integers, or a mask of another shape.
      TokenIdError: (concrete ids) an id outside the vocabulary.
      ContextLengthError: more tokens than the context.

    Example:
      >>> import torsh
      >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
      >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
      ...                 key=0).eval()
      >>> isinstance(model, torsh.text.models.CausalLM), model.max_positions, model.vocab_size
      (True, 8, 20)
    """

    config: Any = static()

    # -- what subclasses define -------------------------------------------------------------------
    _embedding_path = ""  # dotted path of the input embedding (class attribute, not a field)
    _config_class: ClassVar[type] = object
    _trunk = ""  # attribute holding the trunk ("transformer", "model")
    _hidden_field = ""  # the config field of the model width
    _context_field = ""  # the config field of the context length

    def __init__(self, config: Any, *, key: Any = None, dtype: Any = None) -> None:
        name = type(self).__name__
        if not isinstance(config, self._config_class):
            raise ConfigError(
                f"{name}: expected a {self._config_class.__name__}, got {type(config).__name__}"
            )
        d = float_dtype(dtype)
        c: Any = config
        self.config = c
        rng = host_rng(resolve_key(key))  # one host generator, drawn in parameter order
        setattr(self, self._trunk, self._build_trunk(c, rng, d))
        width, std = getattr(c, self._hidden_field), c.initializer_range
        self.lm_head = (
            None
            if c.tie_word_embeddings
            else Dense(normal(rng, (c.vocab_size, width), std, d), None, ("vocab", "embed"))
        )

    def _build_trunk(self, config: Any, rng: np.random.Generator, dtype: Any) -> Module:
        raise NotImplementedError

    @property
    def max_positions(self) -> int:
        """The context length: the most positions a sequence may have."""
        return getattr(self.config, self._context_field)

    @property
    def vocab_size(self) -> int:
        """The number of token ids."""
        return self.config.vocab_size

    @property
    def tied(self) -> bool:
        """Whether the output projection is the input embedding (``tie_word_embeddings``)."""
        return bool(self.config.tie_word_embeddings)

    def cache_spec(self) -> tuple[int, int, int]:
        """The shape of the KV cache this model needs.

        Returns:
          ``(num_layers, num_kv_heads, head_dim)``.

        Example:
          >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
          >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
          ...                         key=0).eval()
          >>> model.cache_spec()
          (1, 2, 4)
        """
        raise NotImplementedError

    def _run(
        self,
        input_ids: jax.Array,
        position_ids: jax.Array,
        valid: jax.Array,
        cache: KVCache | None,
        index: Any,
        key: Any,
    ) -> tuple[jax.Array, KVCache | None]:
        slots = Slots(index + jnp.arange(input_ids.shape[1]), valid, index)
        h, cache = getattr(self, self._trunk)(input_ids, position_ids, slots, cache, key)
        return h @ self.output_weight().T, cache

    def _describe(self) -> str:
        c = self.config
        return f"{type(self).__name__} layers={self.cache_spec()[0]} hidden={getattr(c, self._hidden_field)}"

    # -- entry points ----------------------------------------------------------------------------
    def forward(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        *,
        key: Any = None,
    ) -> jax.Array:
        """Logits ``[batch, seq, vocab]`` (float32 for float32 weights) of every position.

        ``attention_mask [batch, seq]`` (1 = token, 0 = padding) hides padded keys;
        ``position_ids`` default to ``0..seq-1`` (with left padding pass ``cumsum(mask) - 1``).
        ``key`` drives dropout in training mode.
        """
        input_ids = self._check_ids(input_ids)
        b, t = input_ids.shape
        if t > self.max_positions:
            raise ContextLengthError(
                f"{type(self).__name__}: {t} tokens exceed the context of {self.max_positions} positions"
            )
        valid = jnp.ones((b, t), bool) if attention_mask is None else self._check_mask(attention_mask, (b, t))
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(t), (b, t))
        return _forward(self, input_ids, jnp.asarray(position_ids), valid, key)

    def init_cache(self, batch: int, max_len: int, dtype: Any = None) -> KVCache:
        """An empty :class:`KVCache` for ``batch`` sequences of up to ``max_len`` tokens.

        Args:
          batch: sequences.
          max_len: slots per sequence (at most :attr:`max_positions`).
          dtype: the cache dtype (default: the embedding's).

        Returns:
          The cache.

        Raises:
          ContextLengthError: ``max_len`` exceeds the context.

        Example:
          >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
          >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
          ...                         key=0).eval()
          >>> model.init_cache(2, 8).k[0].shape
          (2, 2, 8, 4)
        """
        if max_len > self.max_positions:
            raise ContextLengthError(
                f"{type(self).__name__}.init_cache: max_len={max_len} exceeds the context of "
                f"{self.max_positions} positions"
            )
        n, hkv, d = self.cache_spec()
        dt = dtype if dtype is not None else self._embedding().dtype
        return KVCache.create(batch, max_len, num_layers=n, num_kv_heads=hkv, head_dim=d, dtype=dt)

    def forward_cached(
        self,
        input_ids: jax.Array,
        cache: KVCache,
        index: Any,
        position_ids: jax.Array,
        attention_mask: jax.Array | None = None,
    ) -> tuple[jax.Array, KVCache]:
        """Run ``input_ids [B, T]`` at cache slots ``index .. index+T-1``; returns ``(logits, cache)``.

        The new tokens attend to every valid earlier slot and causally among themselves;
        ``attention_mask [B, T]`` marks which of them are real (padding stays invalid). ``index`` may
        be a traced scalar: shapes depend only on ``T`` and the cache size.

        Args:
          input_ids: ``[B, T]`` new tokens.
          cache: the cache so far.
          index: the first slot to write.
          position_ids: ``[B, T]`` positions of the new tokens.
          attention_mask: ``[B, T]``, 1 for real tokens.

        Returns:
          ``(logits [B, T, vocab], cache)``.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
          >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
          ...                         key=0).eval()
          >>> ids = jnp.array([[1, 2, 3]])
          >>> logits, cache = model.forward_cached(ids, model.init_cache(1, 8), 0, jnp.arange(3)[None])
          >>> bool(jnp.allclose(logits, model(ids), atol=1e-5)), cache.valid[0].tolist()[:4]
          (True, [True, True, True, False])
        """
        b, t = input_ids.shape
        mask = jnp.ones((b, t), bool) if attention_mask is None else attention_mask.astype(bool)
        valid = jax.lax.dynamic_update_slice(cache.valid, mask, (0, index))
        logits, new_cache = self._run(input_ids, position_ids, valid, cache.replace(valid=valid), index, None)
        assert new_cache is not None  # _run returns a cache when given one
        return logits, new_cache

    # -- checks ----------------------------------------------------------------------------------
    def _check_ids(self, input_ids: Any) -> jax.Array:
        ids = jnp.asarray(input_ids)
        if ids.ndim != 2:
            raise ShapeError(
                f"{type(self).__name__}: expected input_ids [batch, seq], got shape {list(ids.shape)}"
            )
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            raise ShapeError(f"{type(self).__name__}: expected integer input_ids, got {ids.dtype}")
        if not isinstance(ids, jax.core.Tracer):  # concrete ids are checked (traced ones cannot be)
            host = np.asarray(ids)
            lo, hi = int(host.min(initial=0)), int(host.max(initial=0))
            if lo < 0 or hi >= self.vocab_size:
                bad = lo if lo < 0 else hi
                raise TokenIdError(
                    f"{type(self).__name__}: token id {bad} is out of the vocabulary [0, {self.vocab_size})"
                )
        return ids

    def _check_mask(self, mask: Any, shape: tuple[int, int]) -> jax.Array:
        m = jnp.asarray(mask)
        if m.shape != shape:
            raise ShapeError(
                f"{type(self).__name__}: attention_mask must have the shape of input_ids {list(shape)}, got "
                f"{list(m.shape)}"
            )
        return m.astype(bool)

    # -- weight tying ----------------------------------------------------------------------------
    def _embedding(self) -> jax.Array:
        table = self.get_submodule(self._embedding_path.rsplit(".", 1)[0])
        assert isinstance(table, Embedding)  # both models' input embeddings
        return table.weight

    def output_weight(self) -> jax.Array:
        """The ``[vocab, embed]`` output projection: the embedding itself when tied.

        Returns:
          The projection matrix.

        Example:
          >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
          >>> model = GPT2LMHeadModel(GPT2Config(vocab_size=20, n_positions=8, n_embd=8, n_layer=1, n_head=2),
          ...                         key=0).eval()
          >>> model.output_weight() is model.transformer.wte.weight
          True
        """
        if self.tied:
            return self._embedding()
        assert self.lm_head is not None  # untied models build their head
        return self.lm_head.weight

    def state_dict(self) -> dict[str, jax.Array]:
        sd = super().state_dict()
        if self.tied:
            sd["lm_head.weight"] = sd[self._embedding_path]
        return sd

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        sd = dict(state_dict)
        if self.tied and "lm_head.weight" in sd:
            head = sd.pop("lm_head.weight")
            emb = sd.get(self._embedding_path)
            if emb is not None:
                from ...nn.module import _to_numpy

                a, b = _to_numpy(head), _to_numpy(emb)
                if a.shape != b.shape or not np.array_equal(a, b):
                    raise StateDictError(
                        f"load_state_dict into {type(self).__name__}: lm_head.weight differs from "
                        f"{self._embedding_path} but the model ties them (tie_word_embeddings=True); "
                        "build it "
                        "with tie_word_embeddings=False to load an untied checkpoint"
                    )
        return super().load_state_dict(sd, strict)


@jax.jit
def _forward(
    model: CausalLM, input_ids: jax.Array, position_ids: jax.Array, valid: jax.Array, key: Any
) -> jax.Array:
    # Compiled once per model structure and shapes: eager calls skip op-by-op dispatch; inside a
    # caller's jit/grad this is inlined.
    return model._run(input_ids, position_ids, valid, None, 0, key)[0]


def check_config(owner: str, **values: Any) -> None:
    """Positive ints for sizes."""
    for name, v in values.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ConfigError(f"{owner}: {name} must be a positive int, got {v!r}")


def dropout(x: jax.Array, p: float, training: bool, key: Any) -> jax.Array:
    """Inverted dropout; in training mode with ``p > 0`` a key is required.

    Called inside a layer's forward: the error gets the layer's path and name on its way out.
    """
    if not training or p == 0.0:
        return x
    if key is None:
        raise ConfigError(
            f"dropout (p={p}) in training mode needs a key: call model(ids, key=key), "
            "or model.eval() "
            "for inference"
        )
    keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
    return jnp.where(keep, x / (1.0 - p), 0).astype(x.dtype)


def inv_sqrt(d: int) -> float:
    return 1.0 / math.sqrt(d)
