"""Forward + backward of attention, a transformer encoder layer and LSTMs: torsh vs hand JAX vs PyTorch.

Each family builds the same computation three (or more) ways, with the same shapes and weights:

* **torsh**: the ``torsh.nn`` module, ``jax.jit(torsh.value_and_grad(loss))`` over the module;
* **jax**: the same math written by hand on a dict of arrays, ``jax.jit(jax.value_and_grad(loss))``;
* **torch**: the PyTorch module, eager ``loss.backward()`` (CPU).

The loss is ``sum(output * cotangent)``, so the backward pass computes gradients for every parameter
and the input. Candidates run interleaved in one process; the table prints the median µs per step
and ratios to hand-written JAX and to PyTorch. Extra rows measure implementation choices inside
torsh: attention through the explicit softmax (default) vs ``jax.nn.dot_product_attention``
(``implementation="xla"`` on the attention layer), and for the RNNs the hand-structured backward
pass vs JAX's autodiff of the scan (the layers' ``fused_backward``) and the ``scan`` unroll factor
(``unroll``).

Run:  python benchmarks/layers_sequence.py [--rounds 7] [--only mha,lstm] [--torch-threads 1]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved, use_cpu_clock

import torsh
from torsh.nn import rnn as torsh_rnn
from torsh.nn.attention import MultiheadAttention
from torsh.nn.transformer import TransformerEncoderLayer

Steps = dict[str, Callable[[], Any]]
FAMILIES: dict[str, Callable[[], Steps]] = {}

BATCH, SEQ, EMBED, HEADS, FF = 16, 64, 256, 8, 1024


def family(name: str) -> Callable[[Callable[[], Steps]], Callable[[], Steps]]:
    def register(fn: Callable[[], Steps]) -> Callable[[], Steps]:
        FAMILIES[name] = fn
        return fn

    return register


def _np(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _torsh_step(
    model: Any, call: Callable[[Any, jax.Array], jax.Array], x: np.ndarray, cot: np.ndarray
) -> Callable[[], Any]:
    """A jitted value-and-grad step; traced now, so module-level switches apply to this step only."""
    c = jnp.asarray(cot)

    def loss(m: Any, x: jax.Array) -> jax.Array:
        return (call(m, x) * c).sum()

    step = jax.jit(torsh.value_and_grad(loss, argnums=(0, 1)))
    xj = jnp.asarray(x)
    jax.block_until_ready(step(model, xj))  # compile under the current settings
    return lambda: step(model, xj)


def _jax_step(
    fn: Callable[[dict, jax.Array], jax.Array], params: dict, x: np.ndarray, cot: np.ndarray
) -> Callable[[], Any]:
    c = jnp.asarray(cot)
    step = jax.jit(jax.value_and_grad(lambda p, x: (fn(p, x) * c).sum(), argnums=(0, 1)))
    p = {k: jnp.asarray(v) for k, v in params.items()}
    xj = jnp.asarray(x)
    return lambda: step(p, xj)


def _torch_step(
    module: torch.nn.Module, call: Callable[[Any, Any], Any], x: np.ndarray, cot: np.ndarray
) -> Callable[[], Any]:
    xt = torch.tensor(x, requires_grad=True)
    c = torch.tensor(cot)

    def step() -> None:
        module.zero_grad(set_to_none=True)
        xt.grad = None
        (call(module, xt) * c).sum().backward()

    return step


def _state(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


# -- hand-written JAX ------------------------------------------------------------------------------
def _jax_mha(p: dict, x: jax.Array, prefix: str = "", causal: bool = False) -> jax.Array:
    b, t, e = x.shape
    hd = e // HEADS
    qkv = x @ p[prefix + "in_proj_weight"].T + p[prefix + "in_proj_bias"]
    q, k, v = (a.reshape(b, t, HEADS, hd) for a in jnp.split(qkv, 3, axis=-1))
    s = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)
    if causal:
        s = jnp.where(jnp.tril(jnp.ones((t, t), bool)), s, -jnp.inf)
    o = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(s, axis=-1), v).reshape(b, t, e)
    return o @ p[prefix + "out_proj.weight"].T + p[prefix + "out_proj.bias"]


def _jax_layer_norm(x: jax.Array, w: jax.Array, b: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * w + b


def _jax_encoder_layer(p: dict, x: jax.Array) -> jax.Array:
    x = _jax_layer_norm(x + _jax_mha(p, x, "self_attn."), p["norm1.weight"], p["norm1.bias"])
    h = jax.nn.relu(x @ p["linear1.weight"].T + p["linear1.bias"])
    return _jax_layer_norm(
        x + h @ p["linear2.weight"].T + p["linear2.bias"], p["norm2.weight"], p["norm2.bias"]
    )


def _jax_lstm(p: dict, x: jax.Array, layers: int, bidirectional: bool) -> jax.Array:
    """Time-major [L, N, in] -> [L, N, D*H]: the straightforward scan per layer and direction."""
    for layer in range(layers):
        outs = []
        for suffix in ("", "_reverse") if bidirectional else ("",):
            w_ih, w_hh = p[f"weight_ih_l{layer}{suffix}"], p[f"weight_hh_l{layer}{suffix}"]
            b = p[f"bias_ih_l{layer}{suffix}"] + p[f"bias_hh_l{layer}{suffix}"]
            pre = x @ w_ih.T + b
            hidden = w_hh.shape[1]

            def step(carry: tuple, g: jax.Array, w_hh: jax.Array = w_hh) -> tuple:
                h, c = carry
                i, f, gg, o = jnp.split(g + h @ w_hh.T, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), h

            zeros = jnp.zeros((x.shape[1], hidden), x.dtype)
            _, ys = jax.lax.scan(step, (zeros, zeros), pre, reverse=bool(suffix))
            outs.append(ys)
        x = jnp.concatenate(outs, axis=-1)
    return x


def _jax_gru(p: dict, x: jax.Array, layers: int, bidirectional: bool) -> jax.Array:
    for layer in range(layers):
        outs = []
        for suffix in ("", "_reverse") if bidirectional else ("",):
            w_ih, w_hh = p[f"weight_ih_l{layer}{suffix}"], p[f"weight_hh_l{layer}{suffix}"]
            b_ih, b_hh = p[f"bias_ih_l{layer}{suffix}"], p[f"bias_hh_l{layer}{suffix}"]
            gi_all = x @ w_ih.T + b_ih
            hidden = w_hh.shape[1]

            def step(h: jax.Array, gi: jax.Array, w_hh: jax.Array = w_hh, b_hh: jax.Array = b_hh) -> tuple:
                i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
                h_r, h_z, h_n = jnp.split(h @ w_hh.T + b_hh, 3, axis=-1)
                r, z = jax.nn.sigmoid(i_r + h_r), jax.nn.sigmoid(i_z + h_z)
                n = jnp.tanh(i_n + r * h_n)
                h = (1 - z) * n + z * h
                return h, h

            _, ys = jax.lax.scan(step, jnp.zeros((x.shape[1], hidden), x.dtype), gi_all, reverse=bool(suffix))
            outs.append(ys)
        x = jnp.concatenate(outs, axis=-1)
    return x


# -- families ---------------------------------------------------------------------------------------
def _mha_family(causal: bool) -> Steps:
    t = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
    j = MultiheadAttention(EMBED, HEADS, batch_first=True, key=torsh.random.key(0)).load_state_dict(_state(t))
    x, cot = _np((BATCH, SEQ, EMBED)), _np((BATCH, SEQ, EMBED), 1)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(SEQ) if causal else None
    jmask = None if mask is None else jnp.asarray(mask.numpy())

    def call_torsh(m: Any, x: jax.Array) -> jax.Array:
        return m(x, x, x, attn_mask=jmask, is_causal=causal, need_weights=False)[0]

    def call_torch(m: Any, x: Any) -> Any:
        return m(x, x, x, attn_mask=mask, is_causal=causal, need_weights=False)[0]

    return {
        "torsh": _torsh_step(j, call_torsh, x, cot),
        "jax": _jax_step(lambda p, x: _jax_mha(p, x, causal=causal), _state(t), x, cot),
        "torch": _torch_step(t, call_torch, x, cot),
        "torsh, jax.nn.dot_product_att": _torsh_step(j.replace(implementation="xla"), call_torsh, x, cot),
    }


@family(f"MHA self-attn B{BATCH} L{SEQ} E{EMBED} H{HEADS}")
def mha() -> Steps:
    return _mha_family(causal=False)


@family(f"MHA causal B{BATCH} L{SEQ} E{EMBED} H{HEADS}")
def mha_causal() -> Steps:
    return _mha_family(causal=True)


@family(f"MHA need_weights=True B{BATCH} L{SEQ} E{EMBED}")
def mha_weights() -> Steps:
    t = torch.nn.MultiheadAttention(EMBED, HEADS, batch_first=True)
    j = MultiheadAttention(EMBED, HEADS, batch_first=True, key=torsh.random.key(0)).load_state_dict(_state(t))
    x, cot = _np((BATCH, SEQ, EMBED)), _np((BATCH, SEQ, EMBED), 1)
    return {
        "torsh": _torsh_step(j, lambda m, x: m(x, x, x)[0], x, cot),
        "jax": _jax_step(lambda p, x: _jax_mha(p, x), _state(t), x, cot),
        "torch": _torch_step(t, lambda m, x: m(x, x, x)[0], x, cot),
    }


@family(f"TransformerEncoderLayer d{EMBED} ff{FF} B{BATCH} L{SEQ}")
def encoder_layer() -> Steps:
    t = torch.nn.TransformerEncoderLayer(EMBED, HEADS, FF, dropout=0.0, batch_first=True)
    j = TransformerEncoderLayer(EMBED, HEADS, FF, dropout=0.0, batch_first=True, key=torsh.random.key(0))
    j = j.load_state_dict(_state(t))
    x, cot = _np((BATCH, SEQ, EMBED)), _np((BATCH, SEQ, EMBED), 1)
    return {
        "torsh": _torsh_step(j, lambda m, x: m(x), x, cot),
        "jax": _jax_step(_jax_encoder_layer, _state(t), x, cot),
        "torch": _torch_step(t, lambda m, x: m(x), x, cot),
        "torsh, jax.nn.dot_product_att": _torsh_step(
            j.replace(self_attn=j.self_attn.replace(implementation="xla")), lambda m, x: m(x), x, cot
        ),
    }


@family("WLM TransformerEncoder d200 h2 ff200 2 layers causal L35 B20")
def wlm_transformer() -> Steps:
    """word_language_model's Transformer: 2 layers, emsize 200, 2 heads, nhid 200, sequence-first."""
    d, heads, ff, seq, batch = 200, 2, 200, 35, 20
    t_layer = torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0)
    t = torch.nn.TransformerEncoder(t_layer, 2, enable_nested_tensor=False)
    j = torsh.nn.TransformerEncoder(
        TransformerEncoderLayer(d, heads, ff, dropout=0.0, key=torsh.random.key(0)), 2
    )
    j = j.load_state_dict(_state(t))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(seq)
    jmask = jnp.asarray(mask.numpy())
    x, cot = _np((seq, batch, d)), _np((seq, batch, d), 1)
    return {
        "torsh": _torsh_step(j, lambda m, x: m(x, mask=jmask), x, cot),
        "jax": _jax_step(
            lambda p, x: _jax_encoder(p, x, 2, heads, jnp.asarray(mask.numpy())), _state(t), x, cot
        ),
        "torch": _torch_step(t, lambda m, x: m(x, mask=mask), x, cot),
    }


