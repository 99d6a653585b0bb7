"""The ``text-gpt`` recipe end to end on a tiny configuration."""

from __future__ import annotations

import json
import math

from torsh.train import load_recipe


def test_text_gpt_recipe_trains_logs_perplexity_and_samples(tmp_path):
    recipe = load_recipe("text-gpt")
    assert "GPT" in recipe.DESCRIPTION
    cfg = recipe.Config(
        steps=16,
        eval_every=8,
        train_files=12,
        val_files=4,
        n_layer=1,
        n_embd=32,
        n_head=2,
        block_size=32,
        batch_size=8,
        eval_windows=16,
        sample_tokens=12,
    )
    result = recipe.run(cfg, tmp_path, progress=False)
    assert math.isclose(result["val_ppl"], math.exp(result["val_loss"]), rel_tol=1e-4)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    ppl = [r["val_ppl"] for r in records if "val_ppl" in r]
    assert len(ppl) == 2 and ppl[1] < ppl[0]  # learning
    vocab = json.loads((tmp_path / "data" / "train.tokens.json").read_text())["vocab_size"]
    assert ppl[0] < vocab  # better than uniform after 8 steps
    samples = (tmp_path / "samples.txt").read_text().split("\n\n=====\n\n")
    assert [s.split(" ")[0] for s in samples] == ["def", "class", "import"]
    assert (tmp_path / "model.safetensors").is_file()
