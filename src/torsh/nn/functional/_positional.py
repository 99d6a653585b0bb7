"""Position encodings for attention: rotary embeddings (RoPE, with HF's scaling variants) and ALiBi.

RoPE follows HF ``transformers`` (``modeling_rope_utils.ROPE_INIT_FUNCTIONS`` and
``LlamaRotaryEmbedding``): the inverse frequencies are computed in float32 as there, so that
``inv_freq``, ``cos``/``sin`` and a model's logits agree with HF's to float32 rounding. Frequencies
that depend only on the configuration are computed on the host with numpy (no XLA program per
shape); dynamic NTK, whose frequencies depend on the current length, is computed with ``jnp`` so
that the length may be a traced value.

ALiBi is Press et al. (2022), "Train Short, Test Long", with the slopes of its reference code and
BLOOM's ``build_alibi_tensor`` for head counts that are not a power of two.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from ...errors import ConfigError, ShapeError
from .._utils import positive_int, shape_str

__all__ = [
    "rope_frequencies",
    "rope_cos_sin",
    "apply_rotary_emb",
    "alibi_slopes",
    "alibi_bias",
]

if TYPE_CHECKING:  # the configuration class lives with the module (torsh.nn.positional)
    from ..positional import RopeScaling


def _check_dim(head_dim: Any, where: str) -> int:
    positive_int("head_dim", head_dim, where)
    if head_dim % 2:
        raise ConfigError(
            f"{where}: RoPE rotates pairs of features, so head_dim must be even, got {head_dim}"
        )
    return head_dim


def _default_inv_freq(dim: int, base: float) -> np.ndarray:
    # float32 throughout, as HF's torch code: base ** (arange(0, dim, 2) / dim)
    return (np.float32(1.0) / _pow32(base, np.arange(0, dim, 2).astype(np.float32) / np.float32(dim))).astype(
        np.float32
    )


def _pow32(base: float, exps: np.ndarray) -> np.ndarray:
    # torch's float32 ``scalar ** tensor``: float32 operands, nearly correctly rounded. float64 pow of
    # the float32 operands rounded to float32 agrees with it far more often than numpy's float32 powf.
    return np.power(np.float64(np.float32(base)), exps.astype(np.float64)).astype(np.float32)


def _llama3(inv: np.ndarray, s: RopeScaling) -> np.ndarray:
    f = np.float32(s.factor)
    old = s.original_max_position_embeddings
    low_wl, high_wl = old / s.low_freq_factor, old / s.high_freq_factor
    # torch evaluates `scalar / tensor` as `tensor.reciprocal() * scalar`: the same float32 steps here
    wavelen = (np.float32(1.0) / inv) * np.float32(2 * math.pi)
    scaled = np.where(wavelen > low_wl, inv / f, inv).astype(np.float32)
    ratio = (np.float32(1.0) / wavelen) * np.float32(old)
    smooth = (ratio - np.float32(s.low_freq_factor)) / np.float32(s.high_freq_factor - s.low_freq_factor)
    smoothed = (1 - smooth) * scaled / f + smooth * scaled
    medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
    return np.where(medium, smoothed, scaled).astype(np.float32)


def _yarn_attention_factor(s: RopeScaling) -> float:
    if s.attention_factor is not None:
        return float(s.attention_factor)

    def mscale(scale: float, m: float = 1.0) -> float:
        return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0

    if s.mscale and s.mscale_all_dim:
        return float(mscale(s.factor, s.mscale) / mscale(s.factor, s.mscale_all_dim))
    return mscale(s.factor)


def _yarn(dim: int, base: float, s: RopeScaling) -> np.ndarray:
    pos_freqs = _pow32(base, np.arange(0, dim, 2).astype(np.float32) / np.float32(dim))
    extrapolation = np.float32(1.0) / pos_freqs
    interpolation = np.float32(1.0) / (np.float32(s.factor) * pos_freqs)

    def correction_dim(rotations: float) -> float:  # the dimension that turns `rotations` times
        return (dim * math.log(s.original_max_position_embeddings / (rotations * 2 * math.pi))) / (
            2 * math.log(base)
        )

    low, high = correction_dim(s.beta_fast), correction_dim(s.beta_slow)
    if s.truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # HF's guard against a zero-width ramp
    ramp = np.clip((np.arange(dim // 2, dtype=np.float32) - np.float32(low)) / np.float32(high - low), 0, 1)
    extra = (np.float32(1.0) - ramp).astype(np.float32)
    return (interpolation * (1 - extra) + extrapolation * extra).astype(np.float32)


def rope_frequencies(
    head_dim: int,
    base: float = 10000.0,
    scaling: RopeScaling | None = None,
    *,
    seq_len: Any = None,
    max_position_embeddings: int | None = None,
) -> tuple[jax.Array, float]:
    """RoPE's inverse frequencies and ``cos``/``sin`` multiplier (HF ``ROPE_INIT_FUNCTIONS``).

    Unscaled: ``base ** (-2i / head_dim)`` for ``i < head_dim / 2`` (float32). ``scaling`` applies one
    of :class:`RopeScaling`'s variants. For partial rotary embeddings pass the rotated width as
    ``head_dim``.

    Args:
      head_dim: the rotated width (even).
      base: RoPE's base (HF ``rope_theta``).
      scaling: a :class:`RopeScaling` or ``None``.
      seq_len: dynamic NTK only: the current length (``max(position_ids) + 1``); a Python int or a
        (possibly traced) integer array. ``None``: the frequencies at the context length (unscaled).
      max_position_embeddings: dynamic NTK only: the context beyond which it scales (HF's
        ``config.max_position_embeddings``); default ``scaling.original_max_position_embeddings``.

    Returns:
      ``(inv_freq [head_dim // 2] float32, attention_scaling)``; ``attention_scaling`` is 1 except for
      YaRN.

    Raises:
      ConfigError: an odd or non-positive ``head_dim``, or ``base <= 0``.

    Example:
      >>> from torsh.nn import functional as F
      >>> inv, scale = F.rope_frequencies(4, 100.0)
      >>> inv.tolist(), scale
      ([1.0, 0.10000000149011612], 1.0)
    """
    dim = _check_dim(head_dim, "rope_frequencies")
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0:
        raise ConfigError(f"rope_frequencies: base must be a number > 0, got {base!r}")
    base = float(base)
    if scaling is None:
        return jnp.asarray(_default_inv_freq(dim, base)), 1.0
    from ..positional import RopeScaling  # here, not at the top: torsh.nn.positional imports this module

    if not isinstance(scaling, RopeScaling):
        raise ConfigError(
            f"rope_frequencies: scaling must be a RopeScaling or None, got {type(scaling).__name__} "
            "(build one with nn.RopeScaling(...) or nn.RopeScaling.from_dict(hf_rope_parameters))"
        )
    kind = scaling.rope_type
    if kind == "linear":
        return jnp.asarray(_default_inv_freq(dim, base) / np.float32(scaling.factor)), 1.0
    if kind == "llama3":
        return jnp.asarray(_llama3(_default_inv_freq(dim, base), scaling)), 1.0
    if kind == "yarn":
        return jnp.asarray(_yarn(dim, base, scaling)), _yarn_attention_factor(scaling)
    # dynamic NTK
    max_pos = (
        scaling.original_max_position_embeddings
        if max_position_embeddings is None
        else max_position_embeddings
    )
    f = scaling.factor
    if seq_len is None:
        return jnp.asarray(_default_inv_freq(dim, base)), 1.0
    if isinstance(seq_len, (int, np.integer)) and not isinstance(seq_len, bool):
        # a host int: HF's Python-float arithmetic for the new base
        n = max(int(seq_len), max_pos)
        grown = base * ((f * n / max_pos) - (f - 1)) ** (dim / (dim - 2))
        return jnp.asarray(_default_inv_freq(dim, grown)), 1.0
    # an array (HF's model path, torch.max(position_ids) + 1): the new base in float32
    length = jnp.maximum(jnp.asarray(seq_len), max_pos).astype(jnp.float32)
    grown_arr = base * ((f * length / max_pos) - (f - 1)) ** (dim / (dim - 2))
    exps = jnp.asarray(np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim))
    return 1.0 / jnp.power(grown_arr, exps), 1.0


def rope_cos_sin(
    position_ids: jax.Array,
    inv_freq: jax.Array,
    attention_scaling: float = 1.0,
    *,
    interleaved: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """``cos`` and ``sin`` of ``position * inv_freq`` laid out for :func:`apply_rotary_emb` (float32).

    Args:
      position_ids: integer positions ``[..., T]``.
      inv_freq: ``[D / 2]`` from :func:`rope_frequencies`.
      attention_scaling: multiplies both (YaRN's attention factor).
      interleaved: GPT-J's layout (each frequency twice in a row, ``[f0, f0, f1, f1, ...]``)
        instead of HF Llama/GPT-NeoX's halves (``[f0, f1, ..., f0, f1, ...]``).

    Returns:
      ``(cos, sin)``, each ``[..., T, D]`` float32.

    Raises:
      ShapeError: ``inv_freq`` is not 1-D.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> cos, sin = F.rope_cos_sin(jnp.arange(3)[None], jnp.array([1.0, 0.5]))
      >>> cos.shape, [round(v, 3) for v in sin[0, 1].tolist()]
      ((1, 3, 4), [0.841, 0.479, 0.841, 0.479])
    """
    inv_freq = jnp.asarray(inv_freq, jnp.float32)
    if inv_freq.ndim != 1:
        raise ShapeError(f"rope_cos_sin: inv_freq must be 1-D [D / 2], got {shape_str(inv_freq.shape)}")
    freqs = jnp.asarray(position_ids)[..., None].astype(jnp.float32) * inv_freq
    emb = jnp.repeat(freqs, 2, axis=-1) if interleaved else jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb) * attention_scaling, jnp.sin(emb) * attention_scaling


def _rotate_half(x: jax.Array) -> jax.Array:
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def _rotate_every_two(x: jax.Array) -> jax.Array:
    x1, x2 = x[..., ::2], x[..., 1::2]
    return jnp.stack([-x2, x1], axis=-1).reshape(x.shape)


def apply_rotary_emb(x: jax.Array, cos: jax.Array, sin: jax.Array, *, interleaved: bool = False) -> jax.Array:
    """Rotate feature pairs of ``x`` by the angles in ``cos``/``sin`` (HF's ``apply_rotary_pos_emb``).

    ``x * cos + rotate(x) * sin`` on the first ``D = cos.shape[-1]`` features of ``x`` (the rest pass
    through: partial rotary embeddings, GPT-NeoX's ``rotary_pct``/GPT-J's ``rotary_dim``). ``rotate``
    is Llama/GPT-NeoX's ``rotate_half`` (pairs ``(i, i + D/2)``) or, with ``interleaved=True``, GPT-J's
    ``rotate_every_two`` (pairs ``(2i, 2i + 1)``); build ``cos``/``sin`` with the same flag.
    ``cos``/``sin`` are cast to ``x``'s dtype (as HF) and broadcast against it: for ``x [B, H, T, D]``
    and ``cos [B, T, D]`` pass ``cos[:, None]``.

    Args:
      x: queries or keys ``[..., T, head_dim]``.
      cos: ``[..., T, D]`` with ``D <= head_dim`` even.
      sin: like ``cos``.
      interleaved: GPT-J's pair layout.

    Returns:
      An array like ``x``.

    Raises:
      ShapeError: ``cos``/``sin`` differ in shape, are wider than ``x`` or of odd width, or do not
        broadcast against ``x``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> cos, sin = F.rope_cos_sin(jnp.arange(2), jnp.array([jnp.pi / 2]))
      >>> F.apply_rotary_emb(jnp.array([[1.0, 0.0], [1.0, 0.0]]), cos, sin).round(6).tolist()
      [[1.0, 0.0], [-0.0, 1.0]]
    """
    if cos.shape != sin.shape:
        raise ShapeError(
            f"apply_rotary_emb: cos and sin must have one shape, got {shape_str(cos.shape)} and "
            f"{shape_str(sin.shape)}"
        )
    d = cos.shape[-1] if cos.ndim else 0
    if cos.ndim == 0 or d % 2 or d > x.shape[-1]:
        raise ShapeError(
            f"apply_rotary_emb: cos/sin must be [..., T, D] with an even D <= head_dim {x.shape[-1]}, got "
            f"{shape_str(cos.shape)}"
        )
    try:
        jnp.broadcast_shapes(x.shape[:-1], cos.shape[:-1])
    except ValueError:
        raise ShapeError(
            f"apply_rotary_emb: cos/sin {shape_str(cos.shape)} do not broadcast against x "
            f"{shape_str(x.shape)} (for x [B, H, T, D] and cos [B, T, D] pass cos[:, None])"
        ) from None
    cos, sin = cos.astype(x.dtype), sin.astype(x.dtype)
    rotate = _rotate_every_two if interleaved else _rotate_half
    if d == x.shape[-1]:
        return x * cos + rotate(x) * sin
    x_rot, x_pass = x[..., :d], x[..., d:]
    out = x_rot * cos + rotate(x_rot) * sin
    return jnp.concatenate([out, jnp.broadcast_to(x_pass, (*out.shape[:-1], x_pass.shape[-1]))], axis=-1)


# -- ALiBi ------------------------------------------------------------------------------------------
def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi's head slopes (float64 on the host): the paper's geometric sequence, BLOOM's rule otherwise.

    For ``n`` a power of two the slopes are ``2 ** (-8 i / n)``, ``i = 1..n``. Otherwise the ``c``
    slopes of the largest power of two ``c < n`` come first, followed by every other slope of ``2c``
    heads (the odd ones), as in the paper's reference code and BLOOM's ``build_alibi_tensor``.

    Args:
      num_heads: attention heads (positive).

    Returns:
      A float64 numpy array ``[num_heads]``.

    Raises:
      ConfigError: ``num_heads`` is not a positive int.

    Example:
      >>> from torsh.nn import functional as F
      >>> F.alibi_slopes(4).tolist()
      [0.25, 0.0625, 0.015625, 0.00390625]
    """
    n = positive_int("num_heads", num_heads, "alibi_slopes")
    c = 2 ** math.floor(math.log2(n))
    start = 2.0 ** (-(2.0 ** -(math.log2(c) - 3)))
    slopes = start ** np.arange(1, c + 1, dtype=np.float64)
    if c != n:
        extra_start = 2.0 ** (-(2.0 ** -(math.log2(2 * c) - 3)))
        slopes = np.concatenate([slopes, extra_start ** np.arange(1, 1 + 2 * (n - c), 2, dtype=np.float64)])
    return slopes


def alibi_bias(
    num_heads: int, q_len: int, k_len: int, *, causal: bool = False, dtype: Any = jnp.float32
) -> jax.Array:
    """ALiBi's additive attention bias ``[num_heads, q_len, k_len]``: ``-slope_h * (i - j)``.

    Query ``i`` sits at position ``i + k_len - q_len`` (the queries are the last ``q_len`` of the
    ``k_len`` positions, as when decoding with a KV cache; for ``q_len == k_len`` it is position
    ``i``). Keys after a query get a positive bias unless ``causal=True``, which puts ``-inf``
    there. Pass it as a float ``attn_mask`` to :func:`scaled_dot_product_attention` (with a batch
    axis it broadcasts to ``[B, H, L, S]``). Softmax ignores a constant per row, so this gives the
    same attention as BLOOM's ``slope * j`` form.

    Args:
      num_heads: attention heads.
      q_len: query positions.
      k_len: key positions (``>= q_len``).
      causal: mask keys after each query with ``-inf``.
      dtype: a floating dtype.

    Returns:
      ``[num_heads, q_len, k_len]`` of ``dtype``.

    Raises:
      ConfigError: a non-positive size or ``k_len < q_len``.

    Example:
      >>> from torsh.nn import functional as F
      >>> F.alibi_bias(2, 3, 3, causal=True)[0].tolist()
      [[0.0, -inf, -inf], [-0.0625, 0.0, -inf], [-0.125, -0.0625, 0.0]]
    """
    slopes = alibi_slopes(num_heads)
    lq = positive_int("q_len", q_len, "alibi_bias")
    lk = positive_int("k_len", k_len, "alibi_bias")
    if lk < lq:
        raise ConfigError(
            f"alibi_bias: k_len ({lk}) must be >= q_len ({lq}): the queries are the last positions"
        )
    rel = np.arange(lk)[None, :] - (np.arange(lq)[:, None] + (lk - lq))  # j - i <= 0 for visible keys
    bias = slopes[:, None, None] * rel[None]
    if causal:
        bias = np.where(rel[None] > 0, -np.inf, bias)
    return jnp.asarray(bias, dtype)
