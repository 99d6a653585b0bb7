"""Tokenizers: byte-level BPE (HF ``tokenizers`` engine) and dependency-free byte/char tokenizers.

Every tokenizer has ``encode``/``decode`` for one text and ``encode_batch`` to padded
``input_ids``/``attention_mask`` arrays (see :class:`Tokenizer`).

Example:
    >>> from torsh.text.tokenizers import ByteTokenizer
    >>> tok = ByteTokenizer(["<pad>"], pad_token="<pad>")
    >>> tok.encode_batch(["hi", "a"], padding_side="left")["attention_mask"].tolist()
    [[1, 1], [0, 1]]
"""

from ._base import Tokenizer, clean_text
from ._bpe import GPT2_PATTERN, BPETokenizer
from ._char import ByteTokenizer, CharTokenizer

__all__ = ["Tokenizer", "BPETokenizer", "ByteTokenizer", "CharTokenizer", "GPT2_PATTERN", "clean_text"]
