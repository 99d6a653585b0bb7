"""Where loaded arrays go: a device, a (multi-device) sharding, or the default device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from .. import tree as _tree
from ..errors import ConfigError
from ._host import is_cpu_only, owned_copy

__all__ = [
    "Target",
    "Slot",
    "Placer",
    "resolve_device",
    "sharding_by_path",
    "place_sharded",
    "like_target",
    "check_paths",
]

Target = Any  # None (default device) | jax.Device | jax.sharding.Sharding


def resolve_device(device: Any) -> Any:
    """``None``, a ``jax.Device`` or a torsh device string (``"cpu:1"``, ``"cuda:0"``)."""
    if device is None or isinstance(device, (jax.Device, jax.sharding.Sharding)):
        return device
    from ..backends import device as torsh_device

    return torsh_device(device)


def _is_target(x: Any) -> bool:
    return isinstance(x, (jax.sharding.Sharding, jax.Device))


def sharding_by_path(sharding: Any) -> tuple[Target, dict[str, Target]]:
    """``(for_all, per_path)`` from a single Sharding/Device, or a tree / flat dict of them by path."""
    if sharding is None:
        return None, {}
    if _is_target(sharding):
        return sharding, {}
    if isinstance(sharding, str):
        return resolve_device(sharding), {}
    pairs, _ = _tree.flatten_with_path(sharding, is_leaf=_is_target)
    out: dict[str, Target] = {}
    for path, leaf in pairs:
        if not _is_target(leaf):
            raise ConfigError(
                f"load: sharding={type(sharding).__name__}: entry {path!r} is a {type(leaf).__name__}; "
                "expected a jax.sharding.Sharding, a jax.Device or None"
            )
        out[path] = leaf
    return None, out


def like_target(leaf: Any) -> Target:
    """The placement a ``like`` leaf asks for: its sharding when it is committed or multi-device."""
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return getattr(leaf, "sharding", None)
    if isinstance(leaf, jax.Array) and not isinstance(leaf, jax.core.Tracer):
        sharding = leaf.sharding
        if len(sharding.device_set) > 1 or getattr(leaf, "committed", False):
            return sharding
    return None


def _default_is_cpu() -> bool:
    d = jax.config.values["jax_default_device"]
    if d is None:
        return jax.default_backend() == "cpu"
    if isinstance(d, str):
        return d == "cpu"
    return d.platform == "cpu"


def _devices_of(target: Target) -> Any:
    if isinstance(target, jax.sharding.Sharding):
        return target.device_set
    return (target,)


def place_sharded(view: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """Copy a host array onto a multi-device sharding, each device reading only its own block. The
    result never aliases ``view`` (see ``_host``)."""
    cpu = is_cpu_only(sharding.device_set)

    def shard(index: Any) -> np.ndarray:
        block = view[index]
        return owned_copy(block) if cpu else np.ascontiguousarray(block)

    out = jax.make_array_from_callback(view.shape, sharding, shard)
    return out if cpu else out.block_until_ready()  # transfers must finish before the source bytes go


class Slot:
    """Where a batched placement puts its result."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None


class Placer:
    """Batches host-to-device copies: one ``device_put`` per target instead of one per array (the
    per-call overhead is a sizeable part of loading a model of many arrays)."""

    def __init__(self) -> None:
        self._groups: dict[Any, list[tuple[np.ndarray, Slot, bool]]] = {}

    def request(self, view: np.ndarray, target: Target, owned: bool = False) -> Slot:
        """Place ``view``; ``owned``: it is a fresh buffer nobody else holds (read from a file), which
        XLA:CPU may adopt as is, instead of a view of the caller's bytes that must be copied first."""
        slot = Slot()
        if isinstance(target, jax.sharding.Sharding) and len(target.device_set) > 1:
            slot.value = place_sharded(view, target)
        else:
            self._groups.setdefault(target, []).append((view, slot, owned))
        return slot

    def flush(self) -> None:
        groups, self._groups = self._groups, {}
        for target, entries in groups.items():
            cpu = _default_is_cpu() if target is None else is_cpu_only(_devices_of(target))
            hosts = [owned_copy(view) if cpu and not owned else view for view, _, owned in entries]
            outs = jax.device_put(hosts, target)
            if not cpu:
                jax.block_until_ready(outs)  # transfers must finish before the source bytes go
            for (_, slot, _), out in zip(entries, outs, strict=True):
                slot.value = out


def check_paths(per_path: Mapping[str, Target], known: set[str], where: str) -> None:
    unknown = sorted(set(per_path) - known)
    if unknown:
        raise ConfigError(f"{where}: sharding= names entries that are not loaded: {unknown[:10]}")
