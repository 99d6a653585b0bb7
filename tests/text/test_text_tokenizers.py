"""Tokenizers against independent engines: HF tokenizers/transformers, GPT-2's Python BPE, tiktoken."""

from __future__ import annotations

import glob
import json
import sysconfig

import jax
import numpy as np
import pytest
import tokenizers
from hypothesis import given
from hypothesis import strategies as st

from torsh.errors import CheckpointError, ConfigError, DataError, TorshError
from torsh.text import EmptyCorpusError, TokenFileError, TokenIdError, TokenizerError, UnknownTokenError
from torsh.text.tokenizers import BPETokenizer, ByteTokenizer, CharTokenizer, clean_text

SPECIALS = ["<|endoftext|>", "<pad>"]
_EXTRA = [
    "😀",
    "👍🏽",
    "🇫🇷",
    "\u200d",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u3000",
    "\ud800",
    "\udfff",
    "\ud83d\ude00",
    "'s",
    "'ll",
    "é",
    "e\u0301",
    "中文",
    "١٢٣",
    "\x00",
    "\ufffd",
]
TEXT = st.lists(
    st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from(_EXTRA)), max_size=40
).map("".join)


def _corpus() -> list[str]:
    files = sorted(glob.glob(sysconfig.get_paths()["stdlib"] + "/*.py"))[:30]
    texts = [open(f, encoding="utf-8", errors="replace").read() for f in files]
    return texts + ["héllo wörld 😀 中文 😀 emoji 👍🏽"] * 20


@pytest.fixture(scope="module")
def bpe() -> BPETokenizer:
    return BPETokenizer.train(_corpus(), vocab_size=900, special_tokens=SPECIALS, pad_token="<pad>")


@pytest.fixture(scope="module")
def files(bpe, tmp_path_factory):
    d = tmp_path_factory.mktemp("tok")
    bpe.save(d / "tokenizer.json")
    vocab, merges = bpe.save_gpt2_files(d)
    return d / "tokenizer.json", vocab, merges


@pytest.fixture(scope="module")
def references(bpe, files):
    from transformers import GPT2Tokenizer, PreTrainedTokenizerFast

    tj, vocab, merges = files
    return {
        "hf": tokenizers.Tokenizer.from_file(str(tj)),
        "fast": PreTrainedTokenizerFast(tokenizer_file=str(tj)),
        "slow": GPT2Tokenizer(vocab, merges),  # transformers' pure-Python GPT-2 BPE: an independent engine
        "tiktoken": bpe.to_tiktoken(),
        "reloaded": BPETokenizer.from_file(tj),
        "gpt2_files": BPETokenizer.from_gpt2_files(vocab, merges, special_tokens=SPECIALS),
    }


def test_trained_vocabulary_layout(bpe):
    assert bpe.vocab_size == 900
    assert bpe.special_tokens == {"<|endoftext|>": 0, "<pad>": 1}
    assert bpe.pad_token_id == 1
    ranks = bpe.mergeable_ranks()
    assert len(ranks) == 898 and all(bytes([b]) in ranks for b in range(256))


@given(TEXT)
def test_ids_equal_hf_transformers_slow_gpt2_and_tiktoken(bpe, references, text):
    clean = clean_text(text)
    ids = bpe.encode(text)
    assert ids == references["hf"].encode(clean, add_special_tokens=False).ids
    assert ids == references["fast"].encode(clean, add_special_tokens=False)
    assert ids == references["slow"].encode(clean)
    assert ids == references["tiktoken"].encode(text, disallowed_special=())  # tiktoken cleans itself
    assert ids == references["reloaded"].encode(text) == references["gpt2_files"].encode(text)
    assert bpe.decode(ids) == clean == references["tiktoken"].decode(ids)


@given(TEXT)
def test_round_trip_and_surrogate_rule(bpe, text):
    assert bpe.decode(bpe.encode(text)) == clean_text(text)
    # Valid text (no lone surrogates) round-trips exactly.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates become U+FFFD, adjacent high+low surrogates their character (tiktoken's rule).
        assert clean_text(text) == text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        with pytest.raises(TokenizerError, match="lone surrogate"):
            BPETokenizer(bpe.hf_tokenizer, errors="strict").encode(text)
    else:
        assert bpe.decode(bpe.encode(text)) == text


