"""Inference latency of deployed models: live torsh.jit vs .torshx artifact vs ONNX Runtime vs IREE vs torch.

Models: the digits CNN (conv-bn-relu-pool x2 + 2 linear, 1x8x8 inputs, trained on scikit-learn's
digits so that the int8 accuracy change is real) and a 2-layer Transformer encoder (d=128, 4 heads,
T=32). Batch 1 and 64. All candidates run interleaved in one process (median ms per call); also
file sizes, export and load times, and the int8 accuracy change on the digits test split.

Run:  python benchmarks/export.py [--rounds 7] [--calls 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import interleaved

import torsh
from torsh import nn, optim


def digits_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 2 * 2, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train_digits(epochs: int) -> tuple[nn.Module, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int32)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm]
    xtr, ytr, xte, yte = x[:1400], y[:1400], x[1400:], y[1400:]
    torsh.manual_seed(0)
    model = digits_cnn()
    opt = optim.Adam(lr=3e-3)
    state = opt.init(model)

    @torsh.jit
    def step(model, state, xb, yb):
        def loss_fn(m):
            out, m = nn.stateful(m)(xb)  # BatchNorm running statistics
            return nn.functional.cross_entropy(out, yb), m

        (loss, model), grads = torsh.value_and_grad(loss_fn, has_aux=True)(model)
        model, state = opt.step(model, grads, state)
        return model, state, loss

    for _ in range(epochs):
        for i in range(0, len(xtr) - 63, 64):
            model, state, _ = step(model, state, jnp.asarray(xtr[i : i + 64]), jnp.asarray(ytr[i : i + 64]))
    return model.eval(), xte, yte


def accuracy(fn, x, y) -> float:
    return float((np.asarray(fn(jnp.asarray(x))).argmax(-1) == y).mean())


def torch_digits_cnn(model: nn.Module):
    import torch

    t = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.BatchNorm2d(16),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.BatchNorm2d(32),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(128, 64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return t.eval()


def candidates(name, model, example, tmp, torch_model=None):
    out = {}
    live = torsh.jit(lambda m, x: m(x))
    out["torsh.jit (live)"] = lambda: live(model, example)
    t0 = time.perf_counter()
    exp = torsh.export.export(model, example[:1], dynamic={"input": {0: "batch"}}, input_names=["input"])
    path = os.path.join(tmp, f"{name}.torshx")
    exp.save(path)
    t_export = time.perf_counter() - t0
    t0 = time.perf_counter()
    served = torsh.export.load(path)
    t_load = time.perf_counter() - t0
    out[".torshx artifact"] = lambda: served(example)
    sizes = {".torshx": os.path.getsize(path)}
    small = torsh.quantize.int8_weights(model)
    qpath = os.path.join(tmp, f"{name}.int8.torshx")
    torsh.export.export(small, example[:1], dynamic={"input": {0: "batch"}}, input_names=["input"]).save(
        qpath
    )
    sizes[".torshx int8"] = os.path.getsize(qpath)
    served_q = torsh.export.load(qpath)
    out[".torshx int8"] = lambda: served_q(example)
    x_np = np.asarray(example)
    try:
        import onnxruntime as ort

        onnx_path = os.path.join(tmp, f"{name}.onnx")
        torsh.export.to_onnx(
            model, x_np, dynamic={"input": {0: "batch"}}, input_names=["input"], path=onnx_path
        )
        sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        out["ONNX Runtime"] = lambda: sess.run(None, {"input": x_np})
        sizes[".onnx"] = os.path.getsize(onnx_path)
    except Exception as e:
        print(f"  ONNX: {type(e).__name__}: {str(e)[:160]}")
    try:
        import iree.runtime as rt

        vmfb = torsh.export.to_iree(model, x_np, target_cpu="host")
        ctx = rt.SystemContext(config=rt.Config("local-task"))
        ctx.add_vm_module(rt.VmModule.copy_buffer(ctx.instance, vmfb))
        (mod,) = [n for n in ctx.modules.keys() if n != "hal"]
        fn = ctx.modules[mod].main
        out["IREE llvm-cpu"] = lambda: fn(x_np).to_host()
        sizes[".vmfb"] = len(vmfb)
    except Exception as e:
        print(f"  IREE: {type(e).__name__}: {str(e)[:160]}")
    if torch_model is not None:
        import torch

        xt = torch.from_numpy(x_np)

        def run_torch():
            with torch.inference_mode():
                return torch_model(xt)

        out["torch eager"] = run_torch
    return out, sizes, t_export, t_load


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()

    model, xte, yte = train_digits(args.epochs)
    small = torsh.quantize.int8_weights(model)
    acc, acc_q = accuracy(model, xte, yte), accuracy(small, xte, yte)
    print(
        f"digits CNN test accuracy: float32 {acc:.4f}, int8 weights {acc_q:.4f} "
        f"({(acc_q - acc) * 100:+.2f} points)"
    )
    try:
        tmodel = torch_digits_cnn(model)
    except Exception:
        tmodel = None

    torsh.manual_seed(1)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(128, 4, 256, batch_first=True), 2).eval()

    rows = []
    for name, m, shape, tm in [
        ("digits-cnn", model, (1, 8, 8), tmodel),
        ("transformer", enc, (32, 128), None),
    ]:
        for batch in (1, 64):
            example = jnp.asarray(
                np.random.default_rng(0).standard_normal((batch, *shape)).astype(np.float32)
            )
            cands, sizes, t_export, t_load = candidates(f"{name}{batch}", m, example, tmp, tm)
            res = interleaved(cands, args.calls, args.rounds)
            base = res["torsh.jit (live)"]
            for cand, us in res.items():
                rows.append((name, batch, cand, us / 1000, us / base))
            if batch == 1:
                print(f"{name}: sizes {sizes}; export {t_export:.2f} s, load {t_load:.2f} s")
    print("\n| model | batch | runtime | ms/call | vs torsh.jit |")
    print("| --- | --- | --- | --- | --- |")
    for name, batch, cand, ms, ratio in rows:
        print(f"| {name} | {batch} | {cand} | {ms:.3f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
