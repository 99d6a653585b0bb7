"""Train a character-level GPT on the Python standard library's source and sample from it.

Plain code, no recipe machinery: tokenizer -> memory-mapped token file -> random windows -> a jitted
AdamW step -> validation perplexity -> KV-cached sampling. (``torsh train text-gpt`` does the same with
checkpoints, logs and resume.)

Run:  python examples/text/char_gpt.py [--steps 600] [--out /tmp/char_gpt]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np

import torsh
from torsh import data, optim
from torsh.text import generate
from torsh.text.datasets import LMWindows, StdlibCorpus, tokenize_to_file
from torsh.text.models import GPT2Config, GPT2LMHeadModel
from torsh.text.tokenizers import CharTokenizer


def cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1).mean()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--block-size", type=int, default=128)
    p.add_argument("--files", type=int, default=300)
    p.add_argument("--out", default="/tmp/torsh_char_gpt")
    args = p.parse_args()
    out = pathlib.Path(args.out)

    # 1. Data: stdlib files split by file name (deterministic), characters as tokens.
    train_docs, val_docs = StdlibCorpus("train", max_files=args.files), StdlibCorpus("val", max_files=40)
    tok = CharTokenizer.from_texts(train_docs, special_tokens=["<eos>", "<unk>"], unk_token="<unk>")
    train_tokens = tokenize_to_file(
        train_docs, tok, out / "train.tokens", separator="<eos>", fingerprint=train_docs.fingerprint
    )  # a second run reopens the file
    val_tokens = tokenize_to_file(
        val_docs, tok, out / "val.tokens", separator="<eos>", fingerprint=val_docs.fingerprint
    )
    print(f"{tok.vocab_size} characters, {train_tokens.num_tokens:,} training tokens")
    windows = LMWindows(train_tokens, args.block_size, random=True, num_samples=args.steps * args.batch_size)
    loader = data.DataLoader(windows, batch_size=args.batch_size, drop_last=True)
    val = np.stack([w for w in LMWindows(val_tokens, args.block_size, random=True, num_samples=256, seed=1)])

    # 2. Model and optimizer.
    config = GPT2Config(
        vocab_size=tok.vocab_size,
        n_positions=args.block_size,
        n_embd=128,
        n_layer=4,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(config, key=torsh.random.key(0))
    opt = optim.AdamW(
        lr=optim.schedules.warmup_cosine(
            2e-3, warmup_steps=min(50, args.steps // 2), total_steps=args.steps, end_lr=2e-4
        ),
        weight_decay=0.1,
    )
    opt_state = opt.init(model)
    print(f"{model.num_parameters():,} parameters")

    @jax.jit
    def step(model, opt_state, batch):
        loss, grads = torsh.value_and_grad(lambda m: cross_entropy(m(batch[:, :-1]), batch[:, 1:]))(model)
        model, opt_state = opt.step(model, grads, opt_state)
        return model, opt_state, loss

    @jax.jit
    def val_loss(model, batch):
        return cross_entropy(model.eval()(batch[:, :-1]), batch[:, 1:])

    def perplexity(model) -> float:
        losses = [float(val_loss(model, jnp.asarray(val[i : i + 64]))) for i in range(0, len(val), 64)]
        return math.exp(float(np.mean(losses)))

    # 3. Train.
    start = time.perf_counter()
    for i, batch in enumerate(loader, 1):
        model, opt_state, loss = step(model, opt_state, jnp.asarray(batch))
        if i % 100 == 0 or i == args.steps:
            print(
                f"step {i:5d}  loss {float(loss):.3f}  val ppl {perplexity(model):.2f}  "
                f"{time.perf_counter() - start:.0f}s"
            )

    # 4. Sample (KV cache, one compiled decode step).
    prompts = [tok.encode("def "), tok.encode("import ")]
    ids = generate(
        model,
        prompts,
        max_new_tokens=args.block_size - 8,
        temperature=0.8,
        top_k=40,
        key=torsh.random.key(1),
        eos=tok.token_to_id("<eos>"),
    )
    for row in ids:
        print(
            "-" * 40
            + "\n"
            + tok.decode([int(t) for t in row if t != tok.token_to_id("<eos>")]).lstrip("<unk>")
        )


if __name__ == "__main__":
    main()
