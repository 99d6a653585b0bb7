"""Fixed-size batches with a mask: ``DataLoader(pad_last=True)``.

A short last batch has another shape than the others, so a jitted step compiles a second time for it
(5-12 s on CPU for a small model). With ``pad_last=True`` the loader pads the short batch to the full
batch size by repeating its last sample and yields every batch as a :class:`MaskedBatch` whose
``mask`` is False on the padded rows: one shape, one compilation, and metrics/losses weighted by the
mask count each real sample exactly once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tree import Struct
from ._fetch import pad_samples

__all__ = ["MaskedBatch", "pad_samples"]


class MaskedBatch(Struct):
    """A batch of always ``batch_size`` rows and which of them are real samples.

    Attributes:
      data: the collated batch (any pytree), ``batch_size`` rows; a short batch is padded by repeating
        its last sample.
      mask: ``bool`` array ``[batch_size]``, False on padded rows.

    A pytree: ``jax.jit`` takes it whole, ``device=`` places both fields.

    Args:
      data: The collated batch (any pytree) of ``batch_size`` rows; a short batch is padded by
        repeating its last sample.
      mask: A ``bool`` array ``[batch_size]``, False on padded rows.

    Example:
      >>> import numpy as np
      >>> from torsh.data import ArrayDataset, DataLoader
      >>> loader = DataLoader(ArrayDataset(np.arange(5.0)), batch_size=2, pad_last=True)
      >>> last = list(loader)[-1]
      >>> last.data[0].tolist(), last.mask.tolist()
      ([4.0, 4.0], [True, False])
      >>> float((last.data[0] * last.mask).sum() / last.mask.sum())   # a masked mean
      4.0
    """

    data: Any
    mask: Any

    @property
    def num_valid(self) -> int:
        """The number of real (unpadded) rows."""
        return int(np.asarray(self.mask).sum())
