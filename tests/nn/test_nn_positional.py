"""RoPE (every scaling variant) and ALiBi against HF transformers and the ALiBi paper's formula."""

from __future__ import annotations

import math
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _hypothesis_budget import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from torsh import nn
from torsh.errors import ConfigError, ShapeError
from torsh.nn import functional as F

sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "text"))
from _text_hf import torch, transformers
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.bloom.modeling_bloom import build_alibi_tensor
from transformers.models.gptj import modeling_gptj
from transformers.models.llama import modeling_llama

HEAD_DIM, THETA, MAX_POS = 16, 500.0, 64
VARIANTS = {
    "default": None,
    "linear": {"rope_type": "linear", "factor": 2.5},
    "dynamic": {"rope_type": "dynamic", "factor": 3.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16},
    "yarn_mscale": {
        "rope_type": "yarn",
        "factor": 4.0,
        "original_max_position_embeddings": 16,
        "mscale": 0.707,
        "mscale_all_dim": 1.0,
        "beta_fast": 16.0,
        "beta_slow": 2.0,
        "truncate": False,
    },
    "yarn_attention_factor": {
        "rope_type": "yarn",
        "factor": 2.0,
        "original_max_position_embeddings": 32,
        "attention_factor": 0.8,
    },
    "llama3": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 16,
    },
}


def _hf_config(params):
    rope = {"rope_type": "default"} if params is None else params
    return transformers.LlamaConfig(
        hidden_size=64,
        num_attention_heads=4,
        head_dim=HEAD_DIM,
        max_position_embeddings=MAX_POS,
        rope_parameters={**rope, "rope_theta": THETA},
    )


