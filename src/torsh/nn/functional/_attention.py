"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward`` (PyTorch semantics).

Both reduce to one core, :func:`attention_core`, which works in JAX's ``[batch, seq, heads, head_dim]``
layout (what ``jax.nn.dot_product_attention`` takes, and what a batch-first ``[N, L, E]`` input becomes
by a free reshape). Masks arrive in two canonical forms:

* ``allowed``: a boolean array broadcastable to ``[batch, heads, L, S]``, ``True`` where a query may
  attend to a key (JAX's convention; PyTorch's boolean *MHA* masks mean the opposite and are negated
  on the way in);
* ``bias``: a float array of the same broadcast shape added to the logits (PyTorch's float masks).

A query row whose keys are all masked attends to nothing and yields **zeros** (output and gradient),
as PyTorch's ``scaled_dot_product_attention`` does on CPU. (PyTorch's ``MultiheadAttention`` with
``need_weights=True`` returns NaN there instead; torsh gives zeros on every path.)

Implementations (the ``implementation=`` argument, static: part of what is compiled, never a
global read while tracing):

* ``"math"``: the explicit ``softmax(q k^T * scale + bias) v``; the only one that returns attention
  weights or applies dropout. Measured faster on CPU than ``jax.nn.dot_product_attention`` (whose
  CPU implementation is XLA math as well) by benchmarks/layers_sequence.py.
* ``"xla"``: ``jax.nn.dot_product_attention(implementation="xla")``.
* ``"cudnn"``: ``jax.nn.dot_product_attention(implementation="cudnn")``, NVIDIA GPUs only.
* ``None`` (default): ``"cudnn"`` on a GPU backend when it applies (float16/bfloat16, head size a
  multiple of 8 up to 128, no weights, no dropout), else ``"math"``.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, DeviceError, DTypeError, ShapeError
from .._utils import check_float_input, check_p, positive_int, shape_str
from . import _dropout

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward", "sliding_window_mask"]

IMPLEMENTATIONS = (None, "math", "xla", "cudnn")


def check_implementation(implementation: Any, where: str) -> None:
    """ConfigError unless ``implementation`` is one of :data:`IMPLEMENTATIONS`."""
    if implementation not in IMPLEMENTATIONS:
        raise ConfigError(
            f"{where}: implementation must be None (automatic), 'math', 'xla' or 'cudnn', got "
            f"{implementation!r}"
        )


def _on_gpu() -> bool:
    return jax.default_backend() == "gpu"


def choose_implementation(
    implementation: str | None, q: jax.Array, v: jax.Array, *, need_weights: bool, dropout_p: float
) -> str:
    """The implementation that runs: ``implementation`` checked against the call, or the automatic pick."""
    fused_ok = not need_weights and dropout_p == 0.0 and q.shape[-1] == v.shape[-1]
    if implementation is None:
        cudnn_ok = q.dtype in (jnp.float16, jnp.bfloat16) and q.shape[-1] % 8 == 0 and q.shape[-1] <= 128
        return "cudnn" if fused_ok and cudnn_ok and _on_gpu() else "math"
    check_implementation(implementation, "attention")
    if implementation == "math":
        return "math"
    if need_weights:
        raise ConfigError(
            f"attention: implementation={implementation!r} does not return attention weights; pass "
            "need_weights=False, or implementation='math'"
        )
    if dropout_p > 0.0:
        raise ConfigError(
            f"attention: implementation={implementation!r} has no attention dropout; use "
            "implementation='math' (or None), or dropout_p=0 / .eval()"
        )
    if q.shape[-1] != v.shape[-1]:
        raise ShapeError(
            f"attention: implementation={implementation!r} needs value's head size to equal the "
            f"query's ({q.shape[-1]}), got {v.shape[-1]}; use implementation='math'"
        )
    if implementation == "cudnn" and not _on_gpu():
        raise DeviceError(
            f"attention: implementation='cudnn' needs an NVIDIA GPU backend, but JAX's default backend "
            f"is {jax.default_backend()!r}; use implementation=None (automatic) or 'math'"
        )
    return implementation


# -- masks -------------------------------------------------------------------------------------
def _is_bool(x: Any) -> bool:
    return jnp.asarray(x).dtype == jnp.bool_


def _check_mask_dtype(mask: Any, name: str) -> jax.Array:
    mask = jnp.asarray(mask)
    if mask.dtype != jnp.bool_ and not jnp.issubdtype(mask.dtype, jnp.floating):
        raise DTypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask


