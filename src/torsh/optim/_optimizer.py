"""The engine shared by torsh's first-order optimizers, and the public API for writing one.

An optimizer is a :class:`Optimizer` subclass that declares its hyperparameters as typed, validated
fields, the per-parameter slots it keeps (``slots = ("exp_avg", "exp_avg_sq")``; its state class is
generated from them) and its update rule for *one* parameter leaf: :meth:`Optimizer.direction`
receives a :class:`Leaf` and returns the update per unit of learning rate. The engine does the rest,
once, for all of them:

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
* applies ``maximize`` (negates the gradient) and weight decay — L2 on the gradient or decoupled
  on the parameter, as the optimizer declares (``weight_decay_style``);
* applies the learning rate: the new parameter is ``param - lr * direction``. A rule in which the
  learning rate is not a plain factor (ASGD's ``eta``, Adafactor's ``min(lr, 1/sqrt(t))``) overrides
  :meth:`Optimizer.update_leaf` instead and receives the lr as :attr:`Leaf.lr`;
* computes in float32 for float16/bfloat16 parameters (slots keep the parameter dtype, as in
  PyTorch) and updates complex parameters as pairs of reals (PyTorch's ``view_as_real``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import ConfigError, DTypeError, ShapeError, TreeError
from ..tree import static
from ._base import GradientTransformation, flatten_like
from ._config import Checker, FrozenDict, option
from ._groups import DEFAULT_GROUP, ParamGroup, as_param_group, assign_groups
from ._state import OptState

__all__ = [
    "Optimizer",
    "Leaf",
    "bias_correction",
    "lr_dtype",
    "l2_decay",
    "decoupled_decay",
    "ema",
    "ema_square",
    "lerp",
]

PyTree = Any


def lr_dtype() -> Any:
    """The dtype of learning-rate arrays: the default float (float32, float64 under x64)."""
    return jnp.result_type(float)


def bias_correction(beta: float, t: jax.Array) -> jax.Array:
    """Adam's bias correction ``1 - beta**t``, computed as ``-expm1(t * log(beta))``.

    ``beta`` is a Python float, so ``log(beta)`` is exact to double precision; a float32 ``beta**t``
    would carry beta's float32 rounding (0.999 -> 0.99900001), a 1e-5 relative error in ``1-beta``.

    Args:
      beta: a decay rate in [0, 1) (a Python float).
      t: the 1-based step number (an array, e.g. :attr:`Leaf.step`).

    Returns:
      ``1 - beta**t`` in ``t``'s floating dtype (1 when ``beta == 0``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> round(float(optim.bias_correction(0.9, jnp.float32(2.0))), 6)
      0.19
    """
    if beta == 0.0:
        return jnp.ones((), jnp.result_type(float))
    return -jnp.expm1(t * math.log(beta))


def l2_decay(grad: jax.Array, param: jax.Array, weight_decay: float) -> jax.Array:
    """Coupled (L2) weight decay: ``grad + weight_decay * param`` (PyTorch's ``weight_decay``).

    The one place this formula lives: the engine applies it for ``weight_decay_style = "l2"``
    optimizers and :func:`torsh.optim.add_decayed_weights` for chains.
    """
    return grad + weight_decay * param


def decoupled_decay(param: jax.Array, lr: jax.Array, weight_decay: float) -> jax.Array:
    """Decoupled weight decay (AdamW, Loshchilov & Hutter): ``param * (1 - lr * weight_decay)``."""
    return param * (1 - lr * weight_decay)


def lerp(start: jax.Array, end: jax.Array, weight: Any) -> jax.Array:
    """``torch.lerp``: ``start + weight * (end - start)`` for ``weight < 0.5``, else
    ``end - (end - start) * (1 - weight)`` (exact at ``weight == 1``). A Python ``weight`` picks its
    formula at trace time; an array weight picks per element."""
    if isinstance(weight, (int, float)):
        if weight < 0.5:
            return start + weight * (end - start)
        # 1 - weight in the arrays' dtype, as PyTorch's kernel computes it (not in double)
        return end - (end - start) * (1 - jnp.asarray(weight, jnp.result_type(start)))
    return jnp.where(weight < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight))


def ema(average: jax.Array, value: jax.Array, decay: float) -> jax.Array:
    """Exponential moving average, PyTorch's ``average.lerp_(value, 1 - decay)`` (Adam's first
    moment, Lion's momentum)."""
    return lerp(average, value, 1 - decay)


def ema_square(average: jax.Array, value: jax.Array, decay: float) -> jax.Array:
    """Moving average of squares ``average * decay + (1 - decay) * value**2`` (PyTorch's
    ``average.mul_(decay).addcmul_(value, value, value=1 - decay)``: Adam's second moment)."""
    return average * decay + (1 - decay) * (value * value)


def _compute_dtype(dtype: Any) -> Any:
    """Half-precision floats are updated in float32; other inexact dtypes in themselves."""
    if dtype in (jnp.float16, jnp.bfloat16):
        return jnp.float32
    return dtype


def _as_real(x: jax.Array) -> jax.Array:
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


def _as_complex(x: jax.Array, dtype: Any) -> jax.Array:
    return jax.lax.complex(x[..., 0], x[..., 1]).astype(dtype)


class Leaf(NamedTuple):
    """What :meth:`Optimizer.direction` (and :meth:`Optimizer.update_leaf`) see of one trained leaf.

    Arrays are in the compute dtype (float32 for float16/bfloat16 parameters); a complex parameter
    is seen as real pairs (a trailing axis of size 2, PyTorch's ``view_as_real``).

    Args:
      param: the parameter, after decoupled weight decay.
      grad: its gradient, after ``maximize`` (negated) and L2 weight decay.
      slots: this leaf's slots by name (the optimizer's ``active_slots()``).
      step: the 1-based number of the step being taken (the parameter's real dtype).
      lr: this param group's learning rate for this step (schedules, ``set_lr`` and
        ``ReduceLROnPlateau`` already applied). The engine multiplies :meth:`Optimizer.direction`
        by it; only a rule that overrides :meth:`Optimizer.update_leaf` reads it.
      scalars: this param group's per-group scalars, advanced to this step (``advance_scalars``).
      path: the parameter's dotted name (``"layers.0.weight"``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> leaf = optim.Leaf(jnp.ones(2), jnp.full(2, 0.5), {}, jnp.float32(1), jnp.float32(0.1), {}, "w")
      >>> (leaf.param - leaf.lr * leaf.grad).tolist()
      [0.949999988079071, 0.949999988079071]
    """

    param: jax.Array
    grad: jax.Array
    slots: Mapping[str, jax.Array]
    step: jax.Array
    lr: jax.Array
    scalars: Mapping[str, jax.Array]
    path: str


def _check_param_groups(check: Checker, name: str, value: Any) -> tuple[ParamGroup, ...]:
    if value is None:
        return ()
    if isinstance(value, (ParamGroup, Mapping)):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        check.fail(name, "a sequence of optim.ParamGroup (or {'params': ...} dicts)", value)
    return tuple(as_param_group(spec, i, check.owner) for i, spec in enumerate(value))


def _state_doc(cls: type, name: str, slots: Mapping[str, str], scalars: tuple[str, ...]) -> str:
    lines = [
        f"State of :class:`{cls.__name__}`: a :class:`torsh.optim.OptState` generated from its ``slots``.",
        "",
        "Args:",
        "  step: number of steps taken (int32).",
        "  lr: learning rate per param group, used by the next step.",
    ]
    for slot, doc in slots.items():
        lines.append(
            f"  {slot}: per parameter (``None`` where not kept), {doc or 'a slot of the update rule'}."
        )
    for scalar in scalars:
        lines.append(f"  {scalar}: per param group, a scalar of the update rule.")
    lines += [
        "  hyperparams: the static configuration per param group.",
        "  lr_scale: per param group whose lr is a schedule, the factor applied to it (``set_lr``,",
        "    ``ReduceLROnPlateau``).",
        "",
        "Example:",
        "  >>> import jax.numpy as jnp",
    ]
    if cls.__module__.startswith("torsh.optim."):
        lines += ["  >>> from torsh import optim", f"  >>> opt = optim.{cls.__name__}()"]
    else:
        lines += [f"  >>> from {cls.__module__} import {cls.__name__}", f"  >>> opt = {cls.__name__}()"]
    lines += [
        '  >>> state = opt.init({"w": jnp.zeros((2, 2))})',
        "  >>> type(state).__name__, int(state.step)",
        f"  ({name!r}, 0)",
    ]
    return "\n".join(lines) + "\n"


def _make_state_class(cls: type) -> type[OptState]:
    """The state class of an optimizer: ``step, lr, *slots, *scalars, hyperparams, lr_scale``."""
    raw = cls.__dict__.get("slots", getattr(cls, "slots", ()))
    slots = dict(raw) if isinstance(raw, Mapping) else dict.fromkeys(raw, "")
    scalars = tuple(getattr(cls, "scalars", ()))
    name = cls.__dict__.get("state_name") or f"{cls.__name__}State"
    # annotation objects, not strings: the optimizer's module may not be importable (a notebook)
    annotations: dict[str, Any] = {"step": jax.Array, "lr": dict}
    namespace: dict[str, Any] = {}
    for field in (*slots, *scalars):
        annotations[field] = Any
        namespace[field] = None
    annotations["hyperparams"] = FrozenDict
    namespace["hyperparams"] = static(default=FrozenDict())
    annotations["lr_scale"] = Any
    namespace["lr_scale"] = None
    namespace.update(
        __annotations__=annotations,
        __module__=cls.__module__,
        __qualname__=name,
        __doc__=_state_doc(cls, name, slots, scalars),
    )
    return type(name, (OptState,), namespace)


class Optimizer(GradientTransformation):
    """Base class of the leaf-wise optimizers (SGD, Adam, ...) and the API for writing new ones.

    ``init(params) -> state``, ``update(grads, state, params) -> (updates, state)`` and
    ``step(params, grads, state) -> (params, state)`` are pure and jit-able.

    A subclass declares:

    * its hyperparameters as annotated fields, validated with :func:`torsh.optim.option`
      (``eps: float = optim.option(1e-8, "positive")``), in PyTorch's positional order; ``lr`` (first),
      and the keyword-only ``maximize`` and ``param_groups`` are inherited;
    * ``slots``: the names of its per-parameter state (a tuple, or a mapping name -> description); its
      state class ``State`` (named ``<Name>State``, or ``state_name``) is generated from them;
    * ``weight_decay_style``: ``"l2"`` (the engine adds ``weight_decay * param`` to the gradient),
      ``"decoupled"`` (the engine scales the parameter by ``1 - lr * weight_decay``) or ``None`` (no
      ``weight_decay`` field, or the rule uses it itself); a ``decoupled_weight_decay`` field, if the
      optimizer has one, switches between the two per param group;
    * :meth:`direction`, the update rule of one leaf per unit of learning rate, returning the
      direction and the new slots; the engine steps ``param - lr * direction``. (A rule in which lr
      is not a plain factor overrides :meth:`update_leaf`, which receives it as ``leaf.lr``.)

    Optional hooks: :meth:`active_slots`, :meth:`init_slot`, and per-group scalars (``scalars``,
    :meth:`init_scalars`, :meth:`advance_scalars`). Every hook is called on the configuration of the
    leaf's param group (the optimizer with that group's options applied), so ``self.betas`` is the
    group's value.

    Args:
      lr: learning rate, or a schedule (a function of the step).
      maximize: maximize the objective instead of minimizing.
      param_groups: per-parameter options (:class:`torsh.optim.ParamGroup` or ``{"params": ...}``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> class SignSGD(optim.Optimizer):
      ...     \"\"\"Steps of size lr in the direction of the gradient's sign.\"\"\"
      ...     lr: float = 0.1
      ...     def direction(self, leaf):
      ...         return jnp.sign(leaf.grad), {}
      >>> opt, params = SignSGD(), {"w": jnp.zeros(2)}
      >>> params, state = opt.step(params, {"w": jnp.array([3.0, -0.2])}, opt.init(params))
      >>> params["w"].tolist(), int(state.step), type(state).__name__
      ([-0.10000000149011612, 0.10000000149011612], 1, 'SignSGDState')
    """

    lr: float | Callable = option(1e-3, "lr")
    maximize: bool = option(False, "flag", kw_only=True)
    param_groups: tuple[ParamGroup, ...] = option((), _check_param_groups, kw_only=True)

    slots: ClassVar[tuple[str, ...] | Mapping[str, str]] = ()
    scalars: ClassVar[tuple[str, ...]] = ()
    weight_decay_style: ClassVar[str | None] = None
    State: ClassVar[type[Any]]  # generated: fields step, lr, *slots, *scalars, hyperparams, lr_scale

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__torsh_slot_names__ = tuple(cls.slots)
        if cls.__name__.startswith("_"):  # a shared private base (fields, helpers): no state of its own
            return
        own = any(k in cls.__dict__ for k in ("slots", "scalars", "state_name"))
        if "State" not in cls.__dict__ and (own or getattr(cls, "State", None) is None):
            cls.State = _make_state_class(cls)

    __torsh_slot_names__: ClassVar[tuple[str, ...]] = ()

    # -- the update rule and its hooks -------------------------------------------------------------
    def direction(self, leaf: Leaf) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The update rule for one trained leaf, per unit of learning rate: the direction and new slots.

        The engine takes the step, ``param - lr * direction``, with this group's lr for this step
        (schedules, ``set_lr`` and ``ReduceLROnPlateau`` applied). Called (at trace time) on the
        configuration of the leaf's param group. A rule whose learning rate is not a plain factor of
        its step (ASGD's ``eta``, Adafactor's ``min(lr, 1/sqrt(t))``) overrides :meth:`update_leaf`
        instead.

        Args:
          leaf: the parameter, its processed gradient, slots, step, scalars and name.

        Returns:
          ``(direction, new_slots)``: ``direction`` has ``leaf.param``'s shape and dtype; ``new_slots``
          maps every name of :meth:`active_slots` to its new value.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> leaf = optim.Leaf(jnp.ones(2), jnp.ones(2), {}, jnp.float32(1), jnp.float32(0.5), {}, "w")
          >>> d, slots = optim.SGD().direction(leaf)
          >>> d.tolist(), slots
          ([1.0, 1.0], {})
        """
        raise NotImplementedError(
            f"{type(self).__name__} must define direction(self, leaf) (the update per unit of lr), or "
            "update_leaf(self, leaf) for a rule whose lr is not a plain factor"
        )

    def update_leaf(self, leaf: Leaf) -> tuple[jax.Array, dict[str, jax.Array]]:
        """The step of one trained leaf: the new parameter and the new slots.

        By default ``leaf.param - leaf.lr * direction`` with :meth:`direction`'s direction: the one
        place the learning rate multiplies an update. Override it only when the learning rate enters
        the rule otherwise; it receives the lr as ``leaf.lr``.

        Args:
          leaf: the parameter, its processed gradient, slots, step, lr, scalars and name.

        Returns:
          ``(new_param, new_slots)``: arrays of ``leaf.param``'s shape and dtype; ``new_slots``
          maps every name of :meth:`active_slots` to its new value.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> leaf = optim.Leaf(jnp.ones(2), jnp.ones(2), {}, jnp.float32(1), jnp.float32(0.5), {}, "w")
          >>> p, slots = optim.SGD().update_leaf(leaf)
          >>> p.tolist(), slots
          ([0.5, 0.5], {})
        """
        direction, slots = self.direction(leaf)
        return leaf.param - leaf.lr * direction, slots

    def active_slots(self, param: jax.Array) -> tuple[str, ...]:
        """The slots kept for ``param``, a leaf of this param group (default: all of ``slots``).

        Args:
          param: the parameter (its shape and dtype may choose: Adafactor keeps factored moments
            for matrices and a full one for vectors).

        Returns:
          A sub-tuple of ``slots`` (e.g. Adam keeps ``max_exp_avg_sq`` only when ``amsgrad``).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> optim.Adam(amsgrad=True).active_slots(jnp.zeros(2))
          ('exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')
        """
        return type(self).__torsh_slot_names__

    def init_slot(self, name: str, param: jax.Array) -> jax.Array:
        """The initial value of slot ``name`` for ``param`` (default: zeros like the parameter).

        Args:
          name: a slot name.
          param: the parameter (its own dtype; complex stays complex).

        Returns:
          An array of the parameter's shape and dtype.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> optim.Adagrad(initial_accumulator_value=0.5).init_slot("sum", jnp.zeros(2)).tolist()
          [0.5, 0.5]
        """
        return jnp.zeros_like(param)

    def init_scalars(self) -> dict[str, jax.Array]:
        """The initial per-group scalars (one entry per name in ``scalars``).

        Returns:
          ``{name: scalar array}``.

        Example:
          >>> from torsh import optim
          >>> {k: float(v) for k, v in optim.NAdam().init_scalars().items()}
          {'mu_product': 1.0}
        """
        return {}

    def advance_scalars(self, scalars: dict[str, jax.Array], step: jax.Array) -> dict[str, jax.Array]:
        """The per-group scalars for step ``step`` (1-based, int32), from the previous step's.

        Args:
          scalars: the values after the previous step.
          step: the number of the step being taken.

        Returns:
          The new values (the rule sees them in :attr:`Leaf.scalars`).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.NAdam()
          >>> round(float(opt.advance_scalars(opt.init_scalars(), jnp.int32(1))["mu_product"]), 6)
          0.450073
        """
        return scalars

    # -- configuration -----------------------------------------------------------------------------
    @classmethod
    def _check_values(cls, check: Checker, values: dict[str, Any]) -> dict[str, Any]:
        out = super()._check_values(check, values)
        if out.get("param_groups"):
            cls._check_groups(check, out)
        return out

    @classmethod
    def _check_groups(cls, check: Checker, values: dict[str, Any]) -> None:
        defaults = {k: v for k, v in values.items() if k != "param_groups"}
        names = {DEFAULT_GROUP}
        for i, group in enumerate(values["param_groups"]):
            unknown = sorted(set(group.options) - set(defaults))
            if unknown:
                check.conflict(
                    f"param group {group!r} sets unknown option(s) {unknown}; {check.owner}'s options are "
                    f"{sorted(defaults)}"
                )
            name = group.name or f"group{i + 1}"
            if name in names:
                check.conflict(f"two param groups are named {name!r}; group names must be unique")
            names.add(name)
            cls._check_values(Checker(f"{check.owner} param group {name!r}"), {**defaults, **group.options})

    def _hp(self) -> dict[str, Any]:
        d = self.__dict__
        return {n: d[n] for n in type(self).__torsh_static_fields__ if n != "param_groups"}

    @property
    def defaults(self) -> FrozenDict:
        """The hyperparameters of the default group (every field but ``param_groups``)."""
        return FrozenDict(self._hp())

    def _groups(self) -> tuple[tuple[str, ParamGroup | None, Optimizer], ...]:
        """``(name, group, configuration)`` per param group, the defaults first (computed once)."""
        return self._cached("groups", self._resolve_groups)

    def _resolve_groups(self) -> tuple[tuple[str, ParamGroup | None, Optimizer], ...]:
        cls = type(self)
        defaults = self._hp()
        out: list[tuple[str, ParamGroup | None, Optimizer]] = [(DEFAULT_GROUP, None, self)]
        for i, group in enumerate(self.param_groups):
            name = group.name or f"group{i + 1}"
            values = cls._check_values(
                Checker(f"{cls._owner_name()} param group {name!r}"), {**defaults, **group.options}
            )
            config = object.__new__(cls)  # validated above: build without re-running the checks
            config.__dict__.update(values, param_groups=())
            out.append((name, group, config))
        return tuple(out)

    def _weight_decay(self) -> tuple[str | None, float]:
        """``(style, coefficient)`` the engine applies for this group (``(None, 0.0)``: nothing)."""
        wd = getattr(self, "weight_decay", 0.0)
        style = self.weight_decay_style
        if style is None or not wd:
            return None, 0.0
        if getattr(self, "decoupled_weight_decay", False):
            style = "decoupled"
        return style, wd

    # -- layout ----------------------------------------------------------------------------------
    @staticmethod
    def _layout(params: PyTree) -> tuple[list[Any], Any, list[str], list[bool]]:
        pairs, spec = _tree.flatten_with_path(params)
        leaves = [leaf for _, leaf in pairs]
        paths = [path for path, _ in pairs]
        trainable = [bool(m) for m in spec.flatten_up_to(_tree.trainable_mask(params))]
        return leaves, spec, paths, trainable

    @staticmethod
    def _group_lr(lr: float | Callable, t: Any) -> jax.Array:
        return jnp.asarray(lr(t) if callable(lr) else lr, lr_dtype())

    def _hyperparams(self) -> FrozenDict:
        out = {}
        for name, _, config in self._groups():
            shown = {k: v for k, v in config._hp().items() if k != "lr" or callable(v)}
            out[name] = FrozenDict(shown)
        return FrozenDict(out)

    # -- protocol --------------------------------------------------------------------------------
    def init(self, params: PyTree) -> OptState:
        """The initial state: ``step`` 0, the learning rate of each group, initial slots.

        Args:
          params: the parameter pytree (a torsh module, a dict of arrays...).

        Returns:
          The optimizer's state (``type(self).State``).

        Raises:
          ConfigError: a param group selects no trainable parameter.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> state = optim.Adam(lr=1e-3).init({"w": jnp.ones(2)})
          >>> sorted(state.state_dict())
          ['exp_avg.w', 'exp_avg_sq.w', 'lr.default', 'step']
        """
        groups = self._groups()
        leaves, spec, paths, trainable = self._layout(params)
        owners = assign_groups(type(self).__name__, groups, paths, leaves, trainable, check_unmatched=True)
        arrays = [jnp.asarray(leaf) for leaf in leaves]
        active = [
            groups[gi][2].active_slots(a) if gi >= 0 else () for a, gi in zip(arrays, owners, strict=True)
        ]
        slots: dict[str, Any] = {}
        for slot in self.__torsh_slot_names__:
            values = [
                groups[gi][2].init_slot(slot, a) if slot in kept else None
                for a, gi, kept in zip(arrays, owners, active, strict=True)
            ]
            slots[slot] = _tree.unflatten(spec, values) if any(v is not None for v in values) else None
        scalars: dict[str, dict[str, jax.Array]] = {name: {} for name in self.scalars}
        for gname, _, config in groups:
            for k, v in config.init_scalars().items():
                scalars[k][gname] = v
        scheduled = [gname for gname, _, config in groups if callable(config.lr)]
        return self.State(
            step=jnp.zeros((), jnp.int32),
            lr={gname: self._group_lr(config.lr, 0) for gname, _, config in groups},
            **slots,
            **scalars,
            hyperparams=self._hyperparams(),
            lr_scale={g: jnp.ones((), lr_dtype()) for g in scheduled} if scheduled else None,
        )

    def update(self, grads: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        """The parameter deltas of one step and the new state (composable form of :meth:`step`).

        Args:
          grads: gradients shaped like ``params`` (``None`` at leaves that are not trained).
          state: the state from :meth:`init` or the previous step.
          params: the current parameters (required).

        Returns:
          ``(updates, new_state)``; ``updates`` has ``None`` at leaves that are not trained.

        Raises:
          ConfigError: ``params`` is missing.
          TreeError: ``grads`` or ``state`` do not match the parameters or this optimizer.
          ShapeError: a gradient's shape differs from its parameter's.
          DTypeError: a real parameter has a complex gradient.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.SGD(lr=0.1)
          >>> params = {"w": jnp.ones(2)}
          >>> updates, state = opt.update({"w": jnp.full(2, 0.5)}, opt.init(params), params)
          >>> [round(v, 4) for v in updates["w"].tolist()]
          [-0.05, -0.05]
        """
        new_leaves, leaves, spec, new_state = self._run(grads, state, params, "update")
        updates = [
            None if n is None else (n - jnp.asarray(p).astype(n.dtype)).astype(jnp.asarray(p).dtype)
            for n, p in zip(new_leaves, leaves, strict=True)
        ]
        return _tree.unflatten(spec, updates), new_state

    def step(self, params: PyTree, grads: PyTree, state: Any) -> tuple[PyTree, Any]:
        """One optimization step (pure; jit it).

        Args:
          params: the current parameters.
          grads: their gradients (``None`` at leaves that are not trained).
          state: the state from :meth:`init` or the previous step.

        Returns:
          ``(new_params, new_state)``; parameters keep their dtypes.

        Raises:
          ConfigError: ``params`` is missing.
          TreeError: ``grads`` or ``state`` do not match the parameters or this optimizer.
          ShapeError: a gradient's shape differs from its parameter's.
          DTypeError: a real parameter has a complex gradient.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.SGD(lr=0.1)
          >>> params = {"w": jnp.ones(2)}
          >>> params, state = opt.step(params, {"w": jnp.full(2, 0.5)}, opt.init(params))
          >>> [round(v, 4) for v in params["w"].tolist()]
          [0.95, 0.95]
        """
        new_leaves, leaves, spec, new_state = self._run(grads, state, params, "step")
        out = [
            p if n is None else n.astype(jnp.asarray(p).dtype)
            for n, p in zip(new_leaves, leaves, strict=True)
        ]
        return _tree.unflatten(spec, out), new_state

    # -- the engine ------------------------------------------------------------------------------
    def _check_state(self, state: Any, where: str) -> None:
        owner = type(self).__name__
        if not isinstance(state, self.State):
            raise TreeError(
                f"{owner}.{where}: expected the {self.State.__name__} returned by {owner}.init, got "
                f"{type(state).__name__}"
            )
        expected = sorted(g[0] for g in self._groups())
        if sorted(state.lr) != expected:
            raise TreeError(
                f"{owner}.{where}: the state has learning rates for groups {sorted(state.lr)}, "
                f"this optimizer has groups {expected}; was the state made by an optimizer with other "
                "param_groups?"
            )

    def _run(
        self, grads: PyTree, state: Any, params: PyTree, where: str
    ) -> tuple[list[Any], list[Any], Any, Any]:
        owner = type(self).__name__
        if params is None:
            raise ConfigError(f"{owner}.{where}: params are required (call {where}(grads, state, params))")
        self._check_state(state, where)
        groups = self._groups()
        leaves, spec, paths, trainable = self._layout(params)
        grad_leaves = flatten_like(spec, grads, f"{owner}.{where}: grads", params)
        slot_leaves = {}
        for slot in self.__torsh_slot_names__:
            tree = getattr(state, slot)
            slot_leaves[slot] = (
                [None] * len(leaves)
                if tree is None
                else flatten_like(spec, tree, f"{owner}.{where}: state.{slot}", params)
            )
        owners = assign_groups(owner, groups, paths, leaves, trainable, check_unmatched=False)
        t = state.step + 1
        plans = [
            _GroupPlan(
                gname,
                config,
                config._weight_decay(),
                config.advance_scalars({k: getattr(state, k)[gname] for k in self.scalars}, t),
            )
            for gname, _, config in groups
        ]

        new_leaves: list[Any] = []
        new_slot_leaves = {slot: list(values) for slot, values in slot_leaves.items()}
        for i, (leaf, g, gi) in enumerate(zip(leaves, grad_leaves, owners, strict=True)):
            if gi < 0 or g is None:
                new_leaves.append(None)
                continue
            plan = plans[gi]
            slots = {}
            for name in plan.config.active_slots(jnp.asarray(leaf)):
                value = slot_leaves[name][i]
                if value is None:
                    raise TreeError(
                        f"{owner}.{where}: state.{name} has no entry for parameter {paths[i]!r}; "
                        "was the state made for other parameters?"
                    )
                slots[name] = value
            new_p, new_slots = _leaf(plan, paths[i], leaf, g, slots, t, state.lr[plan.name])
            new_leaves.append(new_p)
            for name, value in new_slots.items():
                new_slot_leaves[name][i] = value

        scales = getattr(state, "lr_scale", None) or {}
        changes: dict[str, Any] = {
            "step": t,
            "lr": {
                gname: (
                    (self._group_lr(config.lr, t) * scales.get(gname, 1.0)).astype(state.lr[gname].dtype)
                    if callable(config.lr)
                    else state.lr[gname]
                )
                for gname, _, config in groups
            },
        }
        for slot in self.__torsh_slot_names__:
            if getattr(state, slot) is not None:
                changes[slot] = _tree.unflatten(spec, new_slot_leaves[slot])
        for k in self.scalars:
            changes[k] = {plan.name: plan.scalars[k] for plan in plans}
        return new_leaves, leaves, spec, state.replace(**changes)


class _GroupPlan(NamedTuple):
    """What the engine resolved once per param group for one step."""

    name: str
    config: Optimizer
    decay: tuple[str | None, float]
    scalars: dict[str, jax.Array]


def _leaf(
    plan: _GroupPlan,
    path: str,
    param: Any,
    grad: Any,
    slots: dict[str, jax.Array],
    t: jax.Array,
    lr: jax.Array,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Dtype, complex, ``maximize`` and weight-decay handling around ``update_leaf`` (by default
    ``param - lr * direction``) for one leaf."""
    owner = type(plan.config).__name__
    p = jnp.asarray(param)
    g = jnp.asarray(grad)
    if g.shape != p.shape:
        raise ShapeError(
            f"{owner}: the gradient of {path!r} has shape {list(g.shape)}, the parameter has {list(p.shape)}"
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
    if plan.config.maximize:
        gc = -gc
    real = pc.dtype
    t, lr = t.astype(real), lr.astype(real)
    style, wd = plan.decay
    if style == "l2":
        gc = l2_decay(gc, pc, wd)
    elif style == "decoupled":
        pc = decoupled_decay(pc, lr, wd)
    scalars = {k: v.astype(real) for k, v in plan.scalars.items()}
    new_p, new_s = plan.config.update_leaf(Leaf(pc, gc, sc, t, lr, scalars, path))
    if is_complex:
        new_p = _as_complex(new_p, cdt)
        new_s = {k: _as_complex(v, cdt) for k, v in new_s.items()}
    new_s = {k: v.astype(slots[k].dtype) for k, v in new_s.items()}
    return new_p.astype(cdt), new_s
