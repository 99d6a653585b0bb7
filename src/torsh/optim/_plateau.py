"""``ReduceLROnPlateau``: lower the learning rate when a metric stops improving (host side)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError
from ._config import Checker, Config, FrozenDict, option
from ._lr import get_lr, set_lr

__all__ = ["ReduceLROnPlateau"]


def _count0(check: Checker, name: str, value: Any) -> int:
    return check.integer(name, value, 0)


def _min_lr(check: Checker, name: str, value: Any) -> float | FrozenDict:
    if isinstance(value, Mapping):
        return FrozenDict({k: check.nonneg(f"{name}[{k!r}]", v) for k, v in value.items()})
    return check.nonneg(name, value)


class _PlateauRule(Config):
    """The configuration of :class:`ReduceLROnPlateau` (frozen, validated) and its pure decisions."""

    _owner = "ReduceLROnPlateau"
    mode: str = option("min", lambda check, name, value: check.choice(name, value, ("min", "max")))
    factor: float = option(0.1, "unit_interval")
    patience: int = option(10, _count0)
    threshold: float = option(1e-4, "nonneg")
    threshold_mode: str = option("rel", lambda check, name, value: check.choice(name, value, ("rel", "abs")))
    cooldown: int = option(0, _count0)
    min_lr: float | Mapping[str, float] = option(0.0, _min_lr)
    eps: float = option(1e-8, "nonneg")

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold


class ReduceLROnPlateau:
    """PyTorch's ReduceLROnPlateau for functional optimizer states.

    It watches a metric on the host (e.g. the validation loss once per epoch) and, after more than
    ``patience`` evaluations without improvement, multiplies every learning rate in the optimizer
    state by ``factor`` (not below ``min_lr``). The learning rate is an array in the state, so the
    jitted training step picks it up without recompiling. With a schedule as the optimizer's ``lr``
    the reduction chains with it as in PyTorch (StepLR + ReduceLROnPlateau): the schedule is scaled
    by the reduction and continues from the reduced value (see :func:`set_lr`).

    Its configuration (``plateau.config``, also read as ``plateau.factor`` ...) is a frozen, validated
    :class:`torsh.tree.Struct`; the object itself holds host-side bookkeeping that changes with every
    metric, as PyTorch's does (``best``, ``num_bad_epochs``, ``cooldown_counter``); save it with
    :meth:`state_dict`.

    Args:
      mode: ``"min"`` (lower metric is better) or ``"max"``.
      factor: multiplier applied to the learning rate, in [0, 1).
      patience: evaluations without improvement tolerated before reducing.
      threshold: minimal change counted as an improvement.
      threshold_mode: ``"rel"`` (relative to the best) or ``"abs"``.
      cooldown: evaluations to wait after a reduction before counting bad evaluations again.
      min_lr: lower bound, one float or ``{group_name: float}`` (names as in :func:`get_lr`).
      eps: reductions smaller than this are skipped.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.SGD(lr=1.0).init({"w": jnp.zeros(2)})
      >>> plateau = optim.ReduceLROnPlateau(factor=0.5, patience=1)
      >>> for val_loss in [1.0, 0.9, 0.95, 0.95, 0.95]:
      ...     state = plateau.step(val_loss, state)
      >>> float(state.lr["default"])
      0.5
    """

    def __init__(
        self,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float | Mapping[str, float] = 0.0,
        eps: float = 1e-8,
    ) -> None:
        self.config = _PlateauRule(mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def __getattr__(self, name: str) -> Any:
        # the configuration reads as attributes (plateau.factor, plateau.patience), as in PyTorch
        if name != "config" and name in _PlateauRule.__torsh_static_fields__:
            return getattr(self.config, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _min_lr(self, group: str) -> float:
        if isinstance(self.min_lr, Mapping):
            if group not in self.min_lr:
                raise ConfigError(
                    f"ReduceLROnPlateau: min_lr has no entry for group {group!r}; groups are named as in "
                    f"optim.get_lr(state)"
                )
            return float(self.min_lr[group])
        return self.min_lr

    def step(self, metric: Any, state: Any) -> Any:
        """Record ``metric`` and return ``state`` with reduced learning rates when it has plateaued.

        Args:
          metric: the watched value (a number or a scalar array), e.g. the validation loss.
          state: an optimizer state (or a chain's) holding learning rates.

        Returns:
          ``state``, with every learning rate multiplied by ``factor`` if the metric has plateaued.

        Raises:
          ConfigError: ``min_lr`` is a mapping without an entry for one of the state's groups.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> state = optim.SGD(lr=1.0).init({"w": jnp.zeros(1)})
          >>> plateau = optim.ReduceLROnPlateau(factor=0.5, patience=0)
          >>> state = plateau.step(1.0, plateau.step(1.0, state))  # the second 1.0 is no improvement
          >>> float(state.lr["default"]), plateau.best
          (0.5, 1.0)
        """
        current = float(metric)
        self.last_epoch += 1
        if self.config.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            state = self._reduce(state)
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        return state

    def _reduce(self, state: Any) -> Any:
        get_lr(state)  # raises when the state holds no learning rate

        def reduce(group: str, lr: Any) -> Any:
            old = float(lr)
            new = max(old * self.factor, self._min_lr(group))
            return new if old - new > self.eps else lr

        return set_lr(state, reduce)

    def state_dict(self) -> dict[str, Any]:
        """The bookkeeping as plain Python values.

        Returns:
          ``{"best", "num_bad_epochs", "cooldown_counter", "last_epoch"}``.

        Example:
          >>> from torsh import optim
          >>> optim.ReduceLROnPlateau().state_dict()["num_bad_epochs"]
          0
        """
        return {
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "last_epoch": self.last_epoch,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the bookkeeping saved by :meth:`state_dict`.

        Args:
          state: the mapping :meth:`state_dict` returned.

        Raises:
          ConfigError: ``state`` does not have exactly the keys of :meth:`state_dict`.

        Example:
          >>> from torsh import optim
          >>> plateau = optim.ReduceLROnPlateau()
          >>> plateau.load_state_dict(
          ...     {"best": 0.5, "num_bad_epochs": 2, "cooldown_counter": 0, "last_epoch": 7})
          >>> plateau.best, plateau.last_epoch
          (0.5, 7)
        """
        expected = {"best", "num_bad_epochs", "cooldown_counter", "last_epoch"}
        if set(state) != expected:
            raise ConfigError(
                f"ReduceLROnPlateau.load_state_dict: expected keys {sorted(expected)}, got {sorted(state)}"
            )
        self.best = float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.last_epoch = int(state["last_epoch"])

    def __repr__(self) -> str:
        return (
            f"ReduceLROnPlateau(mode={self.mode!r}, factor={self.factor}, patience={self.patience}, "
            f"threshold={self.threshold}, threshold_mode={self.threshold_mode!r}, cooldown={self.cooldown}, "
            f"min_lr={self.min_lr!r}, eps={self.eps}; best={self.best}, num_bad_epochs={self.num_bad_epochs})"
        )