def combine_masks(
    allowed: jax.Array | None, bias: jax.Array | None, mask: jax.Array | None, *, true_means_masked: bool
) -> tuple[jax.Array | None, jax.Array | None]:
    """Fold one PyTorch mask (boolean or additive float) into the ``(allowed, bias)`` pair."""
    if mask is None:
        return allowed, bias
    if mask.dtype == jnp.bool_:
        ok = jnp.logical_not(mask) if true_means_masked else mask
        return (ok if allowed is None else jnp.logical_and(allowed, ok)), bias
    return allowed, (mask if bias is None else bias + mask)


def causal_mask(q_len: int, k_len: int) -> jax.Array:
    """``[L, S]`` boolean, ``True`` on and below the diagonal (query ``i`` sees keys ``<= i``)."""
    return jnp.tril(jnp.ones((q_len, k_len), jnp.bool_))


def sliding_window_mask(q_len: int, k_len: int, window: int) -> jax.Array:
    """Causal sliding-window (local) attention mask ``[q_len, k_len]``: ``True`` = takes part.

    Query ``i`` sits at position ``i + k_len - q_len`` (the queries are the last ``q_len`` of the
    ``k_len`` positions, as when decoding with a KV cache; for ``q_len == k_len`` it is position
    ``i``, the alignment of ``is_causal``) and sees the ``window`` keys ending at its own position:
    ``p - window < j <= p`` (Mistral's / HF's ``sliding_window``; Longformer-style local attention).
    Pass it as ``attn_mask`` to :func:`scaled_dot_product_attention` (boolean, broadcasts over batch
    and heads); ``window >= k_len`` gives the plain causal mask.

    Args:
      q_len: query positions.
      k_len: key positions (``>= q_len``).
      window: how many keys each query sees, itself included (positive).

    Returns:
      A boolean ``[q_len, k_len]`` array.

    Raises:
      ConfigError: a non-positive size or window, or ``k_len < q_len``.

    Example:
      >>> from torsh.nn import functional as F
      >>> F.sliding_window_mask(4, 4, 2).astype(int).tolist()
      [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]]
    """
    lq = positive_int("q_len", q_len, "sliding_window_mask")
    lk = positive_int("k_len", k_len, "sliding_window_mask")
    w = positive_int("window", window, "sliding_window_mask")
    if lk < lq:
        raise ConfigError(
            f"sliding_window_mask: k_len ({lk}) must be >= q_len ({lq}): the queries are the last positions"
        )
    dist = (np.arange(lq)[:, None] + (lk - lq)) - np.arange(lk)[None, :]  # query position - key position
    return jnp.asarray((dist >= 0) & (dist < w))


# -- the core ----------------------------------------------------------------------------------
def _compute_dtype(dtype: Any) -> Any:
    # Half-precision inputs accumulate logits and softmax in float32, as PyTorch's CPU kernels do.
    return jnp.promote_types(dtype, jnp.float32)


def _explicit(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    allowed: jax.Array | None,
    bias: jax.Array | None,
    scale: float,
    dropout_p: float,
    dropout_key: jax.Array | None,
) -> tuple[jax.Array, jax.Array]:
    ct = _compute_dtype(q.dtype)
    logits = jnp.einsum("btnh,bsnh->bnts", q * jnp.asarray(scale, q.dtype), k, preferred_element_type=ct)
    if bias is not None:
        logits = logits + bias.astype(ct)
    if allowed is not None:
        logits = jnp.where(allowed, logits, -jnp.inf)
    # Softmax that gives zeros (not NaN) on rows where every key is masked out.
    row_max = jnp.max(logits, axis=-1, keepdims=True)
    row_max = jax.lax.stop_gradient(jnp.where(jnp.isfinite(row_max), row_max, 0.0))
    e = jnp.exp(logits - row_max)
    total = jnp.sum(e, axis=-1, keepdims=True)
    weights = e / jnp.where(total == 0, 1.0, total)
    if dropout_p > 0.0:
        assert dropout_key is not None  # attention_core refuses dropout without a key
        keep = _dropout._keep_mask(dropout_key, dropout_p, weights.shape)
        weights = (
            jnp.where(keep, weights / (1.0 - dropout_p), 0.0) if dropout_p < 1.0 else jnp.zeros_like(weights)
        )
    out = jnp.einsum("bnts,bsnh->btnh", weights.astype(v.dtype), v, preferred_element_type=ct)
    return out.astype(q.dtype), weights