def _jax_encoder(p: dict, x: jax.Array, layers: int, heads: int, mask: jax.Array) -> jax.Array:
    """Sequence-first [L, N, E] post-norm encoder stack with an additive mask, by hand."""
    x = jnp.swapaxes(x, 0, 1)
    b, t, e = x.shape
    hd = e // heads
    for i in range(layers):
        q = {k.removeprefix(f"layers.{i}."): v for k, v in p.items() if k.startswith(f"layers.{i}.")}
        qkv = x @ q["self_attn.in_proj_weight"].T + q["self_attn.in_proj_bias"]
        qs, ks, vs = (a.reshape(b, t, heads, hd) for a in jnp.split(qkv, 3, axis=-1))
        s = jnp.einsum("bthd,bshd->bhts", qs, ks) / math.sqrt(hd) + mask
        o = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(s, axis=-1), vs).reshape(b, t, e)
        a = o @ q["self_attn.out_proj.weight"].T + q["self_attn.out_proj.bias"]
        x = _jax_layer_norm(x + a, q["norm1.weight"], q["norm1.bias"])
        h = jax.nn.relu(x @ q["linear1.weight"].T + q["linear1.bias"])
        x = _jax_layer_norm(
            x + h @ q["linear2.weight"].T + q["linear2.bias"], q["norm2.weight"], q["norm2.bias"]
        )
    return jnp.swapaxes(x, 0, 1)


