"""Shampoo (Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018,
Algorithm 1) with the blocking and learning-rate grafting of Anil et al., "Scalable Second Order
Optimization for Deep Learning", 2020, and momentum applied after grafting as in Shi et al., "A
Distributed Data-Parallel PyTorch Implementation of the Distributed Shampoo Optimizer", 2023."""

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
from ._config import Checker, FrozenDict, option
from ._groups import DEFAULT_GROUP
from ._optimizer import _compute_dtype, bias_correction, l2_decay
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
      graft: per trained leaf, the grafting method's squared-gradient accumulator :math:`A` (``None``
        for ``grafting=None`` or ``"sgd"``).
      momentum_buffer: per trained leaf, the momentum :math:`B` (``None`` when ``momentum=0``).
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
    graft: Any = None
    momentum_buffer: Any = None
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


def _grafting(check: Checker, name: str, value: Any) -> str | None:
    return None if value is None else check.choice(name, value, ("sgd", "adagrad", "adam"))


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

    **Grafting** (Anil et al. 2020, section 4; as ``distributed_shampoo``'s ``grafting_config``) takes
    each block's step *size* from a diagonal method and only its *direction* from Shampoo:
    :math:`P = \|P_{graft}\|_F / \|P_{shampoo}\|_F \cdot P_{shampoo}`, with :math:`P_{graft}` the
    block's ``"sgd"`` step :math:`G`, ``"adagrad"`` step :math:`G / (\sqrt{A} + \epsilon_g)`
    (:math:`A \mathrel{+}= G^2`) or ``"adam"`` step :math:`G / (\sqrt{A / (1 - \beta_g^t)} + \epsilon_g)`
    (:math:`A = \beta_g A + (1 - \beta_g) G^2`, RMSprop-style: no first moment). Then **momentum** on
    the grafted direction, :math:`B \leftarrow \mu B + P`, steps along :math:`B` (or :math:`P + \mu B`
    with ``nesterov``): as in Shi et al. 2023, the first moment is not grafted.

    Args:
      lr: learning rate, or a schedule.
      eps: the initial :math:`\epsilon I` of the statistics, > 0.
      block_size: the largest side of a block, >= 1.
      weight_decay: L2 weight decay (added to the gradient), >= 0.
      momentum: momentum :math:`\mu` on the (grafted) direction, >= 0 (0: none).
      nesterov: Nesterov momentum (needs ``momentum > 0``).
      grafting: ``None`` (Shampoo's own step size), ``"sgd"``, ``"adagrad"`` or ``"adam"``.
      grafting_beta2: :math:`\beta_g` of ``"adam"`` grafting, in [0, 1).
      grafting_eps: :math:`\epsilon_g` of ``"adagrad"``/``"adam"`` grafting, > 0.

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
    momentum: float = option(0.0, "nonneg")
    nesterov: bool = option(False, "flag")
    grafting: str | None = option(None, _grafting)
    grafting_beta2: float = option(0.999, "unit_interval")
    grafting_eps: float = option(1e-8, "positive")

    @classmethod
    def _check_combination(cls, check: Checker, values: dict) -> None:
        if values["nesterov"] and values["momentum"] <= 0:
            check.conflict(f"nesterov=True requires momentum > 0, got momentum={values['momentum']}")

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

        def zeros(p: Any, m: bool) -> Any:
            return jnp.zeros(jnp.shape(p), _compute_dtype(jnp.asarray(p).dtype)) if m else None

        mask = _tree.trainable_mask(params)
        return ShampooState(
            step=jnp.zeros((), jnp.int32),
            lr={DEFAULT_GROUP: self._lr(0)},
            left=_tree.map(lambda p, m: stats(p, m, 0), params, mask),
            right=_tree.map(lambda p, m: stats(p, m, 1), params, mask),
            graft=_tree.map(zeros, params, mask) if self.grafting in ("adagrad", "adam") else None,
            momentum_buffer=_tree.map(zeros, params, mask) if self.momentum else None,
            hyperparams=self._hyperparams(),
        )

    def _graft_step(self, g: jax.Array, acc: Any, t: jax.Array) -> tuple[jax.Array, Any]:
        """The grafting method's step for the whole leaf and its new accumulator."""
        if self.grafting == "adagrad":
            acc = acc + g * g
            return g / (jnp.sqrt(acc) + self.grafting_eps), acc
        if self.grafting == "adam":
            b2 = self.grafting_beta2
            acc = b2 * acc + (1 - b2) * (g * g)
            return g / (jnp.sqrt(acc / bias_correction(b2, t.astype(g.dtype))) + self.grafting_eps), acc
        return g, acc  # "sgd"

    def _precondition(
        self, g: jax.Array, left: tuple, right: tuple, graft: jax.Array | None
    ) -> tuple[jax.Array, tuple[jax.Array, ...], tuple[jax.Array, ...]]:
        shape = g.shape
        mat = g.reshape(_matrix_shape(shape))
        graft_mat = None if graft is None else graft.reshape(mat.shape)
        rows: dict[tuple[int, int], list[jax.Array]] = {}
        new_left: list[jax.Array] = []
        new_right: list[jax.Array] = []
        for (r, c), lb, rb in zip(self._blocks(shape), left, right, strict=True):
            block = mat[r[0] : r[1], c[0] : c[1]]
            lb = lb + block @ block.T
            rb = rb + block.T @ block
            direction = _inverse_root(lb, 4) @ block @ _inverse_root(rb, 4)
            if graft_mat is not None:  # the grafted method's norm, Shampoo's direction (per block)
                norm = jnp.linalg.norm(direction)
                scale = jnp.linalg.norm(graft_mat[r[0] : r[1], c[0] : c[1]]) / jnp.where(norm > 0, norm, 1)
                direction = jnp.where(norm > 0, scale, 0) * direction
            rows.setdefault(r, []).append(direction)
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
        none: list[Any] = [None] * len(leaves)
        accs = (
            none if state.graft is None else flatten_like(spec, state.graft, "Shampoo: state.graft", params)
        )
        bufs = (
            none
            if state.momentum_buffer is None
            else flatten_like(spec, state.momentum_buffer, "Shampoo: state.momentum_buffer", params)
        )
        t = state.step + 1
        lr = state.lr[DEFAULT_GROUP]
        new: list[Any] = []
        new_left, new_right, new_acc, new_buf = list(lefts), list(rights), list(accs), list(bufs)
        for i, (p, g, lb, rb) in enumerate(zip(leaves, gs, lefts, rights, strict=True)):
            if g is None or lb is None:
                new.append(None)
                continue
            dt = lb[0].dtype
            pc, gc = jnp.asarray(p).astype(dt), jnp.asarray(g).astype(dt)
            if self.weight_decay:
                gc = l2_decay(gc, pc, self.weight_decay)
            graft = None
            if self.grafting is not None:
                graft, new_acc[i] = self._graft_step(gc, accs[i], t)
            direction, new_left[i], new_right[i] = self._precondition(gc, lb, rb, graft)
            if self.momentum:
                new_buf[i] = buf = self.momentum * bufs[i] + direction
                direction = direction + self.momentum * buf if self.nesterov else buf
            new.append(pc - lr.astype(dt) * direction)
        new_state = state.replace(
            step=t,
            lr=self._next_lr(state, t),
            left=_tree.unflatten(spec, new_left),
            right=_tree.unflatten(spec, new_right),
            graft=None if state.graft is None else _tree.unflatten(spec, new_acc),
            momentum_buffer=None if state.momentum_buffer is None else _tree.unflatten(spec, new_buf),
        )
        return new, spec, new_state
