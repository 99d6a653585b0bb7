"""Training-step time of vision models: torsh (jit) vs PyTorch eager vs torch.compile, side by side.

Cases (batch 32 by default): ResNet-18 at 64x64 and 224x224, and ViT-Tiny (patch 16, 12 layers,
3 heads, width 192, MLP 768; ``--vit-image`` sets its input size). One step = forward, cross-entropy,
backward and an AdamW update (torsh: one ``torsh.jit`` function with donated model/optimizer state
and BatchNorm statistics through ``nn.stateful``; PyTorch: ``zero_grad``/``backward``/``step``).
All candidates start from the same weights (torchvision's, loaded by key).

Compile time is reported separately: the first torsh call (trace + XLA compile) and the first
torch.compile call (dynamo + inductor), each minus one steady-state step. Step times are medians over
``--rounds`` rounds of ``--steps`` steps, candidates interleaved so machine noise hits them alike.

Run:  python benchmarks/vision.py [--cases resnet18-64,resnet18-224,vit-tiny] [--steps 3] [--rounds 3]
      [--batch 32] [--vit-image 224] [--no-compile] [--torch-threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "vision"))
from _vision_torchvision import torchvision

import torsh
from torsh import nn, optim
from torsh.nn import functional as F
from torsh.vision import models


def cases(vit_image: int) -> dict[str, tuple[Callable[[], Any], Callable[[], Any], int]]:
    vit = dict(image_size=vit_image, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192, mlp_dim=768,
               num_classes=1000)  # fmt: skip
    return {
        "resnet18-64": (lambda: models.resnet18(key=0), lambda: torchvision.models.resnet18(), 64),
        "resnet18-224": (lambda: models.resnet18(key=0), lambda: torchvision.models.resnet18(), 224),
        "vit-tiny": (lambda: models.VisionTransformer(**vit, key=0),
                     lambda: torchvision.models.VisionTransformer(**vit), vit_image),
    }  # fmt: skip


def torsh_step(model: nn.Module) -> tuple[Callable[..., Any], Any]:
    opt = optim.AdamW(lr=1e-3)

    def loss_fn(m: nn.Module, x: jax.Array, y: jax.Array) -> tuple[jax.Array, nn.Module]:
        logits, m = nn.stateful(m)(x)
        return F.cross_entropy(logits, y), m

    @torsh.jit(donate=("model", "opt_state"))
    def step(model, opt_state, x, y):
        (loss, model), grads = torsh.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    return step, opt.init(model)


def torch_step(model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run_case(name: str, make_ours: Any, make_tv: Any, size: int, args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(0)
    tv = make_tv().train()
    ours = make_ours().load_state_dict(tv.state_dict()).train()
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((args.batch, 3, size, size)).astype(np.float32)
    y_np = rng.integers(0, 1000, args.batch).astype(np.int64)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np.astype(np.int32))
    xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)

    step, opt_state = torsh_step(ours)
    box = {"model": ours, "opt": opt_state}

    def run_torsh() -> None:
        box["model"], box["opt"], loss = step(box["model"], box["opt"], x, y)
        loss.block_until_ready()

    eager = torch_step(tv)
    candidates: dict[str, Callable[[], Any]] = {
        "torsh (jit)": run_torsh,
        "torch eager": lambda: eager(xt, yt),
    }
    first = {"torsh (jit)": timed(run_torsh)}
    first["torch eager"] = timed(candidates["torch eager"])
    if not args.no_compile:
        torch.manual_seed(0)
        tvc = make_tv().train()
        compiled = torch_step(torch.compile(tvc))
        candidates["torch.compile"] = lambda: compiled(xt, yt)
        first["torch.compile"] = timed(candidates["torch.compile"])
    samples: dict[str, list[float]] = {k: [] for k in candidates}
    names = list(candidates)
    for r in range(args.rounds):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            samples[k].append(timed(lambda k=k: [candidates[k]() for _ in range(args.steps)]) / args.steps)
    step_s = {k: statistics.median(v) for k, v in samples.items()}
    compile_s = {k: max(0.0, first[k] - step_s[k]) for k in ("torsh (jit)", "torch.compile") if k in first}
    return {"name": name, "size": size, "step": step_s, "compile": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="resnet18-64,resnet18-224,vit-tiny")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vit-image", type=int, default=224)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--torch-threads", type=int, default=None)
    args = parser.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    table = cases(args.vit_image)
    print(
        f"jax {jax.__version__} ({jax.default_backend()}), torch {torch.__version__}, batch {args.batch}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name in args.cases.split(","):
        res = run_case(name, *table[name], args)
        base = res["step"]["torch eager"]
        print(f"\n{name} (B={args.batch}, {res['size']}x{res['size']}): ms per training step")
        for k, s in res["step"].items():
            print(f"  {k:<16} {1e3 * s:>10.1f} ms   {s / base:>6.2f}x torch eager")
        for k, s in res["compile"].items():
            print(f"  compile {k:<16} {s:>6.1f} s")


if __name__ == "__main__":
    main()