def _torsh_rope(hf_cfg, **kw):
    return nn.RotaryEmbedding(HEAD_DIM, THETA, hf_cfg.rope_parameters, max_position_embeddings=MAX_POS, **kw)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_inv_freq_and_attention_factor_equal_hf_rope_init_functions(name):
    params = VARIANTS[name]
    cfg = _hf_config(params)
    scaling = nn.RopeScaling.from_dict(cfg.rope_parameters)
    assert (scaling is None) == (params is None)
    init = (
        modeling_llama.LlamaRotaryEmbedding.compute_default_rope_parameters
        if params is None
        else ROPE_INIT_FUNCTIONS[params["rope_type"]]
    )
    lengths = [None] + ([40, 100, torch.tensor(100)] if name == "dynamic" else [])
    for seq_len in lengths:
        want, want_scale = init(cfg, seq_len=seq_len)
        ours = seq_len if not isinstance(seq_len, torch.Tensor) else jnp.asarray(seq_len.item())
        got, scale = F.rope_frequencies(
            HEAD_DIM, THETA, scaling, seq_len=ours, max_position_embeddings=MAX_POS
        )
        assert got.dtype == jnp.float32 and got.shape == (HEAD_DIM // 2,)
        np.testing.assert_allclose(got, want.numpy(), rtol=2e-7, err_msg=f"{name} seq_len={seq_len}")
        assert scale == pytest.approx(want_scale, rel=1e-12)
    if name == "dynamic":  # below the context dynamic NTK is the plain RoPE; above it, not
        plain = F.rope_frequencies(HEAD_DIM, THETA)[0]
        assert np.array_equal(
            F.rope_frequencies(HEAD_DIM, THETA, scaling, seq_len=64, max_position_embeddings=64)[0], plain
        )
        assert not np.allclose(
            F.rope_frequencies(HEAD_DIM, THETA, scaling, seq_len=65, max_position_embeddings=64)[0], plain
        )


@pytest.mark.parametrize("name", ["default", "dynamic", "yarn", "llama3"])
def test_cos_sin_and_rotated_queries_equal_hf_llama(name):
    cfg = _hf_config(VARIANTS[name])
    hf = modeling_llama.LlamaRotaryEmbedding(cfg)
    rope = _torsh_rope(cfg)
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, 3, 5, HEAD_DIM)).astype(np.float32)  # [B, H, T, D]
    k = rng.standard_normal((2, 3, 5, HEAD_DIM)).astype(np.float32)
    # the second batch row reaches past the context: dynamic NTK rescales (for the whole batch, as HF)
    pos = np.array([[0, 1, 2, 3, 4], [60, 61, 70, 80, 99]])
    t_cos, t_sin = hf(torch.tensor(q), torch.tensor(pos))
    cos, sin = jax.jit(lambda r, x, p: r(x, p))(rope, jnp.asarray(q), jnp.asarray(pos))
    np.testing.assert_allclose(cos, t_cos.numpy(), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(sin, t_sin.numpy(), rtol=2e-5, atol=2e-5)
    t_q, t_k = modeling_llama.apply_rotary_pos_emb(torch.tensor(q), torch.tensor(k), t_cos, t_sin)
    got_q = F.apply_rotary_emb(jnp.asarray(q), cos[:, None], sin[:, None])
    got_k = F.apply_rotary_emb(jnp.asarray(k), cos[:, None], sin[:, None])
    np.testing.assert_allclose(got_q, t_q.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_k, t_k.numpy(), rtol=1e-4, atol=1e-4)
    if name == "yarn":
        assert rope.attention_scaling == pytest.approx(hf.attention_scaling)
        np.testing.assert_allclose(rope.inv_freq, hf.inv_freq.numpy(), rtol=2e-7)


def test_interleaved_layout_equals_gptj_and_gradients_equal_torch():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 3, 8)).astype(np.float32)  # GPT-J's [B, T, H, D]
    pos = np.stack([np.arange(6), np.arange(3, 9)])
    sincos = modeling_gptj.create_sinusoidal_positions(16, 8)[torch.tensor(pos)]
    t_sin, t_cos = torch.split(sincos, 4, dim=-1)
    tx = torch.tensor(x, requires_grad=True)
    want = modeling_gptj.apply_rotary_pos_emb(tx, t_sin, t_cos)
    cot = rng.standard_normal(x.shape).astype(np.float32)
    (want * torch.tensor(cot)).sum().backward()
    rope = nn.RotaryEmbedding(8, interleaved=True)

    def f(x):
        cos, sin = rope(x, jnp.asarray(pos))
        out = F.apply_rotary_emb(x, cos[:, :, None], sin[:, :, None], interleaved=True)
        return (out * cot).sum(), out

    (_, out), grad = jax.jit(jax.value_and_grad(f, has_aux=True))(jnp.asarray(x))
    np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_partial_rotary_passes_the_other_features_through():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 2, 4, 10)).astype(np.float32)
    cos, sin = F.rope_cos_sin(jnp.arange(4), F.rope_frequencies(4)[0])
    out = F.apply_rotary_emb(jnp.asarray(x), cos, sin)
    t_cos, t_sin = torch.tensor(np.asarray(cos)), torch.tensor(np.asarray(sin))
    t_rot, _ = modeling_llama.apply_rotary_pos_emb(
        torch.tensor(x[..., :4]), torch.tensor(x[..., :4]), t_cos[None], t_sin[None]
    )
    np.testing.assert_allclose(out[..., :4], t_rot.numpy(), rtol=1e-5, atol=1e-6)
    assert np.array_equal(out[..., 4:], x[..., 4:])


def test_rope_rotation_is_relative_property():
    # <rot(q, m), rot(k, n)> depends only on m - n: RoPE's defining property.
    rng = np.random.default_rng(3)
    q, k = (jnp.asarray(rng.standard_normal(8), jnp.float32) for _ in range(2))
    rope = nn.RotaryEmbedding(8, scaling=nn.RopeScaling("linear", 2.0))

    @jax.jit
    def scores(pairs):  # [P, 2] positions (m, n) -> <rot(q, m), rot(k, n)>
        cos, sin = rope(q, pairs)
        rq = F.apply_rotary_emb(q, cos[:, 0], sin[:, 0])
        rk = F.apply_rotary_emb(k, cos[:, 1], sin[:, 1])
        return jnp.sum(rq * rk, axis=-1)

    s = np.asarray(scores(jnp.array([[7, 3], [4, 0], [30, 26], [7, 4]])))
    np.testing.assert_allclose(s[:3], s[0], rtol=1e-5)
    assert abs(s[3] - s[0]) > 1e-3 * abs(s[0])


