"""GPT-2 and Llama against HF transformers with the same weights: keys, shapes, logits, gradients."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _text_hf import torch, transformers

import torsh
from torsh.errors import ConfigError
from torsh.nn import StateDictError, logical_axes
from torsh.text import ContextLengthError, TokenIdError
from torsh.text.models import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, RopeScaling
from torsh.text.models._common import Slots

GPT2_TINY = dict(vocab_size=97, n_positions=32, n_embd=64, n_layer=2, n_head=4)
LLAMA_TINY = dict(
    vocab_size=89,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
)


def _hf_gpt2(seed: int = 0, **kw):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        **{**GPT2_TINY, "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, **kw}
    )
    cfg._attn_implementation = "eager"
    return transformers.GPT2LMHeadModel(cfg).eval()


def _hf_llama(seed: int = 0, **kw):
    torch.manual_seed(seed)
    cfg = transformers.LlamaConfig(**{**LLAMA_TINY, **kw})
    cfg._attn_implementation = "eager"
    model = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # HF initialises norms to ones: make them informative
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def _torsh_from(hf, cls, cfg_cls):
    model = cls(cfg_cls.from_hf(hf.config), key=1).eval()
    return model.load_state_dict(hf.state_dict())


@pytest.fixture(scope="module")
def gpt2_pair():
    hf = _hf_gpt2()
    return hf, _torsh_from(hf, GPT2LMHeadModel, GPT2Config)


@pytest.fixture(scope="module")
def llama_pair():
    hf = _hf_llama()
    return hf, _torsh_from(hf, LlamaForCausalLM, LlamaConfig)


_jit_logits = jax.jit(lambda m, ids, mask, pos: m(ids, attention_mask=mask, position_ids=pos))


def _compare_logits(hf, model, rng, vocab, left_pad=True, offset=0):
    ids = rng.integers(0, vocab, size=(3, 11))
    mask = np.ones_like(ids)
    if left_pad:
        mask[1, :4] = 0
        mask[2, :1] = 0
    pos = np.clip(np.cumsum(mask, 1) - 1, 0, None) + offset
    with torch.no_grad():
        ref = hf(
            torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos)
        ).logits.numpy()
    out = np.asarray(_jit_logits(model, jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(pos)))
    m = mask.astype(bool)
    np.testing.assert_allclose(out[m], ref[m], rtol=1e-4, atol=1e-4)


def test_gpt2_state_dict_names_shapes_and_parameters(gpt2_pair):
    hf, model = gpt2_pair
    ref = {k: tuple(v.shape) for k, v in hf.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == ref
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in hf.named_parameters()]
    assert model.num_parameters() == sum(p.numel() for p in hf.parameters())
    assert model.lm_head is None and model.output_weight() is model.transformer.wte.weight


def test_gpt2_logits_equal_hf(gpt2_pair):
    hf, model = gpt2_pair
    _compare_logits(hf, model, np.random.default_rng(0), 97)


def test_gpt2_untied_and_gelu_variants_equal_hf():
    hf = _hf_gpt2(seed=3, tie_word_embeddings=False, activation_function="gelu", n_inner=80)
    model = _torsh_from(hf, GPT2LMHeadModel, GPT2Config)
    assert model.lm_head is not None and set(model.state_dict()) == set(hf.state_dict())
    _compare_logits(hf, model, np.random.default_rng(1), 97, left_pad=False)


def _ce(logits, targets):
    logp = jax.nn.log_softmax(logits, -1)
    return -jnp.take_along_axis(logp, targets[..., None], -1).mean()


def _grads_equal_torch(hf, model, vocab, seed):
    ids = np.random.default_rng(seed).integers(0, vocab, size=(2, 9))
    hf.zero_grad()
    out = hf(torch.tensor(ids[:, :-1]), labels=None).logits
    loss_t = torch.nn.functional.cross_entropy(out.reshape(-1, vocab), torch.tensor(ids[:, 1:]).reshape(-1))
    loss_t.backward()
    loss, grads = jax.jit(torsh.value_and_grad(lambda m, x, y: _ce(m(x), y)))(
        model, jnp.asarray(ids[:, :-1]), jnp.asarray(ids[:, 1:])
    )
    np.testing.assert_allclose(loss, loss_t.item(), rtol=1e-5)
    ref = dict(hf.named_parameters())
    names = [n for n, _ in grads.named_parameters()]
    assert names == list(ref)  # one entry for the tied embedding, as torch
    for name, g in grads.named_parameters():
        np.testing.assert_allclose(g, ref[name].grad.numpy(), rtol=2e-4, atol=2e-6, err_msg=name)
    return grads


def test_tied_embedding_gradient_sums_both_uses(gpt2_pair):
    hf, model = gpt2_pair
    grads = _grads_equal_torch(hf, model, 97, seed=2)
    # The tied gradient is the sum of the input-embedding and output-projection contributions:
    # untie by hand (a separate head array with the same values) and add the two gradients.
    ids = np.random.default_rng(2).integers(0, 97, size=(2, 9))
    w = model.transformer.wte.weight

    def loss_untied(emb, head):
        m = model.replace(**{"transformer.wte.weight": emb})
        h, _ = m.transformer(
            jnp.asarray(ids[:, :-1]),
            jnp.broadcast_to(jnp.arange(8), (2, 8)),
            Slots(jnp.arange(8), jnp.ones((2, 8), bool), 0),
            None,
            None,
        )
        return _ce(h @ head.T, jnp.asarray(ids[:, 1:]))

    g_emb, g_head = jax.jit(jax.grad(loss_untied, argnums=(0, 1)))(w, w)
    np.testing.assert_allclose(grads.transformer.wte.weight, g_emb + g_head, rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(g_head).max()) > 0 and float(jnp.abs(g_emb).max()) > 0


@pytest.mark.parametrize(
    "variant",
    [  # the default configuration is checked by test_llama_logits_and_gradients_equal_hf
        {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}},
        {
            "rope_parameters": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
                "rope_theta": 10000.0,
            }
        },
        {
            "rope_parameters": {
                "rope_type": "yarn",
                "factor": 4.0,
                "original_max_position_embeddings": 16,
                "rope_theta": 10000.0,
            }
        },
        # positions 60.. reach past max_position_embeddings=64: dynamic NTK rescales the frequencies
        {"rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 500.0}, "offset": 60},
        {
            "tie_word_embeddings": True,
            "num_key_value_heads": 1,
            "head_dim": 8,
            "attention_bias": True,
            "mlp_bias": True,
        },
    ],
)
def test_llama_logits_equal_hf(variant):
    variant = dict(variant)
    offset = variant.pop("offset", 0)
    hf = _hf_llama(seed=5, **variant)
    model = _torsh_from(hf, LlamaForCausalLM, LlamaConfig)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        k: tuple(v.shape) for k, v in hf.state_dict().items()
    }
    if variant.get("rope_parameters"):
        assert model.config.rope_scaling.rope_type == variant["rope_parameters"]["rope_type"]
        rope = model.model.rotary_emb
        np.testing.assert_allclose(rope.inv_freq, hf.model.rotary_emb.original_inv_freq.numpy(), rtol=1e-6)
        assert rope.attention_scaling == pytest.approx(hf.model.rotary_emb.attention_scaling)
        assert LlamaConfig.from_hf(model.config.to_hf_dict()) == model.config  # a lossless round trip
    _compare_logits(hf, model, np.random.default_rng(4), 89, offset=offset)


def test_llama_logits_and_gradients_equal_hf(llama_pair):
    hf, model = llama_pair
    _compare_logits(hf, model, np.random.default_rng(4), 89)
    _grads_equal_torch(hf, model, 89, seed=6)


def test_every_parameter_has_logical_axis_names(gpt2_pair, llama_pair):
    for model in (
        gpt2_pair[1],
        llama_pair[1],
        GPT2LMHeadModel(GPT2Config(**GPT2_TINY, tie_word_embeddings=False), key=0),
    ):
        axes = logical_axes(model)
        params = dict(model.named_parameters())
        assert set(params) <= set(axes)
        for name in params:
            assert None not in axes[name] and len(axes[name]) == params[name].ndim, (name, axes[name])
    ax = logical_axes(gpt2_pair[1])
    assert ax["transformer.h.0.mlp.c_fc.weight"] == ("embed", "mlp")
    assert ax["transformer.wte.weight"] == ("vocab", "embed")
    assert logical_axes(llama_pair[1])["model.layers.1.self_attn.o_proj.weight"] == ("embed", "heads")


def test_default_init_matches_hf_statistics():
    model = GPT2LMHeadModel(GPT2Config(**GPT2_TINY), key=0)
    w = np.asarray(model.transformer.h[0].mlp.c_fc.weight)
    proj = np.asarray(model.transformer.h[0].mlp.c_proj.weight)
    assert abs(w.std() - 0.02) < 0.002 and abs(proj.std() - 0.02 / 2) < 0.002  # 0.02 / sqrt(2 * n_layer)
    again = GPT2LMHeadModel(GPT2Config(**GPT2_TINY), key=0)
    assert np.array_equal(w, again.transformer.h[0].mlp.c_fc.weight)
    other = GPT2LMHeadModel(GPT2Config(**GPT2_TINY), key=1)
    assert not np.array_equal(w, other.transformer.h[0].mlp.c_fc.weight)
    assert GPT2Config.named("gpt2-large").n_layer == 36


def test_bad_input_errors(gpt2_pair, llama_pair):
    _, model = gpt2_pair
    with pytest.raises(TokenIdError, match=r"token id 97 is out of the vocabulary \[0, 97\)"):
        model(jnp.array([[1, 97]]))
    with pytest.raises(TokenIdError, match="-1"):
        model(jnp.array([[-1, 2]]))
    with pytest.raises(ContextLengthError, match="33 tokens exceed the context of 32"):
        model(jnp.zeros((1, 33), jnp.int32))
    with pytest.raises(ContextLengthError):
        model.init_cache(1, 40)
    with pytest.raises(torsh.errors.ShapeError, match=r"input_ids \[batch, seq\]"):
        model(jnp.zeros(5, jnp.int32))
    with pytest.raises(torsh.errors.ShapeError, match="attention_mask"):
        model(jnp.zeros((1, 5), jnp.int32), attention_mask=jnp.ones((1, 4)))
    with pytest.raises(ConfigError, match="needs a key"):
        GPT2LMHeadModel(GPT2Config(**GPT2_TINY), key=0)(jnp.zeros((1, 5), jnp.int32))  # training mode, p=0.1
    sd = dict(model.state_dict())
    sd["lm_head.weight"] = sd["lm_head.weight"] + 1
    with pytest.raises(StateDictError, match="tie_word_embeddings=False"):
        model.load_state_dict(sd)
    with pytest.raises(ConfigError, match="n_head"):
        GPT2Config(n_embd=10, n_head=3)
    with pytest.raises(ConfigError, match="num_key_value_heads"):
        LlamaConfig(**{**LLAMA_TINY, "num_key_value_heads": 3})
    with pytest.raises(ConfigError, match="rope_type must be one of"):
        RopeScaling("longrope", 2.0)
    with pytest.raises(ConfigError, match="expected a LlamaConfig, got GPT2Config"):
        LlamaForCausalLM(GPT2Config(**GPT2_TINY))
    with pytest.raises(ConfigError, match="partial_rotary_factor=0.5 is not supported"):
        LlamaConfig.from_hf(
            {**LLAMA_TINY, "rope_parameters": {"rope_theta": 1e4, "partial_rotary_factor": 0.5}}
        )
    with pytest.raises(ConfigError, match="unknown size"):
        GPT2Config.named("gpt3")


def test_training_mode_dropout_is_keyed(gpt2_pair):
    _, model = gpt2_pair
    m = GPT2LMHeadModel(GPT2Config(**GPT2_TINY, resid_pdrop=0.5, embd_pdrop=0.5, attn_pdrop=0.5), key=0)
    ids = jnp.zeros((1, 6), jnp.int32)
    f = jax.jit(lambda m, k: m(ids, key=k))
    a, b, c = f(m, jax.random.key(0)), f(m, jax.random.key(0)), f(m, jax.random.key(1))
    assert np.array_equal(a, b) and not np.allclose(a, c)
    np.testing.assert_allclose(m.eval()(ids), jax.jit(lambda m: m(ids))(m.replace(config=m.config).eval()))


_SHARDED_SCRIPT = r"""
import jax, jax.numpy as jnp, numpy as np, torsh
from torsh import distributed as dist
from torsh.text.models import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

