"""Transformer layers and stacks against PyTorch (weights copied by state-dict key, no renaming)."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from test_nn_attention import compare_with_torch, fast_jit

import torsh
from torsh import nn
from torsh.errors import ConfigError, ShapeError
from torsh.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)

# torch warns when boolean and float masks are mixed: mixing them is tested on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")

# LayerNorm after attention: its mean/variance reductions run in a different order than PyTorch's,
# and the input gradient of a normalisation divides by a small standard deviation, so gradients
# get 1e-4 relative (outputs keep 1e-5).
GRAD_RTOL = 1e-4
GRAD_ATOL = 1e-5


def _seq(rng, n, length, d, batch_first, batched=True):
    if not batched:
        return rng.standard_normal((length, d)).astype(np.float32)
    shape = (n, length, d) if batch_first else (length, n, d)
    return rng.standard_normal(shape).astype(np.float32)


def _masks(rng, kind_attn, kind_kpm, n, lq, lk, nhead, batched):
    out: dict[str, np.ndarray] = {}
    causal = False
    if kind_kpm is not None:
        m = rng.random((n, lk) if batched else (lk,)) > 0.5
        m[..., 0] = False
        out["kpm"] = m if kind_kpm == "bool" else np.where(m, -np.inf, 0.0).astype(np.float32)
    if kind_attn == "bool":
        m = rng.random((lq, lk)) > 0.6
        m[:, 0] = False
        out["mask"] = m
    elif kind_attn == "float":
        out["mask"] = rng.standard_normal((lq, lk)).astype(np.float32)
    elif kind_attn == "bool3d":
        m = rng.random(((n if batched else 1) * nhead, lq, lk)) > 0.6
        m[..., 0] = False
        out["mask"] = m
    elif kind_attn == "causal":
        out["mask"] = np.asarray(generate_square_subsequent_mask(lq))
        causal = True
    return out, causal


@settings(max_examples=examples(5))
@given(
    nhead=st.sampled_from([1, 2]),
    head_dim=st.sampled_from([2, 4]),
    ff=st.integers(3, 9),
    n=st.integers(1, 3),
    length=st.integers(1, 5),
    batch_first=st.booleans(),
    batched=st.booleans(),
    norm_first=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]),
    bias=st.booleans(),
    attn=st.sampled_from([None, "bool", "float", "causal", "bool3d"]),
    kpm=st.sampled_from([None, "bool", "float"]),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_encoder_layer_matches_torch(
    nhead, head_dim, ff, n, length, batch_first, batched, norm_first, activation, bias, attn, kpm, train, seed
):
    d = nhead * head_dim
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opts = dict(
        dim_feedforward=ff,
        dropout=0.0,
        activation=activation,
        batch_first=batch_first,
        norm_first=norm_first,
        bias=bias,
    )
    t_mod = torch.nn.TransformerEncoderLayer(d, nhead, **opts)
    j_mod = TransformerEncoderLayer(d, nhead, **opts, key=torsh.random.key(seed))
    inputs = {"src": _seq(rng, n, length, d, batch_first, batched)}
    masks, causal = _masks(rng, attn, kpm, n, length, length, nhead, batched)
    inputs.update(masks)

    def call(m, t):
        return m(t["src"], src_mask=t.get("mask"), src_key_padding_mask=t.get("kpm"), is_causal=causal)

    compare_with_torch(
        t_mod, j_mod, inputs, call, call, train=train, grad_rtol=GRAD_RTOL, grad_atol=GRAD_ATOL, seed=seed
    )


@settings(max_examples=examples(4))
@given(
    nhead=st.sampled_from([1, 2]),
    n=st.integers(1, 2),
    lt=st.integers(1, 4),
    lm=st.integers(1, 5),
    batch_first=st.booleans(),
    batched=st.booleans(),
    norm_first=st.booleans(),
    activation=st.sampled_from(["relu", "gelu"]),
    tgt_attn=st.sampled_from([None, "causal", "bool"]),
    mem_kpm=st.sampled_from([None, "bool"]),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_decoder_layer_matches_torch(
    nhead, n, lt, lm, batch_first, batched, norm_first, activation, tgt_attn, mem_kpm, train, seed
):
    d = 4 * nhead
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opts = dict(
        dim_feedforward=6, dropout=0.0, activation=activation, batch_first=batch_first, norm_first=norm_first
    )
    t_mod = torch.nn.TransformerDecoderLayer(d, nhead, **opts)
    j_mod = TransformerDecoderLayer(d, nhead, **opts, key=torsh.random.key(seed))
    inputs = {
        "tgt": _seq(rng, n, lt, d, batch_first, batched),
        "memory": _seq(rng, n, lm, d, batch_first, batched),
    }
    tmask, causal = _masks(rng, tgt_attn, None, n, lt, lt, nhead, batched)
    mmask, _ = _masks(rng, None, mem_kpm, n, lt, lm, nhead, batched)
    inputs.update({"tgt_mask": tmask["mask"]} if "mask" in tmask else {})
    inputs.update({"mem_kpm": mmask["kpm"]} if "kpm" in mmask else {})

    def call(m, t):
        return m(
            t["tgt"],
            t["memory"],
            tgt_mask=t.get("tgt_mask"),
            memory_key_padding_mask=t.get("mem_kpm"),
            tgt_is_causal=causal,
        )

    compare_with_torch(
        t_mod, j_mod, inputs, call, call, train=train, grad_rtol=GRAD_RTOL, grad_atol=GRAD_ATOL, seed=seed
    )


def test_encoder_decoder_stacks_and_transformer_match_torch():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    # One layer each keeps the compile short; stacks of several layers: test_stack_keys_and_clone_semantics.
    opts = dict(
        d_model=8,
        nhead=2,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dim_feedforward=12,
        dropout=0.0,
        batch_first=True,
    )
    t_mod = torch.nn.Transformer(**opts)
    j_mod = Transformer(**opts, key=torsh.random.key(0))
    inputs = {"src": _seq(rng, 2, 5, 8, True), "tgt": _seq(rng, 2, 4, 8, True)}
    inputs["tgt_mask"] = np.asarray(generate_square_subsequent_mask(4))
    kpm = np.zeros((2, 5), bool)
    kpm[1, 3:] = True
    inputs["src_kpm"] = kpm

    def call(m, t):
        return m(
            t["src"],
            t["tgt"],
            tgt_mask=t["tgt_mask"],
            src_key_padding_mask=t["src_kpm"],
            memory_key_padding_mask=t["src_kpm"],
        )

    # Five LayerNorms deep: gradients need 2e-4 relative.
    loaded = compare_with_torch(t_mod, j_mod, inputs, call, call, grad_rtol=2e-4, grad_atol=GRAD_ATOL)
    assert list(loaded.state_dict()) == list(t_mod.state_dict())
    assert "encoder.layers.0.self_attn.in_proj_weight" in loaded.state_dict()
    assert "decoder.layers.0.multihead_attn.out_proj.bias" in loaded.state_dict()
    assert "decoder.norm.weight" in loaded.state_dict()
    # the same model with jax.nn.dot_product_attention in every attention layer (a static choice)
    xla = Transformer(**opts, key=torsh.random.key(1), attention_implementation="xla")
    xla = xla.load_state_dict(loaded.state_dict())
    assert {m.implementation for m in xla.modules() if isinstance(m, nn.MultiheadAttention)} == {"xla"}
    args = {k: jnp.asarray(v) for k, v in inputs.items()}
    run = fast_jit(call)
    assert_close(run(xla, args), run(loaded, args), what="implementation='xla' vs the default")


def test_stack_keys_and_clone_semantics(key):
    layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, key=key)
    enc = TransformerEncoder(layer, 3, norm=nn.LayerNorm(8))
    t_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(8, 2, 16), 3, norm=torch.nn.LayerNorm(8), enable_nested_tensor=False
    )
    assert list(enc.state_dict()) == list(t_enc.state_dict())
    # PyTorch deep-copies the layer: every layer starts from the same weights, in separate buffers.
    w0, w2 = enc.layers[0].linear1.weight, enc.layers[2].linear1.weight
    assert np.array_equal(w0, w2) and w0 is not w2
    dec = TransformerDecoder(TransformerDecoderLayer(8, 2, 16, key=key), 2)
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, 16), 2)
    assert list(dec.state_dict()) == list(t_dec.state_dict())
    with pytest.raises(ConfigError, match="TransformerEncoderLayer"):
        TransformerEncoder(nn.Linear(2, 2, key=key), 2)


def test_transformer_init_is_xavier_on_matrices(key):
    model = Transformer(
        d_model=16, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=64, key=key
    )
    w = np.asarray(model.encoder.layers[0].linear1.weight)
    bound = np.sqrt(6 / (16 + 64))
    assert np.abs(w).max() <= bound and w.std() > 0.8 * bound / np.sqrt(3)
    # Re-initialised independently (no longer the clones of the stack).
    assert not np.array_equal(model.encoder.layers[0].linear1.weight, model.encoder.layers[1].linear1.weight)
    assert not np.any(np.asarray(model.encoder.layers[0].self_attn.in_proj_bias))


def test_callable_activation_matches_torch():
    torch.manual_seed(1)
    rng = np.random.default_rng(1)
    t_mod = torch.nn.TransformerEncoderLayer(8, 2, 10, dropout=0.0, activation=torch.nn.functional.silu)
    j_mod = TransformerEncoderLayer(8, 2, 10, dropout=0.0, activation=jax.nn.silu, key=torsh.random.key(1))
    inputs = {"src": _seq(rng, 2, 3, 8, False)}
    compare_with_torch(
        t_mod,
        j_mod,
        inputs,
        lambda m, t: m(t["src"]),
        lambda m, t: m(t["src"]),
        grad_rtol=GRAD_RTOL,
        grad_atol=GRAD_ATOL,
    )


def test_generate_square_subsequent_mask_equals_torch():
    for sz in (0, 1, 4):
        assert np.array_equal(
            np.asarray(Transformer.generate_square_subsequent_mask(sz)),
            torch.nn.Transformer.generate_square_subsequent_mask(sz).numpy(),
        )


def test_dropout_keys_statistics_and_grads_under_jit(key):
    layer = TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.3, batch_first=True, key=key)
    x = jax.random.normal(key, (4, 8, 16))

    def loss(m, x, k):
        out = m(x, key=k)
        return (out**2).mean(), out

    step = fast_jit(torsh.value_and_grad(loss, has_aux=True))
    (_, a), grads = step(layer, x, jax.random.key(1))
    (_, b), _ = step(layer, x, jax.random.key(1))
    (_, c), _ = step(layer, x, jax.random.key(2))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert all(np.isfinite(np.asarray(g)).all() for _, g in grads.named_parameters())
    # eval == dropout off (same weights: same construction key)
    no_drop = TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True, key=key)
    forward = fast_jit(lambda m, x: m(x))
    assert_close(forward(layer.eval(), x), forward(no_drop, x))
    with pytest.raises(ConfigError, match="PRNG key"):
        forward(layer, x)
    # The decoder layer hands its three dropouts and two attentions their own keys too.
    dec = TransformerDecoderLayer(16, 2, dim_feedforward=32, dropout=0.3, batch_first=True, key=key)
    run_dec = fast_jit(lambda m, t, mem, k: m(t, mem, tgt_is_causal=True, key=k))
    d1, d2 = run_dec(dec, x, x, jax.random.key(1)), run_dec(dec, x, x, jax.random.key(2))
    assert np.array_equal(d1, run_dec(dec, x, x, jax.random.key(1))) and not np.allclose(d1, d2)
    # The feed-forward dropout zeroes ~30% of the hidden units: look at linear2's input.
    h = jax.nn.relu(layer.linear1(x))
    dropped = layer.dropout(h, key=jax.random.key(5))
    n = int((h != 0).sum())
    frac = float(((dropped == 0) & (h != 0)).sum() / n)
    assert abs(frac - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)  # 4 binomial standard deviations (~0.08 here)


def test_bfloat16_forward_close_to_float32(key):
    layer = TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, batch_first=True, key=key)
    x = jax.random.normal(key, (2, 6, 16))
    forward = fast_jit(lambda m, x: m(x))
    ref = forward(layer, x)
    low = forward(layer.to(jnp.bfloat16), x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low, np.float32), ref, atol=0.1, rtol=0.05)


def test_logical_axes_give_megatron_layout(key):
    layer = TransformerEncoderLayer(8, 2, 16, key=key)
    axes = nn.logical_axes(layer)
    assert axes["self_attn.in_proj_weight"] == ("heads", "embed")
    assert axes["self_attn.out_proj.weight"] == ("embed", "heads")
    assert axes["linear1.weight"] == ("mlp", "embed") and axes["linear1.bias"] == ("mlp",)
    assert axes["linear2.weight"] == ("embed", "mlp") and axes["linear2.bias"] == ("embed",)
    assert axes["norm1.weight"] == ("embed",)


def test_shape_errors_name_the_layer_path(key):
    enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, dropout=0.0, key=key), 2)
    with pytest.raises(
        ShapeError, match=r"^layers\.0 \(TransformerEncoderLayer d_model=8\): expected src \[seq, batch, 8\]"
    ) as e:
        jax.jit(lambda m, x: m(x))(enc, jnp.ones((5, 2, 6)))
    assert e.value.module_path == "layers.0"
    with pytest.raises(
        ShapeError, match=r"^layers\.0\.self_attn \(MultiheadAttention.*src_len\]\)?.*got \[3, 5\]"
    ):
        enc(jnp.ones((5, 2, 8)), src_key_padding_mask=jnp.zeros((3, 5), bool))
    model = Transformer(8, 2, 1, 1, 16, dropout=0.0, key=key)
    with pytest.raises(ShapeError, match="batch number of src and tgt"):
        model(jnp.ones((5, 2, 8)), jnp.ones((4, 3, 8)))
    with pytest.raises(ShapeError, match=r"expected tgt"):
        model(jnp.ones((5, 2, 8)), jnp.ones((4, 2, 7)))


def test_config_errors(key):
    with pytest.raises(ConfigError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="swish", key=key)
    with pytest.raises(ConfigError, match="divisible"):
        TransformerEncoderLayer(8, 3, key=key)
    with pytest.raises(ConfigError, match="num_layers"):
        TransformerEncoder(TransformerEncoderLayer(8, 2, key=key), 0)


_TENSOR_PARALLEL_SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, torsh
from torsh import distributed as dist
from torsh.nn.transformer import TransformerEncoderLayer

layer = TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, key=torsh.random.key(0))
x = jax.random.normal(jax.random.key(1), (4, 6, 16))
loss = lambda m, x: (m(x) ** 2).sum()
step = jax.jit(torsh.value_and_grad(loss))
ref_value, ref_grads = step(layer, x)

mesh = dist.mesh({"data": 2, "model": 4})
sharded = dist.shard(layer, mesh, {"heads": "model", "mlp": "model", "embed": None})
specs = {k: tuple(v.sharding.spec) for k, v in sharded.state_dict().items()}
assert specs["self_attn.in_proj_weight"] == ("model", None), specs
assert specs["self_attn.in_proj_bias"] == ("model",), specs
assert specs["self_attn.out_proj.weight"] == (None, "model"), specs
assert specs["linear1.weight"] == ("model", None), specs
assert specs["linear2.weight"] == (None, "model"), specs
assert specs["norm1.weight"] in ((), (None,)), specs
xs = dist.shard(x, mesh, {"batch": "data"}, axes={"": ("batch", None, None)})
value, grads = step(sharded, xs)
np.testing.assert_allclose(value, ref_value, rtol=1e-5)
for (name, g), (_, r) in zip(grads.named_parameters(), ref_grads.named_parameters(), strict=True):
    np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5, err_msg=name)
print("OK")
"""


def test_megatron_rules_shard_a_layer_and_keep_its_numerics():
    # 8 simulated CPU devices need a fresh process (XLA reads the flag when it starts).
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", _TENSOR_PARALLEL_SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]
