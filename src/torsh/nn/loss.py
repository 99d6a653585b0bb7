"""Loss modules (``nn.CrossEntropyLoss()``, ...) and distance modules, wrapping :mod:`torsh.nn.functional`.

Class weights (``weight``, ``pos_weight``) are buffers, as in PyTorch: saved in ``state_dict``, never trained.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..errors import ConfigError, ShapeError
from ..tree import static
from . import functional as F
from ._utils import REDUCTIONS, check_reduction, positive_int
from .functional._loss import LinearCrossEntropyOptions
from .linear import Linear
from .module import Module, buffer

__all__ = [
    "CrossEntropyLoss",
    "NLLLoss",
    "MSELoss",
    "L1Loss",
    "SmoothL1Loss",
    "HuberLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "CosineSimilarity",
    "PairwiseDistance",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
]


def _opt_array(x: Any) -> jax.Array | None:
    return None if x is None else jnp.asarray(x)


class _Loss(Module):
    """Base of the losses: a checked ``reduction=``, and PyTorch's deprecated ``size_average``/``reduce``."""

    reduction: str = static()
    _reductions: ClassVar[tuple[str, ...]] = REDUCTIONS  # the accepted reductions

    def __init__(self, size_average: Any = None, reduce: Any = None, reduction: str = "mean") -> None:
        # size_average/reduce: PyTorch's deprecated spellings of reduction, accepted for ported code
        check_reduction(type(self).__name__, reduction, self._reductions)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class CrossEntropyLoss(_Loss):
    """Cross entropy of logits against class indices or probabilities (``torch.nn.CrossEntropyLoss``).

    Args:
      weight: A rescaling weight per class, or None.
      size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
      ignore_index: A target index that contributes nothing.
      reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
      reduction: ``"none"``, ``"mean"`` or ``"sum"``.
      label_smoothing: In ``[0, 1]``: mix this much of the uniform distribution into the target.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.CrossEntropyLoss(label_smoothing=0.1)
      >>> round(float(loss(jnp.zeros((2, 3)), jnp.array([0, 2]))), 4)
      1.0986
    """

    weight: jax.Array | None = buffer()
    ignore_index: int = static()
    label_smoothing: float = static()

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _opt_array(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities (``torch.nn.NLLLoss``).

    Args:
        weight: A rescaling weight per class, or None.
        size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        ignore_index: A target index that contributes nothing.
        reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> log_p = jnp.log(jnp.array([[0.5, 0.5], [0.25, 0.75]]))
        >>> round(float(nn.NLLLoss()(log_p, jnp.array([0, 1]))), 4)
        0.4904
    """

    weight: jax.Array | None = buffer()
    ignore_index: int = static()

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _opt_array(weight)
        self.ignore_index = int(ignore_index)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss, init=False):
    """Mean squared error (``torch.nn.MSELoss``).

    Args:
      size_average: PyTorch's deprecated argument; ignored.
      reduce: PyTorch's deprecated argument; ignored.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Raises:
      ConfigError: another ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> float(nn.MSELoss()(jnp.array([1.0, 3.0]), jnp.array([0.0, 0.0])))
      5.0
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss, init=False):
    """Mean absolute error (``torch.nn.L1Loss``).

    Args:
      size_average: PyTorch's deprecated argument; ignored.
      reduce: PyTorch's deprecated argument; ignored.
      reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Raises:
      ConfigError: another ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> float(nn.L1Loss(reduction="sum")(jnp.array([1.0, -3.0]), jnp.array([0.0, 0.0])))
      4.0
    """

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """Smooth L1 loss with threshold ``beta`` (``torch.nn.SmoothL1Loss``).

    Args:
        size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        beta: Where the loss switches from quadratic to linear (``>= 0``).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> nn.SmoothL1Loss(beta=1.0)(jnp.array([0.0, 0.5, 3.0]), jnp.zeros(3)).item()
        0.875
    """

    beta: float = static()

    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean", beta: float = 1.0
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = float(beta)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """Huber loss with threshold ``delta`` (``torch.nn.HuberLoss``).

    Args:
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        delta: Where the loss switches from quadratic to linear (``> 0``).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> nn.HuberLoss(delta=1.0)(jnp.array([0.0, 0.5, 3.0]), jnp.zeros(3)).item()
        0.875
    """

    delta: float = static()

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = float(delta)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross entropy of probabilities (``torch.nn.BCELoss``).

    Args:
        weight: Rescales each element, or None.
        size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> round(float(nn.BCELoss()(jnp.array([0.9, 0.2]), jnp.array([1.0, 0.0]))), 4)
        0.1643
    """

    weight: jax.Array | None = buffer()

    def __init__(
        self, weight: Any = None, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _opt_array(weight)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross entropy, with ``pos_weight`` (``torch.nn.BCEWithLogitsLoss``).

    Args:
        weight: Rescales each element, or None.
        size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        pos_weight: Weight of the positive term per class, or None.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> loss = nn.BCEWithLogitsLoss(pos_weight=jnp.array([2.0]))
        >>> round(float(loss(jnp.array([0.0]), jnp.array([1.0]))), 4)  # 2 * log(2)
        1.3863
    """

    weight: jax.Array | None = buffer()
    pos_weight: jax.Array | None = buffer()

    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        pos_weight: Any = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.weight = _opt_array(weight)
        self.pos_weight = _opt_array(pos_weight)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class KLDivLoss(_Loss):
    """KL divergence for log-probability inputs (``torch.nn.KLDivLoss``); prefer ``reduction='batchmean'``.

    Args:
        size_average: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduce: Deprecated in PyTorch; kept for signature compatibility (use ``reduction``).
        reduction: ``"none"``, ``"mean"``, ``"sum"`` or ``"batchmean"`` (the true KL divergence).
        log_target: The target holds log-probabilities.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> log_p = jnp.log(jnp.array([[0.25, 0.75]]))
        >>> round(float(nn.KLDivLoss(reduction="batchmean")(log_p, jnp.array([[0.5, 0.5]]))), 4)
        0.1438
    """

    log_target: bool = static()
    _reductions = (*REDUCTIONS, "batchmean")

    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean", log_target: bool = False
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = bool(log_target)

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        return F.kl_div(input, target, self.reduction, self.log_target)


