"""Autoregressive generation: one prefill, then ONE compiled decode step over a preallocated KV cache.

Shapes are bucketed (prompt width and cache length rounded up to ``bucket``), so prompts and
``max_new_tokens`` of different sizes reuse the same two compiled programs; within a call every token
runs the same decode step (the cache slot is a traced index, not a shape).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError
from ._errors import ContextLengthError, TokenIdError
from .models._common import CausalLM, KVCache

__all__ = ["generate", "sample_logits", "filter_logits"]

#: How many times each compiled function was traced (a test hook: it must not grow per token).
_TRACES: collections.Counter = collections.Counter()


def sample_logits(
    logits: jax.Array, key: jax.Array | None, temperature: Any = 1.0, top_k: Any = 0, top_p: Any = 1.0
) -> jax.Array:
    """Next tokens ``[B]`` from ``logits [B, V]``: argmax when ``key`` is None, else a sample.

    Sampling follows HF ``transformers``' warpers in order: divide by ``temperature``, keep the
    ``top_k`` largest (0 = all), keep the smallest set of most likely tokens whose probability
    reaches ``top_p`` (1.0 = all; the most likely token is always kept). All three may be traced
    values, so changing them does not recompile.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> logits = jnp.log(jnp.array([[0.1, 0.6, 0.3]]))
      >>> sample_logits(logits, None).tolist()
      [1]
      >>> int(sample_logits(logits, jax.random.key(0), top_k=1)[0])
      1
    """
    logits = logits.astype(jnp.float32)
    if key is None:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p), axis=-1).astype(
        jnp.int32
    )


def filter_logits(logits: jax.Array, temperature: Any = 1.0, top_k: Any = 0, top_p: Any = 1.0) -> jax.Array:
    """``logits / temperature`` with tokens outside top-k / top-p set to ``-inf`` (HF's warpers).

    Example:
      >>> import jax.numpy as jnp
      >>> filter_logits(jnp.log(jnp.array([[0.1, 0.6, 0.3]])), top_p=0.7).tolist()[0][0]
      -inf
    """
    logits = logits.astype(jnp.float32) / temperature
    v = logits.shape[-1]
    sorted_desc = -jnp.sort(-logits, axis=-1)
    k = jnp.where((top_k > 0) & (top_k < v), top_k, v)
    kth = jnp.take_along_axis(sorted_desc, jnp.broadcast_to(k - 1, logits.shape[:-1])[..., None], axis=-1)
    logits = jnp.where(logits < kth, -jnp.inf, logits)
    sorted_desc = -jnp.sort(-logits, axis=-1)
    probs = jax.nn.softmax(sorted_desc, axis=-1)
    # HF keeps a token unless the mass of the less likely tokens, itself included, is <= 1 - top_p
    from_below = jnp.flip(jnp.cumsum(jnp.flip(probs, -1), -1), -1)
    keep_sorted = (from_below > 1 - top_p) | (jnp.arange(v) == 0)
    # the smallest kept logit is the threshold (ties with it are kept)
    threshold = jnp.min(jnp.where(keep_sorted, sorted_desc, jnp.inf), axis=-1, keepdims=True)
    return jnp.where(logits < threshold, -jnp.inf, logits)


@jax.jit
def _prefill(
    model: CausalLM, ids: jax.Array, mask: jax.Array, positions: jax.Array, cache: KVCache
) -> tuple[jax.Array, KVCache]:
    _TRACES["prefill"] += 1
    logits, cache = model.forward_cached(ids, cache, 0, positions, mask)
    return logits[:, -1], cache


@jax.jit
def _select(
    logits: jax.Array, key: Any, step: jax.Array, temperature: Any, top_k: Any, top_p: Any
) -> jax.Array:
    _TRACES["select"] += 1
    return sample_logits(
        logits, None if key is None else jax.random.fold_in(key, step), temperature, top_k, top_p
    )


@jax.jit
def _decode_step(
    model: CausalLM,
    cache: KVCache,
    tokens: jax.Array,
    positions: jax.Array,
    index: jax.Array,
    done: jax.Array,
    key: Any,
    step: jax.Array,
    temperature: Any,
    top_k: Any,
    top_p: Any,
    eos: jax.Array,
    pad: jax.Array,
) -> tuple[jax.Array, jax.Array, KVCache]:
    _TRACES["decode"] += 1
    logits, cache = model.forward_cached(tokens[:, None], cache, index, positions[:, None])
    nxt = sample_logits(
        logits[:, -1], None if key is None else jax.random.fold_in(key, step), temperature, top_k, top_p
    )
    nxt = jnp.where(done, pad, nxt)
    return nxt, done | jnp.isin(nxt, eos), cache


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _rows(prompt_ids: Any, attention_mask: Any) -> list[list[int]]:
    if (
        isinstance(prompt_ids, (list, tuple))
        and prompt_ids
        and isinstance(prompt_ids[0], (list, tuple, np.ndarray))
    ):
        if attention_mask is not None:
            raise ConfigError("generate: attention_mask= is only for a 2-D prompt array, not a list of lists")
        rows = [list(map(int, np.asarray(r).reshape(-1))) for r in prompt_ids]
    else:
        arr = np.asarray(prompt_ids)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2:
            raise ConfigError(
                f"generate: prompt_ids must be [batch, seq] or a list of id lists, "
                f"got shape {list(arr.shape)}"
            )
        mask = np.ones_like(arr, bool) if attention_mask is None else np.asarray(attention_mask).astype(bool)
        if mask.shape != arr.shape:
            raise ConfigError(
                f"generate: attention_mask {list(mask.shape)} must match prompt_ids {list(arr.shape)}"
            )
        rows = [list(map(int, r[m])) for r, m in zip(arr, mask, strict=True)]
    if not rows or any(len(r) == 0 for r in rows):
        raise ConfigError(
            "generate: every prompt needs at least one token (start with a BOS/separator token)"
        )
    return rows


def generate(
    model: CausalLM,
    prompt_ids: Any,
    max_new_tokens: int,
    *,
    attention_mask: Any = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos: int | Sequence[int] | None = None,
    pad_id: int | None = None,
    key: jax.Array | None = None,
    callback: Callable[[np.ndarray], Any] | None = None,
    bucket: int = 64,
) -> np.ndarray:
    """Continue ``prompt_ids`` by up to ``max_new_tokens`` tokens; returns ``[batch, width + new]``.

    The module holds its parameters, so ``generate(model, ...)`` needs no separate ``params``.
    Prompts (a ``[batch, seq]`` array with an optional ``attention_mask``, or a list of id lists of
    different lengths) are left-padded to a common width, rounded up to ``bucket``; positions count
    real tokens only, so padding changes nothing. One prefill fills a preallocated
    :class:`~torsh.text.KVCache`; then a single compiled decode step produces each token. Programs
    are reused for every prompt width and ``max_new_tokens`` that round to the same buckets.

    Args:
      model: a :class:`~torsh.text.models.CausalLM` (GPT-2, Llama); run in eval mode.
      prompt_ids: ``[batch, seq]`` ids (or ``[seq]``), or a list of id lists.
      max_new_tokens: tokens to add (fewer when every row has produced an ``eos``).
      attention_mask: for an array prompt, 1 at real tokens (any padding side).
      temperature, top_k, top_p: sampling controls (need ``key``); ``temperature=0`` is greedy.
      eos: stop token id(s): a row that produces one is finished and padded with ``pad_id`` after.
      pad_id: id for padding (default: the first ``eos``, else 0).
      key: PRNG key for sampling; ``None`` decodes greedily (argmax), as HF's ``do_sample=False``.
      callback: called with each step's new tokens (``np.ndarray [batch]``) as they are produced.
      bucket: shape rounding for the prompt width and the cache length.

    Returns:
      ``np.ndarray int32 [batch, width + generated]``: the left-padded prompts then the new tokens.

    Raises:
      ConfigError: an empty prompt, a non-positive ``max_new_tokens``, ``top_p`` outside (0, 1],
        sampling options without ``key``, or a malformed ``attention_mask``.
      ContextLengthError: prompt + ``max_new_tokens`` exceed the model's context.
      TokenIdError: prompt ids or ``eos`` outside the vocabulary.

    Example:
      >>> from torsh.text.models import GPT2Config, GPT2LMHeadModel
      >>> cfg = GPT2Config(vocab_size=32, n_positions=64, n_embd=16, n_layer=1, n_head=2)
      >>> model = GPT2LMHeadModel(cfg, key=0)
      >>> out = generate(model, [[1, 2, 3], [4]], max_new_tokens=5, bucket=8)
      >>> out.shape
      (2, 13)
      >>> out[1, :8].tolist()
      [0, 0, 0, 0, 0, 0, 0, 4]
    """
    if not isinstance(model, CausalLM):
        raise ConfigError(
            f"generate: expected a torsh.text.models.CausalLM (GPT2LMHeadModel, LlamaForCausalLM), "
            f"got {type(model).__name__}"
        )
    if not isinstance(max_new_tokens, int) or isinstance(max_new_tokens, bool) or max_new_tokens < 1:
        raise ConfigError(f"generate: max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not isinstance(bucket, int) or bucket < 1:
        raise ConfigError(f"generate: bucket must be a positive int, got {bucket!r}")
    if temperature == 0:
        key = None
    elif not temperature > 0:
        raise ConfigError(f"generate: temperature must be >= 0, got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        raise ConfigError(f"generate: top_k must be a non-negative int, got {top_k!r}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"generate: top_p must be in (0, 1], got {top_p!r}")
    if key is None and temperature != 0 and (top_k or top_p is not None or temperature != 1.0):
        raise ConfigError(
            "generate: temperature/top_k/top_p select sampling, which needs key=jax.random.key(seed); "
            "without a "
            "key decoding is greedy (or pass temperature=0)"
        )
    eos_ids = (
        [] if eos is None else [int(eos)] if isinstance(eos, (int, np.integer)) else [int(e) for e in eos]
    )
    pad = (eos_ids[0] if eos_ids else 0) if pad_id is None else int(pad_id)
    vocab = model.vocab_size
    for name, checked in (("eos", eos_ids), ("pad_id", [pad])):
        bad = [i for i in checked if not 0 <= i < vocab]
        if bad:
            raise TokenIdError(f"generate: {name} id {bad[0]} is out of the vocabulary [0, {vocab})")

    rows = _rows(prompt_ids, attention_mask)
    for r, row in enumerate(rows):
        bad = [t for t in row if not 0 <= t < vocab]
        if bad:
            raise TokenIdError(
                f"generate: prompt {r} has token id {bad[0]} out of the vocabulary [0, {vocab})"
            )
    longest, context = max(map(len, rows)), model.max_positions
    if max_new_tokens >= context:
        raise ContextLengthError(
            f"generate: max_new_tokens={max_new_tokens} leaves no room for a prompt in the model's "
            "context of "
            f"{context} positions; ask for at most {context - 1} tokens (there is no sliding window)"
        )
    if longest + max_new_tokens > context:
        raise ContextLengthError(
            f"generate: the longest prompt has {longest} tokens; with max_new_tokens={max_new_tokens} "
            "that is "
            f"{longest + max_new_tokens} positions > the model's context of {context}; shorten the "
            "prompt (keep its "
            f"last {max(context - max_new_tokens, 0)} tokens) or ask for fewer tokens"
        )
    width = min(_round_up(longest, bucket), context - max_new_tokens)
    cache_len = min(_round_up(width + max_new_tokens, bucket), context)

    b = len(rows)
    ids = np.full((b, width), pad, np.int32)
    mask = np.zeros((b, width), bool)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = row
        mask[i, width - len(row) :] = True
    positions = np.maximum(np.cumsum(mask, axis=1) - 1, 0).astype(np.int32)

    model = model.eval()
    cache = model.init_cache(b, cache_len)
    logits, cache = _prefill(model, jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(positions), cache)
    t_arr = jnp.float32(temperature if temperature else 1.0)
    k_arr, p_arr = jnp.int32(top_k or 0), jnp.float32(1.0 if top_p is None else top_p)
    eos_arr, pad_arr = jnp.asarray(eos_ids or [-1], jnp.int32), jnp.int32(pad)
    tok = _select(logits, key, jnp.int32(0), t_arr, k_arr, p_arr)
    done = jnp.isin(tok, eos_arr)
    pos = jnp.asarray(positions[:, -1] + 1)
    out = [np.asarray(tok)]
    if callback is not None:
        callback(out[-1])
    for step in range(1, max_new_tokens):
        if eos_ids and bool(done.all()):
            break
        tok, done, cache = _decode_step(
            model,
            cache,
            tok,
            pos,
            jnp.int32(width + step - 1),
            done,
            key,
            jnp.int32(step),
            t_arr,
            k_arr,
            p_arr,
            eos_arr,
            pad_arr,
        )
        pos = pos + 1
        out.append(np.asarray(tok))
        if callback is not None:
            callback(out[-1])
    return np.concatenate([ids, np.stack(out, axis=1).astype(np.int32)], axis=1)