def _with_jax_dpa(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    allowed: jax.Array | None,
    bias: jax.Array | None,
    scale: float,
    implementation: str,
) -> jax.Array:
    row_ok = None
    if bias is not None:
        # -inf entries of an additive mask become boolean masking, so that a fully masked row is
        # detected (jax masks with a large finite negative and would average such a row).
        blocked = jnp.isneginf(bias)
        allowed = (
            jnp.logical_not(blocked)
            if allowed is None
            else jnp.logical_and(allowed, jnp.logical_not(blocked))
        )
        bias = jnp.where(blocked, jnp.zeros((), bias.dtype), bias)
    if allowed is not None:
        row_ok = jnp.any(allowed, axis=-1)  # [b|1, n|1, t|1]
    out = jax.nn.dot_product_attention(
        q,
        k,
        v,
        bias=bias,
        mask=allowed,
        scale=scale,
        implementation="cudnn" if implementation == "cudnn" else "xla",
    )
    if row_ok is not None:
        out = out * jnp.transpose(row_ok, (0, 2, 1))[..., None].astype(out.dtype)
    return out


def attention_core(
    q: jax.Array,
    k: jax.Array,
    v: jax.Array,
    *,
    allowed: jax.Array | None = None,
    bias: jax.Array | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
    dropout_key: jax.Array | None = None,
    need_weights: bool = False,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """``softmax(q k^T * scale + bias, masked by allowed) v`` in ``[B, T, N, H]`` layout.

    ``allowed``/``bias`` broadcast to ``[B, N, T, S]``; ``k``/``v`` may have fewer heads ``K`` that
    divide ``N`` (grouped-query attention: query head ``n`` reads key head ``n // (N // K)``).
    Returns ``(out [B, T, N, Hv], weights [B, N, T, S] or None)``. Dropout (``dropout_p > 0``) is
    applied to the weights with ``dropout_key``. ``implementation`` as the module docstring says.
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    if dropout_p > 0.0 and dropout_key is None:
        raise ConfigError(
            "attention dropout in training mode needs a PRNG key: pass `dropout_key=` to the functional form "
            "or `key=` to the module, or use the module in evaluation mode (`.eval()`)"
        )
    impl = choose_implementation(implementation, q, v, need_weights=need_weights, dropout_p=dropout_p)
    if impl != "math":
        return _with_jax_dpa(q, k, v, allowed, bias, scale, impl), None
    if k.shape[2] != q.shape[2]:  # grouped-query attention: repeat_interleave the key/value heads
        reps = q.shape[2] // k.shape[2]
        k, v = jnp.repeat(k, reps, axis=2), jnp.repeat(v, reps, axis=2)
    out, weights = _explicit(q, k, v, allowed, bias, scale, dropout_p, dropout_key)
    return out, (weights if need_weights else None)


# -- scaled_dot_product_attention ------------------------------------------------------------------
def scaled_dot_product_attention(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    attn_mask: jax.Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
    *,
    dropout_key: jax.Array | None = None,
    implementation: str | None = None,
) -> jax.Array:
    """``softmax(query @ key^T * scale + mask) @ value`` (PyTorch's SDPA).

    Shapes as PyTorch: ``query [..., L, E]``, ``key [..., S, E]``, ``value [..., S, Ev]``, usually
    ``[batch, heads, seq, head_dim]``. ``attn_mask`` broadcasts to ``[..., L, S]``: boolean ``True``
    means *take part in attention* (SDPA's convention, the opposite of ``MultiheadAttention``'s),
    a float mask is added to the logits. ``is_causal`` masks keys after each query (top-left
    aligned, ``tril(ones(L, S))``) and excludes ``attn_mask``. ``enable_gqa`` lets ``key``/``value``
    have fewer heads (axis -3) that divide the query heads. Dropout of the attention weights
    (``dropout_p > 0``) needs ``dropout_key`` (PyTorch's ``key`` argument is the key tensor, so the
    PRNG key has its own name). Rows whose keys are all masked give zeros. A sliding-window
    (local) causal mask comes from :func:`sliding_window_mask`, ALiBi's bias from
    :func:`alibi_bias`.

    Args:
      query: ``[..., L, E]``.
      key: ``[..., S, E]``.
      value: ``[..., S, Ev]``.
      attn_mask: Broadcasts to ``[..., L, S]``: boolean ``True`` = take part, or float added to the logits.
      dropout_p: Dropout on the attention weights.
      is_causal: Mask keys after each query (excludes ``attn_mask``).
      scale: The logit scale (default ``1 / sqrt(E)``).
      enable_gqa: Allow fewer key/value heads that divide the query heads.
      dropout_key: A PRNG key, required when ``dropout_p > 0``.
      implementation: ``None`` (automatic: cuDNN on a GPU where it applies, else ``"math"``),
        ``"math"`` (explicit softmax), ``"xla"`` or ``"cudnn"`` (``jax.nn.dot_product_attention``).
        Static: a compiled function keeps the choice it was traced with.

    Returns:
      ``[..., L, Ev]``.

    Raises:
      ConfigError: If both ``attn_mask`` and ``is_causal`` are given, dropout lacks ``dropout_key``, or
        ``implementation`` is unknown or cannot do dropout.
      DeviceError: If ``implementation="cudnn"`` without a GPU backend.
      DTypeError: If ``attn_mask`` is neither boolean nor floating.
      ShapeError: If the shapes do not fit together (head counts, widths, mask shape).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> q = k = v = jnp.ones((2, 4, 5, 8))           # [batch, heads, seq, head_dim]
      >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
      (2, 4, 5, 8)
    """
    check_p(dropout_p)
    check_implementation(implementation, "scaled_dot_product_attention")
    for name, x in (("query", query), ("key", key), ("value", value)):
        check_float_input(x, query if name != "query" else None, what=name)
        if x.ndim < 2:
            raise ShapeError(
                f"scaled_dot_product_attention: {name} needs at least 2 dims [..., seq, dim], got "
                f"{shape_str(x.shape)}"
            )
    if query.shape[-1] != key.shape[-1]:
        raise ShapeError(
            f"scaled_dot_product_attention: query and key need the same last dim, got query "
            f"{shape_str(query.shape)} and key {shape_str(key.shape)}"
        )
    if key.shape[:-1] != value.shape[:-1]:
        raise ShapeError(
            f"scaled_dot_product_attention: key and value must agree except in the last dim, got key "
            f"{shape_str(key.shape)} and value {shape_str(value.shape)}"
        )
    if is_causal and attn_mask is not None:
        raise ConfigError("scaled_dot_product_attention: give either attn_mask or is_causal=True, not both")
    lq, lk = query.shape[-2], key.shape[-2]
    if enable_gqa:
        if query.ndim < 3 or key.ndim != query.ndim or query.shape[-3] % key.shape[-3] != 0:
            raise ShapeError(
                f"scaled_dot_product_attention(enable_gqa=True): key/value heads (axis -3) must divide the "
                f"query heads, got query {shape_str(query.shape)} and key {shape_str(key.shape)}"
            )
        try:
            kv_lead: tuple[int, ...] | None = tuple(jnp.broadcast_shapes(query.shape[:-3], key.shape[:-3]))
        except ValueError:
            kv_lead = None
        if kv_lead != tuple(query.shape[:-3]):
            raise ShapeError(
                f"scaled_dot_product_attention: the batch dims of key {shape_str(key.shape)} do not "
                f"broadcast "
                f"to the query's {shape_str(query.shape)}"
            )
        batch = tuple(query.shape[:-2])
        kv_heads = key.shape[-3]
    else:
        try:
            batch = tuple(jnp.broadcast_shapes(query.shape[:-2], key.shape[:-2]))
        except ValueError:
            raise ShapeError(
                f"scaled_dot_product_attention: the leading dims of query {shape_str(query.shape)} and key "
                f"{shape_str(key.shape)} do not broadcast (fewer key/value heads need enable_gqa=True)"
            ) from None
        kv_heads = batch[-1] if batch else 1
    allowed = bias = None
    if attn_mask is not None:
        attn_mask = _check_mask_dtype(attn_mask, "attn_mask")
        full = (*batch, lq, lk)
        try:
            fits = jnp.broadcast_shapes(attn_mask.shape, full) == full
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(
                f"scaled_dot_product_attention: attn_mask of shape {shape_str(attn_mask.shape)} does not "
                f"broadcast to [..., L, S] = {shape_str((*batch, lq, lk))}"
            )
        allowed, bias = combine_masks(None, None, attn_mask, true_means_masked=False)
    if is_causal:
        allowed = causal_mask(lq, lk)
    # [..., heads, L, E] -> [B, L, heads, E] with every leading dim but the last folded into B.
    lead = batch[:-1] if batch else ()
    kv_batch = (*lead, kv_heads) if batch else ()
    query = jnp.broadcast_to(query, (*batch, lq, query.shape[-1]))
    key = jnp.broadcast_to(key, (*kv_batch, lk, key.shape[-1]))
    value = jnp.broadcast_to(value, (*kv_batch, lk, value.shape[-1]))
    heads = batch[-1] if batch else 1
    b = math.prod(lead)

    def to_btnh(x: jax.Array) -> jax.Array:
        return jnp.swapaxes(x.reshape(b, -1, x.shape[-2], x.shape[-1]), 1, 2)

    def mask_4d(m: jax.Array | None) -> jax.Array | None:
        if m is None:
            return None
        m = jnp.broadcast_to(m, (*batch, lq, lk)) if m.ndim > 2 else m
        return m.reshape(b, heads, lq, lk) if m.ndim > 2 else m[None, None]

    out, _ = attention_core(
        to_btnh(query),
        to_btnh(key),
        to_btnh(value),
        allowed=mask_4d(allowed),
        bias=mask_4d(bias),
        scale=scale,
        dropout_p=dropout_p,
        dropout_key=dropout_key,
        implementation=implementation,
    )
    return jnp.swapaxes(out, 1, 2).reshape(*batch, lq, value.shape[-1])


# -- multi-head attention --------------------------------------------------------------------------
def _shape_error(where: str, what: str, expected: str, got: tuple[int, ...]) -> ShapeError:
    prefix = f"{where}: " if where else ""  # modules leave it empty: their path is added on the way out
    return ShapeError(f"{prefix}expected {what} {expected}, got {shape_str(got)}")


def mha_batch_first(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    *,
    num_heads: int,
    in_proj_weight: jax.Array | None,
    in_proj_bias: jax.Array | None,
    q_proj_weight: jax.Array | None,
    k_proj_weight: jax.Array | None,
    v_proj_weight: jax.Array | None,
    bias_k: jax.Array | None,
    bias_v: jax.Array | None,
    add_zero_attn: bool,
    out_proj_weight: jax.Array,
    out_proj_bias: jax.Array | None,
    dropout_p: float,
    dropout_key: jax.Array | None,
    key_padding_mask: jax.Array | None,
    attn_mask: jax.Array | None,
    is_causal: bool,
    need_weights: bool,
    average_attn_weights: bool,
    self_attention: bool,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """Multi-head attention on batched, batch-first inputs ``[N, L, E]`` with validated masks.

    ``attn_mask`` is ``[L, S]`` or ``[N * num_heads, L, S]``, ``key_padding_mask`` ``[N, S]``; both
    boolean (``True`` = masked) or float (added). Returns ``(out [N, L, E], weights)``.
    """
    n, tgt_len, embed_dim = query.shape
    head_dim = embed_dim // num_heads
    if in_proj_weight is not None:
        if self_attention:  # one matmul for q, k and v, as PyTorch does for self-attention
            qkv = query @ in_proj_weight.T
            if in_proj_bias is not None:
                qkv = qkv + in_proj_bias
            q, k, v = jnp.split(qkv, 3, axis=-1)
        else:
            w_q, w_k, w_v = jnp.split(in_proj_weight, 3)
            q, k, v = query @ w_q.T, key @ w_k.T, value @ w_v.T
            if in_proj_bias is not None:
                b_q, b_k, b_v = jnp.split(in_proj_bias, 3)
                q, k, v = q + b_q, k + b_k, v + b_v
    else:  # separate projections (kdim/vdim differ from embed_dim): all three are given
        assert q_proj_weight is not None and k_proj_weight is not None and v_proj_weight is not None
        q, k, v = query @ q_proj_weight.T, key @ k_proj_weight.T, value @ v_proj_weight.T
        if in_proj_bias is not None:
            b_q, b_k, b_v = jnp.split(in_proj_bias, 3)
            q, k, v = q + b_q, k + b_k, v + b_v

    if is_causal:
        # Folded into attn_mask before bias_k/zero-attention columns are appended, which stay visible
        # to every query (as with PyTorch's explicit causal attn_mask).
        attn_mask = _with_causal(attn_mask, tgt_len, k.shape[1])
    if attn_mask is not None:
        attn_mask = attn_mask[None] if attn_mask.ndim == 2 else attn_mask
    if bias_k is not None:
        assert bias_v is not None  # the layer has both or neither
        k = jnp.concatenate([k, jnp.broadcast_to(bias_k.reshape(1, 1, embed_dim), (n, 1, embed_dim))], axis=1)
        v = jnp.concatenate([v, jnp.broadcast_to(bias_v.reshape(1, 1, embed_dim), (n, 1, embed_dim))], axis=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)

    q = q.reshape(n, tgt_len, num_heads, head_dim)
    k = k.reshape(n, k.shape[1], num_heads, head_dim)
    v = v.reshape(n, v.shape[1], num_heads, head_dim)
    if add_zero_attn:
        k = jnp.concatenate([k, jnp.zeros((n, 1, num_heads, head_dim), k.dtype)], axis=1)
        v = jnp.concatenate([v, jnp.zeros((n, 1, num_heads, head_dim), v.dtype)], axis=1)
        attn_mask = _pad_last(attn_mask)
        key_padding_mask = _pad_last(key_padding_mask)
    src_len = k.shape[1]

    allowed = bias = None
    if attn_mask is not None:
        m = attn_mask[None] if attn_mask.shape[0] == 1 else attn_mask.reshape(n, num_heads, tgt_len, src_len)
        allowed, bias = combine_masks(allowed, bias, m, true_means_masked=True)
    if key_padding_mask is not None:
        allowed, bias = combine_masks(
            allowed, bias, key_padding_mask[:, None, None, :], true_means_masked=True
        )

    out, weights = attention_core(
        q,
        k,
        v,
        allowed=allowed,
        bias=bias,
        dropout_p=dropout_p,
        dropout_key=dropout_key,
        need_weights=need_weights,
        implementation=implementation,
    )
    out = out.reshape(n, tgt_len, embed_dim) @ out_proj_weight.T
    if out_proj_bias is not None:
        out = out + out_proj_bias
    if weights is not None:
        weights = weights.astype(query.dtype)
        if average_attn_weights:
            weights = jnp.mean(weights, axis=1)
    return out, weights


def _with_causal(attn_mask: jax.Array | None, tgt_len: int, src_len: int) -> jax.Array:
    """``attn_mask`` (PyTorch MHA convention) with the causal mask applied on top."""
    causal = causal_mask(tgt_len, src_len)
    if attn_mask is None:
        return jnp.logical_not(causal)
    if attn_mask.dtype == jnp.bool_:
        return jnp.logical_or(attn_mask, jnp.logical_not(causal))
    return jnp.where(causal, attn_mask, jnp.asarray(-jnp.inf, attn_mask.dtype))


def _pad_last(mask: jax.Array | None) -> jax.Array | None:
    """Append one allowed key column (False for boolean masks, 0 for float masks)."""
    if mask is None:
        return None
    widths = [(0, 0)] * (mask.ndim - 1) + [(0, 1)]
    return jnp.pad(mask, widths)


def check_mha_inputs(
    query: Any,
    key: Any,
    value: Any,
    key_padding_mask: Any,
    attn_mask: Any,
    *,
    embed_dim: int,
    kdim: int,
    vdim: int,
    num_heads: int,
    batch_first: bool,
    like: jax.Array,
    where: str = "",
) -> tuple[bool, Any, Any]:
    """Validate shapes/dtypes as PyTorch's ``_mha_shape_check``; returns ``(is_batched, kpm, attn_mask)``."""
    prefix = f"{where}: " if where else ""
    check_float_input(query, like, "query")
    check_float_input(key, like, "key")
    check_float_input(value, like, "value")
    layout = "[batch, seq, {}]" if batch_first else "[seq, batch, {}]"
    if query.ndim == 3:
        batched = True
        for name, x, d in (("key", key, kdim), ("value", value, vdim)):
            if x.ndim != 3:
                raise _shape_error(where, f"3-D {name} (batched, like query)", layout.format(d), x.shape)
    elif query.ndim == 2:
        batched = False
        for name, x, d in (("key", key, kdim), ("value", value, vdim)):
            if x.ndim != 2:
                raise _shape_error(where, f"2-D {name} (unbatched, like query)", f"[seq, {d}]", x.shape)
    else:
        raise _shape_error(
            where, "query", f"{layout.format(embed_dim)} or unbatched [seq, {embed_dim}]", query.shape
        )
    for name, x, d in (("query", query, embed_dim), ("key", key, kdim), ("value", value, vdim)):
        if x.shape[-1] != d:
            expect = layout.format(d) if batched else f"[seq, {d}]"
            raise _shape_error(where, name, expect, x.shape)
    seq_ax, batch_ax = (1, 0) if batch_first else (0, 1)
    if batched:
        if key.shape[seq_ax] != value.shape[seq_ax] or key.shape[batch_ax] != value.shape[batch_ax]:
            raise ShapeError(
                f"{prefix}key and value must share batch and sequence sizes, got key "
                f"{shape_str(key.shape)} and value {shape_str(value.shape)}"
            )
        if key.shape[batch_ax] != query.shape[batch_ax]:
            raise ShapeError(
                f"{prefix}query, key and value must share the batch size, got query {shape_str(query.shape)} "
                f"and key {shape_str(key.shape)} ({'batch_first' if batch_first else 'seq-first'})"
            )
        n, tgt, src = query.shape[batch_ax], query.shape[seq_ax], key.shape[seq_ax]
    else:
        if key.shape[0] != value.shape[0]:
            raise ShapeError(
                f"{prefix}key and value must share the sequence length, got key {shape_str(key.shape)} "
                f"and value {shape_str(value.shape)}"
            )
        n, tgt, src = 1, query.shape[0], key.shape[0]
    if key_padding_mask is not None:
        key_padding_mask = _check_mask_dtype(key_padding_mask, "key_padding_mask")
        want = (n, src) if batched else (src,)
        if tuple(key_padding_mask.shape) != want:
            raise _shape_error(
                where,
                "key_padding_mask",
                shape_str(want) + " ([batch, src_len])" * batched,
                key_padding_mask.shape,
            )
    if attn_mask is not None:
        attn_mask = _check_mask_dtype(attn_mask, "attn_mask")
        ok = [(tgt, src), (n * num_heads, tgt, src)]
        if tuple(attn_mask.shape) not in ok:
            raise _shape_error(
                where,
                "attn_mask",
                f"{shape_str(ok[0])} ([L, S]) or {shape_str(ok[1])} ([N * num_heads, L, S])",
                attn_mask.shape,
            )
    return batched, key_padding_mask, attn_mask


def multi_head_attention_forward(
    query: jax.Array,
    key: jax.Array,
    value: jax.Array,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: jax.Array | None,
    in_proj_bias: jax.Array | None,
    bias_k: jax.Array | None,
    bias_v: jax.Array | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: jax.Array,
    out_proj_bias: jax.Array | None,
    training: bool = True,
    key_padding_mask: jax.Array | None = None,
    need_weights: bool = True,
    attn_mask: jax.Array | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: jax.Array | None = None,
    k_proj_weight: jax.Array | None = None,
    v_proj_weight: jax.Array | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
    *,
    batch_first: bool = False,
    dropout_key: jax.Array | None = None,
    implementation: str | None = None,
) -> tuple[jax.Array, jax.Array | None]:
    """Multi-head attention with explicit weights (``torch.nn.functional.multi_head_attention_forward``).

    Inputs are sequence-first ``[L, N, E]`` (or unbatched ``[L, E]``) as in PyTorch; ``batch_first=True``
    takes ``[N, L, E]``. Boolean masks mean ``True`` = *do not attend*; float masks are added to the
    logits. ``is_causal=True`` applies the causal mask (combined with ``attn_mask`` if one is given;
    PyTorch requires ``attn_mask`` and treats the flag as a hint). Dropout on the attention weights
    in ``training`` needs ``dropout_key``. Returns ``(attn_output, attn_weights or None)``.

    Args:
      query: ``[L, N, E]`` (``[N, L, E]`` with ``batch_first``) or unbatched ``[L, E]``.
      key: ``[S, N, kdim]``.
      value: ``[S, N, vdim]``.
      embed_dim_to_check: ``E``, checked against ``query``.
      num_heads: Attention heads.
      in_proj_weight: ``[3E, E]`` packed q/k/v projection (unless ``use_separate_proj_weight``).
      in_proj_bias: ``[3E]``, or None.
      bias_k: ``[1, 1, E]`` appended to the keys, or None.
      bias_v: ``[1, 1, E]`` appended to the values, or None.
      add_zero_attn: Append a zero key/value position.
      dropout_p: Dropout on the attention weights.
      out_proj_weight: ``[E, E]``.
      out_proj_bias: ``[E]``, or None.
      training: Apply dropout.
      key_padding_mask: ``[N, S]`` (``True`` = ignore that key).
      need_weights: Also return the attention weights.
      attn_mask: ``[L, S]`` or ``[N * num_heads, L, S]``.
      use_separate_proj_weight: Use ``q/k/v_proj_weight`` instead of ``in_proj_weight``.
      q_proj_weight: ``[E, E]``.
      k_proj_weight: ``[E, kdim]``.
      v_proj_weight: ``[E, vdim]``.
      average_attn_weights: Average the returned weights over heads.
      is_causal: Apply the causal mask.
      batch_first: Inputs are ``[N, L, E]``.
      dropout_key: A PRNG key, required for dropout in training.
      implementation: The attention implementation, as :func:`scaled_dot_product_attention`'s
        (``"xla"``/``"cudnn"`` need ``need_weights=False`` and no dropout).

    Returns:
      ``(attn_output, attn_weights or None)``.

    Raises:
      ConfigError: If the projection weights are missing for the chosen mode, ``dropout_p`` is invalid,
        dropout in training lacks ``dropout_key``, or ``implementation`` is unknown or cannot serve
        the call.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> E, H = 8, 2
      >>> w, b = jnp.eye(3 * E, E), jnp.zeros(3 * E)
      >>> x = jnp.ones((5, 3, E))                              # [seq, batch, embed]
      >>> out, weights = F.multi_head_attention_forward(
      ...     x, x, x, E, H, w, b, None, None, False, 0.0, jnp.eye(E), jnp.zeros(E), training=False)
      >>> out.shape, weights.shape
      ((5, 3, 8), (3, 5, 5))
    """
    check_p(dropout_p)
    check_implementation(implementation, "multi_head_attention_forward")
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ConfigError(
                "multi_head_attention_forward: use_separate_proj_weight needs q/k/v_proj_weight"
            )
        like, kdim, vdim = q_proj_weight, k_proj_weight.shape[1], v_proj_weight.shape[1]
        in_proj_weight = None
    else:
        if in_proj_weight is None:
            raise ConfigError(
                "multi_head_attention_forward: in_proj_weight is None and use_separate_proj_weight is False"
            )
        like, kdim, vdim = in_proj_weight, embed_dim_to_check, embed_dim_to_check
    if embed_dim_to_check % num_heads:
        raise ConfigError(f"embed_dim {embed_dim_to_check} not divisible by num_heads {num_heads}")
    if (bias_k is None) != (bias_v is None):
        raise ConfigError("multi_head_attention_forward: give both bias_k and bias_v or neither")
    where = "multi_head_attention_forward"
    batched, key_padding_mask, attn_mask = check_mha_inputs(
        query,
        key,
        value,
        key_padding_mask,
        attn_mask,
        embed_dim=embed_dim_to_check,
        kdim=kdim,
        vdim=vdim,
        num_heads=num_heads,
        batch_first=batch_first,
        like=like,
        where=where,
    )
    return run_mha(
        query,
        key,
        value,
        batch_first=batched and batch_first,
        batched=batched,
        num_heads=num_heads,
        in_proj_weight=in_proj_weight,
        in_proj_bias=in_proj_bias,
        q_proj_weight=q_proj_weight,
        k_proj_weight=k_proj_weight,
        v_proj_weight=v_proj_weight,
        bias_k=bias_k,
        bias_v=bias_v,
        add_zero_attn=add_zero_attn,
        out_proj_weight=out_proj_weight,
        out_proj_bias=out_proj_bias,
        dropout_p=dropout_p if training else 0.0,
        dropout_key=dropout_key,
        key_padding_mask=key_padding_mask,
        attn_mask=attn_mask,
        is_causal=is_causal,
        need_weights=need_weights,
        average_attn_weights=average_attn_weights,
        implementation=implementation,
    )


def run_mha(
    query: jax.Array, key: jax.Array, value: jax.Array, *, batch_first: bool, batched: bool, **kwargs: Any
) -> tuple[jax.Array, jax.Array | None]:
    """Bring validated inputs to batched batch-first form, run :func:`mha_batch_first`, and back."""
    self_attention = query is key and key is value
    if not batched:
        query, key, value = query[None], key[None], value[None]
        if kwargs["key_padding_mask"] is not None:
            kwargs["key_padding_mask"] = kwargs["key_padding_mask"][None]
    elif not batch_first:
        query, key, value = (jnp.swapaxes(x, 0, 1) for x in (query, key, value))
    out, weights = mha_batch_first(query, key, value, self_attention=self_attention, **kwargs)
    if not batched:
        return out[0], (None if weights is None else weights[0])
    if not batch_first:
        out = jnp.swapaxes(out, 0, 1)
    return out, weights
