"""torsh.text: tokenizers, token datasets, GPT-2/Llama models and KV-cached generation.

* :mod:`torsh.text.tokenizers` - ``BPETokenizer`` (byte-level BPE on HF ``tokenizers``),
  ``ByteTokenizer``, ``CharTokenizer``.
* :mod:`torsh.text.datasets` - memory-mapped token files, ``LMWindows``, document packing,
  length bucketing, ``StdlibCorpus``.
* :mod:`torsh.text.models` - ``GPT2LMHeadModel`` and ``LlamaForCausalLM`` with HF ``transformers``'
  state-dict keys.
* :func:`torsh.text.generate` - prefill + one compiled decode step over a preallocated KV cache.

Subpackages load on first use. See docs/text.md.

Example:
    >>> import torsh.text as text
    >>> text.tokenizers.ByteTokenizer().encode("hi")
    [104, 105]
"""

from __future__ import annotations

import importlib
from typing import Any

from ._errors import (
    ContextLengthError,
    EmptyCorpusError,
    TokenFileError,
    TokenIdError,
    TokenizerError,
    UnknownTokenError,
)

_LAZY_SUBMODULES = ("tokenizers", "datasets", "models")
_LAZY_ATTRIBUTES = {"generate": "generate", "KVCache": "models"}

__all__ = [
    "tokenizers",
    "datasets",
    "models",
    "generate",
    "KVCache",
    "TokenizerError",
    "UnknownTokenError",
    "TokenIdError",
    "TokenFileError",
    "EmptyCorpusError",
    "ContextLengthError",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_ATTRIBUTES:
        module = importlib.import_module(
            "._generate" if name == "generate" else f".{_LAZY_ATTRIBUTES[name]}", __name__
        )
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _LAZY_SUBMODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'torsh.text' has no attribute {name!r}")
