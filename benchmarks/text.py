"""Decode and training throughput of torsh.text's GPT-2 against HF transformers (PyTorch) on CPU.

Same GPT-2-shaped random weights in both (HF's init, loaded into torsh by state-dict key).

* **decode** (greedy, batch ``--batch``, ``--prompt`` prompt tokens, ``--new`` new tokens), tokens/s of
  the whole call (prefill included):
  - ``torsh generate (KV cache)``: prefill + one compiled decode step per token;
  - ``torsh full recompute``: one compiled forward over the fixed-size padded sequence per token;
  - ``HF generate (cache)`` / ``HF generate (no cache)``: ``model.generate(do_sample=False)``.
* **train**: tokens/s of one AdamW step (forward, backward, update) on ``[batch, seq]`` windows:
  torsh (``jax.jit``), torch eager, ``torch.compile`` (``--compile``; compiling takes minutes on CPU).

Run:  python benchmarks/text.py [--size gpt2|small] [--new 32] [--rounds 3] [--compile] [--only decode,train]
      [--torch-threads 1]
Times are wall-clock medians over rounds; nothing here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.append(str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "vision"))
import _vision_torchvision  # noqa: F401  (transformers imports torchvision; see that file)
import torch
import transformers

import torsh
from torsh import optim
from torsh.text import generate
from torsh.text.models import GPT2Config, GPT2LMHeadModel

transformers.logging.set_verbosity_error()

SIZES = {
    "gpt2": dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12),
    "small": dict(vocab_size=8192, n_positions=512, n_embd=256, n_layer=4, n_head=4),
}


def _median_time(fn, rounds: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _models(size: str):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(**SIZES[size], resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    model = GPT2LMHeadModel(GPT2Config.from_hf(cfg), key=0).load_state_dict(hf.state_dict()).eval()
    return hf, model


def bench_decode(hf, model, args) -> None:
    rng = np.random.default_rng(0)
    prompt = rng.integers(0, model.vocab_size, size=(args.batch, args.prompt)).astype(np.int32)
    n = args.new
    width = args.prompt + n

    def torsh_cached():
        return generate(model, prompt, n, bucket=16)

    forward = jax.jit(lambda m, x, i: jnp.argmax(m(x)[:, i], axis=-1))

    def torsh_recompute():
        seq = np.zeros((args.batch, width), np.int32)
        seq[:, : args.prompt] = prompt
        for i in range(args.prompt, width):
            seq[:, i] = np.asarray(forward(model, jnp.asarray(seq), i - 1))  # right padding is never attended
        return seq

    ids = torch.tensor(prompt, dtype=torch.long)

    def hf_gen(use_cache):
        def run():
            with torch.no_grad():
                return hf.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=n,
                    do_sample=False,
                    pad_token_id=0,
                    eos_token_id=None,
                    use_cache=use_cache,
                )

        return run

    a, b = torsh_cached()[:, -n:], torsh_recompute()[:, -n:]
    c = hf_gen(True)()[:, -n:].numpy()
    print(
        f"  greedy tokens equal: cache vs recompute {np.array_equal(a, b)}, "
        f"torsh vs HF {np.array_equal(a, c)}"
    )
    rows = {
        "torsh generate (KV cache)": torsh_cached,
        "torsh full recompute": torsh_recompute,
        "HF generate (cache)": hf_gen(True),
        "HF generate (no cache)": hf_gen(False),
    }
    results = {name: _median_time(fn, args.rounds) for name, fn in rows.items()}
    base = results["torsh generate (KV cache)"]
    print(
        f"\ndecode: batch {args.batch}, prompt {args.prompt}, {n} new tokens "
        "(tokens/s = batch * new / call time)"
    )
    for name, s in results.items():
        print(f"  {name:<28} {args.batch * n / s:>9.1f} tok/s   {s * 1e3:>9.1f} ms/call   {s / base:>6.2f}x")


def bench_train(hf, model, args) -> None:
    rng = np.random.default_rng(1)
    windows = rng.integers(0, model.vocab_size, size=(args.train_batch, args.seq + 1)).astype(np.int32)
    tokens = args.train_batch * args.seq

    def ce(m, w):
        logp = jax.nn.log_softmax(m(w[:, :-1]), -1)
        return -jnp.take_along_axis(logp, w[:, 1:, None], -1).mean()

    opt = optim.AdamW(lr=1e-4)
    state = [model, opt.init(model)]  # eval mode: no dropout in either (HF config pdrop=0)

    @jax.jit
    def step(m, s, w):
        loss, g = torsh.value_and_grad(ce)(m, w)
        m, s = opt.step(m, g, s)
        return m, s, loss

    w = jnp.asarray(windows)

    def torsh_step():
        state[0], state[1], loss = step(state[0], state[1], w)
        return jax.block_until_ready(loss)

    hf_train = hf.train()
    topt = torch.optim.AdamW(hf_train.parameters(), lr=1e-4)
    tw = torch.tensor(windows, dtype=torch.long)

    def torch_step(module):
        def run():
            topt.zero_grad(set_to_none=True)
            logits = module(tw[:, :-1]).logits
            loss = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), tw[:, 1:].reshape(-1)
            )
            loss.backward()
            topt.step()
            return loss.item()

        return run

    rows = {"torsh (jax.jit)": torsh_step, "torch eager": torch_step(hf_train)}
    if args.compile:
        rows["torch.compile"] = torch_step(torch.compile(hf_train))
    results = {name: _median_time(fn, args.rounds) for name, fn in rows.items()}
    base = results["torsh (jax.jit)"]
    print(
        f"\ntrain step (forward + backward + AdamW): batch {args.train_batch} x seq {args.seq} "
        f"= {tokens} tokens"
    )
    for name, s in results.items():
        print(f"  {name:<28} {tokens / s:>9.1f} tok/s   {s * 1e3:>9.1f} ms/step   {s / base:>6.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES), default="gpt2")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--prompt", type=int, default=64)
    p.add_argument("--new", type=int, default=32)
    p.add_argument("--train-batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--only", default="decode,train")
    p.add_argument("--torch-threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = p.parse_args()
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    print(
        f"jax {jax.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"transformers {transformers.__version__}, {os.cpu_count()} CPUs, size {args.size}"
    )
    hf, model = _models(args.size)
    if "decode" in args.only:
        bench_decode(hf, model, args)
    if "train" in args.only:
        bench_train(hf, model, args)


if __name__ == "__main__":
    main()
