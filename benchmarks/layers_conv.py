"""Conv2d forward+backward on CPU: which internal layout should torsh use behind PyTorch's NCHW API?

For each shape, one step = forward, then gradients w.r.t. input, weight and bias of
``sum(conv(x) * cotangent)``. Candidates, interleaved in one process, median ms per step:

* ``torsh nn.Conv2d``            — the layer as shipped (``torsh.jit`` of ``torsh.value_and_grad``).
* ``torsh core, NCHW``           — the same convolution with NCHW handed to XLA as is
                                   (``dimension_numbers=("NCHW", "OIHW", "NCHW")``).
* ``torsh core, NHWC inside``     — NCHW in and out, transposed to NHWC/HWIO around the convolution.
* ``hand JAX, NHWC end-to-end``  — what a JAX user writes with channels-last data and HWIO weights
                                   (no transposes anywhere): the floor for XLA.
* ``PyTorch eager``              — ``torch.nn.Conv2d`` forward + ``backward`` (NCHW, oneDNN).
* ``PyTorch eager channels_last``— the same with channels-last memory format.

Ratios are against PyTorch eager (NCHW). The decision (kept in torsh/nn/functional/_conv.py as
``_INTERNAL_LAYOUT``) and the numbers are recorded in docs/nn_conv.md.

Run:  python benchmarks/layers_conv.py [--calls 10] [--rounds 7] [--threads N] [--shapes small]
Optionally prefix ``XLA_FLAGS=--xla_cpu_use_onednn=true`` to see XLA's oneDNN path.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from _timing import interleaved  # noqa: E402

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

    # the core in a fixed layout
    def core_step(layout):
        def loss(w, b, x):
            y = _conv.conv_core(
                x, w, b, stride=(stride,) * 2, padding=pads, dilation=(1, 1), groups=groups, layout=layout
            )
            return jnp.vdot(y, cot)

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
        "torsh core, NCHW": lambda: nchw(w, b, x),
        "torsh core, NHWC inside": lambda: nhwc(w, b, x),
        "hand JAX, NHWC end-to-end": lambda: hand(w_h, b, x_h),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    parser.add_argument("--shapes", choices=["all", "small"], default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = SHAPES if args.shapes == "all" else SHAPES[:1]
    print(
        f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"{os.cpu_count()} CPUs, XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}; "
        "forward+backward, median ms/step"
    )
    summary = []
    for n, cin, cout, hw, k, stride, groups, label in shapes:
        cands = candidates(n, cin, cout, hw, k, stride, groups)
        res = {name: us / 1000 for name, us in interleaved(cands, args.calls, args.rounds).items()}
        base = res["PyTorch eager"]
        print(f"\n{label}")
        for name, ms in res.items():
            print(f"  {name:<30} {ms:>9.2f} ms {ms / base:>7.2f}x")
        summary.append((label, res["torsh core, NCHW"], res["torsh core, NHWC inside"]))
    print("\ninternal layout: NHWC-inside / NCHW (below 1 = transposing to NHWC is faster)")
    for label, a, b in summary:
        print(f"  {label:<36} {b / a:>6.2f}")


if __name__ == "__main__":
    main()
