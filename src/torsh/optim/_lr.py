"""Reading and changing the learning rates held in optimizer states (host side or traced).

Every torsh optimizer state keeps ``lr`` as ``{group_name: array}``: the learning rate its next
step uses. States nest (``chain``, ``MultiSteps``, ``DynamicLossScale``), so these helpers find
every optimizer state inside a state and name its groups by their position: ``"default"`` for a
plain optimizer, ``"1.default"`` for the optimizer at position 1 of a chain.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ConfigError, TreeError
from ._state import OptState

__all__ = ["get_lr", "set_lr", "lr_states"]


def _is_lr_state(x: Any) -> bool:
    return isinstance(x, OptState) and isinstance(getattr(x, "lr", None), Mapping)


def lr_states(state: Any, prefix: str = "") -> Iterator[tuple[str, OptState]]:
    """``(dotted_prefix, optimizer_state)`` for every state holding learning rates inside ``state``."""
    if _is_lr_state(state):
        yield prefix, state
        return
    if isinstance(state, OptState):
        for name, value in state.__iter_fields__():
            inline = name == "states"  # ChainState names its children by position/key only
            yield from lr_states(value, prefix if inline else f"{prefix}{name}.")
    elif isinstance(state, (tuple, list)):
        for i, value in enumerate(state):
            yield from lr_states(value, f"{prefix}{i}.")
    elif isinstance(state, Mapping):
        for key, value in state.items():
            yield from lr_states(value, f"{prefix}{key}.")


def get_lr(state: Any) -> dict[str, Any]:
    """The learning rates the next step will use, ``{group: lr}`` (names prefixed inside chains).

    Args:
      state: An optimizer state (or a chain's).

    Returns:
      A dict from group name to its learning rate (an array).

    Raises:
      TreeError: If ``state`` holds no learning rate (not an optimizer's state).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.chain(optim.clip_by_global_norm(1.0), optim.SGD(lr=0.1))
      >>> {k: round(float(v), 3) for k, v in optim.get_lr(opt.init({"w": jnp.zeros(2)})).items()}
      {'1.default': 0.1}
    """
    out = {}
    for prefix, s in lr_states(state):
        lrs: Mapping[str, Any] = s.lr  # type: ignore[attr-defined]  # _is_lr_state checked it
        for group, value in lrs.items():
            out[f"{prefix}{group}"] = value
    if not out:
        raise TreeError(f"get_lr: {type(state).__name__} contains no optimizer state with a learning rate")
    return out


def set_lr(state: Any, lr: float | Callable[[str, Any], Any]) -> Any:
    """A copy of ``state`` whose learning rates are replaced, from the next step on.

    No recompilation: the learning rate is an array in the state.

    For a group whose learning rate follows a schedule, the schedule is rescaled so that its current
    value becomes the new one and it continues from there by the same factor — what PyTorch does when
    ``group["lr"]`` is changed under a chainable scheduler (StepLR, ExponentialLR, ...).

    Args:
      state: an optimizer state (or a state containing optimizer states).
      lr: the new learning rate, or ``fn(group_name, current_lr) -> new_lr``.

    Raises:
      ConfigError: a scheduled group's current learning rate is 0 (no factor maps 0 to the new value),
        or the state has no room for a schedule factor (LBFGS).

    Returns:
      The new state (the original is unchanged).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.Adam(lr=1e-3).init({"w": jnp.zeros(2)})
      >>> state = optim.set_lr(state, lambda group, lr: lr * 0.5)
      >>> round(float(state.lr["default"]), 6)
      0.0005
      >>> sched = optim.SGD(lr=optim.schedules.exponential_decay(1.0, 0.5)).init({"w": jnp.zeros(2)})
      >>> round(float(optim.set_lr(sched, 0.1).lr_scale["default"]), 6)
      0.1
    """
    fn = lr if callable(lr) else (lambda group, current: lr)
    return _replace_lr(state, fn, "")


def _replace_lr(state: Any, fn: Callable, prefix: str) -> Any:
    if _is_lr_state(state):
        new, scales = {}, dict(getattr(state, "lr_scale", None) or {})
        for group, value in state.lr.items():
            hp = state.hyperparams.get(group, {}) if hasattr(state, "hyperparams") else {}
            target = jnp.asarray(fn(prefix + group, value), value.dtype)
            if callable(hp.get("lr")):
                if group not in scales:
                    raise ConfigError(
                        f"set_lr: the learning rate of group {prefix + group!r} comes from the schedule "
                        f"{hp['lr']!r} and this {type(state).__name__} cannot rescale it; "
                        "change the schedule "
                        "instead"
                    )
                traced = isinstance(value, jax.core.Tracer) or isinstance(target, jax.core.Tracer)
                if not traced and float(value) == 0.0 and float(target) != 0.0:
                    raise ConfigError(
                        f"set_lr: the schedule of group {prefix + group!r} is at 0 now (e.g. the start of a "
                        "warmup), so no factor maps it to the new value; change the schedule instead"
                    )
                factor = jnp.where(value == 0, 1.0, target / jnp.where(value == 0, 1.0, value))
                scales[group] = (scales[group] * factor).astype(scales[group].dtype)
            new[group] = target
        changes = {"lr": new}
        if scales:
            changes["lr_scale"] = scales
        return state.replace(**changes)
    if isinstance(state, OptState):
        changes = {}
        for name, value in state.__iter_fields__():
            inline = name == "states"
            new = _replace_lr(value, fn, prefix if inline else f"{prefix}{name}.")
            if new is not value:
                changes[name] = new
        return state.replace(**changes) if changes else state
    if isinstance(state, tuple):
        items = [_replace_lr(v, fn, f"{prefix}{i}.") for i, v in enumerate(state)]
        return state if all(a is b for a, b in zip(items, state, strict=True)) else tuple(items)
    if isinstance(state, dict):
        entries = {k: _replace_lr(v, fn, f"{prefix}{k}.") for k, v in state.items()}
        return state if all(entries[k] is state[k] for k in state) else entries
    return state
