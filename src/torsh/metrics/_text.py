"""Perplexity of a language model's next-token predictions."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from ..tree import static
from ._base import Metric, State, float_dtype

__all__ = ["Perplexity"]


class Perplexity(Metric):
    """``exp`` of the mean negative log-likelihood of the targets.

    torchmetrics' Perplexity; ``exp(sklearn.metrics.log_loss(...))``.

    ``preds`` are logits ``[..., vocab]`` (e.g. ``[batch, seq, vocab]``), ``target`` token ids of the
    leading shape; ``mask`` is ``[batch]`` or the target's shape; ids equal to ``ignore_index`` are
    left out, as in ``cross_entropy``. NaN when no token was counted.

    Args:
      ignore_index: a target id to leave out (padding), or ``None``.

    Raises:
      ConfigError: ``ignore_index`` is neither ``None`` nor an int.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import metrics
      >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]))
      >>> float(metrics.Perplexity()(logits, jnp.array([0, 1])))
      2.0
    """

    ignore_index: int | None = static(default=None)

    def __init__(self, ignore_index: int | None = None) -> None:
        if ignore_index is not None and (not isinstance(ignore_index, int) or isinstance(ignore_index, bool)):
            self._fail("ignore_index", "None or an int", ignore_index)
        self.ignore_index = ignore_index

    def init(self) -> State:
        return {"nll": jnp.zeros((), float_dtype()), "count": jnp.zeros((), float_dtype())}

    def update(self, state: State, preds: Any, target: Any, mask: Any = None) -> State:
        t = self._int_target(target)
        p = self._array(preds, "preds")
        if p.shape[:-1] != t.shape or p.ndim < 2:
            raise ShapeError(
                f"{self._name()}: preds must be logits of shape [*target.shape, vocab] = "
                f"{[*t.shape, 'vocab']}, got {list(p.shape)}"
            )
        valid = self._mask(mask, t.shape)
        if self.ignore_index is not None:
            valid = valid & (t != self.ignore_index)
        vocab = p.shape[-1]
        self._check_range(t, valid, vocab, "target")
        logp = jax.nn.log_softmax(p.astype(jnp.promote_types(p.dtype, jnp.float32)), axis=-1)
        picked = jnp.take_along_axis(logp, jnp.clip(t, 0, vocab - 1)[..., None], axis=-1)[..., 0]
        return {
            "nll": state["nll"] - jnp.sum(jnp.where(valid, picked, 0.0)).astype(float_dtype()),
            "count": state["count"] + jnp.sum(valid),
        }

    def compute(self, state: State) -> jax.Array:
        return jnp.exp(state["nll"] / state["count"])