def ce(m, x, y):
    logp = jax.nn.log_softmax(m(x), -1)
    return -jnp.take_along_axis(logp, y[..., None], -1).mean()

models = {
    "gpt2": GPT2LMHeadModel(GPT2Config(vocab_size=96, n_positions=32, n_embd=64, n_layer=1, n_head=4),
                            key=0).eval(),
    "llama": LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128,
                                          num_hidden_layers=1, num_attention_heads=8, num_key_value_heads=4,
                                          max_position_embeddings=32), key=0),
}
ids = jax.random.randint(jax.random.key(1), (8, 17), 0, 96)
x, y = ids[:, :-1], ids[:, 1:]
step = jax.jit(torsh.value_and_grad(ce))
# one plan per model keeps the compile count low: FSDP for GPT-2, FSDP x Megatron TP for Llama
plans = {"gpt2": ({"data": 8}, dist.fsdp()),
         "llama": ({"data": 2, "model": 4}, dist.data_model_parallel(fsdp=True))}
for name, model in models.items():
    ref_loss, ref_grads = step(model, x, y)
    shape, plan = plans[name]
    mesh = dist.mesh(shape)
    sharded = dist.shard(model, mesh, plan)
    specs = {k: tuple(v.sharding.spec) for k, v in sharded.state_dict().items()}
    if name == "gpt2":
        assert specs["transformer.h.0.mlp.c_fc.weight"] in (("data", None), (None, "data")), specs
    else:
        assert specs["model.layers.0.mlp.gate_proj.weight"] == ("model", "data"), specs
        assert specs["model.layers.0.mlp.down_proj.weight"] == ("data", "model"), specs
        assert specs["model.layers.0.self_attn.q_proj.weight"] == ("model", "data"), specs
    xs, ys = (dist.shard(a, mesh, plan, axes={"": ("batch", None)}) for a in (x, y))
    loss, grads = step(sharded, xs, ys)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, err_msg=name)
    for (k, g), (_, r) in zip(grads.named_parameters(), ref_grads.named_parameters(), strict=True):
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-6, err_msg=f"{name} {k}")
print("OK")
"""


def test_fsdp_and_tensor_parallel_on_8_devices_keep_loss_and_gradients():
    # 8 simulated CPU devices need a fresh process (XLA reads the flag when it starts).
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(
        [sys.executable, "-c", _SHARDED_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), proc.stderr[-3000:]