def _lstm_family(
    input_size: int, hidden: int, layers: int, bidirectional: bool, seq: int, batch: int, kind: str = "LSTM"
) -> Steps:
    t = getattr(torch.nn, kind)(input_size, hidden, num_layers=layers, bidirectional=bidirectional)
    j = getattr(torsh_rnn, kind)(
        input_size, hidden, num_layers=layers, bidirectional=bidirectional, key=torsh.random.key(0)
    )
    j = j.load_state_dict(_state(t))
    d = 2 if bidirectional else 1
    x, cot = _np((seq, batch, input_size)), _np((seq, batch, d * hidden), 1)
    steps: Steps = {}
    # The run settings are static fields of the layer: one copy of the layer per setting.
    for name, unroll, fused in (
        ("torsh", 1, True),
        ("torsh, autodiff of the scan", 1, False),
        ("torsh, scan unroll=2", 2, True),
        ("torsh, scan unroll=4", 4, True),
    ):
        steps[name] = _torsh_step(
            j.replace(unroll=unroll, fused_backward=fused), lambda m, x: m(x)[0], x, cot
        )
    hand = _jax_lstm if kind == "LSTM" else _jax_gru
    steps["jax"] = _jax_step(lambda p, x: hand(p, x, layers, bidirectional), _state(t), x, cot)
    steps["torch"] = _torch_step(t, lambda m, x: m(x)[0], x, cot)
    return steps


