"""ResNet-18 training step: what do the NCHW<->NHWC transposes XLA inserts around torsh's convolutions
cost? (issue 14, goal 2; docs/nn_conv.md section 5.)

torsh keeps PyTorch's NCHW layout; XLA:CPU's convolution library wants NHWC, so XLA adds transposes
(copies) around convolutions. This script measures the recorded-but-unmeasured alternative, an NHWC
path inside the network, on the suite's ResNet-18 row (3x64x64, B=16, 10 classes, Adam lr 1e-3,
cross-entropy, BatchNorm in training mode with running statistics). All candidates run in one
process, in interleaved rounds (the order rotates every round); each reports median wall ms/step
and median process-CPU ms/step:

* ``torsh``: the suite's torsh candidate as is (``torsh.vision.models.resnet18``, ``TrainState`` +
  ``optim.Adam``, ``torsh.jit``, NCHW);
* ``fn NCHW + torsh rules``: the same network written functionally (dict of parameters, this file),
  NCHW, with torsh's own convolution (``conv_core``: small-map im2col products on CPU) and max
  pooling (custom derivative rule); checks that the functional rewrite costs what the module does;
* ``fn NHWC plain``: NHWC activations and HWIO weights end to end, plain JAX: ``conv_general_dilated``
  with ``("NHWC", "HWIO", "NHWC")``, BatchNorm over the last axis, ``lax.reduce_window`` max pool
  (whose gradient is XLA's ``select_and_scatter``), XLA's convolution on every shape;
* ``fn NHWC + torsh rules``: as the previous, with torsh's two CPU formulations adapted to NHWC here
  (the im2col product for the convolutions ``_prefers_shifted_products`` picks, and the max-pool
  derivative rule of ``torsh/nn/functional/_pooling.py``); isolates the layout from XLA's cliffs;
* ``fn NHWC + torsh rules, OHWI products``: the same, the weights of the product-path convolutions
  stored ``[out, kh, kw, in]`` instead of HWIO (the product's operand ``[out, kh*kw*in]`` contiguous);
* ``fn NHWC + rules, NCHW input``: the previous with the NCHW batch transposed once at the stem —
  what torsh could do internally (transpose at the model boundary only);
* PyTorch eager (the suite's torchvision resnet18) with 2 threads and with 1 thread, and
  ``channels_last`` (model and input) with 2 threads.

Every functional candidate takes its parameters from the torsh model (weights transposed to HWIO
once, outside the timed step), uses torsh's ``optim.Adam`` on the parameter dict and runs under
``jax.jit`` with parameters, statistics and optimizer state donated. Before timing, the loss, the
gradients and the new running statistics of every functional variant are compared with torsh's.

``--profile`` also traces a few steps of ``torsh``, ``fn NHWC + torsh rules`` and ``fn NHWC plain`` with
``jax.profiler`` and attributes the kernel time to the entry instructions of the compiled HLO
(``compile().as_text()``): transpose/copy-only kernels vs convolutions vs the rest.

Run:  python benchmarks/conv_layout.py [--rounds 5] [--steps 3] [--profile] (``--rounds 0``: checks only)
"""

from __future__ import annotations

import argparse
import collections
import functools
import glob
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import torsh
from torsh import nn, optim
from torsh._platform import cpu_or_default
from torsh.cli._bench import _torch as suite_torch
from torsh.cli._bench import _torsh as suite_torsh
from torsh.cli._bench._workloads import RESNET, workloads
from torsh.nn import functional as F
from torsh.nn.functional._conv import _prefers_shifted_products, conv_core

Params = dict[str, jax.Array]
Runner = Callable[[int], None]
TORCH = "PyTorch eager, 2 threads"
TORCH_1 = "PyTorch eager, 1 thread"


# -- the network, functionally, in either layout ---------------------------------------------------------
def _relu(x: jax.Array) -> jax.Array:
    return jnp.maximum(x, 0)


def _conv_native(x: jax.Array, w: jax.Array, stride: int, pad: int, layout: str) -> jax.Array:
    dn = ("NHWC", "HWIO", "NHWC") if layout == "NHWC" else ("NCHW", "OIHW", "NCHW")
    return lax.conv_general_dilated(x, w, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=dn)


