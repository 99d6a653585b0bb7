"""Hand-written JAX + optax candidates: the same models on dicts of arrays (PyTorch layouts: NCHW,
``[out, in]`` weights), ``jax.jit`` with the parameters and optimizer state donated."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from ._workloads import Runner, Unsupported, Workload

Params = dict[str, Any]


class _Init:
    """PyTorch's default init (uniform ±1/sqrt(fan_in)) from one key stream."""

    def __init__(self, seed: int = 0) -> None:
        self.key = jax.random.key(seed)

    def uniform(self, shape: tuple[int, ...], fan_in: int) -> jax.Array:
        self.key, k = jax.random.split(self.key)
        bound = 1 / math.sqrt(fan_in)
        return jax.random.uniform(k, shape, minval=-bound, maxval=bound)

    def linear(self, p: Params, name: str, fan_in: int, fan_out: int) -> None:
        p[name + ".weight"] = self.uniform((fan_out, fan_in), fan_in)
        p[name + ".bias"] = self.uniform((fan_out,), fan_in)


def _dense(p: Params, name: str, x: jax.Array) -> jax.Array:
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def _ce(logits: jax.Array, y: jax.Array) -> jax.Array:
    logits = logits.reshape(-1, logits.shape[-1])
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), y.reshape(-1, 1), axis=1).mean()


def _conv(x: jax.Array, w: jax.Array, stride: int = 1, padding: int = 1) -> jax.Array:
    return jax.lax.conv_general_dilated(
        x, w, (stride, stride), ((padding, padding),) * 2, dimension_numbers=("NCHW", "OIHW", "NCHW")
    )


def _max_pool(x: jax.Array, k: int, s: int, pad: int = 0) -> jax.Array:
    pads = ((0, 0), (0, 0), (pad, pad), (pad, pad))
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, k, k), (1, 1, s, s), pads)


