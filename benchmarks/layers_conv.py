"""Conv2d forward+backward on CPU: internal layout behind PyTorch's NCHW API, and grouped convolutions.

For each shape, one step = forward, then gradients w.r.t. input, weight and bias of
``sum(conv(x) * cotangent)``. Candidates, interleaved in one process, median ms per step:

* ``torsh nn.Conv2d``            — the layer as shipped (``torsh.jit`` of ``torsh.value_and_grad``);
                                   grouped convolutions take torsh's CPU path (``_grouped_cpu``).
* ``XLA conv, NCHW``             — one ``conv_general_dilated`` with NCHW handed to XLA as is
                                   (``dimension_numbers=("NCHW", "OIHW", "NCHW")``).
* ``XLA conv, NHWC inside``      — NCHW in and out, transposed to NHWC/HWIO around the convolution.
* ``hand JAX, NHWC end-to-end``  — what a JAX user writes with channels-last data and HWIO weights
                                   (no transposes anywhere): XLA's own floor.
* ``PyTorch eager``              — ``torch.nn.Conv2d`` forward + ``backward`` (NCHW, oneDNN).
* ``PyTorch eager channels_last``— the same with channels-last memory format.

The two ``XLA conv`` rows decide the internal layout (``_INTERNAL_LAYOUT`` in
torsh/nn/functional/_conv.py); the grouped shapes show why grouped convolutions avoid XLA's
``feature_group_count`` on CPU. Numbers and decisions: docs/nn_conv.md.

Run:  python benchmarks/layers_conv.py [--calls 10] [--rounds 7] [--threads 1] [--shapes dense|grouped|small]
``--threads 1`` makes both PyTorch and XLA single-threaded: on a shared, oversubscribed machine their
multi-threaded runs mostly measure the other jobs. Process CPU time per step is printed as well.
Optionally prefix ``XLA_FLAGS=--xla_cpu_use_onednn=true`` to see XLA's oneDNN path.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="1: single-threaded PyTorch and XLA (stable on a shared machine); default: library's choice",
    )
    parser.add_argument("--shapes", choices=["all", "dense", "grouped", "small"], default="all")
    return parser.parse_args()


ARGS = _parse_args() if __name__ == "__main__" else None
if ARGS is not None and ARGS.threads == 1:  # must be set before jax initialises
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
    ).strip()

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import torsh  # noqa: E402
from torsh.nn.conv import Conv2d  # noqa: E402
from torsh.nn.functional import _conv  # noqa: E402

# (batch, in, out, H=W, kernel, stride, groups, label)
SHAPES = [
    (64, 32, 32, 16, 3, 1, 1, "issue shape 64x32x16x16, 3x3"),
    (32, 64, 64, 32, 3, 1, 1, "32x64x32x32, 3x3"),
    (64, 64, 128, 16, 3, 2, 1, "64x64x16x16 -> 128, 3x3 stride 2"),
    (64, 128, 128, 8, 1, 1, 1, "64x128x8x8, 1x1"),
    (64, 64, 64, 16, 3, 1, 64, "64x64x16x16 depthwise 3x3"),
    (32, 64, 64, 16, 3, 1, 8, "32x64x16x16 3x3 groups=8"),
    (32, 128, 128, 16, 3, 1, 32, "32x128x16x16 3x3 groups=32 (ResNeXt)"),
    (64, 32, 64, 16, 3, 1, 32, "64x32x16x16 depthwise x2 (groups=32)"),
]


def candidates(n, cin, cout, hw, k, stride, groups):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, cin, hw, hw)).astype(np.float32)
    conv = Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, key=torsh.random.key(0))
    w, b = conv.weight, conv.bias
    out_hw = (hw + 2 * (k // 2) - k) // stride + 1
    cot_np = rng.standard_normal((n, cout, out_hw, out_hw)).astype(np.float32)
    x, cot = jnp.asarray(x_np), jnp.asarray(cot_np)
    pads = ((k // 2, k // 2),) * 2

    # torsh layer as shipped
    def layer_loss(m, x):
        return jnp.vdot(m(x), cot)

    layer_step = torsh.jit(torsh.value_and_grad(layer_loss, argnums=(0, 1)))

    # XLA's convolution in a fixed layout
    def core_step(layout):
        def loss(w, b, x):
            y = _conv._native_conv(
                x,
                w,
                stride=(stride,) * 2,
                padding=pads,
                dilation=(1, 1),
                groups=groups,
                lhs_dilation=(1, 1),
                layout=layout,
            )
            return jnp.vdot(y + b.reshape(-1, 1, 1), cot)

        return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))

    nchw, nhwc = core_step("NCHW"), core_step("NHWC")

    # hand-written JAX, channels-last data end to end
    x_h, w_h, cot_h = x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), cot.transpose(0, 2, 3, 1)

    def hand_loss(w, b, x):
        y = jax.lax.conv_general_dilated(
            x, w, (stride,) * 2, pads, feature_group_count=groups, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return jnp.vdot(y + b, cot_h)

    hand = jax.jit(jax.value_and_grad(hand_loss, argnums=(0, 1, 2)))

    # PyTorch eager
    def torch_step(channels_last):
        t_conv = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups)
        tx = torch.tensor(x_np, requires_grad=True)
        tcot = torch.tensor(cot_np)
        if channels_last:
            t_conv = t_conv.to(memory_format=torch.channels_last)
            tx = torch.tensor(x_np).to(memory_format=torch.channels_last).requires_grad_(True)
            tcot = tcot.to(memory_format=torch.channels_last)

        def step():
            t_conv.zero_grad(set_to_none=True)
            tx.grad = None
            out = t_conv(tx)
            out.backward(tcot)
            return None

        return step

    return {
        "PyTorch eager": torch_step(False),
        "PyTorch eager channels_last": torch_step(True),
        "torsh nn.Conv2d": lambda: layer_step(conv, x),
        "XLA conv, NCHW": lambda: nchw(w, b, x),
        "XLA conv, NHWC inside": lambda: nhwc(w, b, x),
        "hand JAX, NHWC end-to-end": lambda: hand(w_h, b, x_h),
    }


def _time(fn, calls: int) -> tuple[float, float]:
    """(wall ms, process CPU ms) per call over ``calls`` calls, blocking on the last result."""
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            out = fn()
        jax.block_until_ready(out)
        return (time.perf_counter() - wall) / calls * 1e3, (time.process_time() - cpu) / calls * 1e3
    finally:
        gc.enable()


def measure(cands: dict, calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms per call; candidates run in turn every round (noise hits them alike)."""
    per_sample = {}
    for name, fn in cands.items():
        for _ in range(2):
            jax.block_until_ready(fn())
        once_ms, _ = _time(fn, 1)
        # Up to ``calls`` calls per sample, fewer for very slow candidates (XLA's grouped convolution).
        per_sample[name] = max(1, min(calls, int(250 / max(once_ms, 1e-3))))
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cands}
    names = list(cands)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(_time(cands[name], per_sample[name]))
    median = statistics.median
    return {name: (median(w for w, _ in v), median(c for _, c in v)) for name, v in samples.items()}