def test_surrogate_pair_joins_and_lone_surrogate_is_replaced(bpe):
    assert clean_text("a\ud83d\ude00b") == "a😀b"
    assert bpe.decode(bpe.encode("x\udfffy")) == "x\ufffdy"


def test_special_tokens_in_text_and_decoding_them(bpe):
    ids = bpe.encode("a<|endoftext|>b")
    assert 0 in ids and bpe.decode(ids) == "a<|endoftext|>b"
    assert bpe.decode(ids, skip_special_tokens=True) == "ab"


def test_partial_utf8_decodes_to_replacement_character(bpe):
    e_acute = bpe.encode("é")  # two bytes; a lone first byte is invalid UTF-8
    byte_ids = bpe.mergeable_ranks()
    assert bpe.decode([byte_ids[b"\xc3"]]) == "\ufffd"
    assert bpe.decode(e_acute) == "é"


def test_batch_padding_truncation_and_arrays(bpe):
    texts = ["hello world", "a", ""]
    singles = [bpe.encode(t) for t in texts]
    out = bpe.encode_batch(texts)
    width = max(map(len, singles))
    assert out["input_ids"].shape == (3, width) and out["input_ids"].dtype == np.int32
    for row, mask, ids in zip(out["input_ids"], out["attention_mask"], singles, strict=True):
        assert row[: len(ids)].tolist() == ids and set(row[len(ids) :].tolist()) <= {1}
        assert mask.tolist() == [1] * len(ids) + [0] * (width - len(ids))
    left = bpe.encode_batch(texts, padding_side="left", return_tensors="jax")
    assert isinstance(left["input_ids"], jax.Array)
    assert (
        np.asarray(left["input_ids"])[1, -1] == singles[1][0]
        and np.asarray(left["attention_mask"])[1, 0] == 0
    )
    cut = bpe.encode_batch(texts, truncation=True, max_length=2, padding="max_length")
    assert cut["input_ids"][0].tolist() == singles[0][:2]
    assert cut["attention_mask"].sum(1).tolist() == [min(2, len(s)) for s in singles]
    assert bpe.encode_batch(texts, padding=False, return_tensors=None)["input_ids"] == singles
    # The same padded batch from transformers' fast tokenizer on the saved file.
    from transformers import PreTrainedTokenizerFast

    tj = bpe.to_str()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizers.Tokenizer.from_str(tj), pad_token="<pad>")
    ref = fast(texts, padding=True, return_tensors="np", add_special_tokens=False)
    np.testing.assert_array_equal(out["input_ids"], ref["input_ids"])
    np.testing.assert_array_equal(out["attention_mask"], ref["attention_mask"])
    assert bpe.decode_batch(out["input_ids"], skip_special_tokens=True) == texts


def test_train_from_files_equals_train_from_texts(tmp_path):
    texts = ["the quick brown fox", "jumps over the lazy dog", "the end"] * 5
    for i, t in enumerate(texts):
        (tmp_path / f"{i}.txt").write_text(t + "\n")
    a = BPETokenizer.train(sorted(tmp_path.glob("*.txt")), vocab_size=300)
    b = BPETokenizer.train([t + "\n" for t in texts], vocab_size=300)
    assert a.encode("the lazy fox") == b.encode("the lazy fox")
    assert a.hash == b.hash


def test_gpt2_files_detect_special_tokens(files):
    _, vocab, merges = files
    tok = BPETokenizer.from_gpt2_files(vocab, merges)
    assert tok.special_tokens == {"<|endoftext|>": 0}  # "<pad>" is not spelled <|...|>
    with pytest.raises(UnknownTokenError, match="<mask>"):
        BPETokenizer.from_gpt2_files(vocab, merges, special_tokens=["<mask>"])


