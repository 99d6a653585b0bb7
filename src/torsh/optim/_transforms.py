"""Stateless and small gradient transformations: clipping, weight decay with masks, masking, scaling."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import ConfigError, TreeError
from ._base import GradientTransformation, flatten_like
from ._config import Checker, option
from ._groups import ParamGroup
from ._optimizer import _compute_dtype, l2_decay
from ._state import OptState

__all__ = [
    "EmptyState",
    "ClipState",
    "MaskedState",
    "clip_grad_norm",
    "clip_grad_value",
    "global_norm",
    "clip_by_global_norm",
    "clip_by_value",
    "add_decayed_weights",
    "masked",
    "scale",
    "resolve_mask",
]

PyTree = Any
Mask = None | str | Callable[[str, Any], bool] | Sequence[Any] | PyTree


class EmptyState(OptState):
    """The state of a transformation that keeps none (no arrays, nothing in a state dict).

    Example:
      >>> from torsh import optim
      >>> optim.clip_by_value(1.0).init(None).state_dict()
      {}
    """


class ClipState(OptState):
    """State of :func:`clip_by_global_norm`.

    Args:
      norm: the total norm of the last gradients seen (before clipping), for logging.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.clip_by_global_norm(1.0)
      >>> float(t.update({"w": jnp.array([3.0, 4.0])}, t.init(None))[1].norm)
      5.0
    """

    norm: jax.Array


def _is_grad(x: Any) -> bool:
    return x is not None and _tree.is_inexact(x)


def _leaf_norm(x: jax.Array, norm_type: float) -> jax.Array:
    x = jnp.abs(jnp.asarray(x))
    x = x.astype(_compute_dtype(x.dtype))
    if math.isinf(norm_type):
        return jnp.max(x) if x.size else jnp.zeros((), x.dtype)
    return jnp.sum(x**norm_type) ** (1.0 / norm_type)


def global_norm(grads: PyTree, norm_type: float = 2.0) -> jax.Array:
    """The ``norm_type``-norm of all floating leaves of ``grads`` taken together (``None`` skipped).

    Computed as PyTorch's ``clip_grad_norm_`` does: the norm of the per-leaf norms.

    Args:
      grads: a pytree of gradients.
      norm_type: the order of the norm, > 0 or ``float("inf")``.

    Returns:
      The norm, a scalar array.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> float(optim.global_norm({"a": jnp.array([3.0]), "b": jnp.array([4.0]), "n": None}))
      5.0
    """
    norms = [_leaf_norm(g, norm_type) for g in _tree.leaves(grads) if _is_grad(g)]
    if not norms:
        return jnp.zeros((), jnp.result_type(float))
    return _leaf_norm(jnp.stack([n.astype(jnp.result_type(*norms)) for n in norms]), norm_type)


def _norm_type(check: Checker, name: str, value: Any) -> float:
    v = check.number(name, value)
    if not v > 0:
        check.fail(name, "a number > 0 or float('inf')", value)
    return v


def trainable_copy(params: PyTree) -> PyTree:
    """A copy of the trainable leaves of ``params`` (``None`` elsewhere): initial slow weights, iterates."""
    return _tree.map(
        lambda p, m: jnp.array(p, copy=True) if m else None, params, _tree.trainable_mask(params)
    )


def open_unit_interval(check: Checker, name: str, value: Any) -> float:
    """A number in (0, 1) (an ``option`` check)."""
    v = check.unit_interval(name, value)
    if v == 0.0:
        check.fail(name, "in (0, 1)", value)
    return v


def check_transform(check: Checker, name: str, value: Any) -> GradientTransformation:
    """A torsh.optim gradient transformation (an ``option`` check for wrappers of one)."""
    if not isinstance(value, GradientTransformation):
        check.fail(name, "a torsh.optim optimizer or gradient transformation", value)
    return value


class _Transform(GradientTransformation):
    """A transformation built by a public function: shown and named in errors by that function."""

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, self._owner_name(), 1)


def clip_grad_norm(grads: PyTree, max_norm: float, norm_type: float = 2.0) -> tuple[PyTree, jax.Array]:
    """Scale ``grads`` so their global norm is at most ``max_norm``; returns ``(grads, total_norm)``.

    Same rule as ``torch.nn.utils.clip_grad_norm_``: ``grads * min(1, max_norm / (norm + 1e-6))``,
    and the norm returned is the norm *before* clipping. Pure and jit-able.

    Args:
      grads: a pytree of gradients (``None`` leaves pass through).
      max_norm: the largest norm allowed, >= 0.
      norm_type: the order of the norm, > 0 or ``float("inf")``.

    Returns:
      ``(clipped_grads, total_norm)``.

    Raises:
      ConfigError: ``max_norm`` or ``norm_type`` out of range.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> clipped, norm = optim.clip_grad_norm({"w": jnp.array([3.0, 4.0])}, max_norm=1.0)
      >>> float(norm), [round(x, 4) for x in clipped["w"].tolist()]
      (5.0, [0.6, 0.8])
    """
    check = Checker("clip_grad_norm")
    max_norm = check.nonneg("max_norm", max_norm)
    norm_type = _norm_type(check, "norm_type", norm_type)
    total = global_norm(grads, norm_type)
    coef = jnp.minimum(max_norm / (total + 1e-6), 1.0)
    clipped = _tree.map(lambda g: (g * coef).astype(g.dtype) if _is_grad(g) else g, grads)
    return clipped, total


def clip_grad_value(grads: PyTree, clip_value: float) -> PyTree:
    """Clamp every gradient element to ``[-clip_value, clip_value]`` (``torch.nn.utils.clip_grad_value_``).

    Args:
      grads: a pytree of gradients (``None`` leaves pass through).
      clip_value: the bound, >= 0.

    Returns:
      The clamped gradients.

    Raises:
      ConfigError: ``clip_value`` is negative or not a number.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> optim.clip_grad_value({"w": jnp.array([-3.0, 0.5])}, 1.0)["w"].tolist()
      [-1.0, 0.5]
    """
    clip_value = Checker("clip_grad_value").nonneg("clip_value", clip_value)
    return _tree.map(lambda g: jnp.clip(g, -clip_value, clip_value) if _is_grad(g) else g, grads)


class _ClipByGlobalNorm(_Transform):
    _owner = "clip_by_global_norm"
    max_norm: float = option(check="nonneg")
    norm_type: float = option(2.0, _norm_type)

    def init(self, params: PyTree) -> ClipState:
        return ClipState(norm=jnp.zeros((), jnp.result_type(float)))

    def update(self, grads: PyTree, state: ClipState, params: PyTree = None) -> tuple[PyTree, ClipState]:
        clipped, norm = clip_grad_norm(grads, self.max_norm, self.norm_type)
        return clipped, ClipState(norm=norm.astype(state.norm.dtype))


def clip_by_global_norm(max_norm: float, norm_type: float = 2.0) -> GradientTransformation:
    """Gradient transformation clipping by global norm (see :func:`clip_grad_norm`).

    The norm before clipping is kept in the state (``state.norm``) for logging.

    Args:
      max_norm: the largest global norm allowed, >= 0.
      norm_type: the order of the norm, > 0 or ``float("inf")``.

    Returns:
      The transformation (its state is a :class:`ClipState`).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.clip_by_global_norm(1.0)
      >>> updates, state = t.update({"w": jnp.array([0.0, 2.0])}, t.init(None))
      >>> updates["w"].tolist(), float(state.norm)
      ([0.0, 0.9999995231628418], 2.0)
    """
    return _ClipByGlobalNorm(max_norm, norm_type)


class _ClipByValue(_Transform):
    _owner = "clip_by_value"
    clip_value: float = option(check="nonneg")

    def init(self, params: PyTree) -> EmptyState:
        return EmptyState()

    def update(self, grads: PyTree, state: EmptyState, params: PyTree = None) -> tuple[PyTree, EmptyState]:
        return clip_grad_value(grads, self.clip_value), state


def clip_by_value(clip_value: float) -> GradientTransformation:
    """Gradient transformation clamping each element to ``[-clip_value, clip_value]``.

    Args:
      clip_value: the bound, >= 0.

    Returns:
      The transformation (stateless: :class:`EmptyState`).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.clip_by_value(0.5)
      >>> t.update({"w": jnp.array([2.0, -0.1])}, t.init(None))[0]["w"].tolist()
      [0.5, -0.10000000149011612]
    """
    return _ClipByValue(clip_value)


class _MaskTree:
    """A mask given as a tree of bools, kept flat (structure, leaves) so that it is hashable."""

    __slots__ = ("spec", "leaves")

    def __init__(self, tree: PyTree) -> None:
        leaves, self.spec = _tree.flatten(tree)
        # 0-d arrays become bools; anything else stays for resolve_mask to report with its path
        self.leaves = tuple(
            bool(v) if getattr(v, "shape", None) == () and hasattr(v, "dtype") else v for v in leaves
        )

    def tree(self) -> PyTree:
        return _tree.unflatten(self.spec, self.leaves)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _MaskTree) and self.spec == other.spec and self.leaves == other.leaves

    def __hash__(self) -> int:
        values = tuple(v if isinstance(v, Hashable) else id(v) for v in self.leaves)
        return hash((self.spec, values))

    def __repr__(self) -> str:
        return repr(self.tree())


def _check_mask(check: Checker, name: str, value: Any) -> Any:
    """Masks are static configuration: selector lists become tuples, bool trees a hashable _MaskTree."""
    if value is None or isinstance(value, (str, _MaskTree)) or callable(value):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(m, str) or callable(m) for m in value):
        return tuple(value)
    return _MaskTree(value)


def resolve_mask(owner: str, mask: Mask, params: PyTree) -> list[bool]:
    """One bool per leaf of ``params``: which leaves ``mask`` selects.

    ``mask`` is ``None`` (all), name patterns / predicates ``(path, leaf) -> bool`` (as in
    :class:`ParamGroup`; one or a list), or a tree of bools shaped like ``params``.
    """
    pairs, spec = _tree.flatten_with_path(params)
    if mask is None:
        return [True] * len(pairs)
    selectors = None
    if isinstance(mask, str) or (callable(mask) and not isinstance(mask, GradientTransformation)):
        selectors = (mask,)
    elif isinstance(mask, (list, tuple)) and mask and all(isinstance(m, str) or callable(m) for m in mask):
        selectors = tuple(mask)
    if selectors is not None:
        group = ParamGroup(*selectors)
        return [group.selects(path, leaf) for path, leaf in pairs]
    if isinstance(mask, _MaskTree):
        mask = mask.tree()
    values = flatten_like(spec, mask, f"{owner}: mask", params)
    out = []
    for (path, _), v in zip(pairs, values, strict=True):
        if not isinstance(v, bool) and not (hasattr(v, "dtype") and getattr(v, "shape", None) == ()):
            raise TreeError(f"{owner}: mask entry for {path!r} must be a bool, got {type(v).__name__}")
        out.append(bool(v))
    return out


class _AddDecayedWeights(_Transform):
    _owner = "add_decayed_weights"
    weight_decay: float = option(check="nonneg")
    mask: Any = option(None, _check_mask)

    def init(self, params: PyTree) -> EmptyState:
        return EmptyState()

    def update(self, grads: PyTree, state: EmptyState, params: PyTree = None) -> tuple[PyTree, EmptyState]:
        if params is None:
            raise ConfigError("add_decayed_weights.update: params are required")
        wd = self.weight_decay
        leaves, spec = _tree.flatten(params)
        selected = resolve_mask("add_decayed_weights", self.mask, params)
        trainable = spec.flatten_up_to(_tree.trainable_mask(params))
        ups = flatten_like(spec, grads, "add_decayed_weights: updates", params)
        out = [
            l2_decay(u, jnp.asarray(p).astype(u.dtype), wd)
            if (u is not None and sel and train and wd != 0)
            else u
            for p, u, sel, train in zip(leaves, ups, selected, trainable, strict=True)
        ]
        return _tree.unflatten(spec, out), state


def add_decayed_weights(weight_decay: float, mask: Mask = None) -> GradientTransformation:
    """Add ``weight_decay * param`` to the updates of the selected trainable leaves.

    Placed before an optimizer in a :func:`chain` this is L2 (coupled) weight decay, PyTorch's
    ``weight_decay=`` of SGD/Adam, with a mask choosing the leaves.

    Args:
      weight_decay: coefficient, >= 0.
      mask: which leaves decay: name patterns, a predicate ``(path, leaf) -> bool`` or a bool tree;
        e.g. ``lambda path, x: x.ndim > 1`` to leave biases and norm scales alone.

    Returns:
      The transformation (stateless; its ``update`` needs ``params``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.add_decayed_weights(0.1, mask=lambda path, x: x.ndim > 1)
      >>> params = {"w": jnp.ones((1, 2)), "b": jnp.ones(2)}
      >>> u, _ = t.update({"w": jnp.zeros((1, 2)), "b": jnp.zeros(2)}, t.init(params), params)
      >>> u["w"].tolist(), u["b"].tolist()
      ([[0.10000000149011612, 0.10000000149011612]], [0.0, 0.0])
    """
    return _AddDecayedWeights(weight_decay, mask)


class MaskedState(OptState):
    """State of :func:`masked`.

    Args:
      inner: the wrapped transformation's state, for the selected leaves only.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.masked(optim.SGD(lr=0.1, momentum=0.9), "w")
      >>> sorted(t.init({"w": jnp.zeros(2), "b": jnp.zeros(2)}).state_dict())
      ['inner.lr.default', 'inner.momentum_buffer.w', 'inner.step']
    """

    inner: Any


class _Masked(_Transform):
    _owner = "masked"
    inner: GradientTransformation = option(check=check_transform)
    mask: Any = option(check=_check_mask)

    def _select(self, tree: PyTree, params: PyTree) -> PyTree:
        selected = resolve_mask("masked", self.mask, params)
        leaves, spec = _tree.flatten(params)
        values = flatten_like(spec, tree, "masked", params)
        return _tree.unflatten(spec, [v if s else None for v, s in zip(values, selected, strict=True)])

    def init(self, params: PyTree) -> MaskedState:
        return MaskedState(inner=self.inner.init(self._select(params, params)))

    def update(self, grads: PyTree, state: MaskedState, params: PyTree = None) -> tuple[PyTree, MaskedState]:
        if params is None:
            raise ConfigError("masked.update: params are required")
        sub_params = self._select(params, params)
        sub_grads = self._select(grads, params)
        sub_updates, inner = self.inner.update(sub_grads, state.inner, sub_params)
        selected = resolve_mask("masked", self.mask, params)
        leaves, spec = _tree.flatten(params)
        originals = flatten_like(spec, grads, "masked: updates", params)
        sub_leaves = flatten_like(spec, sub_updates, "masked: inner updates", params)
        out = [s if sel else o for o, s, sel in zip(originals, sub_leaves, selected, strict=True)]
        return _tree.unflatten(spec, out), MaskedState(inner=inner)


def masked(inner: GradientTransformation, mask: Mask) -> GradientTransformation:
    """Apply ``inner`` only to the leaves selected by ``mask``; other updates pass through unchanged.

    ``inner`` sees (and keeps state for) the selected leaves only.

    Args:
      inner: the transformation (or optimizer) to apply.
      mask: which leaves: name patterns, a predicate ``(path, leaf) -> bool`` or a bool tree.

    Returns:
      The transformation (its state is a :class:`MaskedState`; its ``update`` needs ``params``).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.masked(optim.clip_by_value(1.0), "encoder.*")
      >>> params = {"encoder": {"w": jnp.zeros(1)}, "head": {"w": jnp.zeros(1)}}
      >>> g = {"encoder": {"w": jnp.array([5.0])}, "head": {"w": jnp.array([5.0])}}
      >>> u, _ = t.update(g, t.init(params), params)
      >>> u["encoder"]["w"].tolist(), u["head"]["w"].tolist()
      ([1.0], [5.0])
    """
    return _Masked(inner, mask)


class _Scale(_Transform):
    _owner = "scale"
    factor: float = option(check="finite")

    def init(self, params: PyTree) -> EmptyState:
        return EmptyState()

    def update(self, grads: PyTree, state: EmptyState, params: PyTree = None) -> tuple[PyTree, EmptyState]:
        f = self.factor
        return _tree.map(lambda g: (g * f).astype(g.dtype) if _is_grad(g) else g, grads), state


def scale(factor: float) -> GradientTransformation:
    """Multiply the updates by ``factor`` (e.g. ``chain(..., scale(-0.1))`` is SGD with lr 0.1).

    Args:
      factor: a finite number.

    Returns:
      The transformation (stateless).

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> t = optim.scale(-0.5)
      >>> t.update({"w": jnp.array([2.0])}, t.init(None))[0]["w"].tolist()
      [-1.0]
    """
    return _Scale(factor)
