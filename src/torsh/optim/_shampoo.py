"""Shampoo (Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018,
Algorithm 1) with the blocking of Anil et al., "Scalable Second Order Optimization for Deep Learning",
2020 (large matrices preconditioned block by block)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import tree as _tree
from ..errors import DTypeError
from ..tree import static
from ._base import flatten_like
from ._config import FrozenDict, option
from ._groups import DEFAULT_GROUP
from ._optimizer import _compute_dtype, l2_decay
from ._prodigy import _WholeTreeOptimizer
from ._state import OptState

__all__ = ["Shampoo", "ShampooState"]

PyTree = Any


class ShampooState(OptState):
    """State of :class:`Shampoo`.

    Args:
      step: steps taken.
      lr: ``{"default": lr}``, the learning rate the next step uses.
      left: per trained leaf, a tuple of the left statistics :math:`L` of its blocks (row-major).
      right: per trained leaf, a tuple of the right statistics :math:`R` of its blocks.
      hyperparams: the static configuration.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.Shampoo(block_size=2).init({"w": jnp.zeros((3, 4))})
      >>> [x.shape for x in state.left["w"]], [x.shape for x in state.right["w"]]
      ([(2, 2), (2, 2), (1, 1), (1, 1)], [(2, 2), (2, 2), (2, 2), (2, 2)])
    """

    step: jax.Array
    lr: dict
    left: Any
    right: Any
    hyperparams: FrozenDict = static(default=FrozenDict())


def _matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The matrix a leaf is preconditioned as: ``(shape[0], rest)``; a vector is one row."""
    if len(shape) == 0:
        return (1, 1)
    if len(shape) == 1:
        return (1, shape[0])
    return (shape[0], math.prod(shape[1:]))


def _splits(n: int, block: int) -> list[tuple[int, int]]:
    return [(i, min(i + block, n)) for i in range(0, n, block)]


def _inverse_root(a: jax.Array, root: int) -> jax.Array:
    """``a ** (-1/root)`` of a symmetric positive definite matrix (by its eigendecomposition)."""
    w, v = jnp.linalg.eigh(a)
    w = jnp.maximum(w, jnp.finfo(a.dtype).tiny)
    return (v * w ** (-1.0 / root)) @ v.T