def _im2col_nhwc(x: jax.Array, w: jax.Array, stride: int, pad: int, ohwi: bool) -> jax.Array:
    """torsh's small-map product (``_shifted_products`` -> ``_grouped_im2col``, one group) in NHWC:
    every kernel offset's strided view stacked as an axis next to the channels, one product with the
    HWIO weight seen as ``[kh*kw, in, out]`` (so the weight gradient stays in HWIO)."""
    x = lax.pad(x, jnp.zeros((), x.dtype), [(0, 0, 0), (pad, pad, 0), (pad, pad, 0), (0, 0, 0)])
    if ohwi:  # weight stored [out, kh, kw, in]: the product's operand is [out, kh*kw*in], contiguous
        cout, kh, kw, cin = w.shape
    else:
        kh, kw, cin, cout = w.shape
    n, h, wd, c = x.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    views = [
        lax.slice(
            x,
            (0, i, j, 0),
            (n, i + (oh - 1) * stride + 1, j + (ow - 1) * stride + 1, c),
            (1, stride, stride, 1),
        )
        for i in range(kh)
        for j in range(kw)
    ]
    patches = jnp.stack(views, axis=3)  # [N, oh, ow, kh*kw, in]
    acc = jnp.float32
    if ohwi:
        y = jnp.einsum("nhwkc,okc->nhwo", patches, w.reshape(cout, kh * kw, cin), preferred_element_type=acc)
    else:
        y = jnp.einsum("nhwkc,kco->nhwo", patches, w.reshape(kh * kw, cin, cout), preferred_element_type=acc)
    return y.astype(x.dtype)


def _conv(
    x: jax.Array, w: jax.Array, stride: int, pad: int, layout: str, rules: bool, ohwi: bool = False
) -> jax.Array:
    if not rules:
        return _conv_native(x, w, stride, pad, layout)
    if layout == "NCHW":  # torsh's own core: the CPU product path where it prefers it, else XLA's
        return conv_core(
            x, w, None, stride=(stride,) * 2, padding=((pad, pad),) * 2, dilation=(1, 1), groups=1
        )
    spatial, kernel = x.shape[1:3], w.shape[:2]
    if _prefers_shifted_products(spatial, kernel, (stride,) * 2, ((pad, pad),) * 2, (1, 1)):
        shifted = functools.partial(_im2col_nhwc, stride=stride, pad=pad, ohwi=ohwi)
        native = functools.partial(_native_hwio, stride=stride, pad=pad, ohwi=ohwi)
        return cpu_or_default(x, w, cpu=shifted, default=native)
    return _conv_native(x, w, stride, pad, "NHWC")


def _native_hwio(x: jax.Array, w: jax.Array, stride: int, pad: int, ohwi: bool) -> jax.Array:
    return _conv_native(x, w.transpose(1, 2, 3, 0) if ohwi else w, stride, pad, "NHWC")


def product_convs(params: Params, size: int) -> dict[str, bool]:
    """Conv weight key -> whether torsh's rule (``_prefers_shifted_products``) computes it as a product,
    for this network at ``size`` x ``size`` inputs (the maps' sizes are static)."""
    out: dict[str, bool] = {}

    def add(key: str, n: int, k: int, stride: int, pad: int) -> int:
        out[key] = _prefers_shifted_products((n, n), (k, k), (stride,) * 2, ((pad, pad),) * 2, (1, 1))
        return (n + 2 * pad - k) // stride + 1

    n = add("conv1.weight", size, 7, 2, 3)
    n = (n + 2 - 3) // 2 + 1  # max pool 3, stride 2, padding 1
    for name, stride, down in _blocks(params):
        if down:
            add(name + "downsample.0.weight", n, 1, stride, 0)
        m = add(name + "conv1.weight", n, 3, stride, 1)
        add(name + "conv2.weight", m, 3, 1, 1)
        n = m
    return out


def _pool_pads(size: int, k: int, s: int, p: int) -> tuple[int, int]:
    out = (size + 2 * p - k) // s + 1
    return (p, max(p, (out - 1) * s + k - size - p))