@family("LSTM 64->256 L64 B32")
def lstm() -> Steps:
    return _lstm_family(64, 256, 1, False, 64, 32)


@family("GRU 64->256 L64 B32")
def gru() -> Steps:
    return _lstm_family(64, 256, 1, False, 64, 32, kind="GRU")


@family("LSTM 64->128 2 layers bidirectional L64 B32")
def lstm_bi() -> Steps:
    return _lstm_family(64, 128, 2, True, 64, 32)


# -- word_language_model shapes (PyTorch examples: batch 20, bptt 35, 2 layers) ----------------------
WLM_BATCH, WLM_BPTT = 20, 35


@family("WLM LSTM 200 2 layers L35 B20")
def wlm_lstm_200() -> Steps:
    return _lstm_family(200, 200, 2, False, WLM_BPTT, WLM_BATCH)


@family("WLM LSTM 650 2 layers L35 B20")
def wlm_lstm_650() -> Steps:
    return _lstm_family(650, 650, 2, False, WLM_BPTT, WLM_BATCH)


@family("WLM GRU 200 2 layers L35 B20")
def wlm_gru_200() -> Steps:
    return _lstm_family(200, 200, 2, False, WLM_BPTT, WLM_BATCH, kind="GRU")


@family("WLM GRU 650 2 layers L35 B20")
def wlm_gru_650() -> Steps:
    return _lstm_family(650, 650, 2, False, WLM_BPTT, WLM_BATCH, kind="GRU")


