"""scaled_dot_product_attention and MultiheadAttention against PyTorch (same weights by state-dict key).

The helper :func:`compare_with_torch` is shared with the transformer and RNN tests: it copies the
torch module's state dict into the torsh module, runs both on the same inputs, and compares every
output and the gradients of ``sum(output_i * cotangent_i)`` (random cotangents) w.r.t. the float
inputs and every parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from _hypothesis_budget import examples
from _nn_reference import ATOL, RTOL, assert_close, torch_state
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import torsh
from torsh import nn
from torsh.errors import ConfigError, DeviceError, DTypeError, ShapeError
from torsh.nn import functional as F
from torsh.nn.attention import MultiheadAttention
from torsh.nn.functional._attention import multi_head_attention_forward, scaled_dot_product_attention
from torsh.nn.functional._dropout import _keep_mask

# torch warns when boolean and float masks are mixed: mixing them is tested on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Support for mismatched")


FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn: Callable, **kwargs: Any) -> Callable:
    """``jax.jit`` with quick compilation: eager op-by-op calls of whole layers compile every op."""
    return jax.jit(fn, compiler_options=FAST_COMPILE, **kwargs)


def _flat(out: Any) -> list[Any]:
    if isinstance(out, (tuple, list)):
        return [y for x in out for y in _flat(x)]
    return [out]


def compare_with_torch(
    t_mod: torch.nn.Module | None,
    j_mod: nn.Module | None,
    inputs: dict[str, np.ndarray],
    call_torch: Callable[[Any, dict[str, Any]], Any],
    call_torsh: Callable[[Any, dict[str, Any]], Any],
    *,
    train: bool = False,
    rtol: float = RTOL,
    atol: float = ATOL,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    seed: int = 0,
) -> nn.Module | None:
    """Outputs and gradients (inputs and parameters) of torsh vs torch; returns the loaded torsh module."""
    if t_mod is not None:
        t_mod.train(train)
        j_mod = j_mod.load_state_dict(torch_state(t_mod)).train(train)
        assert list(j_mod.state_dict()) == list(t_mod.state_dict()), "state-dict keys or their order differ"
    is_float = {k: np.issubdtype(v.dtype, np.floating) for k, v in inputs.items()}
    t_in = {k: torch.tensor(v, requires_grad=is_float[k]) for k, v in inputs.items()}
    t_outs = _flat(call_torch(t_mod, t_in))
    present = [o is not None for o in t_outs]
    rng = np.random.default_rng(seed)
    cots = [rng.standard_normal(tuple(o.shape)).astype(np.float32) if o is not None else None for o in t_outs]
    loss = sum((o * torch.tensor(c)).sum() for o, c in zip(t_outs, cots, strict=True) if o is not None)
    if t_mod is not None:
        t_mod.zero_grad()
    loss.backward()

    j_in = {k: jnp.asarray(v) for k, v in inputs.items()}
    floats = {k: v for k, v in j_in.items() if is_float[k]}
    others = {k: v for k, v in j_in.items() if not is_float[k]}

    def f(m: Any, fl: dict[str, Any]) -> tuple[jax.Array, list[Any]]:
        outs = _flat(call_torsh(m, {**fl, **others}))
        assert [o is not None for o in outs] == present, (
            "torsh returns None where torch does not (or vice versa)"
        )
        total = sum((o * c).sum() for o, c in zip(outs, cots, strict=True) if o is not None)
        return total, outs

    # One compiled function per comparison (far faster than op-by-op dispatch), compiled without
    # XLA's backend optimisations: they preserve float semantics and would double the compile time,
    # which dominates these tests.
    value_and_grad = jax.jit(
        torsh.value_and_grad(f, argnums=(0, 1), has_aux=True), compiler_options=FAST_COMPILE
    )
    (_, j_outs), (g_mod, g_in) = value_and_grad(j_mod, floats)
    for i, (jo, to) in enumerate(zip(j_outs, t_outs, strict=True)):
        if to is not None:
            assert_close(jo, to.detach().numpy(), rtol, atol, f"output {i}")
    gr, ga = grad_rtol or rtol, grad_atol or atol
    for k in floats:
        if t_in[k].grad is not None:
            assert_close(g_in[k], t_in[k].grad.numpy(), gr, ga, f"grad of input {k}")
    if t_mod is not None:
        t_grads = {k: p.grad.numpy() for k, p in t_mod.named_parameters() if p.grad is not None}
        j_grads = {k: np.asarray(v) for k, v in g_mod.named_parameters()}
        assert set(t_grads) <= set(j_grads), f"missing parameter grads {set(t_grads) - set(j_grads)}"
        for name, tg in t_grads.items():
            assert_close(j_grads[name], tg, gr, ga, f"grad of {name}")
    return j_mod


# -- scaled_dot_product_attention -----------------------------------------------------------------
def _sdpa_call(kwargs: dict[str, Any], implementation: str | None = None) -> tuple[Callable, Callable]:
    def call_torch(_, t):
        return torch.nn.functional.scaled_dot_product_attention(
            t["q"], t["k"], t["v"], attn_mask=t.get("mask"), **kwargs
        )

    def call_torsh(_, j):
        return scaled_dot_product_attention(
            j["q"], j["k"], j["v"], attn_mask=j.get("mask"), implementation=implementation, **kwargs
        )

    return call_torch, call_torsh


@settings(max_examples=examples(8))
@given(
    impl=st.sampled_from([None, "math", "xla"]),
    batch=st.sampled_from([(), (2,), (2, 3)]),
    lq=st.integers(1, 5),
    lk=st.integers(1, 6),
    e=st.sampled_from([4, 8]),
    ev=st.sampled_from([4, 6]),
    mask=st.sampled_from(["none", "bool", "float", "causal", "bool_bcast"]),
    scale=st.sampled_from([None, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_sdpa_matches_torch(impl, batch, lq, lk, e, ev, mask, scale, seed):
    rng = np.random.default_rng(seed)
    inputs = {
        "q": rng.standard_normal((*batch, lq, e)).astype(np.float32),
        "k": rng.standard_normal((*batch, lk, e)).astype(np.float32),
        "v": rng.standard_normal((*batch, lk, ev)).astype(np.float32),
    }
    kwargs: dict[str, Any] = {"scale": scale}
    if mask == "bool":
        inputs["mask"] = rng.random((*batch, lq, lk)) > 0.3
    elif mask == "bool_bcast":
        inputs["mask"] = rng.random((lq, lk)) > 0.3
    elif mask == "float":
        inputs["mask"] = rng.standard_normal((lq, lk)).astype(np.float32)
    elif mask == "causal":
        kwargs["is_causal"] = True
    if "mask" in inputs and inputs["mask"].dtype == bool:
        inputs["mask"][..., 0] = True  # at least one key per query (fully masked rows: separate test)
    if impl == "xla" and ev != e:
        impl = None  # jax.nn.dot_product_attention needs equal value and query head sizes
    compare_with_torch(None, None, inputs, *_sdpa_call(kwargs, impl))


@pytest.mark.parametrize("impl", ["xla", "math"])
def test_sdpa_fully_masked_rows_give_zeros_like_torch(impl):
    rng = np.random.default_rng(0)
    inputs = {k: rng.standard_normal((2, 2, 3, 4)).astype(np.float32) for k in "qkv"}
    bool_mask = np.ones((3, 3), bool)
    bool_mask[1] = False  # query 1 sees no key
    float_mask = np.where(bool_mask, 0.0, -np.inf).astype(np.float32)
    for mask in (bool_mask, float_mask):
        compare_with_torch(None, None, {**inputs, "mask": mask}, *_sdpa_call({}, impl))
        out = scaled_dot_product_attention(
            *(jnp.asarray(inputs[k]) for k in "qkv"), attn_mask=mask, implementation=impl
        )
        assert np.all(np.asarray(out)[:, :, 1] == 0.0)


def test_sdpa_grouped_query_attention_matches_torch():
    rng = np.random.default_rng(1)
    inputs = {
        "q": rng.standard_normal((2, 4, 3, 8)).astype(np.float32),
        "k": rng.standard_normal((2, 2, 5, 8)).astype(np.float32),
        "v": rng.standard_normal((2, 2, 5, 8)).astype(np.float32),
    }
    compare_with_torch(None, None, inputs, *_sdpa_call({"enable_gqa": True}))


def test_sdpa_dropout_statistics_and_keys(key):
    q = k = v = jnp.ones((1, 1, 64, 8))
    # Uniform attention over 64 equal values: output = mean of the kept, rescaled weights * 1.
    out = scaled_dot_product_attention(q, k, jnp.eye(64)[None, None], dropout_p=0.25, dropout_key=key)
    w = np.asarray(out)[0, 0]
    kept = w != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(w[kept], 1 / 64 / 0.75, rtol=1e-5)
    again = scaled_dot_product_attention(q, k, jnp.eye(64)[None, None], dropout_p=0.25, dropout_key=key)
    assert np.array_equal(np.asarray(again)[0, 0], w)
    other = scaled_dot_product_attention(
        q, k, jnp.eye(64)[None, None], dropout_p=0.25, dropout_key=jax.random.fold_in(key, 1)
    )
    assert not np.array_equal(np.asarray(other)[0, 0], w)
    with pytest.raises(ConfigError, match="PRNG key"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.1)


def test_sdpa_errors():
    q = jnp.ones((2, 3, 4))
    with pytest.raises(ShapeError, match=r"same last dim.*\[2, 3, 5\]"):
        scaled_dot_product_attention(q, jnp.ones((2, 3, 5)), jnp.ones((2, 3, 5)))
    with pytest.raises(ShapeError, match="key and value"):
        scaled_dot_product_attention(q, q, jnp.ones((2, 4, 4)))
    with pytest.raises(ShapeError, match=r"attn_mask of shape \[3, 4\]"):
        scaled_dot_product_attention(q, q, q, attn_mask=jnp.ones((3, 4), bool))
    with pytest.raises(ConfigError, match="not both"):
        scaled_dot_product_attention(q, q, q, attn_mask=jnp.ones((3, 3), bool), is_causal=True)
    with pytest.raises(DTypeError, match="bool and floating"):
        scaled_dot_product_attention(q, q, q, attn_mask=jnp.ones((3, 3), jnp.int32))
    with pytest.raises(DTypeError):
        scaled_dot_product_attention(q, q.astype(jnp.bfloat16), q)


@settings(max_examples=examples(6))
@given(
    impl=st.sampled_from([None, "math", "xla"]),
    groups=st.sampled_from([(4, 2), (4, 1), (3, 3)]),
    mask=st.sampled_from(["none", "bool", "float", "causal"]),
    lq=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_sdpa_grouped_query_attention_with_masks_matches_torch(impl, groups, mask, lq, seed):
    (hq, hkv), lk = groups, 5
    rng = np.random.default_rng(seed)
    inputs = {
        "q": rng.standard_normal((2, hq, lq, 8)).astype(np.float32),
        "k": rng.standard_normal((2, hkv, lk, 8)).astype(np.float32),
        "v": rng.standard_normal((2, hkv, lk, 8)).astype(np.float32),
    }
    kwargs: dict[str, Any] = {"enable_gqa": True}
    if mask == "bool":
        inputs["mask"] = rng.random((2, 1, lq, lk)) > 0.4
        inputs["mask"][..., 0] = True
    elif mask == "float":
        inputs["mask"] = rng.standard_normal((hq, lq, lk)).astype(np.float32)
    elif mask == "causal":
        kwargs["is_causal"] = True
    compare_with_torch(None, None, inputs, *_sdpa_call(kwargs, impl))


def _torch_window_mask(lq: int, lk: int, window: int) -> torch.Tensor:
    # built independently of torsh: query i is at position lk - lq + i and sees window keys up to it
    pos = torch.arange(lq)[:, None] + (lk - lq)
    j = torch.arange(lk)[None, :]
    return (j <= pos) & (j > pos - window)


@pytest.mark.parametrize(("lq", "lk", "window"), [(6, 6, 3), (2, 7, 4)])
def test_sliding_window_mask_sdpa_matches_torch_float32(lq, lk, window):
    mask = F.sliding_window_mask(lq, lk, window)
    assert np.array_equal(np.asarray(mask), _torch_window_mask(lq, lk, window).numpy())
    rng = np.random.default_rng(lq * 10 + window)
    inputs = {
        "q": rng.standard_normal((2, 2, lq, 4)).astype(np.float32),
        "k": rng.standard_normal((2, 2, lk, 4)).astype(np.float32),
        "v": rng.standard_normal((2, 2, lk, 4)).astype(np.float32),
        "mask": np.asarray(mask),
    }
    compare_with_torch(None, None, inputs, *_sdpa_call({}))
    # a window as long as the sequence is the causal mask; a window of 1 is the diagonal
    assert np.array_equal(np.asarray(F.sliding_window_mask(4, 4, 9)), np.tril(np.ones((4, 4), bool)))
    assert np.array_equal(np.asarray(F.sliding_window_mask(4, 4, 1)), np.eye(4, dtype=bool))


def test_sdpa_float64_sliding_window_and_gqa_values_and_grads_match_torch(x64):
    rng = np.random.default_rng(3)
    q = rng.standard_normal((2, 4, 5, 8))
    k, v = rng.standard_normal((2, 2, 7, 8)), rng.standard_normal((2, 2, 7, 8))
    cot = rng.standard_normal((2, 4, 5, 8))
    t = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    t_out = torch.nn.functional.scaled_dot_product_attention(
        *t, attn_mask=_torch_window_mask(5, 7, 3), enable_gqa=True
    )
    (t_out * torch.tensor(cot)).sum().backward()
    mask = F.sliding_window_mask(5, 7, 3)

    def f(q, k, v):
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
        return (out * cot).sum(), out

    (_, out), grads = fast_jit(jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True))(
        *(jnp.asarray(a, jnp.float64) for a in (q, k, v))
    )
    assert out.dtype == jnp.float64
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12, atol=1e-12)
    for g, tt in zip(grads, t, strict=True):
        np.testing.assert_allclose(g, tt.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("gqa", [False, True])
def test_sdpa_dropout_equals_the_formula_with_its_mask(key, gqa):
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 4, 3, 8)).astype(np.float32)
    kv_heads = 2 if gqa else 4
    k = rng.standard_normal((2, kv_heads, 6, 8)).astype(np.float32)
    v = rng.standard_normal((2, kv_heads, 6, 8)).astype(np.float32)
    mask = rng.random((3, 6)) > 0.3
    mask[:, 0] = True
    p = 0.3
    out = jax.jit(
        lambda q, k, v, key: scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=p, enable_gqa=gqa, dropout_key=key
        )
    )(q, k, v, key)
    # reference: torch's formula on the same keep mask (the weights are [B, H, L, S], as torsh draws them)
    keep = torch.tensor(np.asarray(_keep_mask(key, p, (2, 4, 3, 6))))
    tk, tv = (torch.tensor(a).repeat_interleave(4 // kv_heads, dim=1) for a in (k, v))
    logits = torch.tensor(q) @ tk.transpose(-1, -2) / np.sqrt(8)
    weights = torch.softmax(logits.masked_fill(~torch.tensor(mask), -torch.inf), -1)
    want = (weights * keep / (1 - p)) @ tv
    assert_close(out, want.numpy(), what="dropout output")
    assert 0.55 < float(keep.float().mean()) < 0.85


def test_sdpa_implementation_is_an_explicit_checked_argument():
    q = jnp.ones((1, 2, 3, 8))
    with pytest.raises(ConfigError, match="implementation must be None"):
        scaled_dot_product_attention(q, q, q, implementation="flash")
    with pytest.raises(ConfigError, match="no attention dropout"):
        scaled_dot_product_attention(
            q, q, q, dropout_p=0.1, dropout_key=jax.random.key(0), implementation="xla"
        )
    with pytest.raises(DeviceError, match="needs an NVIDIA GPU"):
        scaled_dot_product_attention(q, q, q, implementation="cudnn")
    with pytest.raises(ShapeError, match="enable_gqa=True"):
        scaled_dot_product_attention(q, jnp.ones((1, 3, 3, 8)), jnp.ones((1, 3, 3, 8)))
    with pytest.raises(ConfigError, match="implementation must be None"):
        MultiheadAttention(8, 2, implementation="fast")
    with pytest.raises(ConfigError, match="window must be a positive int"):
        F.sliding_window_mask(3, 3, 0)
    with pytest.raises(ConfigError, match="k_len"):
        F.sliding_window_mask(4, 3, 2)
    # On CPU the automatic choice is the explicit softmax: bit-identical to implementation="math".
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((1, 2, 3, 8)), jnp.float32)
    auto = scaled_dot_product_attention(x, x, x, is_causal=True)
    assert np.array_equal(auto, scaled_dot_product_attention(x, x, x, is_causal=True, implementation="math"))


# -- MultiheadAttention --------------------------------------------------------------------------
def _mha_inputs(rng, *, n, lq, lk, e, kdim, vdim, batch_first, batched, self_attn):
    def shape(length, d):
        if not batched:
            return (length, d)
        return (n, length, d) if batch_first else (length, n, d)

    q = rng.standard_normal(shape(lq, e)).astype(np.float32)
    if self_attn:
        return {"x": q}
    return {
        "q": q,
        "k": rng.standard_normal(shape(lk, kdim)).astype(np.float32),
        "v": rng.standard_normal(shape(lk, vdim)).astype(np.float32),
    }


@settings(max_examples=examples(8))
@given(
    heads=st.sampled_from([1, 2, 4]),
    head_dim=st.sampled_from([2, 3]),
    n=st.integers(1, 3),
    lq=st.integers(1, 4),
    lk=st.integers(1, 5),
    batch_first=st.booleans(),
    batched=st.booleans(),
    self_attn=st.booleans(),
    kvdim=st.sampled_from([None, (5, 3)]),
    bias=st.booleans(),
    bias_kv=st.booleans(),
    zero_attn=st.booleans(),
    need_weights=st.booleans(),
    average=st.booleans(),
    kpm=st.sampled_from([None, "bool", "float"]),
    attn=st.sampled_from([None, "bool2d", "float2d", "bool3d", "causal"]),
    train=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_mha_matches_torch(
    heads,
    head_dim,
    n,
    lq,
    lk,
    batch_first,
    batched,
    self_attn,
    kvdim,
    bias,
    bias_kv,
    zero_attn,
    need_weights,
    average,
    kpm,
    attn,
    train,
    seed,
):
    e = heads * head_dim
    if self_attn:
        lk, kvdim = lq, None
    kdim, vdim = kvdim or (e, e)
    if not batched:
        n = 1
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    opts = dict(bias=bias, add_bias_kv=bias_kv, add_zero_attn=zero_attn, batch_first=batch_first)
    if kvdim:
        opts.update(kdim=kdim, vdim=vdim)
    t_mod = torch.nn.MultiheadAttention(e, heads, **opts)
    j_mod = MultiheadAttention(e, heads, **opts, key=torsh.random.key(seed))
    inputs = _mha_inputs(
        rng,
        n=n,
        lq=lq,
        lk=lk,
        e=e,
        kdim=kdim,
        vdim=vdim,
        batch_first=batch_first,
        batched=batched,
        self_attn=self_attn,
    )
    kw: dict[str, Any] = {"need_weights": need_weights, "average_attn_weights": average}
    if kpm is not None:
        m = rng.random((n, lk) if batched else (lk,)) > 0.5
        m[..., 0] = False  # keep one key visible per row (torch's weights path gives NaN otherwise)
        inputs["key_padding_mask"] = m if kpm == "bool" else np.where(m, -np.inf, 0.0).astype(np.float32)
    if attn == "causal":
        # With need_weights=False and no key_padding_mask, torch drops attn_mask and runs SDPA's own
        # causal mask over the appended bias_k/zero-attention columns too, unlike its weights path
        # and torsh (which keep those columns visible): compare where torch is self-consistent.
        assume(need_weights or kpm is not None or not (bias_kv or zero_attn))
        inputs["attn_mask"] = np.triu(np.ones((lq, lk), bool), 1)
        kw["is_causal"] = True
    elif attn is not None:
        shape = (lq, lk) if attn.endswith("2d") else (n * heads if batched else heads, lq, lk)
        if attn.startswith("bool"):
            m = rng.random(shape) > 0.6
            m[..., 0] = False
            inputs["attn_mask"] = m
        else:
            inputs["attn_mask"] = rng.standard_normal(shape).astype(np.float32)

    def args(t):
        if self_attn:
            return t["x"], t["x"], t["x"]
        return t["q"], t["k"], t["v"]

    def masks(t):
        return {k: t[k] for k in ("key_padding_mask", "attn_mask") if k in t}

    compare_with_torch(
        t_mod,
        j_mod,
        inputs,
        lambda m, t: m(*args(t), **masks(t), **kw),
        lambda m, t: m(*args(t), **masks(t), **kw),
        train=train,
        seed=seed,
    )


@pytest.mark.parametrize("impl", ["xla", "math"])
def test_mha_fully_masked_rows_are_zero_attention_with_finite_grads(impl, key):
    mha = MultiheadAttention(8, 2, batch_first=True, key=key, implementation=impl)
    x = jax.random.normal(key, (2, 3, 8))
    kpm = jnp.array([[True, True, True], [False, True, False]])  # batch 0 sees nothing

    def loss(m, x):
        out, _ = m(x, x, x, key_padding_mask=kpm, need_weights=False)
        return (out**2).sum(), out

    (_, out), grads = fast_jit(torsh.value_and_grad(loss, has_aux=True))(mha, x)
    # Attention output 0 -> out_proj gives its bias (zero-initialised): the output is exactly 0.
    assert np.all(np.asarray(out)[0] == 0.0)
    assert all(np.isfinite(np.asarray(g)).all() for _, g in grads.named_parameters())
    # torch's scaled_dot_product_attention path (need_weights=False, training, grads) gives zeros too.
    t = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    t_out, _ = t(
        *(torch.tensor(np.asarray(x)),) * 3,
        key_padding_mask=torch.tensor(np.asarray(kpm)),
        need_weights=False,
    )
    (_, j_out), _ = fast_jit(torsh.value_and_grad(loss, has_aux=True))(mha.load_state_dict(torch_state(t)), x)
    assert_close(j_out, t_out.detach().numpy(), what="output with a fully masked batch entry")


def test_mha_is_causal_without_mask_builds_the_causal_mask(key):
    mha = MultiheadAttention(8, 2, key=key)
    x = jax.random.normal(key, (4, 2, 8))
    causal = jnp.triu(jnp.ones((4, 4), bool), 1)
    a, b = fast_jit(
        lambda m, x: (
            m(x, x, x, is_causal=True, need_weights=False)[0],
            m(x, x, x, attn_mask=causal, need_weights=False)[0],
        )
    )(mha, x)
    assert_close(a, b)


def test_mha_both_implementations_agree(key):
    mha = MultiheadAttention(8, 2, batch_first=True, key=key)
    x = jax.random.normal(key, (2, 5, 8))
    kpm = jnp.array([[False, False, True, False, True], [False] * 5])
    from torsh.nn.transformer import generate_square_subsequent_mask

    mask = generate_square_subsequent_mask(5)
    run = fast_jit(lambda m, x: m(x, x, x, key_padding_mask=kpm, attn_mask=mask, need_weights=False)[0])
    # The choice is static module data: each implementation is its own compiled program.
    outs = [run(mha.replace(implementation=impl), x) for impl in ("xla", "math")]
    assert_close(outs[0], outs[1])
    assert run._cache_size() == 2
    with pytest.raises(ConfigError, match="does not return attention weights"):
        mha.replace(implementation="xla")(x, x, x)


def test_mha_functional_form_matches_module(key):
    mha = MultiheadAttention(8, 2, key=key)
    x = jax.random.normal(key, (4, 3, 8))

    def both(m, x):
        f = multi_head_attention_forward(
            x,
            x,
            x,
            8,
            2,
            m.in_proj_weight,
            m.in_proj_bias,
            None,
            None,
            False,
            0.0,
            m.out_proj.weight,
            m.out_proj.bias,
            training=False,
        )
        return m(x, x, x), f

    (out, w), (f_out, f_w) = fast_jit(both)(mha, x)
    assert_close(f_out, out)
    assert_close(f_w, w)


def test_mha_parameters_names_init_and_axes(key):
    mha = MultiheadAttention(16, 4, add_bias_kv=True, key=key)
    t = torch.nn.MultiheadAttention(16, 4, add_bias_kv=True)
    assert [n for n, _ in mha.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert {k: tuple(v.shape) for k, v in mha.state_dict().items()} == {
        k: tuple(v.shape) for k, v in t.state_dict().items()
    }
    bound = np.sqrt(6 / (16 + 48))  # xavier-uniform on [3E, E]
    w = np.asarray(mha.in_proj_weight)
    assert np.abs(w).max() <= bound and w.std() > 0.8 * bound / np.sqrt(3)
    assert not np.any(np.asarray(mha.in_proj_bias)) and not np.any(np.asarray(mha.out_proj.bias))
    assert np.abs(np.asarray(mha.out_proj.weight)).max() <= 1 / 4  # Linear: U(-1/sqrt(16), 1/sqrt(16))
    axes = nn.logical_axes(mha)
    assert axes["in_proj_weight"] == ("heads", "embed") and axes["in_proj_bias"] == ("heads",)
    assert axes["out_proj.weight"] == ("embed", "heads") and axes["out_proj.bias"] == ("embed",)
    assert axes["bias_k"] == (None, None, "heads")
    sep = MultiheadAttention(16, 4, kdim=6, vdim=5, bias=False, key=key)
    assert [n for n, _ in sep.named_parameters()] == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "out_proj.weight",
    ]
    assert nn.logical_axes(sep)["k_proj_weight"] == ("heads", "embed")


def test_mha_dropout_on_weights_statistics_and_keys(key):
    mha = MultiheadAttention(8, 2, dropout=0.5, batch_first=True, key=key)
    x = jax.random.normal(key, (4, 16, 8))
    weights = fast_jit(lambda m, x, k: m(x, x, x, average_attn_weights=False, dropout_key=k)[1])
    w_eval = np.asarray(fast_jit(lambda m, x: m(x, x, x, average_attn_weights=False)[1])(mha.eval(), x))
    w = np.asarray(weights(mha, x, jax.random.key(3)))
    kept = w != 0
    assert abs(kept.mean() - 0.5) < 0.03
    np.testing.assert_allclose(w[kept], 2 * w_eval[kept], rtol=1e-5)
    assert np.array_equal(np.asarray(weights(mha, x, jax.random.key(3))), w)
    assert not np.array_equal(np.asarray(weights(mha, x, jax.random.key(4))), w)
    with pytest.raises(ConfigError, match="PRNG key"):
        mha(x, x, x)


def test_mha_jit_grad_and_sequential_does_not_pass_keys(key):
    mha = MultiheadAttention(8, 2, batch_first=True, key=key)
    assert not mha.__torsh_takes_key__  # `key` is the key tensor, not a PRNG key
    x = jax.random.normal(key, (2, 3, 8))
    f = jax.jit(lambda m, x: m(x, x, x, need_weights=False)[0].sum())  # default compilation, as users run it
    g = jax.jit(jax.grad(f))(mha, x)
    assert g.in_proj_weight.shape == (24, 8) and np.isfinite(np.asarray(g.in_proj_weight)).all()


def test_mha_bfloat16_forward_close_to_float32(key):
    mha = MultiheadAttention(16, 4, batch_first=True, key=key)
    x = jax.random.normal(key, (2, 6, 16))
    run = fast_jit(lambda m, x: m(x, x, x))
    ref, w_ref = run(mha, x)
    low, w_low = run(mha.to(jnp.bfloat16), x.astype(jnp.bfloat16))
    assert low.dtype == jnp.bfloat16 and w_low.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(low, np.float32), ref, atol=0.05, rtol=0.05)
    np.testing.assert_allclose(np.asarray(w_low, np.float32), w_ref, atol=0.02)


def test_mha_shape_and_dtype_errors_name_the_module(key):
    mha = MultiheadAttention(8, 2, batch_first=True, key=key)
    x = jnp.ones((2, 3, 8))
    with pytest.raises(ShapeError, match=r"expected query \[batch, seq, 8\].*got \[2, 3, 6\]"):
        mha(jnp.ones((2, 3, 6)), x, x)
    with pytest.raises(ShapeError, match=r"3-D key"):
        mha(x, jnp.ones((3, 8)), x)
    with pytest.raises(ShapeError, match=r"key_padding_mask \[2, 3\].*got \[3, 2\]"):
        mha(x, x, x, key_padding_mask=jnp.zeros((3, 2), bool))
    with pytest.raises(ShapeError, match=r"attn_mask \[3, 3\].*\[4, 3, 3\].*got \[2, 3, 3\]"):
        mha(x, x, x, attn_mask=jnp.zeros((2, 3, 3), bool))
    with pytest.raises(ShapeError, match="batch size"):
        mha(x, jnp.ones((1, 3, 8)), jnp.ones((1, 3, 8)))
    with pytest.raises(DTypeError, match="float32"):
        mha(x.astype(jnp.bfloat16), x, x)
    with pytest.raises(DTypeError, match="bool and floating"):
        mha(x, x, x, attn_mask=jnp.zeros((3, 3), jnp.int32))

    class Block(nn.Module):  # an MHA two levels down, called under jit
        inner: nn.ModuleList

        def __init__(self):
            self.inner = nn.ModuleList([nn.Linear(8, 8, key=key), MultiheadAttention(8, 2, key=key)])

        def forward(self, x):
            return self.inner[1](x, x, x)[0]

    with pytest.raises(
        ShapeError, match=r"^inner\.1 \(MultiheadAttention embed_dim=8 num_heads=2\): expected query"
    ) as err:
        jax.jit(lambda m, x: m(x))(Block(), jnp.ones((3, 2, 4)))
    assert err.value.module_path == "inner.1"


def test_mha_config_errors():
    with pytest.raises(ConfigError, match="divisible"):
        MultiheadAttention(10, 3)
    with pytest.raises(ConfigError, match="dropout"):
        MultiheadAttention(8, 2, dropout=1.5)
    with pytest.raises(ConfigError, match="num_heads"):
        MultiheadAttention(8, 0)
