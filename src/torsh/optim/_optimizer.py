"""The engine shared by torsh's first-order optimizers.

An optimizer subclass states its update rule for *one* parameter leaf (``_update_leaf``) and which
per-parameter slots it keeps (``exp_avg``, ...). The engine does the rest, once, for all of them:

* walks any pytree (dicts, torsh structs and modules) and updates only the leaves that
  ``torsh.tree.trainable_mask`` marks trainable; integers, buffers and frozen fields pass through;
* accepts ``None`` gradients (what ``torsh.grad`` returns at non-trainable leaves); a ``None``
  gradient at a trainable leaf leaves that parameter and its slots unchanged, as PyTorch skips
  parameters whose ``.grad`` is ``None``;
* resolves per-parameter options (:class:`ParamGroup`) by dotted name;
* keeps the learning rate per group as an array in the state (the value the *next* step uses), so a
  schedule, ``ReduceLROnPlateau`` or the user can change it without recompiling; a group whose lr is
  a schedule also keeps a factor ``lr_scale`` (1 at first) that multiplies the schedule, which is how
  ``ReduceLROnPlateau`` and :func:`set_lr` chain with a schedule as PyTorch's schedulers chain;
* computes in float32 for float16/bfloat16 parameters (slots keep the parameter dtype, as in
  PyTorch) and updates complex parameters as pairs of reals (PyTorch's ``view_as_real``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import ConfigError, DTypeError, ShapeError, TreeError
from ._base import GradientTransformation, flatten_like
from ._config import Checker, FrozenDict
from ._groups import DEFAULT_GROUP, ParamGroup, as_param_group, assign_groups
from ._state import OptState

__all__ = ["Optimizer", "bias_correction", "lr_dtype"]

PyTree = Any


def lr_dtype() -> Any:
    """The dtype of learning-rate arrays: the default float (float32, float64 under x64)."""
    return jnp.result_type(float)


def bias_correction(beta: float, t: jax.Array) -> jax.Array:
    """``1 - beta**t`` computed as ``-expm1(t * log(beta))``.

    ``beta`` is a Python float, so ``log(beta)`` is exact to double precision; a float32 ``beta**t``
    would carry beta's float32 rounding (0.999 -> 0.99900001), a 1e-5 relative error in ``1-beta``.
    """
    if beta == 0.0:
        return jnp.ones((), jnp.result_type(float))
    return -jnp.expm1(t * math.log(beta))


def _compute_dtype(dtype: Any) -> Any:
    """Half-precision floats are updated in float32; other inexact dtypes in themselves."""
    if dtype in (jnp.float16, jnp.bfloat16):
        return jnp.float32
    return dtype


def _as_real(x: jax.Array) -> jax.Array:
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def _as_complex(x: jax.Array, dtype: Any) -> jax.Array:
    return jax.lax.complex(x[..., 0], x[..., 1]).astype(dtype)


class Optimizer(GradientTransformation):
    """Base class of the leaf-wise optimizers (SGD, Adam, ...).

    ``init(params) -> state``, ``update(grads, state, params) -> (updates, state)`` and
    ``step(params, grads, state) -> (params, state)`` are pure and jit-able.

    Subclass hooks: ``_check`` (validate hyperparameters), ``_slots`` (per-parameter state names for
    a group), ``_init_slot``, ``_update_leaf``; optionally per-group scalars (``_scalar_names``,
    ``_init_scalars``, ``_advance_scalars``).
    """

    _state_type: ClassVar[type[OptState]]
    _slot_names: ClassVar[tuple[str, ...]] = ()
    _scalar_names: ClassVar[tuple[str, ...]] = ()

    defaults: FrozenDict
    param_groups: tuple[ParamGroup, ...]

    # -- construction ----------------------------------------------------------------------------
    def _setup(self, arguments: dict[str, Any]) -> None:
        """Validate the constructor ``arguments`` (``locals()``) and the param groups; freeze."""
        owner = type(self).__name__
        arguments = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}
        raw_groups = arguments.pop("param_groups", ()) or ()
        if isinstance(raw_groups, (ParamGroup, dict)):
            raw_groups = (raw_groups,)
        defaults = self._check(Checker(owner), dict(arguments))
        groups: list[tuple[str, ParamGroup | None, FrozenDict]] = [
            (DEFAULT_GROUP, None, FrozenDict(defaults))
        ]
        for i, spec in enumerate(raw_groups):
            group = as_param_group(spec, i, owner)
            unknown = sorted(set(group.options) - set(defaults))
            if unknown:
                raise ConfigError(
                    f"{owner}: param group {group!r} sets unknown option(s) {unknown}; {owner}'s options are "
                    f"{sorted(defaults)}"
                )
            name = group.name or f"group{i + 1}"
            if any(name == g[0] for g in groups):
                raise ConfigError(f"{owner}: two param groups are named {name!r}; group names must be unique")
            hp = self._check(Checker(f"{owner} param group {name!r}"), {**defaults, **group.options})
            groups.append((name, group, FrozenDict(hp)))
        object.__setattr__(self, "defaults", FrozenDict(defaults))
        object.__setattr__(self, "param_groups", tuple(g[1] for g in groups[1:]))
        object.__setattr__(self, "_groups", tuple(groups))
        self._set_config(**defaults, **({"param_groups": self.param_groups} if self.param_groups else {}))

    @classmethod
    def _check(cls, check: Checker, hp: dict[str, Any]) -> dict[str, Any]:
        """Validate and normalise one group's hyperparameters (raise via ``check``)."""
        raise NotImplementedError

    # -- subclass hooks --------------------------------------------------------------------------
    def _slots(self, hp: FrozenDict) -> tuple[str, ...]:
        """Names of the per-parameter slots kept for leaves of a group with hyperparameters ``hp``."""
        return self._slot_names

    def _init_slot(self, name: str, param: jax.Array, hp: FrozenDict) -> jax.Array:
        return jnp.zeros_like(param)

    def _init_scalars(self, hp: FrozenDict) -> dict[str, jax.Array]:
        return {}

    def _advance_scalars(
        self, hp: FrozenDict, t: jax.Array, scalars: dict[str, jax.Array]
    ) -> dict[str, jax.Array]:
        return scalars

    def _update_leaf(
        self,
        p: jax.Array,
        g: jax.Array,
        slots: dict[str, jax.Array],
        hp: FrozenDict,
        t: jax.Array,
        lr: jax.Array,
        scalars: dict[str, jax.Array],
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """New parameter and slots for one real leaf.

        ``t`` is the 1-based number of the step being taken (in the leaf's dtype), ``lr`` this group's
        learning rate, ``scalars`` this group's advanced per-group scalars.
        """
        raise NotImplementedError

    # -- layout ----------------------------------------------------------------------------------
    def _layout(self, params: PyTree) -> tuple[list[Any], Any, list[str], list[bool]]:
        pairs, spec = _tree.flatten_with_path(params)
        leaves = [leaf for _, leaf in pairs]
        paths = [path for path, _ in pairs]
        trainable = [bool(m) for m in spec.flatten_up_to(_tree.trainable_mask(params))]
        return leaves, spec, paths, trainable

    def _group_lr(self, hp: FrozenDict, t: Any) -> jax.Array:
        lr = hp["lr"]
        value = lr(t) if callable(lr) else lr
        return jnp.asarray(value, lr_dtype())

    def _hyperparams(self) -> FrozenDict:
        out = {}
        for name, _, hp in self._groups:
            shown = {k: v for k, v in hp.items() if k != "lr" or callable(v)}
            out[name] = FrozenDict(shown)
        return FrozenDict(out)

    # -- protocol --------------------------------------------------------------------------------
    def init(self, params: PyTree) -> OptState:
        """The initial state: ``step`` 0, the learning rate of each group, zeroed slots.

        Raises:
          ConfigError: a param group selects no trainable parameter.
        """
        owner = type(self).__name__
        leaves, spec, paths, trainable = self._layout(params)
        owners = assign_groups(owner, self._groups, paths, leaves, trainable, check_unmatched=True)
        slots: dict[str, Any] = {}
        for slot in self._slot_names:
            values = []
            for leaf, gi in zip(leaves, owners, strict=True):
                hp = self._groups[gi][2] if gi >= 0 else None
                if hp is not None and slot in self._slots(hp):
                    values.append(self._init_slot(slot, jnp.asarray(leaf), hp))
                else:
                    values.append(None)
            slots[slot] = _tree.unflatten(spec, values) if any(v is not None for v in values) else None
        scalars = {name: {} for name in self._scalar_names}
        for gname, _, hp in self._groups:
            for k, v in self._init_scalars(hp).items():
                scalars[k][gname] = v
        scheduled = [gname for gname, _, hp in self._groups if callable(hp["lr"])]
        return self._state_type(
            step=jnp.zeros((), jnp.int32),
            lr={gname: self._group_lr(hp, 0) for gname, _, hp in self._groups},
            **slots,
            **scalars,
            hyperparams=self._hyperparams(),
            lr_scale={g: jnp.ones((), lr_dtype()) for g in scheduled} if scheduled else None,
        )

    def update(self, grads: PyTree, state: OptState, params: PyTree = None) -> tuple[PyTree, OptState]:
        """``(updates, new_state)``; ``updates`` has ``None`` at leaves that are not trained."""
        new_leaves, leaves, spec, new_state = self._run(grads, state, params, "update")
        updates = [
            None if n is None else (n - jnp.asarray(p).astype(n.dtype)).astype(jnp.asarray(p).dtype)
            for n, p in zip(new_leaves, leaves, strict=True)
        ]
        return _tree.unflatten(spec, updates), new_state

    def step(self, params: PyTree, grads: PyTree, state: OptState) -> tuple[PyTree, OptState]:
        """``(new_params, new_state)``: one optimization step (pure; jit it)."""
        new_leaves, leaves, spec, new_state = self._run(grads, state, params, "step")
        out = [
            p if n is None else n.astype(jnp.asarray(p).dtype)
            for n, p in zip(new_leaves, leaves, strict=True)
        ]
        return _tree.unflatten(spec, out), new_state

    # -- the engine ------------------------------------------------------------------------------
    def _check_state(self, state: Any, where: str) -> None:
        owner = type(self).__name__
        if not isinstance(state, self._state_type):
            raise TreeError(
                f"{owner}.{where}: expected the {self._state_type.__name__} returned by {owner}.init, got "
                f"{type(state).__name__}"
            )
        expected = [g[0] for g in self._groups]
        if sorted(state.lr) != sorted(expected):
            raise TreeError(
                f"{owner}.{where}: the state has learning rates for groups {sorted(state.lr)}, "
                "this optimizer "
                f"has groups {sorted(expected)}; was the state made by an optimizer with other param_groups?"
            )

    def _run(
        self, grads: PyTree, state: OptState, params: PyTree, where: str
    ) -> tuple[list[Any], list[Any], Any, OptState]:
        owner = type(self).__name__
        if params is None:
            raise ConfigError(f"{owner}.{where}: params are required (call {where}(grads, state, params))")
        self._check_state(state, where)
        leaves, spec, paths, trainable = self._layout(params)
        grad_leaves = flatten_like(spec, grads, f"{owner}.{where}: grads", params)
        slot_leaves = {}
        for slot in self._slot_names:
            tree = getattr(state, slot)
            slot_leaves[slot] = (
                [None] * len(leaves)
                if tree is None
                else flatten_like(spec, tree, f"{owner}.{where}: state.{slot}", params)
            )
        owners = assign_groups(owner, self._groups, paths, leaves, trainable, check_unmatched=False)
        t = state.step + 1
        scalars_per_group = []
        for gname, _, hp in self._groups:
            old = {k: getattr(state, k)[gname] for k in self._scalar_names}
            scalars_per_group.append(self._advance_scalars(hp, t, old))

        new_leaves: list[Any] = []
        new_slot_leaves = {slot: list(values) for slot, values in slot_leaves.items()}
        for i, (leaf, g, gi) in enumerate(zip(leaves, grad_leaves, owners, strict=True)):
            if gi < 0 or g is None:
                new_leaves.append(None)
                continue
            gname, _, hp = self._groups[gi]
            names = self._slots(hp)
            slots = {}
            for name in names:
                value = slot_leaves[name][i]
                if value is None:
                    raise TreeError(
                        f"{owner}.{where}: state.{name} has no entry for parameter {paths[i]!r}; "
                        "was the state "
                        "made for other parameters?"
                    )
                slots[name] = value
            new_p, new_slots = self._leaf(
                paths[i], leaf, g, slots, hp, t, state.lr[gname], scalars_per_group[gi]
            )
            new_leaves.append(new_p)
            for name, value in new_slots.items():
                new_slot_leaves[name][i] = value

        scales = getattr(state, "lr_scale", None) or {}
        changes: dict[str, Any] = {
            "step": t,
            "lr": {
                gname: (
                    (self._group_lr(hp, t) * scales.get(gname, 1.0)).astype(state.lr[gname].dtype)
                    if callable(hp["lr"])
                    else state.lr[gname]
                )
                for gname, _, hp in self._groups
            },
        }
        for slot in self._slot_names:
            if getattr(state, slot) is not None:
                changes[slot] = _tree.unflatten(spec, new_slot_leaves[slot])
        for k in self._scalar_names:
            changes[k] = {g[0]: scalars_per_group[j][k] for j, g in enumerate(self._groups)}
        return new_leaves, leaves, spec, state.replace(**changes)

    def _leaf(
        self,
        path: str,
        param: Any,
        grad: Any,
        slots: dict[str, jax.Array],
        hp: FrozenDict,
        t: jax.Array,
        lr: jax.Array,
        scalars: dict[str, jax.Array],
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Dtype, complex and ``maximize`` handling around :meth:`_update_leaf` for one leaf."""
        owner = type(self).__name__
        p = jnp.asarray(param)
        g = jnp.asarray(grad)
        if g.shape != p.shape:
            raise ShapeError(
                f"{owner}: the gradient of {path!r} has shape {list(g.shape)}, "
                f"the parameter has {list(p.shape)}"
            )
        is_complex = jnp.iscomplexobj(p)
        if jnp.iscomplexobj(g) and not is_complex:
            raise DTypeError(f"{owner}: the gradient of real parameter {path!r} is complex ({g.dtype})")
        cdt = _compute_dtype(p.dtype)
        pc, gc = p.astype(cdt), g.astype(cdt)
        sc = {k: v.astype(cdt) for k, v in slots.items()}
        if is_complex:
            pc, gc = _as_real(pc), _as_real(gc)
            sc = {k: _as_real(v) for k, v in sc.items()}
        if hp.get("maximize", False):
            gc = -gc
        real = pc.dtype
        new_p, new_s = self._update_leaf(
            pc, gc, sc, hp, t.astype(real), lr.astype(real), {k: v.astype(real) for k, v in scalars.items()}
        )
        if is_complex:
            new_p = _as_complex(new_p, cdt)
            new_s = {k: _as_complex(v, cdt) for k, v in new_s.items()}
        new_s = {k: v.astype(slots[k].dtype) for k, v in new_s.items()}
        return new_p.astype(cdt), new_s