def _reduce_window_max_nhwc(x: jax.Array, pads: tuple[tuple[int, int], ...]) -> jax.Array:
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, 2, 2, 1), ((0, 0), *pads, (0, 0)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_pool_nhwc_rule(x: jax.Array, pads: tuple[tuple[int, int], ...]) -> jax.Array:
    """3x3 stride-2 max pool of NHWC with torsh's derivative rule (``_max_pool_jvp``), axes moved."""
    return _reduce_window_max_nhwc(x, pads)


@_max_pool_nhwc_rule.defjvp
def _max_pool_nhwc_jvp(pads: tuple[tuple[int, int], ...], primals: tuple, tangents: tuple) -> tuple:
    (x,), (t,) = primals, tangents
    k, s = 3, 2
    y = _reduce_window_max_nhwc(x, pads)
    oh, ow = y.shape[1:3]

    def views(a: Any) -> list[Any]:
        out = []
        for i in range(k):
            for j in range(k):
                lim = (a.shape[0], i + (oh - 1) * s + 1, j + (ow - 1) * s + 1, a.shape[3])
                if isinstance(a, np.ndarray):
                    out.append(a[:, i : lim[1] : s, j : lim[2] : s, :])
                else:
                    out.append(lax.slice(a, (0, i, j, 0), lim, (1, s, s, 1)))
        return out

    xpad = jnp.pad(x, ((0, 0), *pads, (0, 0)), constant_values=-jnp.inf)
    real = np.pad(np.ones(x.shape[1:3], bool), pads)[None, :, :, None]
    size = k * k
    scores = []
    for w, (view, ok) in enumerate(zip(views(xpad), views(real), strict=True)):
        ok_j = jnp.asarray(ok)
        scores.append(jnp.where(ok_j & jnp.isnan(view), -1 - w, jnp.where(ok_j & (view == y), w, size)))
    choice = jnp.argmin(jnp.stack(scores), axis=0)
    t_views = views(jnp.pad(t, ((0, 0), *pads, (0, 0))))
    y_dot = functools.reduce(jnp.add, (jnp.where(choice == w, tv, 0) for w, tv in enumerate(t_views)))
    return y, y_dot.astype(t.dtype)


def _max_pool(x: jax.Array, layout: str, rules: bool) -> jax.Array:
    if layout == "NCHW":
        if rules:
            return F.max_pool2d(x, 3, 2, 1)
        pads = tuple(_pool_pads(d, 3, 2, 1) for d in x.shape[2:])
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 3, 3), (1, 1, 2, 2), ((0, 0), (0, 0), *pads))
    pads = tuple(_pool_pads(d, 3, 2, 1) for d in x.shape[1:3])
    return _max_pool_nhwc_rule(x, pads) if rules else _reduce_window_max_nhwc(x, pads)


def _blocks(params: Params) -> list[tuple[str, int, bool]]:
    out = []
    for li in range(1, 5):
        for b in range(2):
            name = f"layer{li}.{b}."
            out.append((name, 2 if li > 1 and b == 0 else 1, name + "downsample.0.weight" in params))
    return out