class Shampoo(_WholeTreeOptimizer):
    r"""Shampoo: a Kronecker-factored full-matrix preconditioner per parameter, in blocks.

    Each trained leaf is viewed as a matrix :math:`G` (``(shape[0], rest)``; a vector as one row) and
    cut into blocks of at most ``block_size`` x ``block_size``; for each block

    .. math::
        L \leftarrow L + G G^\top,\quad R \leftarrow R + G^\top G,\quad
        W \leftarrow W - \eta\, L^{-1/4} G R^{-1/4}

    with :math:`L = R = \epsilon I` at first (Algorithm 1 of Gupta et al.; blocking as in Anil et
    al., which bounds the cost of the inverse roots to ``block_size``-sized matrices). The inverse
    roots are recomputed every step (an eigendecomposition per block and side): meant for small and
    medium layers, or a ``block_size`` of a few hundred.

    Args:
      lr: learning rate, or a schedule.
      eps: the initial :math:`\epsilon I` of the statistics, > 0.
      block_size: the largest side of a block, >= 1.
      weight_decay: L2 weight decay (added to the gradient), >= 0.

    Raises:
      ConfigError: a hyperparameter out of its range (the message names it).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> a = jnp.array([[3.0, 0.0], [0.0, 0.1]])   # badly conditioned quadratic
      >>> loss = lambda p: 0.5 * jnp.sum(p["w"] * (a @ p["w"]))
      >>> opt = optim.Shampoo(lr=0.3, eps=1e-4)
      >>> params = {"w": jnp.ones((2, 2))}
      >>> state = opt.init(params)
      >>> for _ in range(50):
      ...     params, state = opt.step(params, jax.grad(loss)(params), state)
      >>> float(loss(params)) < 1e-2 * float(loss({"w": jnp.ones((2, 2))}))
      True
    """

    lr: float | Callable = 1e-3
    eps: float = option(1e-6, "positive")
    block_size: int = option(128, "count")
    weight_decay: float = option(0.0, "nonneg")

    def _blocks(self, shape: tuple[int, ...]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        m, n = _matrix_shape(shape)
        return [(r, c) for r in _splits(m, self.block_size) for c in _splits(n, self.block_size)]

    def init(self, params: PyTree) -> ShampooState:
        """The state: :math:`\\epsilon I` statistics for every block of every trained leaf.

        Args:
          params: the parameters (real floating leaves are trained).

        Returns:
          The :class:`ShampooState`.

        Raises:
          DTypeError: a trainable leaf is complex.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> optim.Shampoo(eps=0.5).init({"b": jnp.zeros(3)}).left["b"][0].tolist()
          [[0.5]]
        """

        def stats(p: Any, m: bool, side: int) -> Any:
            if not m:
                return None
            p = jnp.asarray(p)
            if jnp.iscomplexobj(p):
                raise DTypeError(f"Shampoo: complex parameters are not supported, got {p.dtype}")
            dt = _compute_dtype(p.dtype)
            return tuple(
                self.eps * jnp.eye(b[side][1] - b[side][0], dtype=dt) for b in self._blocks(jnp.shape(p))
            )

        mask = _tree.trainable_mask(params)
        return ShampooState(
            step=jnp.zeros((), jnp.int32),
            lr={DEFAULT_GROUP: self._lr(0)},
            left=_tree.map(lambda p, m: stats(p, m, 0), params, mask),
            right=_tree.map(lambda p, m: stats(p, m, 1), params, mask),
            hyperparams=self._hyperparams(),
        )

    def _precondition(
        self, g: jax.Array, left: tuple, right: tuple
    ) -> tuple[jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
        shape = g.shape
        mat = g.reshape(_matrix_shape(shape))
        rows: dict[tuple[int, int], list[jax.Array]] = {}
        new_left: list[jax.Array] = []
        new_right: list[jax.Array] = []
        for (r, c), lb, rb in zip(self._blocks(shape), left, right, strict=True):
            block = mat[r[0] : r[1], c[0] : c[1]]
            lb = lb + block @ block.T
            rb = rb + block.T @ block
            rows.setdefault(r, []).append(_inverse_root(lb, 4) @ block @ _inverse_root(rb, 4))
            new_left.append(lb)
            new_right.append(rb)
        out = jnp.concatenate([jnp.concatenate(parts, axis=1) for parts in rows.values()], axis=0)
        return out.reshape(shape), tuple(new_left), tuple(new_right)

    def _run(self, grads: PyTree, state: ShampooState, params: PyTree) -> tuple[list, Any, ShampooState]:
        leaves, spec = _tree.flatten(params)
        gs = flatten_like(spec, grads, "Shampoo: grads", params)
        # at each parameter's position the state holds the tuple of its blocks' statistics
        lefts = flatten_like(spec, state.left, "Shampoo: state.left", params)
        rights = flatten_like(spec, state.right, "Shampoo: state.right", params)
        t = state.step + 1
        lr = state.lr[DEFAULT_GROUP]
        new: list[Any] = []
        new_left: list[Any] = []
        new_right: list[Any] = []
        for p, g, lb, rb in zip(leaves, gs, lefts, rights, strict=True):
            if g is None or lb is None:
                new.append(None)
                new_left.append(lb)
                new_right.append(rb)
                continue
            dt = lb[0].dtype
            pc, gc = jnp.asarray(p).astype(dt), jnp.asarray(g).astype(dt)
            if self.weight_decay:
                gc = l2_decay(gc, pc, self.weight_decay)
            direction, lb, rb = self._precondition(gc, lb, rb)
            new.append(pc - lr.astype(dt) * direction)
            new_left.append(lb)
            new_right.append(rb)
        new_state = state.replace(
            step=t,
            lr=self._next_lr(state, t),
            left=_tree.unflatten(spec, new_left),
            right=_tree.unflatten(spec, new_right),
        )
        return new, spec, new_state
