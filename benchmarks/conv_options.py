"""XLA:CPU options for the 2-conv CNN training step (issue 14, goal 2): which flag, layout or
formulation brings torsh's convolutions closer to PyTorch eager?

Each variant runs in a fresh process (``XLA_FLAGS`` is read once per process); variants rotate over
``--rounds`` rounds. Every child is single-threaded (XLA: no Eigen thread pool, one intra-op thread;
PyTorch: ``set_num_threads(1)``) and reports **process CPU ms per step**, which does not count time
spent waiting for a core on a shared machine. Candidates in the child:

* ``torsh``: ``nn.Sequential`` CNN, ``TrainState`` + Adam, ``torsh.jit`` (NCHW, as PyTorch);
* ``jax-nhwc`` (default flags only): the same step by hand with NHWC/HWIO convolutions;
* ``jax-im2col`` (default flags only): each 3x3 convolution as patches
  (``lax.conv_general_dilated_patches``) times a matmul;
* ``torch``: PyTorch eager, the same model.

Run:  python benchmarks/conv_options.py [--rounds 1] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = {
    "default": "",
    "onednn": "--xla_cpu_use_onednn=true",
    "onednn custom call": "--xla_cpu_experimental_onednn_custom_call=true",
    "xnnpack": "--xla_cpu_use_xnnpack=true",
    "fast math": "--xla_cpu_enable_fast_math=true",
    "no thunk runtime": "--xla_cpu_use_thunk_runtime=false",
}
SINGLE = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _cpu_ms(run, steps: int) -> float:
    run(1)
    run(1)
    start = time.process_time()
    run(steps)
    return (time.process_time() - start) / steps * 1e3


def _child(kind: str, steps: int) -> dict[str, float]:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from torsh.cli._bench._workloads import workloads

    w = workloads()["cnn"]
    if kind == "torch":
        import torch

        torch.set_num_threads(1)
        from torsh.cli._bench import _torch as _suite_torch

        return {"torch": _cpu_ms(_suite_torch.make(w), steps)}
    from torsh.cli._bench import _torsh as _suite_torsh

    out = {"torsh": _cpu_ms(_suite_torsh.make(w), steps)}
    if kind == "default":
        from torsh.cli._bench import _jax as _suite_jax

        out["jax-nchw"] = _cpu_ms(_suite_jax.make(w), steps)
        out["jax-nhwc"] = _cpu_ms(_jax_cnn(w, "nhwc"), steps)
        out["jax-im2col"] = _cpu_ms(_jax_cnn(w, "im2col"), steps)
    return out


def _jax_cnn(w, how: str):
    """The hand-written JAX CNN of torsh.cli._bench._jax with another convolution formulation."""
    import jax

    from torsh.cli._bench import _jax as _suite_jax

    def conv(x, k, stride=1, padding=1):
        if how == "nhwc":  # NCHW in and out, NHWC/HWIO inside (XLA may cancel adjacent transposes)
            y = jax.lax.conv_general_dilated(
                x.transpose(0, 2, 3, 1), k.transpose(2, 3, 1, 0), (stride, stride),
                ((padding, padding),) * 2, dimension_numbers=("NHWC", "HWIO", "NHWC"),
            )  # fmt: skip
            return y.transpose(0, 3, 1, 2)
        patches = jax.lax.conv_general_dilated_patches(
            x, k.shape[2:], (stride, stride), ((padding, padding),) * 2
        )  # [N, C*kh*kw, H, W], channel-major like OIHW flattened
        return jax.numpy.einsum("nphw,op->nohw", patches, k.reshape(k.shape[0], -1))

    _suite_jax._conv = conv  # a child process measures one formulation at a time, then exits
    run = _suite_jax.make(w)
    run(1)  # trace now, with this formulation
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.steps)))
        return
    kinds = [*VARIANTS, "torch"]
    results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            env = dict(os.environ, XLA_FLAGS=f"{SINGLE} {VARIANTS.get(kind, '')}".strip())
            cmd = [sys.executable, __file__, "--child", kind, "--steps", str(args.steps)]
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if p.returncode:
                print(f"{kind}: failed: {p.stderr.strip().splitlines()[-1] if p.stderr else p.returncode}")
                continue
            results[kind].append(json.loads(p.stdout.strip().splitlines()[-1]))
            print(f"  {kind}: {results[kind][-1]}", flush=True)
    torch_ms = statistics.median(r["torch"] for r in results["torch"]) if results["torch"] else None
    print(f"\nCNN training step, single-threaded, CPU ms/step (load {os.getloadavg()[0]:.1f})")
    print("| variant | candidate | CPU ms/step | vs PyTorch eager |\n| --- | --- | ---: | ---: |")
    for kind in kinds:
        if not results[kind]:
            continue
        for cand in results[kind][0]:
            ms = statistics.median(r[cand] for r in results[kind])
            ratio = f"{ms / torch_ms:.2f}x" if torch_ms else "—"
            print(f"| {kind} | {cand} | {ms:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