def make_forward(
    layout: str, rules: bool, input_nchw: bool, blocks: list[tuple[str, int, bool]], ohwi: set[str]
) -> Callable:
    """``forward(params, stats, x) -> (logits, new_stats)``: torchvision's resnet18 in training mode."""
    c_axis = 3 if layout == "NHWC" else 1
    spatial = (1, 2) if layout == "NHWC" else (2, 3)
    red = tuple(a for a in range(4) if a != c_axis)

    def bn(p: Params, s: Params, new: Params, name: str, x: jax.Array) -> jax.Array:
        mean = x.mean(red)
        var = jnp.square(x - jnp.expand_dims(mean, red)).mean(red)  # two passes, as torsh's batch_stats
        n = x.size / x.shape[c_axis]
        new[name + "running_mean"] = 0.9 * s[name + "running_mean"] + 0.1 * lax.stop_gradient(mean)
        unbiased = lax.stop_gradient(var) * n / (n - 1)
        new[name + "running_var"] = 0.9 * s[name + "running_var"] + 0.1 * unbiased
        new[name + "num_batches_tracked"] = s[name + "num_batches_tracked"] + 1
        shape = [1, 1, 1, 1]
        shape[c_axis] = -1
        y = (x - mean.reshape(shape)) * lax.rsqrt(var + 1e-5).reshape(shape)
        return y * p[name + "weight"].reshape(shape) + p[name + "bias"].reshape(shape)

    def forward(p: Params, s: Params, x: jax.Array) -> tuple[jax.Array, Params]:
        def conv(h: jax.Array, key: str, stride: int, pad: int) -> jax.Array:
            return _conv(h, p[key], stride, pad, layout, rules, key in ohwi)

        if input_nchw and layout == "NHWC":
            x = x.transpose(0, 2, 3, 1)
        new: Params = {}
        h = _relu(bn(p, s, new, "bn1.", conv(x, "conv1.weight", 2, 3)))
        h = _max_pool(h, layout, rules)
        for name, stride, down in blocks:
            out = _relu(bn(p, s, new, name + "bn1.", conv(h, name + "conv1.weight", stride, 1)))
            out = bn(p, s, new, name + "bn2.", conv(out, name + "conv2.weight", 1, 1))
            if down:
                skip = conv(h, name + "downsample.0.weight", stride, 0)
                skip = bn(p, s, new, name + "downsample.1.", skip)
            else:
                skip = h
            h = _relu(out + skip)
        pooled = h.mean(spatial)
        return pooled @ p["fc.weight"].T + p["fc.bias"], new

    return forward


def _ce(logits: jax.Array, y: jax.Array) -> jax.Array:
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1).mean()


def split_state_dict(model: Any, layout: str, ohwi: set[str]) -> tuple[Params, Params]:
    """(trainable parameters, BatchNorm statistics) of the torsh model; for NHWC, conv weights to HWIO
    (to ``[out, kh, kw, in]`` for the keys in ``ohwi``)."""
    params, stats = {}, {}
    for k, v in model.state_dict().items():
        v = jnp.array(v, copy=True)  # own buffers: every candidate's step donates them
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            stats[k] = v
        else:
            if layout == "NHWC" and v.ndim == 4:
                v = v.transpose(0, 2, 3, 1) if k in ohwi else v.transpose(2, 3, 1, 0)
            params[k] = v
    return params, stats


# -- candidates ------------------------------------------------------------------------------------------
class FnCandidate:
    """A functional variant: its forward, the jitted step (torsh's Adam on the dict) and a runner."""

    def __init__(
        self, model: Any, layout: str, rules: bool, input_nchw: bool, ohwi_products: bool, batches: list
    ) -> None:
        self.layout = layout
        products = product_convs(model.state_dict(), RESNET["size"])
        self.ohwi = {k for k, v in products.items() if v} if ohwi_products else set()
        self.params, self.stats = split_state_dict(model, layout, self.ohwi)
        self.forward = make_forward(layout, rules, input_nchw, _blocks(self.params), self.ohwi)
        self.opt = optim.Adam(lr=1e-3)
        feed_nhwc = layout == "NHWC" and not input_nchw
        self.batches = [
            (jnp.asarray(x.transpose(0, 2, 3, 1) if feed_nhwc else x), jnp.asarray(y)) for x, y in batches
        ]

        def loss_fn(p: Params, s: Params, x: jax.Array, y: jax.Array) -> tuple[jax.Array, Params]:
            logits, new = self.forward(p, s, x)
            return _ce(logits, y), new

        self.loss_and_grad = jax.jit(jax.value_and_grad(loss_fn, has_aux=True))

        def step(p: Params, s: Params, o: Any, x: jax.Array, y: jax.Array) -> Any:
            (loss, s), g = jax.value_and_grad(loss_fn, has_aux=True)(p, s, x, y)
            p, o = self.opt.step(p, g, o)
            return p, s, o, loss

        self.step = jax.jit(step, donate_argnums=(0, 1, 2))

    def runner(self) -> Runner:
        box = {"p": self.params, "s": self.stats, "o": self.opt.init(self.params)}
        self.params = self.stats = None  # type: ignore[assignment]  # donated from here on

        def run(n: int) -> None:
            p, s, o = box["p"], box["s"], box["o"]
            for i in range(n):
                p, s, o, loss = self.step(p, s, o, *self.batches[i % len(self.batches)])
            jax.block_until_ready(p)
            box.update(p=p, s=s, o=o)

        self.box = box
        return run


