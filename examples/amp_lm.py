"""Mixed precision on a small GPT-2 language model: float32 against bfloat16 compute (torsh.amp).

Data: the Python standard library's source (``torsh.text.datasets.StdlibCorpus``, offline), character
tokens, random windows; the validation files are separate. Model: ``torsh.text.models.GPT2LMHeadModel``
(tied output projection), AdamW with warmup + cosine. The bfloat16 run is the unchanged model wrapped
by ``amp.apply(model, "params=float32,compute=bfloat16,output=float32")`` (LayerNorms in float32).
Each precision starts from the same weights and sees the same batches per seed. Prints the final
validation loss (nats/token) per run and the median time of a training step (after compilation).

Run:  python examples/amp_lm.py [--steps 300] [--seeds 0] [--policies float32 bf16]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

import torsh
from torsh import amp, data, optim

POLICIES = {"float32": None, "bf16": "params=float32,compute=bfloat16,output=float32"}


def token_nll(logits: jax.Array, targets: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0].mean()


def datasets(args: argparse.Namespace, out: Path) -> tuple[Any, Any, int]:
    from torsh.text.datasets import LMWindows, StdlibCorpus, tokenize_to_file
    from torsh.text.tokenizers import CharTokenizer

    train_corpus = StdlibCorpus("train", max_files=args.train_files)
    val_corpus = StdlibCorpus("val", max_files=args.val_files)
    tok = CharTokenizer.from_texts(train_corpus, special_tokens=["<eos>", "<unk>"], unk_token="<unk>")
    train_tokens = tokenize_to_file(train_corpus, tok, out / "train.tokens", separator="<eos>")
    val_tokens = tokenize_to_file(val_corpus, tok, out / "val.tokens", separator="<eos>")
    n = args.steps * args.batch_size
    train = LMWindows(train_tokens, args.block_size, random=True, num_samples=n, seed=0)
    val = LMWindows(val_tokens, args.block_size, random=True, num_samples=args.eval_windows, seed=10_000)
    return train, val, tok.vocab_size


def run(
    policy: str | None, seed: int, args: argparse.Namespace, sets: tuple[Any, Any, int]
) -> dict[str, float]:
    from torsh.text.models import GPT2Config, GPT2LMHeadModel

    train_set, val_set, vocab = sets
    cfg = GPT2Config(
        vocab_size=vocab,
        n_positions=args.block_size,
        n_embd=args.n_embd,
        n_layer=args.n_layer,
        n_head=args.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model: Any = GPT2LMHeadModel(cfg, key=torsh.random.key(seed))
    if policy is not None:
        model = amp.apply(model, policy)
    schedule = optim.schedules.warmup_cosine(
        args.lr, warmup_steps=args.steps // 10, total_steps=args.steps, end_lr=args.lr / 10
    )
    opt = optim.AdamW(lr=schedule, weight_decay=0.1)
    opt_state = opt.init(model)

    @torsh.jit(donate=("model", "opt_state"))
    def step(model, opt_state, windows):
        loss, grads = torsh.value_and_grad(lambda m: token_nll(m(windows[:, :-1]), windows[:, 1:]))(model)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    @torsh.jit
    def val_loss(model, windows):
        return token_nll(model.eval()(windows[:, :-1]), windows[:, 1:])

    loader = data.DataLoader(train_set, batch_size=args.batch_size, drop_last=True, seed=seed)
    times, cpu = [], []
    for windows in loader:
        start, start_cpu = time.perf_counter(), time.process_time()
        model, opt_state, loss = step(model, opt_state, windows)
        loss.block_until_ready()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    val = data.DataLoader(val_set, batch_size=args.batch_size, drop_last=True)
    losses = [float(val_loss(model, w)) for w in val]
    return {
        "train_loss": float(loss),
        "val_loss": statistics.mean(losses),
        "step_ms": 1000 * statistics.median(times[5:]),
        # CPU time of this process per step (all XLA threads): robust on a shared machine
        "cpu_ms": 1000 * statistics.median(cpu[5:]),
        "compile_s": times[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--n-layer", type=int, default=2)
    parser.add_argument("--n-embd", type=int, default=128)
    parser.add_argument("--n-head", type=int, default=4)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--train-files", type=int, default=100)
    parser.add_argument("--val-files", type=int, default=20)
    parser.add_argument("--eval-windows", type=int, default=256)
    args = parser.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}: GPT-2 {args.n_layer}x{args.n_embd}, "
        f"block {args.block_size}, batch {args.batch_size}, {args.steps} steps"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sets = datasets(args, Path(tmp))
        results: dict[str, list[dict[str, float]]] = {}
        for seed in args.seeds:
            for name in args.policies:
                r = run(POLICIES[name], seed, args, sets)
                results.setdefault(name, []).append(r)
                print(
                    f"{name:8s} seed {seed}: val loss {r['val_loss']:.4f}  train loss {r['train_loss']:.4f}  "
                    f"step {r['step_ms']:.1f} ms (median)  cpu {r['cpu_ms']:.1f} ms  "
                    f"first step {r['compile_s']:.1f} s",
                    flush=True,
                )
    for name, rs in results.items():
        mean = statistics.mean(r["val_loss"] for r in rs)
        print(
            f"{name:8s} mean over {len(rs)} seeds: val loss {mean:.4f}, "
            f"step {statistics.median(r['step_ms'] for r in rs):.1f} ms, "
            f"cpu {statistics.median(r['cpu_ms'] for r in rs):.1f} ms"
        )


if __name__ == "__main__":
    main()
