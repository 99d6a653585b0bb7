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
from ..errors import ConfigError, TreeError
from ..tree import field
from ._config import Checker, Config, FrozenDict, option
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

    Args:
      params: The parameter pytree.
      updates: Updates of the same structure (``None`` where not trained).

    Returns:
      The new parameters, each leaf in its parameter's dtype.

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


class GradientTransformation(Config):
    """Base class of torsh's gradient transformations and optimizers.

    A frozen :class:`torsh.tree.Struct` of static configuration (see :class:`torsh.optim._config.Config`):
    subclasses declare their hyperparameters as annotated fields (validated with
    :func:`~torsh.optim._config.option`) and implement :meth:`init` and :meth:`update`. Instances are
    immutable and compare by configuration, so they can be closed over by jitted functions or passed
    as static arguments.

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

    # -- protocol -------------------------------------------------------------------------------
    def init(self, params: PyTree) -> Any:
        """The initial state for ``params``.

        Args:
          params: the parameter pytree (a torsh module, a dict of arrays, ...).

        Returns:
          The state (a :class:`torsh.optim.OptState`).

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> state = optim.SGD(lr=0.1).init({"w": jnp.ones(2)})
          >>> sorted(state.state_dict())
          ['lr.default', 'step']
        """
        raise NotImplementedError

    def update(self, grads: PyTree, state: Any, params: PyTree = None) -> tuple[PyTree, Any]:
        """Transform ``grads`` into ``updates`` (to be added to the parameters) and a new state.

        Args:
          grads: gradients, shaped like the parameters (``None`` at leaves that are not trained).
          state: the state from :meth:`init` or the previous call.
          params: the current parameters (needed by weight decay and optimizers).

        Returns:
          ``(updates, new_state)``.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> params, grads = {"w": jnp.ones(2)}, {"w": jnp.full(2, 0.5)}
          >>> opt = optim.SGD(lr=0.1)
          >>> updates, state = opt.update(grads, opt.init(params), params)
          >>> [round(v, 4) for v in optim.apply_updates(params, updates)["w"].tolist()]
          [0.95, 0.95]
        """
        raise NotImplementedError

    def step(self, params: PyTree, grads: PyTree, state: Any) -> tuple[PyTree, Any]:
        """One optimization step: ``(new_params, new_state)``.

        Equivalent to ``update`` followed by :func:`apply_updates`; optimizers compute the new
        parameters directly (one rounding instead of two, as PyTorch does).

        Args:
          params: the current parameters.
          grads: their gradients.
          state: the state from :meth:`init` or the previous step.

        Returns:
          ``(new_params, new_state)``.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> params, grads = {"w": jnp.ones(2)}, {"w": jnp.full(2, 0.5)}
          >>> opt = optim.SGD(lr=0.1)
          >>> params, state = opt.step(params, grads, opt.init(params))  # w - 0.1 * 0.5
          >>> [round(v, 4) for v in params["w"].tolist()]
          [0.95, 0.95]
        """
        updates, state = self.update(grads, state, params)
        return apply_updates(params, updates), state


class ChainState(OptState):
    """The states of a :func:`chain`, by position (or by name for ``chain(name=transform, ...)``).

    Dotted names leave out the field: ``0.norm``, ``1.exp_avg.w`` (or ``adam.exp_avg.w``).

    Args:
        states: The transformations' states: a tuple (positional chain) or a dict (named chain).

    Example:
        >>> import jax.numpy as jnp
        >>> from torsh import optim
        >>> opt = optim.chain(clip=optim.clip_by_global_norm(1.0), sgd=optim.SGD(lr=0.1))
        >>> state = opt.init({"w": jnp.ones(2)})
        >>> type(state).__name__, sorted(state.state_dict())
        ('ChainState', ['clip.norm', 'sgd.lr.default', 'sgd.step'])
    """

    states: tuple | dict = field(inline=True)

    def __getitem__(self, key: int | str) -> Any:
        return self.states[key]  # type: ignore[index]  # int for a tuple, str for a dict of states

    def __len__(self) -> int:
        return len(self.states)


def _check_transforms(check: Checker, name: str, value: Any) -> tuple | FrozenDict:
    named = isinstance(value, Mapping)
    items = list(value.items()) if named else list(enumerate(value))
    if not items:
        check.conflict("needs at least one transformation, got none")
    for key, t in items:
        if not isinstance(t, GradientTransformation):
            hint = (
                " (LBFGS takes a loss function, not gradients, and cannot be chained)"
                if (type(t).__name__ == "LBFGS")
                else ""
            )
            check.conflict(
                f"element {key!r} must be a torsh.optim gradient transformation, got {type(t).__name__}{hint}"
            )
    return FrozenDict(value) if named else tuple(value)


class Chain(GradientTransformation):
    """Transformations applied one after the other (see :func:`chain`).

    Args:
      transforms: a tuple of transformations (states named ``0``, ``1``...) or a mapping name ->
        transformation (states named by the keys).

    Example:
      >>> from torsh import optim
      >>> optim.Chain((optim.clip_by_value(1.0), optim.SGD(lr=0.1))) == optim.chain(
      ...     optim.clip_by_value(1.0), optim.SGD(lr=0.1))
      True
    """

    _owner = "chain"
    transforms: tuple | FrozenDict = option(check=_check_transforms)

    def __repr__(self) -> str:
        if isinstance(self.transforms, Mapping):  # (_named, spelled so that the type narrows)
            return "chain(" + ", ".join(f"{k}={v!r}" for k, v in self.transforms.items()) + ")"
        return "chain(" + ", ".join(repr(t) for t in self.transforms) + ")"

    @property
    def _named(self) -> bool:
        return isinstance(self.transforms, Mapping)

    def _items(self) -> list[tuple[Any, GradientTransformation]]:
        t = self.transforms
        return list(t.items()) if isinstance(t, Mapping) else list(enumerate(t))

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
        """The states of the transformations, packed in a :class:`ChainState`.

        Args:
          params: the parameter pytree.

        Returns:
          The :class:`ChainState`.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.chain(optim.clip_by_global_norm(1.0), optim.SGD(lr=0.1))
          >>> params = {"w": jnp.ones(2)}
          >>> sorted(opt.init(params).state_dict())  # states named by position
          ['0.norm', '1.lr.default', '1.step']
        """
        return self._pack([t.init(params) for _, t in self._items()])

    def update(self, grads: PyTree, state: ChainState, params: PyTree = None) -> tuple[PyTree, ChainState]:
        """Each transformation's ``update`` in turn.

        Args:
          grads: the gradients.
          state: this chain's :class:`ChainState`.
          params: the current parameters.

        Returns:
          ``(updates, new_state)``.

        Raises:
          TreeError: ``state`` is not this chain's state.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.chain(optim.clip_by_global_norm(1.0), optim.SGD(lr=0.1))
          >>> params = {"w": jnp.ones(2)}
          >>> updates, state = opt.update({"w": jnp.full(2, 10.0)}, opt.init(params), params)
          >>> [round(v, 4) for v in updates["w"].tolist()]
          [-0.0707, -0.0707]
        """
        new_states = []
        for (_, t), s in zip(self._items(), self._unpack(state), strict=True):
            grads, s = t.update(grads, s, params)
            new_states.append(s)
        return grads, self._pack(new_states)

    def step(self, params: PyTree, grads: PyTree, state: ChainState) -> tuple[PyTree, ChainState]:
        """The first transformations' ``update``, then the last one's ``step``.

        Args:
          params: the current parameters.
          grads: the gradients.
          state: this chain's :class:`ChainState`.

        Returns:
          ``(new_params, new_state)``.

        Raises:
          TreeError: ``state`` is not this chain's state.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.chain(optim.clip_by_global_norm(1.0), optim.SGD(lr=0.1))
          >>> params = {"w": jnp.ones(2)}
          >>> new, state = opt.step(params, {"w": jnp.full(2, 10.0)}, opt.init(params))
          >>> [round(v, 4) for v in new["w"].tolist()]  # the gradient is clipped to norm 1 first
          [0.9293, 0.9293]
        """
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

    Args:
      *transforms: Transformations applied in order (states named ``0``, ``1``, ...).
      **named: Transformations by name (states named by the keywords).

    Returns:
      A :class:`Chain`.

    Raises:
      ConfigError: If transformations are given both positionally and by name.

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
    return Chain(FrozenDict(named) if named else tuple(transforms))
