"""generate(): greedy tokens equal HF generate, one compiled decode step, sampling filters equal HF's
warpers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _text_hf import torch, transformers
from hypothesis import given
from hypothesis import strategies as st

from torsh.errors import ConfigError
from torsh.text import ContextLengthError, TokenIdError, generate
from torsh.text import _generate as gen_module
from torsh.text._generate import filter_logits, sample_logits
from torsh.text.models import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

PROMPTS = [[5, 17, 3, 44, 9, 1, 2], [7], [60, 61, 62]]


@pytest.fixture(scope="module")
def gpt2_pair():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=97,
        n_positions=48,
        n_embd=64,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # larger weights: sharper logits, fewer near-ties between implementations
        for p in hf.parameters():
            p.mul_(4.0) if p.dim() > 1 else None
    model = GPT2LMHeadModel(GPT2Config.from_hf(cfg), key=0).load_state_dict(hf.state_dict())
    return hf, model


@pytest.fixture(scope="module")
def llama_pair():
    torch.manual_seed(1)
    cfg = transformers.LlamaConfig(
        vocab_size=89,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=48,
    )
    hf = transformers.LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.mul_(4.0) if p.dim() > 1 else None
    model = LlamaForCausalLM(LlamaConfig.from_hf(cfg), key=0).load_state_dict(hf.state_dict())
    return hf, model


def _hf_generate(hf, prompts, n, eos=None, pad=0):
    width = max(map(len, prompts))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    out = hf.generate(
        ids,
        attention_mask=mask,
        max_new_tokens=n,
        do_sample=False,
        pad_token_id=pad,
        eos_token_id=eos,
        min_new_tokens=0,
    )
    return out[:, width:].numpy()


@pytest.mark.parametrize("which", ["gpt2", "llama"])
def test_greedy_equals_hf_generate_for_batched_prompts_of_different_lengths(which, gpt2_pair, llama_pair):
    hf, model = gpt2_pair if which == "gpt2" else llama_pair
    out = generate(model, PROMPTS, max_new_tokens=12, bucket=16)
    np.testing.assert_array_equal(out[:, 16:], _hf_generate(hf, PROMPTS, 12))
    assert out[1, :16].tolist() == [0] * 15 + [7]  # left padding, then the prompt


def test_cached_decoding_equals_full_recompute(gpt2_pair):
    _, model = gpt2_pair
    seq = list(PROMPTS[0])
    f = jax.jit(lambda m, x, n: m(x)[0, n - 1].argmax())  # one fixed shape: right padding is never attended
    for _ in range(6):
        padded = np.zeros((1, 16), np.int32)
        padded[0, : len(seq)] = seq
        seq.append(int(f(model.eval(), jnp.asarray(padded), len(seq))))
    out = generate(model, [PROMPTS[0]], max_new_tokens=6, bucket=8)
    assert out[0, -6:].tolist() == seq[-6:]


def test_stop_tokens_and_padding_equal_hf(gpt2_pair):
    hf, model = gpt2_pair
    free = generate(model, PROMPTS, max_new_tokens=10, bucket=16)[:, 16:]
    eos = int(free[0, 2])  # row 0 stops at its third token
    out = generate(model, PROMPTS, max_new_tokens=10, eos=eos, pad_id=1, bucket=16)[:, 16:]
    ref = _hf_generate(hf, PROMPTS, 10, eos=eos, pad=1)
    np.testing.assert_array_equal(out, ref)
    assert out[0, 2] == eos and (out[0, 3:] == 1).all()
    # every row stopping ends generation early
    two = generate(model, [PROMPTS[0]], max_new_tokens=10, eos=eos, bucket=16)
    assert two.shape == (1, 16 + 3)


def test_one_compiled_decode_step_for_every_token_and_length(gpt2_pair):
    _, model = gpt2_pair
    generate(
        model, [[1, 2, 3]], max_new_tokens=4, bucket=32
    )  # warm: compiles prefill + decode for this bucket
    before = dict(gen_module._TRACES)
    generate(model, [[1, 2, 3, 4, 5]], max_new_tokens=9, bucket=32)  # other prompt length, other token count
    generate(model, [[9] * 20], max_new_tokens=2, bucket=32)
    assert dict(gen_module._TRACES) == before
    gen_module._TRACES.clear()
    generate(model, [[1, 2]], max_new_tokens=7, bucket=4)  # a new bucket: one trace each, not one per token
    assert gen_module._TRACES["decode"] == 1 and gen_module._TRACES["prefill"] == 1


def test_streaming_callback_sees_tokens_in_order(gpt2_pair):
    _, model = gpt2_pair
    seen = []
    out = generate(model, PROMPTS, max_new_tokens=5, bucket=16, callback=lambda t: seen.append(t.copy()))
    assert len(seen) == 5 and np.array_equal(np.stack(seen, 1), out[:, 16:])


def test_sampling_is_keyed_and_reduces_to_greedy(gpt2_pair):
    _, model = gpt2_pair
    greedy = generate(model, PROMPTS, max_new_tokens=6, bucket=16)
    k = jax.random.key(3)
    a = generate(model, PROMPTS, max_new_tokens=6, key=k, temperature=2.0, bucket=16)
    b = generate(model, PROMPTS, max_new_tokens=6, key=k, temperature=2.0, bucket=16)
    c = generate(model, PROMPTS, max_new_tokens=6, key=jax.random.key(4), temperature=2.0, bucket=16)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    np.testing.assert_array_equal(generate(model, PROMPTS, 6, key=k, top_k=1, bucket=16), greedy)
    np.testing.assert_array_equal(generate(model, PROMPTS, 6, key=k, top_p=1e-6, bucket=16), greedy)
    np.testing.assert_array_equal(generate(model, PROMPTS, 6, key=k, temperature=0, bucket=16), greedy)


@given(st.integers(0, 2**31 - 1), st.integers(0, 12), st.floats(0.05, 1.0), st.floats(0.3, 3.0))
def test_filter_logits_equals_hf_warpers(seed, top_k, top_p, temperature):
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    logits = np.random.default_rng(seed).normal(size=(3, 10)).astype(np.float32) * 3
    ref = torch.tensor(logits)
    ref = TemperatureLogitsWarper(temperature)(None, ref)
    if top_k:
        ref = TopKLogitsWarper(top_k)(None, ref)
    ref = TopPLogitsWarper(top_p)(None, ref).numpy() if top_p < 1.0 else ref.numpy()
    out = np.asarray(filter_logits(jnp.asarray(logits), temperature, top_k, top_p))
    np.testing.assert_array_equal(np.isinf(out), np.isinf(ref))
    np.testing.assert_allclose(out[~np.isinf(out)], ref[~np.isinf(ref)], rtol=1e-6)


def test_samples_follow_the_filtered_distribution():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    keys = jax.random.split(jax.random.key(0), 20000)
    draws = np.asarray(jax.vmap(lambda k: sample_logits(logits, k, 1.0, 2, 1.0))(keys)).ravel()
    freq = np.bincount(draws, minlength=4) / len(draws)
    np.testing.assert_allclose(freq, [0.625, 0.375, 0, 0], atol=0.015)


def test_bad_input_errors(gpt2_pair):
    _, model = gpt2_pair
    with pytest.raises(
        ContextLengthError,
        match="40 tokens; with max_new_tokens=10 that is 50 positions > the model's context of 48",
    ):
        generate(model, [[1] * 40], max_new_tokens=10)
    with pytest.raises(ContextLengthError, match="max_new_tokens=48 leaves no room"):
        generate(model, [[1]], max_new_tokens=48)
    with pytest.raises(TokenIdError, match="prompt 1 has token id 97"):
        generate(model, [[1], [97]], max_new_tokens=2)
    with pytest.raises(TokenIdError, match="eos id 100"):
        generate(model, [[1]], max_new_tokens=2, eos=100)
    with pytest.raises(ConfigError, match="needs key="):
        generate(model, [[1]], max_new_tokens=2, top_k=5)
    with pytest.raises(ConfigError, match="at least one token"):
        generate(model, [[1], []], max_new_tokens=2)
    with pytest.raises(ConfigError, match="max_new_tokens"):
        generate(model, [[1]], max_new_tokens=0)
    with pytest.raises(ConfigError, match="top_p"):
        generate(model, [[1]], max_new_tokens=2, top_p=1.5, key=jax.random.key(0))
    with pytest.raises(ConfigError, match="CausalLM"):
        generate(lambda x: x, [[1]], max_new_tokens=2)
