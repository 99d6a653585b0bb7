"""The gradient-transformation protocol, ``apply_updates`` and ``chain``.

A gradient transformation is an immutable, hashable configuration object with two pure methods:

* ``init(params) -> state``
* ``update(grads, state, params) -> (updates, state)``

and the convenience ``step(params, grads, state) -> (params, state)``. Transformations compose with
:func:`chain`; optimizers are transformations whose ``update`` turns gradients into parameter deltas.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from ..errors import ConfigError, FrozenInstanceError, TreeError
from ..tree import field
from ._config import FrozenDict
from ._state import OptState

__all__ = ["GradientTransformation", "apply_updates", "chain", "Chain", "ChainState", "flatten_like"]

PyTree = Any


def flatten_like(spec: Any, tree: PyTree, what: str, params: PyTree = None) -> list[Any]:
    """Leaves of ``tree`` at the leaf positions of ``spec`` (``None`` where ``tree`` has ``None``).

    Raises a :class:`TreeError` that names the differing paths when the structures do not line up.
    """
    try:
        return spec.flatten_up_to(tree)
    except (ValueError, TypeError) as e:
        detail = ""
        if params is not None:
            mine = set(_tree.paths(params))
            theirs = set(_tree.paths(tree))
            extra = sorted(theirs - mine)
            if extra:
                detail = f"; entries not among the parameters: {extra[:5]}"
        raise TreeError(
            f"{what} does not have the structure of the parameters{detail}. It must mirror the parameter "
            f"tree, with None (or anything) at leaves that are not trained. optree says: {e}"
        ) from None


def _is_float0(x: Any) -> bool:
    return getattr(x, "dtype", None) is not None and np.dtype(x.dtype) == np.dtype([("float0", "V")])


def apply_updates(params: PyTree, updates: PyTree) -> PyTree:
    """Add ``updates`` to ``params`` leaf by leaf; the result keeps each parameter's dtype.

    Leaves where ``updates`` is ``None`` (not trained) and non-floating leaves (integers, keys) are
    returned unchanged.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> out = optim.apply_updates({"w": jnp.ones(2), "n": jnp.int32(3)}, {"w": jnp.full(2, 0.5), "n": None})
      >>> out["w"].tolist(), int(out["n"])
      ([1.5, 1.5], 3)
    """
    leaves, spec = _tree.flatten(params)
    ups = flatten_like(spec, updates, "updates", params)
    out = []
    for p, u in zip(leaves, ups, strict=True):
        if u is None or _is_float0(u) or not _tree.is_inexact(p):
            out.append(p)
        else:
            p_arr = jnp.asarray(p)
            out.append((p_arr + u).astype(p_arr.dtype))
    return _tree.unflatten(spec, out)


class GradientTransformation:
    """Base class of torsh's gradient transformations and optimizers.

    Subclasses implement :meth:`init` and :meth:`update`; instances are immutable and compare by
    configuration, so they can be closed over by jitted functions or passed as static arguments.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.chain(optim.clip_by_value(1.0), optim.SGD(lr=0.1))
      >>> params = {"w": jnp.zeros(2)}
      >>> state = opt.init(params)
      >>> params, state = opt.step(params, {"w": jnp.array([5.0, -0.5])}, state)
      >>> params["w"].tolist()
      [-0.10000000149011612, 0.05000000074505806]
    """

    _config: FrozenDict = FrozenDict()

    # -- configuration --------------------------------------------------------------------------
    def _set_config(self, **config: Any) -> None:
        object.__setattr__(self, "_config", FrozenDict(config))

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(
            f"{type(self).__name__} is immutable: cannot set {name!r}; "
            "build a new one with the changed argument"
        )

    def __eq__(self, other: object) -> bool:
        return self is other or (type(self) is type(other) and self._config == other._config)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        try:
            return hash((type(self), self._config))
        except TypeError:  # an unhashable argument (e.g. a mask tree of dicts): fall back to identity
            return id(self)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"

    # -- protocol -------------------------------------------------------------------------------
    def init(self, params: PyTree) -> Any:
        """The initial state for ``params``."""
        raise NotImplementedError

    def update(self, grads: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        """Transform ``grads`` into ``updates`` (to be added to the parameters) and a new state."""
        raise NotImplementedError

    def step(self, params: PyTree, grads: PyTree, state: Any) -> tuple[PyTree, Any]:
        """One optimization step: ``(new_params, new_state)``.

        Equivalent to ``update`` followed by :func:`apply_updates`; optimizers compute the new
        parameters directly (one rounding instead of two, as PyTorch does).
        """
        updates, state = self.update(grads, state, params)
        return apply_updates(params, updates), state


class ChainState(OptState):
    """The states of a :func:`chain`, by position (or by name for ``chain(name=transform, ...)``).

    Dotted names leave out the field: ``0.norm``, ``1.exp_avg.w`` (or ``adam.exp_avg.w``).
    """

    states: tuple | dict = field(inline=True)

    def __getitem__(self, key: int | str) -> Any:
        return self.states[key]

    def __len__(self) -> int:
        return len(self.states)


class Chain(GradientTransformation):
    """Transformations applied one after the other (see :func:`chain`)."""

    def __init__(self, transforms: tuple[GradientTransformation, ...] | Mapping[str, GradientTransformation]):
        named = isinstance(transforms, Mapping)
        items = list(transforms.items()) if named else list(enumerate(transforms))
        if not items:
            raise ConfigError("chain: needs at least one transformation, got none")
        for key, t in items:
            if not isinstance(t, GradientTransformation):
                hint = (
                    " (LBFGS takes a loss function, not gradients, and cannot be chained)"
                    if (type(t).__name__ == "LBFGS")
                    else ""
                )
                raise ConfigError(
                    f"chain: element {key!r} must be a torsh.optim gradient transformation, got "
                    f"{type(t).__name__}{hint}"
                )
        object.__setattr__(self, "transforms", FrozenDict(transforms) if named else tuple(transforms))
        object.__setattr__(self, "_named", named)
        self._set_config(transforms=self.transforms)

    def __repr__(self) -> str:
        if self._named:
            return "chain(" + ", ".join(f"{k}={v!r}" for k, v in self.transforms.items()) + ")"
        return "chain(" + ", ".join(repr(t) for t in self.transforms) + ")"

    def _items(self) -> list[tuple[Any, GradientTransformation]]:
        return list(self.transforms.items()) if self._named else list(enumerate(self.transforms))

    def _pack(self, states: list[Any]) -> ChainState:
        if self._named:
            return ChainState(states={k: s for (k, _), s in zip(self._items(), states, strict=True)})
        return ChainState(states=tuple(states))

    def _unpack(self, state: Any) -> list[Any]:
        if not isinstance(state, ChainState) or len(state.states) != len(self.transforms):
            raise TreeError(
                f"chain.update: expected the ChainState of {len(self.transforms)} transformations "
                "returned by "
                f"this chain's init, got {type(state).__name__}"
            )
        return [state.states[k] for k, _ in self._items()]

    def init(self, params: PyTree) -> ChainState:
        return self._pack([t.init(params) for _, t in self._items()])

    def update(self, grads: PyTree, state: ChainState, params: PyTree = None) -> tuple[PyTree, ChainState]:
        new_states = []
        for (_, t), s in zip(self._items(), self._unpack(state), strict=True):
            grads, s = t.update(grads, s, params)
            new_states.append(s)
        return grads, self._pack(new_states)

    def step(self, params: PyTree, grads: PyTree, state: ChainState) -> tuple[PyTree, ChainState]:
        items, states = self._items(), self._unpack(state)
        new_states = []
        for (_, t), s in zip(items[:-1], states[:-1], strict=True):
            grads, s = t.update(grads, s, params)
            new_states.append(s)
        params, last = items[-1][1].step(params, grads, states[-1])
        return params, self._pack([*new_states, last])


def chain(*transforms: GradientTransformation, **named: GradientTransformation) -> Chain:
    """Compose gradient transformations: each one's updates are the next one's input.

    Pass them positionally (states named ``0``, ``1``, ...) or by keyword (states named by the
    keywords), not both.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.chain(clip=optim.clip_by_global_norm(1.0), adam=optim.Adam(lr=1e-3))
      >>> state = opt.init({"w": jnp.zeros(3)})
      >>> sorted(state.state_dict())
      ['adam.exp_avg.w', 'adam.exp_avg_sq.w', 'adam.lr.default', 'adam.step', 'clip.norm']
    """
    if transforms and named:
        raise ConfigError("chain: pass transformations either positionally or by name, not both")
    return Chain(named if named else tuple(transforms))