class CosineSimilarity(Module):
    """Cosine similarity along ``dim`` (``torch.nn.CosineSimilarity``).

    Args:
        dim: The dimension along which to compare.
        eps: Lower bound of the norms.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> sim = nn.CosineSimilarity(dim=1)(jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 1.0]]))
        >>> [round(v, 4) for v in sim.tolist()]
        [0.7071]
    """

    dim: int = static()
    eps: float = static()

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        self.dim = int(dim)
        self.eps = float(eps)

    def forward(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """p-norm distance along the last axis (``torch.nn.PairwiseDistance``).

    Args:
        p: The norm degree.
        eps: Added to the difference (avoids a zero norm's gradient).
        keepdim: Keep the reduced last dimension.

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import nn
        >>> nn.PairwiseDistance(eps=0.0)(jnp.array([[0.0, 0.0]]), jnp.array([[3.0, 4.0]])).tolist()
        [5.0]
    """

    norm: float = static()
    eps: float = static()
    keepdim: bool = static()

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        self.norm = float(p)
        self.eps = float(eps)
        self.keepdim = bool(keepdim)

    def forward(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class LinearCrossEntropyLoss(_Loss):
    """A linear layer followed by cross entropy (``torch.nn.LinearCrossEntropyLoss``).

    Holds ``linear`` (an ``nn.Linear(in_features, C * prod(out_features), bias)``, PyTorch's flat storage
    and state-dict keys ``linear.weight``/``linear.bias``) and calls
    :func:`torsh.nn.functional.linear_cross_entropy` with the weight viewed as
    ``(C, *out_features, in_features)``. ``options`` chunks the batch to save memory.

    Args:
      in_features: size of each input sample.
      num_classes: number of classes ``C``.
      out_features: ``(d1, ..., dK)`` for a K-dimensional loss (default ``()``).
      bias: give the linear layer a bias (default False, as PyTorch).
      dtype: parameter dtype (default: torsh's default float dtype).
      reduction: ``"none"``, ``"mean"`` or ``"sum"``.
      weight: a rescaling weight per class ``(C,)`` (a buffer), or None.
      ignore_index: a class index that contributes nothing (None: -100 for class-index targets).
      label_smoothing: in ``[0, 1]``.
      options: :class:`LinearCrossEntropyOptions` for the chunked path, or None.
      key: PRNG key (or seed) of the linear layer's initialisation.

    Raises:
      ConfigError: a bad ``reduction``, ``label_smoothing`` outside [0, 1], or bad sizes.
      ShapeError: a ``weight`` that is not of shape ``(C,)``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.LinearCrossEntropyLoss(4, 3, bias=True, key=0)
      >>> list(loss.state_dict())
      ['linear.weight', 'linear.bias']
      >>> loss(jnp.ones((2, 4)), jnp.array([0, 2])).shape
      ()
    """

    linear: Linear
    weight: jax.Array | None = buffer()
    num_classes: int = static()
    out_features: tuple[int, ...] = static()
    ignore_index: int | None = static()
    label_smoothing: float = static()
    options: LinearCrossEntropyOptions | None = static()

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        dtype: Any = None,
        reduction: str = "mean",
        weight: Any = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: LinearCrossEntropyOptions | None = None,
        key: Any = None,
    ) -> None:
        name = "LinearCrossEntropyLoss"
        super().__init__(None, None, reduction)
        positive_int("num_classes", num_classes, name)
        out_features = tuple(out_features)
        for d in out_features:
            positive_int("out_features entries", d, name)
        weight = _opt_array(weight)
        if weight is not None and tuple(weight.shape) != (num_classes,):
            raise ShapeError(f"{name}: expected weight shape to be [{num_classes}], got {list(weight.shape)}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ConfigError(
                f"{name}: expected label_smoothing to be in range [0, 1], got {label_smoothing}"
            )
        if options is not None and not isinstance(options, LinearCrossEntropyOptions):
            raise ConfigError(
                f"{name}: options must be None or nn.LinearCrossEntropyOptions(...), "
                f"got {type(options).__name__}"
            )
        self.linear = Linear(
            in_features, math.prod(out_features, start=num_classes), bias, key=key, dtype=dtype
        )
        self.weight = weight
        self.num_classes = int(num_classes)
        self.out_features = out_features
        self.ignore_index = None if ignore_index is None else int(ignore_index)
        self.label_smoothing = float(label_smoothing)
        self.options = options

    def forward(self, input: jax.Array, target: jax.Array) -> jax.Array:
        w = self.linear.weight.reshape(self.num_classes, *self.out_features, self.linear.weight.shape[1])
        b = self.linear.bias
        return F.linear_cross_entropy(
            input,
            w,
            target,
            linear_bias=None if b is None else b.reshape(self.num_classes, *self.out_features),
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.weight.shape[1]}, num_classes={self.num_classes}, "
            f"out_features={self.out_features}, bias={self.linear.bias is not None}, "
            f"reduction={self.reduction}, ignore_index={self.ignore_index}, "
            f"label_smoothing={self.label_smoothing}, options={self.options}"
        )