def torch_runner(w: Any, threads: int, channels_last: bool) -> Runner:
    import torch

    torch.manual_seed(0)
    model = suite_torch._resnet18(RESNET["classes"])
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs, ys = w.data
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    batches = [
        (torch.from_numpy(x).contiguous(memory_format=fmt), torch.from_numpy(y).long())
        for x, y in zip(xs, ys, strict=True)
    ]

    def run(n: int) -> None:
        torch.set_num_threads(threads)
        for i in range(n):
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

    return run


# -- verification ----------------------------------------------------------------------------------------
def torsh_loss_and_grads(model: Any, x: jax.Array, y: jax.Array) -> tuple[float, Params, Params]:
    def loss_fn(m: Any) -> Any:
        out, m = nn.stateful(m)(x)
        return F.cross_entropy(out, y), m

    (loss, new_model), grads = jax.jit(torsh.value_and_grad(loss_fn, has_aux=True))(model)
    stats = {k: v for k, v in new_model.state_dict().items() if "running" in k}
    return float(loss), dict(grads.state_dict()), stats


def verify(
    name: str, cand: FnCandidate, ref: tuple[float, Params, Params], x: np.ndarray, y: np.ndarray
) -> str:
    ref_loss, ref_grads, ref_stats = ref
    xb = x.transpose(0, 2, 3, 1) if cand.batches[0][0].shape[-1] == 3 else x
    (loss, new), grads = cand.loss_and_grad(cand.params, cand.stats, jnp.asarray(xb), jnp.asarray(y))
    worst_g, worst_s = 0.0, 0.0
    for k, g in grads.items():
        g = np.asarray(g)
        if cand.layout == "NHWC" and g.ndim == 4:
            g = g.transpose(0, 3, 1, 2) if k in cand.ohwi else g.transpose(3, 2, 0, 1)
        r = np.asarray(ref_grads[k])
        worst_g = max(worst_g, float(np.abs(g - r).max() / (np.abs(r).max() + 1e-12)))
    for k, v in ref_stats.items():
        r = np.asarray(v)
        worst_s = max(worst_s, float(np.abs(np.asarray(new[k]) - r).max() / (np.abs(r).max() + 1e-12)))
    dloss = abs(float(loss) - ref_loss) / abs(ref_loss)
    ok = dloss < 1e-5 and worst_g < 1e-3 and worst_s < 1e-5
    line = (
        f"  {name:<34} loss {float(loss):.6f} (torsh {ref_loss:.6f}, rel diff {dloss:.1e}); "
        f"max |grad diff| / max |grad| per tensor: {worst_g:.1e}; running stats: {worst_s:.1e} "
        f"-> {'OK' if ok else 'MISMATCH'}"
    )
    if not ok:
        raise SystemExit(line)
    return line


# -- profile: kernel time by kind ------------------------------------------------------------------------
def _hlo_kinds(hlo: str) -> dict[str, str]:
    """Entry instruction name -> kind (``layout`` for transpose/copy-only kernels)."""
    comps: dict[str, list[str]] = {}
    current, entry = None, None
    for line in hlo.splitlines():
        m = re.match(r"^(ENTRY )?%(\S+) .*\{\s*$", line)
        if m:
            current = m.group(2)
            comps[current] = []
            if m.group(1):
                entry = current
        elif current is not None and line.strip().startswith(("%", "ROOT")):
            comps[current].append(line)
    opcode = re.compile(r"=\s*\S+(?:\s*\{[^}]*\})?\s+([a-z\-]+)\(")

    def ops(comp: str, depth: int = 0) -> list[str]:
        out = []
        for line in comps.get(comp, []):
            m = opcode.search(line.replace("ROOT ", ""))
            if m:
                out.append(m.group(1))
            for called in re.findall(r"calls=%([\w.\-]+)", line):
                if depth < 3:
                    out += ops(called, depth + 1)
        return out

    kinds = {}
    for line in comps.get(entry or "", []):
        name_m = re.match(r"\s*(?:ROOT )?%(\S+) =", line)
        if not name_m:
            continue
        m = opcode.search(line.replace("ROOT ", ""))
        top = m.group(1) if m else "?"
        inner = [top]
        for called in re.findall(r"calls=%([\w.\-]+)", line):
            inner += ops(called)
        real = {
            o
            for o in inner
            if o not in ("parameter", "bitcast", "fusion", "constant", "tuple", "get-tuple-element")
        }
        if "convolution" in real or "__ynn" in line:
            kind = "convolution (XLA/YNNPACK)"
        elif "dot" in real:
            kind = "dot (matrix products)"
        elif real and real <= {"transpose", "copy"}:
            kind = "layout (transpose/copy only)"
        elif "transpose" in real or "copy" in real:
            kind = "fusion containing transpose/copy"
        else:
            kind = "other (element-wise, reductions, pads...)"
        kinds[name_m.group(1)] = kind
    return kinds