def test_bad_input_errors(bpe, tmp_path):
    with pytest.raises(UnknownTokenError, match="unknown token '<nope>'") as e:
        bpe.token_to_id("<nope>")
    assert isinstance(e.value, TorshError) and isinstance(e.value, ConfigError)
    with pytest.raises(UnknownTokenError, match="pad_token"):
        BPETokenizer(bpe.hf_tokenizer, pad_token="<unk>")
    with pytest.raises(TokenIdError, match=r"id 900 at position 1 is out of the vocabulary \[0, 900\)"):
        bpe.decode([5, 900])
    with pytest.raises(TokenIdError, match="-1"):
        bpe.decode(np.array([-1]))
    with pytest.raises(EmptyCorpusError) as e:
        BPETokenizer.train(["", ""], vocab_size=300)
    assert isinstance(e.value, DataError)
    with pytest.raises(TokenizerError, match="vocab_size"):
        BPETokenizer.train(["abc"], vocab_size=100)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenFileError, match="bad.json") as e:
        BPETokenizer.from_file(tmp_path / "bad.json")
    assert isinstance(e.value, CheckpointError)
    with pytest.raises(TokenFileError, match="no such file"):
        BPETokenizer.from_file(tmp_path / "missing.json")
    with pytest.raises(TokenizerError, match="pad id"):
        BPETokenizer(bpe.hf_tokenizer).encode_batch(["a b", "a"])
    with pytest.raises(TokenizerError, match="max_length"):
        bpe.encode_batch(["a"], truncation=True)
    with pytest.raises(TokenizerError, match="truncation=True"):
        bpe.encode_batch(["a b c d e f"], padding="max_length", max_length=2)
    with pytest.raises(TokenizerError, match="expected a str"):
        bpe.encode(b"bytes")


@given(TEXT)
def test_byte_tokenizer_round_trip(text):
    tok = ByteTokenizer(SPECIALS, pad_token="<pad>")
    ids = tok.encode(text)
    assert ids == list(clean_text(text).encode("utf-8"))
    assert tok.decode(ids) == clean_text(text)


def test_byte_tokenizer_specials_and_errors():
    tok = ByteTokenizer(SPECIALS, pad_token="<pad>")
    assert tok.encode("<pad>a<|endoftext|>") == [257, 97, 256]
    assert tok.decode([97, 256, 98], skip_special_tokens=True) == "ab"
    assert tok.decode([0xC3]) == "\ufffd"
    with pytest.raises(TokenIdError):
        tok.decode([258])
    with pytest.raises(UnknownTokenError):
        ByteTokenizer(["<a>"], pad_token="<b>")
    with pytest.raises(TokenizerError, match="lone surrogate"):
        ByteTokenizer(errors="strict").encode("\ud800")


@given(st.lists(TEXT, min_size=1, max_size=4))
def test_char_tokenizer_round_trip(texts):
    if not "".join(texts):
        with pytest.raises(EmptyCorpusError):
            CharTokenizer.from_texts(texts)
        return
    tok = CharTokenizer.from_texts(texts, special_tokens=["<pad>"], pad_token="<pad>")
    for t in texts:
        ids = tok.encode(t)
        assert len(ids) == len(clean_text(t)) and tok.decode(ids) == clean_text(t)


def test_char_tokenizer_unknown_characters_save_and_load(tmp_path):
    tok = CharTokenizer.from_texts(["abc"], special_tokens=["<unk>"])
    with pytest.raises(UnknownTokenError, match=r"'z' \(U\+007A\) at index 1"):
        tok.encode("az")
    unk = CharTokenizer.from_texts(["abc"], special_tokens=["<unk>"], unk_token="<unk>")
    assert unk.encode("az") == [1, 0]
    unk.save(tmp_path / "c.json")
    again = CharTokenizer.load(tmp_path / "c.json")
    assert again.hash == unk.hash and again.encode("cab") == unk.encode("cab")
    (tmp_path / "x.json").write_text(json.dumps({"type": "other"}))
    with pytest.raises(TokenFileError, match="x.json"):
        CharTokenizer.load(tmp_path / "x.json")
