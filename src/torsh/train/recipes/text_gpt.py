"""Recipe ``text-gpt``: a small GPT-2 on the Python standard library's own source (offline).

Character- (default) or byte-level-BPE tokens, random ``block_size + 1`` windows from a memory-mapped
token file, AdamW with warmup + cosine decay, validation loss and perplexity on held-out stdlib files
(``StdlibCorpus``'s split by file), samples generated with the KV-cached ``torsh.text.generate`` at the end
(``samples.txt``).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp

import torsh
from torsh import data, metrics, optim, train
from torsh.errors import ConfigError

DESCRIPTION = (
    "GPT-2 (4x128) on the Python stdlib's source, char or BPE tokens, val perplexity + samples; offline"
)


@dataclasses.dataclass
class Config:
    tokenizer: str = "char"  # "char" or "bpe"
    bpe_vocab: int = 2048
    train_files: int = 300  # stdlib files used (0 = all); the split is by file
    val_files: int = 40
    block_size: int = 128
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    dropout: float = 0.0
    batch_size: int = 32
    steps: int = 500
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.1
    eval_every: int = 100
    eval_windows: int = 256
    sample_tokens: int = 120  # at most block_size minus the prompt (no sliding window)
    temperature: float = 0.8
    top_k: int = 40
    seed: int = 0


def _tokenizer(config: Config, train_corpus: Any, out: pathlib.Path) -> Any:
    from torsh.text.tokenizers import BPETokenizer, CharTokenizer, Tokenizer

    tok: Tokenizer
    if config.tokenizer == "char":
        tok = CharTokenizer.from_texts(train_corpus, special_tokens=["<eos>", "<unk>"], unk_token="<unk>")
        tok.save(out / "tokenizer.json")
    elif config.tokenizer == "bpe":
        tok = BPETokenizer.train(train_corpus, vocab_size=config.bpe_vocab, special_tokens=["<eos>"])
        tok.save(out / "tokenizer.json")
    else:
        raise ConfigError(f"text-gpt: tokenizer must be 'char' or 'bpe', got {config.tokenizer!r}")
    return tok


def _cross_entropy(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """Per-row mean token negative log-likelihood ``[batch]``."""
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    return -jnp.take_along_axis(logp, targets[..., None], axis=-1)[..., 0].mean(axis=-1)


def run(config: Config, out: pathlib.Path, *, resume: bool = True, progress: bool = True) -> dict[str, float]:
    from torsh.text import generate
    from torsh.text.datasets import LMWindows, StdlibCorpus, tokenize_to_file
    from torsh.text.models import GPT2Config, GPT2LMHeadModel

    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_corpus = StdlibCorpus("train", max_files=config.train_files or None)
    val_corpus = StdlibCorpus("val", max_files=config.val_files or None)
    tok = _tokenizer(config, train_corpus, out)
    # Tokenised once into memory-mapped files; a rerun (or resume) reopens them.
    train_tokens = tokenize_to_file(
        train_corpus,
        tok,
        out / "data" / "train.tokens",
        separator="<eos>",
        fingerprint=train_corpus.fingerprint,
    )
    val_tokens = tokenize_to_file(
        val_corpus, tok, out / "data" / "val.tokens", separator="<eos>", fingerprint=val_corpus.fingerprint
    )

    train_set = LMWindows(
        train_tokens,
        config.block_size,
        random=True,
        num_samples=config.steps * config.batch_size,
        seed=config.seed,
    )
    val_set = LMWindows(
        val_tokens, config.block_size, random=True, num_samples=config.eval_windows, seed=10_000
    )
    loader = data.DataLoader(train_set, batch_size=config.batch_size, drop_last=True, seed=config.seed)
    val_loader = data.DataLoader(val_set, batch_size=config.batch_size, pad_last=True)

    gpt = GPT2Config(
        vocab_size=tok.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
    )
    model = GPT2LMHeadModel(gpt, key=torsh.random.key(config.seed))
    schedule = optim.schedules.warmup_cosine(
        config.lr,
        warmup_steps=min(config.warmup, config.steps - 1),
        total_steps=config.steps,
        end_lr=config.lr / 10,
    )
    opt = optim.AdamW(lr=schedule, weight_decay=config.weight_decay)
    state = train.TrainState.create(model=model, opt=opt, key=torsh.random.key(config.seed + 1))

    def loss_fn(model: Any, windows: jax.Array, key: Any) -> jax.Array:
        return _cross_entropy(model(windows[:, :-1], key=key), windows[:, 1:]).mean()

    # Stored compiled programs (a warm `torsh train` skips tracing), keyed by recipe and config.
    key = f"text-gpt/{config!r}"

    @torsh.jit(donate="state", program_key=key + "/train")
    def train_step(state: train.TrainState, batch: Any) -> tuple[train.TrainState, dict[str, Any]]:
        loss, grads = torsh.value_and_grad(loss_fn)(state.model, batch, state.key)
        return state.apply_gradients(grads), {"loss": loss}

    @torsh.jit(program_key=key + "/eval")
    def eval_step(state: train.TrainState, batch: data.MaskedBatch) -> dict[str, Any]:
        windows = batch.data
        logits = state.model.eval()(windows[:, :-1])
        return {"loss": _cross_entropy(logits, windows[:, 1:]), "preds": logits, "target": windows[:, 1:]}

    state, history = train.fit(
        train_step,
        state,
        loader,
        steps=config.steps,
        eval_fn=eval_step,
        eval_loader=val_loader,
        eval_every=config.eval_every,
        metrics={"ppl": metrics.Perplexity()},
        checkpoint=out / "checkpoints",
        log_dir=out,
        log=("jsonl", "csv"),
        keep=2,
        best_metric="val_ppl",
        best_mode="min",
        config=dataclasses.asdict(config),
        progress=progress,
        resume=resume,
        log_every=config.eval_every,
    )
    torsh.save(out / "model.safetensors", state.model)

    prompts = ["def ", "class ", "import "]
    encoded = [tok.encode(p) for p in prompts]
    n_new = min(config.sample_tokens, config.block_size - max(map(len, encoded)))
    samples = generate(
        state.model,
        encoded,
        max_new_tokens=n_new,
        temperature=config.temperature,
        top_k=config.top_k,
        key=torsh.random.key(config.seed + 2),
        eos=tok.token_to_id("<eos>"),
        bucket=8,
    )
    texts = []
    for prompt, row in zip(prompts, samples, strict=True):
        ids = [int(t) for t in row if t != tok.token_to_id("<eos>")]
        texts.append(tok.decode(ids[-(len(tok.encode(prompt)) + n_new) :]))
    (out / "samples.txt").write_text("\n\n=====\n\n".join(texts), encoding="utf-8")
    if progress:
        print("\n--- sample ---\n" + texts[0][:500])
    result = {
        "val_loss": float(history.last("val_loss")),
        "val_ppl": float(history.last("val_ppl")),
        "train_tokens": float(train_tokens.num_tokens),
    }
    (out / "result.json").write_text(json.dumps(result, indent=1))
    return result