def profile(name: str, jitted: Any, args: tuple, advance: Callable, steps: int = 3) -> str:
    """Kernel ms/step by kind: ``jitted(*args)`` traced ``steps`` times (``advance(out, args)`` gives
    the next call's arguments, the donated state threaded through)."""
    hlo = jitted.lower(*args).compile().as_text()
    kinds = _hlo_kinds(hlo)
    counts = collections.Counter(kinds.values())
    n_transpose = len(re.findall(r"\btranspose\(", hlo))
    n_copy = len(re.findall(r"\bcopy\(", hlo))
    args = advance(jitted(*args), args)  # compile and warm up
    d = tempfile.mkdtemp()
    with jax.profiler.trace(d):
        for _ in range(steps):
            args = advance(jitted(*args), args)
        jax.block_until_ready(args)
    pb = glob.glob(os.path.join(d, "**", "*.xplane.pb"), recursive=True)[0]
    per_kind: dict[str, float] = collections.defaultdict(float)
    per_name: dict[str, float] = collections.defaultdict(float)
    for plane in jax.profiler.ProfileData.from_file(pb).planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for ev in line.events:
                if ev.name in kinds:
                    per_kind[kinds[ev.name]] += ev.duration_ns / 1e6 / steps
                    per_name[ev.name] += ev.duration_ns / 1e6 / steps
    total = sum(per_kind.values())
    lines = [
        f"  {name}: {sum(counts.values())} HLO entry instructions; transpose ops {n_transpose}, copy ops "
        f"{n_copy} (whole module, fused ones included); kernel time {total:.1f} ms/step (summed over threads)"
    ]
    for kind, ms in sorted(per_kind.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {kind:<44} {counts[kind]:>4} kernels {ms:8.1f} ms/step {100 * ms / total:5.1f} %")
    layout = sorted(((ms, k) for k, ms in per_name.items() if kinds[k].startswith("layout")), reverse=True)
    lines.append(
        "    largest transpose/copy-only kernels: " + ", ".join(f"{k} {ms:.1f} ms" for ms, k in layout[:6])
    )
    return "\n".join(lines)


def torsh_step(model: Any) -> Any:
    """The suite's torsh step (the code of ``_bench._torsh._runner``) under ``jax.jit``, state donated."""
    from torsh import train

    def loss_fn(m: Any, x: jax.Array, y: jax.Array) -> Any:
        out, m = nn.stateful(m)(x)
        return F.cross_entropy(out, y), m

    def step(state: Any, x: jax.Array, y: jax.Array) -> Any:
        (loss, new_model), grads = torsh.value_and_grad(loss_fn, has_aux=True)(state.model, x, y)
        return state.replace(model=new_model).apply_gradients(grads), loss

    return train.TrainState.create(model=model, opt=optim.Adam(lr=1e-3)), jax.jit(step, donate_argnums=(0,))


# -- main ------------------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="steps per candidate and round")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--skip", default="", help="comma-separated candidate names to leave out")
    args = ap.parse_args()
    import torch

    w = workloads()["resnet18"]
    xs, ys = w.data
    batches = list(zip(xs, ys, strict=True))
    print(
        f"ResNet-18, 3x{RESNET['size']}x{RESNET['size']}, B={RESNET['batch']}, Adam lr 1e-3, cross-entropy; "
        f"jax {jax.__version__}, torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at start"
    )

    torsh.manual_seed(0)  # the same parameters as the suite's torsh candidate
    from torsh.vision.models import resnet18

    model = resnet18(num_classes=RESNET["classes"])
    x0, y0 = jnp.asarray(xs[0]), jnp.asarray(ys[0])
    ref = torsh_loss_and_grads(model, x0, y0)
    variants = {
        "fn NCHW + torsh rules": ("NCHW", True, True, False),
        "fn NHWC plain": ("NHWC", False, False, False),
        "fn NHWC + torsh rules": ("NHWC", True, False, False),
        "fn NHWC + torsh rules, OHWI products": ("NHWC", True, False, True),
        "fn NHWC + rules, NCHW input": ("NHWC", True, True, False),
    }
    fns = {name: FnCandidate(model, *v, batches) for name, v in variants.items()}
    print("\nSame function as torsh (one batch, float32):")
    for name, cand in fns.items():
        print(verify(name, cand, ref, xs[0], ys[0]))

    if args.profile:
        print("\nKernel time by kind (jax.profiler, 3 steps after compilation; kinds from the compiled HLO):")
        torsh.manual_seed(0)
        state, step = torsh_step(resnet18(num_classes=RESNET["classes"]))
        print(profile("torsh (NCHW)", step, (state, x0, y0), lambda out, a: (out[0], *a[1:])))
        for name in ("fn NHWC + torsh rules", "fn NHWC plain"):
            c = FnCandidate(model, *variants[name], batches)
            pargs = (c.params, c.stats, c.opt.init(c.params), *c.batches[0])
            print(profile(name, c.step, pargs, lambda out, a: (*out[:3], *a[3:])))

    if args.rounds == 0:  # verification (and profile) only
        return
    runners: dict[str, Runner] = {"torsh": suite_torsh.make(w)}
    runners.update({name: cand.runner() for name, cand in fns.items()})
    runners[TORCH] = torch_runner(w, 2, False)
    runners[TORCH_1] = torch_runner(w, 1, False)
    runners["PyTorch channels_last, 2 threads"] = torch_runner(w, 2, True)
    for name in filter(None, args.skip.split(",")):
        runners.pop(name)
    first: dict[str, float] = {}
    for name, run in runners.items():
        t = time.perf_counter()
        run(1)
        first[name] = time.perf_counter() - t
        run(1)
    wall: dict[str, list[float]] = {n: [] for n in runners}
    cpu: dict[str, list[float]] = {n: [] for n in runners}
    names = list(runners)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t, c = time.perf_counter(), time.process_time()
            runners[name](args.steps)
            wall[name].append((time.perf_counter() - t) / args.steps * 1e3)
            cpu[name].append((time.process_time() - c) / args.steps * 1e3)
        print(f"  round {r + 1}: " + ", ".join(f"{n} {wall[n][-1]:.0f}" for n in names), flush=True)
    med = {n: statistics.median(v) for n, v in wall.items()}
    med_cpu = {n: statistics.median(v) for n, v in cpu.items()}
    one = TORCH_1 if TORCH_1 in med else TORCH
    print(
        f"\n{args.rounds} interleaved rounds x {args.steps} steps; load average "
        f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the end\n"
    )
    print(
        "| candidate | ms/step (median) | min-max | CPU ms/step | vs PyTorch 2 threads (wall / CPU) "
        "| vs PyTorch 1 thread (wall / CPU) | first step (s) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for n in names:
        print(
            f"| {n} | {med[n]:.0f} | {min(wall[n]):.0f}-{max(wall[n]):.0f} | {med_cpu[n]:.0f} | "
            f"{med[n] / med[TORCH]:.2f}x / {med_cpu[n] / med_cpu[TORCH]:.2f}x | "
            f"{med[n] / med[one]:.2f}x / {med_cpu[n] / med_cpu[one]:.2f}x | {first[n]:.1f} |"
        )
    print("\nper-round ratio to torsh (same round), median (wall / CPU):")
    for n in names:
        if n != "torsh":
            rw = [a / b for a, b in zip(wall[n], wall["torsh"], strict=True)]
            rc = [a / b for a, b in zip(cpu[n], cpu["torsh"], strict=True)]
            print(f"  {n:<38} {statistics.median(rw):.2f} / {statistics.median(rc):.2f}")


if __name__ == "__main__":
    main()
