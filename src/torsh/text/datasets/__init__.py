"""Text datasets: memory-mapped token files, LM windows, packing, bucketing, the stdlib corpus.

All are :class:`torsh.data.Dataset` s (``len`` + indexing), so ``torsh.data.DataLoader`` batches
them with workers, shuffling and device prefetch.

Example:
    >>> import numpy as np
    >>> from torsh.data import DataLoader
    >>> from torsh.text.datasets import LMWindows
    >>> batch = next(iter(DataLoader(LMWindows(np.arange(100), 8), batch_size=4)))
    >>> batch.shape
    (4, 9)
"""

from ._bucket import BucketBatchSampler, PadCollate, TokenizedTexts
from ._stdlib import StdlibCorpus
from ._tokenfile import TokenFile, tokenize_to_file
from ._windows import LMWindows, PackedDocuments

__all__ = [
    "TokenFile",
    "tokenize_to_file",
    "LMWindows",
    "PackedDocuments",
    "TokenizedTexts",
    "BucketBatchSampler",
    "PadCollate",
    "StdlibCorpus",
]