def test_rope_errors():
    with pytest.raises(ConfigError, match="head_dim must be even"):
        nn.RotaryEmbedding(7)
    with pytest.raises(ConfigError, match="rope_type must be one of"):
        nn.RopeScaling("longrope", 2.0)
    with pytest.raises(ConfigError, match="factor must be a number > 0"):
        nn.RopeScaling("linear", 0.0)
    with pytest.raises(ConfigError, match="high_freq_factor > low_freq_factor"):
        nn.RopeScaling("llama3", 8.0, low_freq_factor=4.0, high_freq_factor=1.0)
    with pytest.raises(ConfigError, match="beta_fast >= beta_slow"):
        nn.RopeScaling("yarn", 4.0, beta_fast=1.0, beta_slow=32.0)
    with pytest.raises(ConfigError, match="scaling must be a RopeScaling"):
        F.rope_frequencies(8, 10000.0, {"rope_type": "linear"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="base must be a number > 0"):
        F.rope_frequencies(8, -1.0)
    with pytest.raises(ConfigError, match="integer position_ids"):
        nn.RotaryEmbedding(8)(jnp.ones((1, 2, 8)), jnp.ones((1, 2)))
    with pytest.raises(ShapeError, match="cos\\[:, None\\]"):
        F.apply_rotary_emb(jnp.ones((2, 3, 5, 8)), jnp.ones((4, 5, 8)), jnp.ones((4, 5, 8)))
    with pytest.raises(ShapeError, match="even D <= head_dim"):
        F.apply_rotary_emb(jnp.ones((2, 5, 4)), jnp.ones((5, 6)), jnp.ones((5, 6)))
    assert nn.RopeScaling.from_dict({"type": "default", "factor": 2.0}) is None


# -- ALiBi ------------------------------------------------------------------------------------------
def _paper_slopes(n: int) -> list[float]:
    """ofirpress/attention_with_linear_biases's get_slopes, in float64."""

    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return power_of_2(n)
    closest = 2 ** math.floor(math.log2(n))
    return power_of_2(closest) + _paper_slopes(2 * closest)[0::2][: n - closest]


@settings(max_examples=examples(20))
@given(num_heads=st.integers(1, 70))
def test_alibi_slopes_equal_the_papers_formula_in_float64(num_heads):
    np.testing.assert_allclose(F.alibi_slopes(num_heads), _paper_slopes(num_heads), rtol=1e-15)


@pytest.mark.parametrize(("num_heads", "lq", "lk"), [(12, 5, 5), (6, 2, 7)])
def test_alibi_bias_equals_bloom_up_to_a_row_constant_and_attention_equals_torch(num_heads, lq, lk):
    bias = np.asarray(F.alibi_bias(num_heads, lq, lk))
    assert bias.shape == (num_heads, lq, lk)
    bloom = build_alibi_tensor(torch.ones(1, lk), num_heads, torch.float32).numpy()[:, 0]  # [H, S]
    slopes = F.alibi_slopes(num_heads)
    # BLOOM adds slope * j; ALiBi's -slope * (i - j) differs by slope * i, one constant per query row
    diff = bias - bloom[:, None, :]
    offset = -slopes[:, None] * (np.arange(lq) + lk - lq)[None, :]
    np.testing.assert_allclose(diff, np.broadcast_to(offset[..., None], diff.shape), rtol=1e-6, atol=1e-5)
    # as an attention bias with the causal mask, torsh's SDPA equals torch's with BLOOM's tensor
    rng = np.random.default_rng(num_heads)
    q = rng.standard_normal((2, num_heads, lq, 4)).astype(np.float32)
    k, v = (rng.standard_normal((2, num_heads, lk, 4)).astype(np.float32) for _ in range(2))
    causal = F.alibi_bias(num_heads, lq, lk, causal=True)
    out = F.scaled_dot_product_attention(*(jnp.asarray(a) for a in (q, k, v)), attn_mask=causal)
    visible = torch.tensor(np.isfinite(np.asarray(causal)))
    t_mask = torch.tensor(bloom)[:, None, :].expand(num_heads, lq, lk).masked_fill(~visible, -torch.inf)
    want = torch.nn.functional.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=t_mask
    )
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-5, atol=1e-5)


def test_alibi_errors():
    with pytest.raises(ConfigError, match="num_heads must be a positive int"):
        F.alibi_slopes(0)
    with pytest.raises(ConfigError, match="k_len"):
        F.alibi_bias(4, 5, 3)
