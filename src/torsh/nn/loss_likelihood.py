"""Negative log-likelihood loss modules (``nn.GaussianNLLLoss``, ``nn.PoissonNLLLoss``, ``nn.CTCLoss``)."""

from __future__ import annotations

from typing import Any

import jax

from ..errors import ConfigError
from ..tree import static
from ._utils import check_reduction as _check_reduction
from .functional import _loss_likelihood as _L
from .loss import _Loss

__all__ = ["GaussianNLLLoss", "PoissonNLLLoss", "CTCLoss"]


class GaussianNLLLoss(_Loss):
    """Gaussian negative log-likelihood with a predicted variance (``torch.nn.GaussianNLLLoss``).

    Called as ``loss(input, target, var)``; see :func:`torsh.nn.functional.gaussian_nll_loss`.

    Args:
      full: add the constant ``0.5 * log(2π)``.
      eps: lower clamp of the variance (the clamp does not enter the gradient, as in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> loss = nn.GaussianNLLLoss()
      >>> round(float(loss(jnp.array([1.0, 2.0]), jnp.array([1.0, 2.0]), jnp.array([1.0, 1.0]))), 4)
      0.0
    """

    full: bool = static()
    eps: float = static()

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        _check_reduction("GaussianNLLLoss", reduction)
        self.full = bool(full)
        self.eps = float(eps)
        self.reduction = reduction

    def forward(self, input: jax.Array, target: jax.Array, var: jax.Array | float) -> jax.Array:
        return _L.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(_Loss):
    """Poisson negative log-likelihood (``torch.nn.PoissonNLLLoss``).

    Args:
      log_input: whether the input is the log of the rate.
      full: add Stirling's approximation of ``log(target!)``.
      size_average: ignored (deprecated in PyTorch).
      eps: keeps ``log`` finite when ``log_input=False``.
      reduce: ignored (deprecated in PyTorch).
      reduction: ``'none'``, ``'mean'`` or ``'sum'``.

    Raises:
      ConfigError: an unknown ``reduction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> round(float(nn.PoissonNLLLoss()(jnp.array([0.0]), jnp.array([1.0]))), 4)
      1.0
    """

    log_input: bool = static()
    full: bool = static()
    eps: float = static()

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: Any = None,
        eps: float = 1e-8,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        _check_reduction("PoissonNLLLoss", reduction)
        self.log_input = bool(log_input)
        self.full = bool(full)
        self.eps = float(eps)
        self.reduction = reduction

    def forward(self, log_input: jax.Array, target: jax.Array) -> jax.Array:
        return _L.poisson_nll_loss(log_input, target, self.log_input, self.full, self.eps, self.reduction)


class CTCLoss(_Loss):
    """Connectionist Temporal Classification loss (``torch.nn.CTCLoss``).

    Called as ``loss(log_probs, targets, input_lengths, target_lengths)``; see
    :func:`torsh.nn.functional.ctc_loss` (shapes, the concatenated-targets form, gradients).

    Args:
      blank: the blank class.
      reduction: ``'none'``, ``'mean'`` (each loss divided by its target length, then averaged) or ``'sum'``.
      zero_infinity: replace infinite losses (no valid alignment) and their gradients by zero.

    Raises:
      ConfigError: an unknown ``reduction`` or a negative ``blank``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import nn
      >>> log_probs = jax.nn.log_softmax(jnp.zeros((4, 1, 3)), axis=-1)
      >>> loss = nn.CTCLoss(reduction="sum")(log_probs, jnp.array([[1, 2]]), jnp.array([4]), jnp.array([2]))
      >>> round(float(loss), 4)
      1.6864
    """

    blank: int = static()
    zero_infinity: bool = static()

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        _check_reduction("CTCLoss", reduction)
        if int(blank) < 0:
            raise ConfigError(f"CTCLoss: blank must be a class index >= 0, got {blank}")
        self.blank = int(blank)
        self.reduction = reduction
        self.zero_infinity = bool(zero_infinity)

    def forward(
        self, log_probs: jax.Array, targets: jax.Array, input_lengths: jax.Array, target_lengths: jax.Array
    ) -> jax.Array:
        return _L.ctc_loss(
            log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction, self.zero_infinity
        )
