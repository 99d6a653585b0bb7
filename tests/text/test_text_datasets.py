"""Token files, LM windows, packing, bucketing and the stdlib corpus."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from torsh.data import DataLoader
from torsh.errors import CheckpointError, ConfigError, DataError
from torsh.text import EmptyCorpusError, TokenFileError, UnknownTokenError
from torsh.text.datasets import (
    BucketBatchSampler,
    LMWindows,
    PackedDocuments,
    PadCollate,
    StdlibCorpus,
    TokenFile,
    TokenizedTexts,
    tokenize_to_file,
)
from torsh.text.tokenizers import BPETokenizer, ByteTokenizer, CharTokenizer

DOCS = ["alpha beta", "", "γάμμα 😀", "delta\n" * 3]


class CountingTokenizer(ByteTokenizer):
    calls = 0

    def _encode_many(self, texts):
        type(self).calls += len(texts)
        return super()._encode_many(texts)


def test_token_file_round_trip_and_reopen_without_tokenising(tmp_path):
    tok = CountingTokenizer(["<eos>"])
    path = tmp_path / "c.tokens"
    f = tokenize_to_file(DOCS, tok, path, separator="<eos>", fingerprint="v1")
    expected = [[*tok.encode(d), 256] for d in DOCS]
    assert [f[i].tolist() for i in range(len(f))] == expected
    assert f.tokens.tolist() == sum(expected, [])
    assert isinstance(f.tokens, np.memmap) and f.tokens.dtype == np.uint16
    assert CountingTokenizer.calls == len(DOCS)
    again = tokenize_to_file(iter(()), tok, path, separator="<eos>", fingerprint="v1")  # nothing to read
    assert CountingTokenizer.calls == len(DOCS) and again.tokens.tolist() == f.tokens.tolist()
    header = json.loads((tmp_path / "c.tokens.json").read_text())
    assert header["tokenizer_hash"] == tok.hash and header["num_documents"] == 4
    # a new fingerprint re-tokenises
    tokenize_to_file(DOCS[:1], tok, path, separator="<eos>", fingerprint="v2")
    assert CountingTokenizer.calls == len(DOCS) + 1 and len(TokenFile(path)) == 1


def test_token_file_uint32_for_large_vocabularies(tmp_path):
    tok = CharTokenizer([chr(0x10000 + i) for i in range(70000)])
    f = tokenize_to_file([chr(0x10000 + 69999)], tok, tmp_path / "big.tokens")
    assert f.tokens.dtype == np.uint32 and f.tokens.tolist() == [69999]
    with pytest.raises(TokenFileError, match="does not fit in uint16"):
        tokenize_to_file(["a"], tok, tmp_path / "x.tokens", dtype="uint16", overwrite=True)


def test_corrupt_truncated_and_mismatched_token_files(tmp_path):
    tok = ByteTokenizer()
    path = tmp_path / "d.tokens"
    tokenize_to_file(["hello world"] * 3, tok, path)
    raw = bytearray(path.read_bytes())
    path.write_bytes(raw[:-2])
    with pytest.raises(TokenFileError, match=r"has 64 bytes but the header expects 66.*truncated") as e:
        TokenFile(path)
    assert isinstance(e.value, CheckpointError)
    raw[3] ^= 0xFF
    path.write_bytes(raw)
    with pytest.raises(TokenFileError, match="SHA-256 does not match"):
        TokenFile(path)
    assert TokenFile(path, verify=False).num_tokens == 33  # sizes only
    with pytest.raises(TokenFileError, match="not the given one"):
        TokenFile(path, tokenizer=ByteTokenizer(["<x>"]), verify=False)
    (tmp_path / "d.tokens.json").write_text("{oops")
    with pytest.raises(TokenFileError, match="not valid JSON"):
        TokenFile(path)
    (tmp_path / "d.tokens.json").unlink()
    with pytest.raises(TokenFileError, match="header .* is missing"):
        TokenFile(path)
    # a damaged file is rewritten by tokenize_to_file
    assert tokenize_to_file(["ok"], tok, path).tokens.tolist() == [111, 107]


def test_empty_corpus_and_unknown_separator(tmp_path):
    with pytest.raises(EmptyCorpusError, match="empty corpus") as e:
        tokenize_to_file(["", ""], ByteTokenizer(), tmp_path / "e.tokens")
    assert isinstance(e.value, DataError)
    with pytest.raises(UnknownTokenError, match="<eos>"):
        tokenize_to_file(["a"], ByteTokenizer(), tmp_path / "e.tokens", separator="<eos>")
    with pytest.raises(EmptyCorpusError, match="fewer than one window"):
        LMWindows(np.arange(4), block_size=4)
    with pytest.raises(EmptyCorpusError):
        PackedDocuments([[], []], 4)
    with pytest.raises(EmptyCorpusError):
        StdlibCorpus(root=tmp_path)
    with pytest.raises(EmptyCorpusError):
        TokenizedTexts([], ByteTokenizer())


@given(st.integers(2, 300), st.integers(1, 40), st.booleans())
def test_lm_windows_cover_the_stream(n, block, random):
    tokens = np.arange(n) * 7 % 1000
    if n < block + 1:
        with pytest.raises(EmptyCorpusError):
            LMWindows(tokens, block)
        return
    ds = LMWindows(tokens, block, random=random, seed=3)
    assert len(ds) == (n - 1) // block
    for i in range(len(ds)):
        w, s = ds[i], ds.start(i)
        assert w.dtype == np.int32 and w.tolist() == tokens[s : s + block + 1].tolist()
        assert 0 <= s <= n - block - 1
        if not random:
            assert s == i * block
    if not random:  # every token except the first is a target exactly once, up to the tail
        targets = np.concatenate([ds[i][1:] for i in range(len(ds))])
        assert targets.tolist() == tokens[1 : 1 + len(ds) * block].tolist()


def test_lm_windows_random_are_deterministic_and_spread():
    ds = LMWindows(np.arange(1000), 10, random=True, num_samples=500, seed=1)
    starts = [ds.start(i) for i in range(500)]
    assert starts == [
        LMWindows(np.arange(1000), 10, random=True, num_samples=500, seed=1).start(i) for i in range(500)
    ]
    assert min(starts) < 50 and max(starts) > 940 and len(set(starts)) > 350
    with pytest.raises(ConfigError, match="num_samples"):
        LMWindows(np.arange(100), 4, num_samples=3)
    with pytest.raises(ConfigError, match="block_size"):
        LMWindows(np.arange(100), 0)


def test_lm_windows_over_a_token_file_through_a_loader(tmp_path):
    tok = ByteTokenizer(["<eos>"])
    f = tokenize_to_file(["abcdefgh", "ijkl"], tok, tmp_path / "w.tokens", separator="<eos>")
    batches = list(DataLoader(LMWindows(f, 4), batch_size=2))
    assert batches[0].shape == (2, 5)
    assert batches[0][0].tolist() == [97, 98, 99, 100, 101]
    # worker processes receive the windows by path: the pickle does not carry the ids
    big = tokenize_to_file(["x" * 100_000], tok, tmp_path / "big.tokens")
    blob = pickle.dumps(LMWindows(big, 8))
    again = pickle.loads(blob)
    assert len(blob) < 10_000 and isinstance(again.tokens, np.memmap)
    assert again[3].tolist() == LMWindows(big, 8)[3].tolist()


@given(
    st.lists(st.lists(st.integers(1, 50), max_size=9), min_size=1, max_size=6),
    st.integers(1, 8),
    st.booleans(),
)
def test_packing_keeps_every_token_in_order(docs, block, pad):
    total = sum(len(d) + 1 for d in docs)
    if total < block and not pad:
        with pytest.raises(EmptyCorpusError):
            PackedDocuments(docs, block, separator=0)
        return
    ds = PackedDocuments(docs, block, separator=0, pad_id=99 if pad else None)
    stream = [t for d in docs for t in [*d, 0]]
    rows = [ds[i] for i in range(len(ds))]
    flat = [
        t
        for r in rows
        for t, m in zip(r["input_ids"].tolist(), r["attention_mask"].tolist(), strict=True)
        if m
    ]
    assert flat == (stream if pad else stream[: len(ds) * block])
    doc_of = [i for i, d in enumerate(docs) for _ in range(len(d) + 1)]
    ids = [t for r in rows for t in r["document_ids"].tolist() if t >= 0]
    assert ids == doc_of[: len(ids)]


def test_bucketing_and_padding_for_classification():
    rng = np.random.default_rng(0)
    texts = ["x" * int(n) for n in rng.integers(1, 60, size=103)]
    ds = TokenizedTexts(texts, ByteTokenizer(), labels=list(range(103)), max_length=50)
    assert ds.lengths.max() == 50
    sampler = BucketBatchSampler(ds.lengths, 8, pool_batches=4, seed=1)
    seen, pad_bucketed = [], 0
    for batch in sampler:
        assert 1 <= len(batch) <= 8
        seen += batch
        lens = ds.lengths[batch]
        pad_bucketed += int((lens.max() - lens).sum())
    assert sorted(seen) == list(range(103)) and len(list(sampler)) == len(sampler) == 13
    rand = rng.permutation(103)
    pad_random = sum(
        int((ds.lengths[rand[i : i + 8]].max() - ds.lengths[rand[i : i + 8]]).sum()) for i in range(0, 103, 8)
    )
    assert pad_bucketed < pad_random / 2
    sampler.set_epoch(1)
    assert list(sampler) != list(BucketBatchSampler(ds.lengths, 8, pool_batches=4, seed=1))
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=PadCollate(0, pad_to_multiple_of=8))
    for batch in loader:
        assert batch["input_ids"].shape[1] % 8 == 0
        for row, mask, label in zip(batch["input_ids"], batch["attention_mask"], batch["label"], strict=True):
            assert row[mask == 1].tolist() == ds[int(label)]["input_ids"].tolist()


def test_stdlib_corpus_split_is_deterministic_and_disjoint():
    train, val = StdlibCorpus("train"), StdlibCorpus("val")
    both = StdlibCorpus("all")
    assert set(train.files) | set(val.files) == set(both.files)
    assert not set(train.files) & set(val.files)
    assert 0.05 < len(val) / len(both) < 0.15
    assert all(StdlibCorpus.is_val(f) for f in val.files)
    assert not any(f.startswith("test/") or "site-packages" in f for f in both.files)
    assert StdlibCorpus("train").fingerprint == train.fingerprint != val.fingerprint
    small = StdlibCorpus("train", max_files=3)
    assert small.files == train.files[:3] and all(isinstance(t, str) and t for t in small)
    with pytest.raises(ConfigError, match="split"):
        StdlibCorpus("test")


def test_stdlib_corpus_tokenised_with_bpe(tmp_path):
    corpus = StdlibCorpus("val", max_files=5)
    tok = BPETokenizer.train(corpus, vocab_size=400, special_tokens=["<|endoftext|>"])
    f = tokenize_to_file(
        corpus, tok, tmp_path / "val.tokens", separator="<|endoftext|>", fingerprint=corpus.fingerprint
    )
    assert len(f) == 5 and tok.decode(f[0]) == corpus[0] + "<|endoftext|>"
