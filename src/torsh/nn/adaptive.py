"""``AdaptiveLogSoftmaxWithLoss``: Grave et al.'s adaptive softmax with PyTorch's layout and results.

The head scores the ``cutoffs[0]`` frequent classes plus one entry per tail cluster; cluster ``i``
projects the input to ``in_features // div_value**(i + 1)`` features and scores its classes. PyTorch
computes each cluster only for the rows whose target falls in it (data-dependent shapes); here every
cluster is computed for every row and the right one is selected per row, so shapes are static under
``jit`` and values and gradients are the same (the unselected clusters get zero gradient).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import ConfigError, DTypeError, ShapeError
from ..tree import static
from ._checks import check_indices
from ._utils import check_float_input, positive_int, resolve_key, shape_str
from .containers import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]


class _ASMoutput(NamedTuple):
    """What :class:`AdaptiveLogSoftmaxWithLoss` returns, named as PyTorch's: ``(output, loss)``."""

    output: jax.Array
    loss: jax.Array


def _check_cutoffs(cutoffs: Any, n_classes: int) -> tuple[int, ...]:
    values = list(cutoffs)
    if len(values) == 0:
        raise ConfigError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length larger than 0")
    integral = all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in values)
    if (
        not integral
        or values != sorted(values)
        or min(values) <= 0
        or max(values) > n_classes - 1
        or len(set(values)) != len(values)
    ):
        raise ConfigError(
            "AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, positive integers sorted in "
            f"an increasing order, where each value is between 1 and n_classes-1 ({n_classes - 1}), got "
            f"{list(cutoffs)!r}"
        )
    return tuple(int(c) for c in values)


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation for many classes (``torch.nn.AdaptiveLogSoftmaxWithLoss``).

    Classes ``[0, cutoffs[0])`` are scored by the head directly; the others fall into tail clusters
    ``[cutoffs[i], cutoffs[i + 1])`` (the last ending at ``n_classes``), each scored through a
    projection of size ``in_features // div_value**(i + 1)``. Parameters and state-dict keys are
    PyTorch's: ``head.weight`` (``head.bias`` with ``head_bias``), ``tail.<i>.0.weight``,
    ``tail.<i>.1.weight``, initialised as ``nn.Linear``.

    ``model(input_, target_)`` returns ``_ASMoutput`` ``(output, loss)``: each target's
    log-probability and their mean negative. ``log_prob(input)`` gives all ``n_classes``
    log-probabilities, ``predict(input)`` the most likely class.

    Args:
      in_features: number of features of the input.
      n_classes: number of classes.
      cutoffs: increasing cluster boundaries, unique ints in ``[1, n_classes - 1]``.
      div_value: divisor of the cluster projection sizes (default 4.0).
      head_bias: give the head a bias (default False).
      dtype: parameter dtype (default: torsh's default float dtype).
      key: PRNG key (or seed) of the initialisation.

    Raises:
      ConfigError: bad ``cutoffs`` (empty, unsorted, repeated, non-integer or outside
        ``[1, n_classes - 1]``), or non-positive sizes.
      ShapeError: in ``forward``, an input/target pair of mismatched ranks or batch sizes.
      DTypeError: in ``forward``, a non-integer target or a non-floating input.
      IndexOutOfRangeError: in ``forward``, a target outside ``[0, n_classes)`` (eagerly; under
        ``jit`` inside :func:`torsh.debug.checks`).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> asm = nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4, 8], key=0)
      >>> list(asm.state_dict())
      ['head.weight', 'tail.0.0.weight', 'tail.0.1.weight', 'tail.1.0.weight', 'tail.1.1.weight']
      >>> out = asm(jnp.ones((3, 8)), jnp.array([0, 5, 9]))
      >>> out.output.shape, out.loss.shape, asm.log_prob(jnp.ones((3, 8))).shape
      ((3,), (), (3, 10))
    """

    head: Linear
    tail: ModuleList
    in_features: int = static()
    n_classes: int = static()
    cutoffs: tuple[int, ...] = static()
    div_value: float = static()
    head_bias: bool = static()

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        *,
        dtype: Any = None,
        key: Any = None,
    ) -> None:
        name = "AdaptiveLogSoftmaxWithLoss"
        positive_int("in_features", in_features, name)
        positive_int("n_classes", n_classes, name)
        given = _check_cutoffs(cutoffs, n_classes)
        if isinstance(div_value, bool) or not isinstance(div_value, (int, float)) or div_value <= 0:
            raise ConfigError(f"{name}: div_value must be a positive number, got {div_value!r}")
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = (*given, n_classes)  # PyTorch's attribute: the given cutoffs and n_classes
        self.div_value = float(div_value)
        self.head_bias = bool(head_bias)
        n_clusters = len(self.cutoffs) - 1
        keys = jax.random.split(resolve_key(key), 1 + 2 * n_clusters)
        self.head = Linear(in_features, self.cutoffs[0] + n_clusters, head_bias, key=keys[0], dtype=dtype)
        tails = []
        for i in range(n_clusters):
            hsz = int(in_features // (self.div_value ** (i + 1)))
            osz = self.cutoffs[i + 1] - self.cutoffs[i]
            tails.append(
                Sequential(
                    Linear(in_features, hsz, bias=False, key=keys[1 + 2 * i], dtype=dtype),
                    Linear(hsz, osz, bias=False, key=keys[2 + 2 * i], dtype=dtype),
                )
            )
        self.tail = ModuleList(tails)

    @property
    def shortlist_size(self) -> int:
        """Number of classes the head scores directly (``cutoffs[0]``)."""
        return self.cutoffs[0]

    @property
    def n_clusters(self) -> int:
        """Number of tail clusters."""
        return len(self.cutoffs) - 1

    @property
    def head_size(self) -> int:
        """Outputs of the head: the shortlist plus one per cluster."""
        return self.shortlist_size + self.n_clusters

    def _check_input(self, x: Any, ranks: tuple[int, ...], what: str) -> None:
        check_float_input(x)
        if x.ndim not in ranks or x.shape[-1] != self.in_features:
            layout = " or ".join(["(in_features,)", "(N, in_features)"][r - 1] for r in ranks)
            raise ShapeError(
                f"{what}: expected input {layout} with in_features={self.in_features}, got "
                f"{shape_str(x.shape)}"
            )

    def forward(self, input_: jax.Array, target_: jax.Array) -> _ASMoutput:
        if not hasattr(target_, "ndim") or not jnp.issubdtype(target_.dtype, jnp.integer):
            got = getattr(target_, "dtype", type(target_).__name__)
            raise DTypeError(
                f"expected integer class indices as target, got {got}; use `target.astype(jnp.int32)`"
            )
        if target_.ndim == 1:
            if input_.ndim != 2:
                raise ShapeError(
                    "1D target tensor expects 2D input tensors, but found inputs with size "
                    f"{shape_str(input_.shape)}"
                )
            if input_.shape[0] != target_.shape[0]:
                raise ShapeError(
                    "Input and target should have the same size in the batch dimension: got input "
                    f"{shape_str(input_.shape)} and target {shape_str(target_.shape)}"
                )
        elif target_.ndim == 0:
            if input_.ndim != 1:
                raise ShapeError(
                    "0D target tensor expects 1D input tensors, but found inputs with size "
                    f"{shape_str(input_.shape)}"
                )
        else:
            raise ShapeError(
                "0D or 1D target tensor expected, multi-target not supported "
                f"(got {shape_str(target_.shape)})"
            )
        self._check_input(input_, (1, 2), "AdaptiveLogSoftmaxWithLoss")
        check_indices("AdaptiveLogSoftmaxWithLoss", "target", target_, self.n_classes, "n_classes")
        x = input_ if target_.ndim else input_[None]
        t = target_ if target_.ndim else target_[None]
        bounds = jnp.asarray(self.cutoffs[:-1], t.dtype)
        cluster = jnp.sum(t[:, None] >= bounds, axis=1)  # 0: shortlist, i: tail cluster i - 1
        head_index = jnp.where(cluster == 0, t, self.shortlist_size + cluster - 1)
        head_logp = jax.nn.log_softmax(self.head(x), axis=1)
        output = jnp.take_along_axis(head_logp, head_index[:, None], axis=1)[:, 0]
        for i, proj in enumerate(self.tail):
            rel = jnp.clip(t - self.cutoffs[i], 0, self.cutoffs[i + 1] - self.cutoffs[i] - 1)
            local = jnp.take_along_axis(jax.nn.log_softmax(proj(x), axis=1), rel[:, None], axis=1)[:, 0]
            output = output + jnp.where(cluster == i + 1, local, jnp.zeros_like(local))
        loss = jnp.mean(-output)
        return _ASMoutput(output if target_.ndim else output[0], loss)

    def _full_log_prob(self, x: jax.Array, head_output: jax.Array) -> jax.Array:
        head_logp = jax.nn.log_softmax(head_output, axis=1)
        parts = [head_logp[:, : self.shortlist_size]]
        for i, proj in enumerate(self.tail):
            cluster_logp = jax.nn.log_softmax(proj(x), axis=1)
            parts.append(cluster_logp + head_logp[:, self.shortlist_size + i, None])
        return jnp.concatenate(parts, axis=1)

    def log_prob(self, input: jax.Array) -> jax.Array:
        """Log-probabilities of all ``n_classes`` classes (PyTorch's ``log_prob``).

        Args:
          input: ``(N, in_features)``.

        Returns:
          ``(N, n_classes)`` log-probabilities.

        Raises:
          ShapeError: an input that is not ``(N, in_features)``.
          DTypeError: a non-floating input.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> asm = nn.AdaptiveLogSoftmaxWithLoss(4, 6, cutoffs=[2], key=0)
          >>> round(float(jnp.exp(asm.log_prob(jnp.ones((1, 4)))).sum()), 5)
          1.0
        """
        self._check_input(input, (2,), "AdaptiveLogSoftmaxWithLoss.log_prob")
        return self._full_log_prob(input, self.head(input))

    def predict(self, input: jax.Array) -> jax.Array:
        """The most likely class of each sample (``log_prob(input).argmax(1)``, as PyTorch's ``predict``).

        Samples whose head prediction is a shortlist class take it without scoring the clusters in
        PyTorch; the result is the same here, computed for all rows.

        Args:
          input: ``(N, in_features)``.

        Returns:
          ``(N,)`` class indices.

        Raises:
          ShapeError: an input that is not ``(N, in_features)``.
          DTypeError: a non-floating input.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import nn
          >>> asm = nn.AdaptiveLogSoftmaxWithLoss(4, 6, cutoffs=[2], key=0)
          >>> asm.predict(jnp.ones((3, 4))).shape
          (3,)
        """
        self._check_input(input, (2,), "AdaptiveLogSoftmaxWithLoss.predict")
        head_output = self.head(input)
        head_pred = jnp.argmax(head_output, axis=1)
        full_pred = jnp.argmax(self._full_log_prob(input, head_output), axis=1)
        return jnp.where(head_pred < self.shortlist_size, head_pred, full_pred)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, cutoffs={list(self.cutoffs[:-1])}, "
            f"div_value={self.div_value}, head_bias={self.head_bias}"
        )