# -- models: (params, state) and loss(params, state, x, y) -> (loss, new_state) ---------------------------
def _mlp() -> tuple[Params, Params, Callable]:
    init, p = _Init(), dict[str, Any]()
    for i, (a, b) in enumerate(((784, 512), (512, 512), (512, 10))):
        init.linear(p, f"l{i}", a, b)

    def loss(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        h = jax.nn.relu(_dense(p, "l0", x))
        h = jax.nn.relu(_dense(p, "l1", h))
        return _ce(_dense(p, "l2", h), y), s

    return p, {}, loss


def _cnn() -> tuple[Params, Params, Callable]:
    init = _Init()
    p = {
        "c1": init.uniform((32, 3, 3, 3), 27), "c1b": init.uniform((32,), 27),
        "c2": init.uniform((64, 32, 3, 3), 288), "c2b": init.uniform((64,), 288),
    }  # fmt: skip
    init.linear(p, "f1", 4096, 128)
    init.linear(p, "f2", 128, 10)

    def loss(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        h = _max_pool(jax.nn.relu(_conv(x, p["c1"]) + p["c1b"][:, None, None]), 2, 2)
        h = _max_pool(jax.nn.relu(_conv(h, p["c2"]) + p["c2b"][:, None, None]), 2, 2)
        h = jax.nn.relu(_dense(p, "f1", h.reshape(h.shape[0], -1)))
        return _ce(_dense(p, "f2", h), y), s

    return p, {}, loss


def _resnet18(classes: int) -> tuple[Params, Params, Callable]:
    """torchvision's resnet18: BasicBlocks [2, 2, 2, 2], BatchNorm in training mode (batch statistics,
    running statistics updated with momentum 0.1)."""
    init, p, s = _Init(), {}, {}

    def conv_bn(name: str, cin: int, cout: int, k: int) -> None:
        p[name] = init.uniform((cout, cin, k, k), cin * k * k)
        p[name + ".g"], p[name + ".b"] = jnp.ones(cout), jnp.zeros(cout)
        s[name + ".mean"], s[name + ".var"] = jnp.zeros(cout), jnp.ones(cout)

    conv_bn("stem", 3, 64, 7)
    blocks = []
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for b in range(2):
            stride = 2 if stage > 0 and b == 0 else 1
            name = f"s{stage}b{b}"
            conv_bn(name + ".c1", cin, cout, 3)
            conv_bn(name + ".c2", cout, cout, 3)
            down = stride != 1 or cin != cout
            if down:
                conv_bn(name + ".down", cin, cout, 1)
            blocks.append((name, stride, down))
            cin = cout
    init.linear(p, "fc", 512, classes)

    def bn(p: Params, s: Params, new: Params, name: str, x: jax.Array) -> jax.Array:
        mean = x.mean((0, 2, 3))
        var = x.var((0, 2, 3))
        n = x.size / x.shape[1]
        new[name + ".mean"] = 0.9 * s[name + ".mean"] + 0.1 * jax.lax.stop_gradient(mean)
        new[name + ".var"] = 0.9 * s[name + ".var"] + 0.1 * jax.lax.stop_gradient(var * n / (n - 1))
        xn = (x - mean[:, None, None]) * jax.lax.rsqrt(var + 1e-5)[:, None, None]
        return xn * p[name + ".g"][:, None, None] + p[name + ".b"][:, None, None]

    def loss(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        new: Params = {}
        h = jax.nn.relu(bn(p, s, new, "stem", _conv(x, p["stem"], 2, 3)))
        h = _max_pool(h, 3, 2, 1)
        for name, stride, down in blocks:
            out = jax.nn.relu(bn(p, s, new, name + ".c1", _conv(h, p[name + ".c1"], stride)))
            out = bn(p, s, new, name + ".c2", _conv(out, p[name + ".c2"]))
            skip = bn(p, s, new, name + ".down", _conv(h, p[name + ".down"], stride, 0)) if down else h
            h = jax.nn.relu(out + skip)
        return _ce(_dense(p, "fc", h.mean((2, 3))), y), new

    return p, s, loss


def _layer_norm(p: Params, name: str, x: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + 1e-5) * p[name + ".weight"] + p[name + ".bias"]


def _tlm(c: dict[str, Any]) -> tuple[Params, Params, Callable]:
    """Embedding, post-norm encoder layers (PyTorch's TransformerEncoderLayer: ReLU, no dropout), causal."""
    init, p = _Init(), dict[str, Any]()
    d, heads = c["d"], c["heads"]
    p["embed"] = jax.random.normal(jax.random.key(1), (c["vocab"], d))
    for i in range(c["layers"]):
        init.linear(p, f"{i}.qkv", d, 3 * d)
        init.linear(p, f"{i}.out", d, d)
        init.linear(p, f"{i}.ff1", d, c["ff"])
        init.linear(p, f"{i}.ff2", c["ff"], d)
        for n in ("norm1", "norm2"):
            p[f"{i}.{n}.weight"], p[f"{i}.{n}.bias"] = jnp.ones(d), jnp.zeros(d)
    init.linear(p, "head", d, c["vocab"])

    def attention(p: Params, i: int, x: jax.Array) -> jax.Array:
        b, t, _ = x.shape
        q, k, v = (a.reshape(b, t, heads, d // heads) for a in jnp.split(_dense(p, f"{i}.qkv", x), 3, -1))
        scores = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(d // heads)
        scores = jnp.where(jnp.tril(jnp.ones((t, t), bool)), scores, -jnp.inf)
        out = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(scores, axis=-1), v).reshape(b, t, d)
        return _dense(p, f"{i}.out", out)

    def loss(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        h = p["embed"][x]
        for i in range(c["layers"]):
            h = _layer_norm(p, f"{i}.norm1", h + attention(p, i, h))
            ff = _dense(p, f"{i}.ff2", jax.nn.relu(_dense(p, f"{i}.ff1", h)))
            h = _layer_norm(p, f"{i}.norm2", h + ff)
        return _ce(_dense(p, "head", h), y), s

    return p, {}, loss


def _lstm(c: dict[str, Any]) -> tuple[Params, Params, Callable]:
    """Embedding, a stack of LSTMs (one ``lax.scan`` each, input projection hoisted out), a decoder."""
    init, p = _Init(), dict[str, Any]()
    hidden = c["hidden"]
    p["embed"] = jax.random.normal(jax.random.key(1), (c["vocab"], c["embed"]))
    for i in range(c["layers"]):
        fan_in = c["embed"] if i == 0 else hidden
        p[f"{i}.w_ih"] = init.uniform((4 * hidden, fan_in), hidden)
        p[f"{i}.w_hh"] = init.uniform((4 * hidden, hidden), hidden)
        p[f"{i}.b"] = init.uniform((4 * hidden,), hidden)
    init.linear(p, "head", hidden, c["vocab"])

    def loss(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
        h = p["embed"][x]  # [T, N, E]
        for i in range(c["layers"]):
            pre = h @ p[f"{i}.w_ih"].T + p[f"{i}.b"]
            w_hh = p[f"{i}.w_hh"]

            def cell(carry: tuple, g: jax.Array, w_hh: jax.Array = w_hh) -> tuple:
                hh, cc = carry
                gi, gf, gg, go = jnp.split(g + hh @ w_hh.T, 4, axis=-1)
                cc = jax.nn.sigmoid(gf) * cc + jax.nn.sigmoid(gi) * jnp.tanh(gg)
                hh = jax.nn.sigmoid(go) * jnp.tanh(cc)
                return (hh, cc), hh

            zeros = jnp.zeros((x.shape[1], hidden))
            _, h = jax.lax.scan(cell, (zeros, zeros), pre)
        return _ce(_dense(p, "head", h), y), s

    return p, {}, loss


def _runner(model: tuple[Params, Params, Callable], w: Workload) -> Runner:
    params, state, loss = model
    tx = optax.adam(1e-3)

    def step(p: Params, s: Params, o: Any, x: jax.Array, y: jax.Array) -> Any:
        (value, s), g = jax.value_and_grad(loss, has_aux=True)(p, s, x, y)
        updates, o = tx.update(g, o, p)
        return optax.apply_updates(p, updates), s, o, value

    step = jax.jit(step, donate_argnums=(0, 1, 2))
    xs, ys = w.data
    batches = [(jax.device_put(x), jax.device_put(y)) for x, y in zip(xs, ys, strict=True)]
    box = {"p": params, "s": state, "o": tx.init(params)}

    def run(n: int) -> None:
        p, s, o = box["p"], box["s"], box["o"]
        for i in range(n):
            p, s, o, value = step(p, s, o, *batches[i % len(batches)])
        jax.block_until_ready(p)
        box.update(p=p, s=s, o=o)

    return run


def make(w: Workload) -> Runner:
    models: dict[str, Callable[[], tuple[Params, Params, Callable]]] = {
        "mlp16": _mlp,
        "mlp128": _mlp,
        "cnn": _cnn,
        "resnet18": lambda: _resnet18(w.config["classes"]),
        "tlm": lambda: _tlm(w.config),
        "lstm": lambda: _lstm(w.config),
    }
    if w.key not in models:
        raise Unsupported(w.key)
    return _runner(models[w.key](), w)