# -- dropout masks under jit: compile and run time per PRNG implementation -----------------------------
TLM = {"batch": 16, "seq": 128, "d": 256, "heads": 4, "ff": 1024, "layers": 2, "vocab": 1024, "p": 0.1}


def _rekeyed(impl: str, bits: int = 32) -> Callable[[jax.Array, float, tuple[int, ...]], jax.Array]:
    """Mask from ``impl``'s bits, its key drawn from the given key (one small threefry hash)."""
    dtype = {8: jnp.uint8, 16: jnp.uint16, 32: jnp.uint32}[bits]

    def mask(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
        if impl != "threefry2x32":
            n = jax.random.key_data(jax.random.key(0, impl=impl)).shape[-1]
            key = jax.random.wrap_key_data(jax.random.bits(key, (n,), jnp.uint32), impl=impl)
        t = min(round((1.0 - p) * 2**bits), 2**bits - 1)
        return jax.random.bits(key, shape, dtype) < jnp.asarray(t, dtype)

    return mask


def _raw_key(impl: str) -> Callable[[jax.Array, float, tuple[int, ...]], jax.Array]:
    """Mask from ``impl``'s bits keyed with the given key's own data (no hash to derive the key)."""

    def mask(key: jax.Array, p: float, shape: tuple[int, ...]) -> jax.Array:
        data = jax.random.key_data(key)
        n = jax.random.key_data(jax.random.key(0, impl=impl)).shape[-1]
        if n > data.shape[-1]:
            data = jnp.concatenate([data, jnp.zeros(n - data.shape[-1], data.dtype)])
        k = jax.random.wrap_key_data(data[:n], impl=impl)
        t = min(round((1.0 - p) * 2**32), 2**32 - 1)
        return jax.random.bits(k, shape, jnp.uint32) < jnp.asarray(t, jnp.uint32)

    return mask


DROPOUT_MASKS: dict[str, Callable[[jax.Array, float, tuple[int, ...]], jax.Array]] = {
    "bits32 < t, key data->philox4x32": _raw_key("philox4x32"),
    "bits32 < t, key data->rbg": _raw_key("rbg"),
    "bernoulli, threefry2x32": lambda key, p, shape: jax.random.bernoulli(key, 1.0 - p, shape),
    "bits32 < t, threefry2x32": _rekeyed("threefry2x32"),
    "bits16 < t, threefry2x32": _rekeyed("threefry2x32", 16),
    "bits8 < t, threefry2x32": _rekeyed("threefry2x32", 8),
    "bits32 < t, threefry4x32": _rekeyed("threefry4x32"),
    "bits32 < t, philox2x32": _rekeyed("philox2x32"),
    "bits32 < t, philox4x32": _rekeyed("philox4x32"),
    "bits32 < t, rbg": _rekeyed("rbg"),
    "bits32 < t, unsafe_rbg": _rekeyed("unsafe_rbg"),
    "bits8 < t, rbg": _rekeyed("rbg", 8),
}


def dropout_prng(rounds: int, only: str) -> None:
    """Transformer LM (benchmarks/suite.py's shapes, dropout 0.1) value-and-grad step per mask generator."""
    import time

    from torsh import nn
    from torsh.nn import functional as F
    from torsh.nn.functional import _dropout

    c = TLM
    torsh.manual_seed(0)

    class LM(nn.Module):
        def __init__(self) -> None:
            self.embed = nn.Embedding(c["vocab"], c["d"])
            layer = nn.TransformerEncoderLayer(c["d"], c["heads"], c["ff"], dropout=c["p"], batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, c["layers"])
            self.head = nn.Linear(c["d"], c["vocab"])

        def forward(self, tokens: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
            t = tokens.shape[1]
            causal = jnp.triu(jnp.full((t, t), -jnp.inf), 1)
            return self.head(self.encoder(self.embed(tokens), mask=causal, key=key))

    model = LM()
    tokens = jnp.asarray(
        np.random.default_rng(0).integers(0, c["vocab"], (c["batch"], c["seq"] + 1)), jnp.int32
    )
    x, y = tokens[:, :-1], tokens[:, 1:]

    def loss(m: Any, x: jax.Array, y: jax.Array, key: jax.Array) -> jax.Array:
        logits = m(x, key=key)
        return F.cross_entropy(logits.reshape(-1, c["vocab"]), y.reshape(-1))

    steps: Steps = {}
    print(f"\nDropout masks: Transformer LM {c}, value_and_grad step; compile = lower + compile (CPU s)")
    print(f"  {'mask generator':<28} {'compile s':>10}")
    old = _dropout._keep_mask
    try:
        for name, fn in {"no dropout (eval)": None, **DROPOUT_MASKS}.items():
            if only and name != "no dropout (eval)" and not any(s in name for s in only.split(",")):
                continue
            _dropout._keep_mask = fn or old
            m = model.eval() if fn is None else model
            step = jax.jit(torsh.value_and_grad(loss))
            start = time.process_time()
            compiled = step.lower(m, x, y, jax.random.key(1)).compile()
            print(f"  {name:<28} {time.process_time() - start:>10.2f}", flush=True)
            steps[name] = lambda compiled=compiled, m=m: compiled(m, x, y, jax.random.key(1))
    finally:
        _dropout._keep_mask = old
    res = interleaved(steps, calls=3, rounds=rounds)
    base = res.get("bernoulli, threefry2x32")
    print(f"  {'mask generator':<28} {'ms/step':>10} {'vs bernoulli':>13}")
    for name, us in res.items():
        print(f"  {name:<28} {us / 1000:>10.1f} {us / base if base else float('nan'):>12.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--only", default="", help="comma-separated substrings of family names (case-insensitive)"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch intra-op threads (0: PyTorch's default)"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time process CPU time (all threads) instead of wall time: on a loaded, shared machine the "
        "wall time counts waiting for a core",
    )
    parser.add_argument(
        "--dropout-prng",
        action="store_true",
        help="only the dropout-mask comparison (compile and run time per PRNG implementation)",
    )
    args = parser.parse_args()
    if args.cpu_time:
        use_cpu_clock()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    torch.manual_seed(0)
    print(
        f"jax {jax.__version__} ({jax.devices()[0].platform}), torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {os.cpu_count()} CPUs"
    )
    if args.dropout_prng:
        dropout_prng(args.rounds, args.only)
        return
    for name, build in FAMILIES.items():
        if args.only and not any(s.lower() in name.lower() for s in args.only.split(",")):
            continue
        steps = build()
        probe = interleaved({"x": steps["torsh"]}, calls=1, rounds=1)["x"]  # ~50 ms per round and candidate
        calls = max(3, min(100, int(50_000 / max(probe, 1.0))))
        res = interleaved(steps, calls=calls, rounds=args.rounds)
        print(f"\n{name}")
        print(f"  {'candidate':<30} {'µs/step':>10} {'vs jax':>8} {'vs torch':>9}")
        for cand, us in res.items():
            print(f"  {cand:<30} {us:>10.0f} {us / res['jax']:>7.2f}x {us / res['torch']:>8.2f}x")


if __name__ == "__main__":
    main()