def main(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = {
        "all": SHAPES,
        "dense": [s for s in SHAPES if s[6] == 1],
        "grouped": [s for s in SHAPES if s[6] > 1],
        "small": SHAPES[:1],
    }[args.shapes]
    print(
        f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{os.cpu_count()} CPUs, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}, load average "
        f"{os.getloadavg()[0]:.1f}; forward+backward, median ms/step (wall, and process CPU time)"
    )
    summary = []
    for n, cin, cout, hw, k, stride, groups, label in shapes:
        res = measure(candidates(n, cin, cout, hw, k, stride, groups), args.calls, args.rounds)
        base = res["PyTorch eager"][0]
        print(f"\n{label}")
        print(f"  {'candidate':<30} {'wall ms':>9} {'vs torch':>9} {'CPU ms':>9}")
        for name, (wall, cpu) in res.items():
            print(f"  {name:<30} {wall:>9.2f} {wall / base:>8.2f}x {cpu:>9.2f}")
        nchw, nhwc = res["XLA conv, NCHW"], res["XLA conv, NHWC inside"]
        summary.append((label, nhwc[0] / nchw[0], nhwc[1] / nchw[1]))
    print("\ninternal layout: NHWC-inside / NCHW (below 1 = transposing to NHWC is faster)")
    print(f"  {'shape':<36} {'wall':>6} {'CPU':>6}")
    for label, wall, cpu in summary:
        print(f"  {label:<36} {wall:>6.2f} {cpu:>6.2f}")


if __name__ == "__main__":
    main(ARGS)
