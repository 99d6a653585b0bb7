"""L-BFGS with optional strong-Wolfe line search, a jit-able port of ``torch.optim.LBFGS``.

PyTorch's L-BFGS calls a closure that recomputes the loss; the functional form takes the loss
function itself: ``params, state = opt.step(params, loss_fn, state, *args)``. Every loop (the
iterations, the two-loop recursion, the line search) is a ``lax.while_loop``, so a whole step
compiles once under ``jit``. The update history is a ring buffer of ``history_size`` vectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import tree as _tree
from ..errors import ConfigError, ShapeError, TreeError
from ..tree import static
from ._config import Checker, Config, FrozenDict, option
from ._groups import DEFAULT_GROUP
from ._optimizer import lr_dtype
from ._state import OptState

__all__ = ["LBFGS", "LBFGSState"]

PyTree = Any


class LBFGSState(OptState):
    """State of :class:`LBFGS` (names follow ``torch.optim.LBFGS``'s state).

    Args:
      step: number of ``step`` calls.
      lr: ``{"default": lr}``, used by the next step.
      loss: the loss at the start of the last step (what PyTorch's ``step`` returns).
      n_iter: iterations over all steps; ``func_evals``: loss evaluations over all steps.
      d, t: the last search direction and step length.
      old_dirs, old_stps, ro: the curvature history (ring buffers of ``history_size`` rows; ``y``,
        ``s`` and ``1/(y.s)``), of which ``num_old`` rows are valid, the oldest at row ``head``.
      H_diag: scale of the initial inverse-Hessian approximation.
      prev_flat_grad, prev_loss: gradient and loss of the last iteration.
      hyperparams: the static configuration.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> state = optim.LBFGS(history_size=3).init({"w": jnp.zeros(4)})
      >>> state.old_dirs.shape, int(state.num_old)
      ((3, 4), 0)
    """

    step: jax.Array
    lr: dict
    loss: jax.Array
    n_iter: jax.Array
    func_evals: jax.Array
    d: jax.Array
    t: jax.Array
    old_dirs: jax.Array
    old_stps: jax.Array
    ro: jax.Array
    num_old: jax.Array
    head: jax.Array
    H_diag: jax.Array
    prev_flat_grad: jax.Array
    prev_loss: jax.Array
    hyperparams: FrozenDict = static(default=FrozenDict())


# -- flat views of the trainable leaves ------------------------------------------------------------
class _Flat:
    """Concatenate the trainable leaves of a tree into one real vector, and back."""

    def __init__(self, params: PyTree) -> None:
        leaves, spec = _tree.flatten(params)
        mask = spec.flatten_up_to(_tree.trainable_mask(params))
        self.spec, self.leaves, self.mask = spec, leaves, [bool(m) for m in mask]
        trained = [jnp.asarray(x) for x, m in zip(leaves, self.mask, strict=True) if m]
        if not trained:
            raise ConfigError("LBFGS: the parameters have no trainable (floating, not frozen) leaf")
        self.shapes = [x.shape for x in trained]
        self.dtypes = [x.dtype for x in trained]
        self.complex = [jnp.iscomplexobj(x) for x in trained]
        real = [jnp.real(x).dtype if c else x.dtype for x, c in zip(trained, self.complex, strict=True)]
        self.dtype = jnp.result_type(*real)
        self.sizes = [
            int(np.prod(s)) * (2 if c else 1) for s, c in zip(self.shapes, self.complex, strict=True)
        ]
        self.size = sum(self.sizes)

    def vector(self, params: PyTree) -> jax.Array:
        leaves = self.spec.flatten_up_to(params)
        parts = []
        for x, m in zip(leaves, self.mask, strict=True):
            if m:
                a = jnp.asarray(x)
                if jnp.iscomplexobj(a):
                    a = jnp.stack([jnp.real(a), jnp.imag(a)], axis=-1)
                parts.append(jnp.ravel(a).astype(self.dtype))
        return jnp.concatenate(parts)

    def tree(self, vec: jax.Array) -> PyTree:
        out, offset, k = [], 0, 0
        for x, m in zip(self.leaves, self.mask, strict=True):
            if not m:
                out.append(x)
                continue
            piece = vec[offset : offset + self.sizes[k]]
            offset += self.sizes[k]
            if self.complex[k]:
                piece = piece.reshape(*self.shapes[k], 2)
                piece = jax.lax.complex(piece[..., 0], piece[..., 1])
            out.append(piece.reshape(self.shapes[k]).astype(self.dtypes[k]))
            k += 1
        return _tree.unflatten(self.spec, out)


# -- line search (ported from torch/optim/lbfgs.py, itself from minFunc's lswolfe.lua) -------------
def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic through two points with values and derivatives, clipped to ``bounds``."""
    if bounds is None:
        xmin_bound, xmax_bound = jnp.minimum(x1, x2), jnp.maximum(x1, x2)
    else:
        xmin_bound, xmax_bound = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    d2 = jnp.sqrt(jnp.maximum(d2_square, 0))
    min_pos = jnp.where(
        x1 <= x2,
        x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2)),
        x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2)),
    )
    clipped = jnp.minimum(jnp.maximum(min_pos, xmin_bound), xmax_bound)
    return jnp.where(d2_square >= 0, clipped, (xmin_bound + xmax_bound) / 2.0)


_BRACKET, _ZOOM, _DONE = 0, 1, 2


def _strong_wolfe(obj, x, t, d, f, g, gtd, max_ls, c1=1e-4, c2=0.9, tolerance_change=1e-9):
    """Returns ``(f_new, g_new, t, evaluations)`` exactly as PyTorch's ``_strong_wolfe``.

    PyTorch's two loops (bracketing, then zooming) run here as one ``while_loop`` whose body evaluates
    the objective once and then advances a small state machine: one evaluation site keeps the compiled
    program (and its compile time) small. ``ls_iter`` is PyTorch's counter: evaluations after the first.
    """
    dt = f.dtype
    zero = jnp.zeros((), dt)
    d_norm = jnp.max(jnp.abs(d))

    def pair(a, b):
        return jnp.stack([a, b])

    def zoom_next(c):
        """Before a zoom iteration: stop, or pick the next trial point (with PyTorch's safeguard)."""
        b, bf, bgtd = c["b"], c["bf"], c["bgtd"]
        small = jnp.abs(b[1] - b[0]) * d_norm < tolerance_change
        stop = c["done"] | (c["ls_iter"] >= max_ls) | small
        trial = _cubic_interpolate(b[0], bf[0], bgtd[0], b[1], bf[1], bgtd[1])
        bmax, bmin = jnp.max(b), jnp.min(b)
        eps = 0.1 * (bmax - bmin)
        near_edge = jnp.minimum(bmax - trial, trial - bmin) < eps
        at_or_past = c["insuf"] | (trial >= bmax) | (trial <= bmin)
        moved = jnp.where(jnp.abs(trial - bmax) < jnp.abs(trial - bmin), bmax - eps, bmin + eps)
        trial = jnp.where(near_edge & at_or_past, moved, trial)
        insuf = jnp.where(stop, c["insuf"], near_edge & ~at_or_past)
        return dict(
            c,
            phase=jnp.where(stop, _DONE, _ZOOM).astype(jnp.int32),
            t=jnp.where(stop, c["t"], trial),
            insuf=insuf,
        )

    def after_bracket_eval(c):
        t_, f_new, g_new, gtd_new = c["t"], c["f_new"], c["g_new"], c["gtd_new"]
        out_of_iters = c["ls_iter"] >= max_ls
        armijo_fails = (f_new > f + c1 * t_ * gtd) | ((c["ls_iter"] > 1) & (f_new >= c["f_prev"]))
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        uphill = gtd_new >= 0
        bracketed = ~out_of_iters & (armijo_fails | (~wolfe & uphill))
        found = ~out_of_iters & ~armijo_fails & wolfe
        # the bracket, if this evaluation settles it ([0, t] when out of iterations; a Wolfe point twice)
        b = jnp.where(found, pair(t_, t_), jnp.where(out_of_iters, pair(zero, t_), pair(c["t_prev"], t_)))
        bf = jnp.where(
            found, pair(f_new, f_new), jnp.where(out_of_iters, pair(f, f_new), pair(c["f_prev"], f_new))
        )
        bg = jnp.where(
            found, pair(g_new, g_new), jnp.where(out_of_iters, pair(g, g_new), pair(c["g_prev"], g_new))
        )
        bgtd = jnp.where(found, pair(gtd_new, gtd_new), pair(c["gtd_prev"], gtd_new))
        settled = out_of_iters | bracketed | found
        low = jnp.where(bf[0] <= bf[1], 0, 1).astype(jnp.int32)
        # otherwise extrapolate to the next trial point
        trial = _cubic_interpolate(
            c["t_prev"],
            c["f_prev"],
            c["gtd_prev"],
            t_,
            f_new,
            gtd_new,
            bounds=(t_ + 0.01 * (t_ - c["t_prev"]), t_ * 10),
        )
        keep = ~settled
        c = dict(
            c,
            b=jnp.where(settled, b, c["b"]),
            bf=jnp.where(settled, bf, c["bf"]),
            bg=jnp.where(settled, bg, c["bg"]),
            bgtd=jnp.where(settled, bgtd, c["bgtd"]),
            low=jnp.where(settled, low, c["low"]),
            done=found,
            t_prev=jnp.where(keep, t_, c["t_prev"]),
            f_prev=jnp.where(keep, f_new, c["f_prev"]),
            g_prev=jnp.where(keep, g_new, c["g_prev"]),
            gtd_prev=jnp.where(keep, gtd_new, c["gtd_prev"]),
            t=jnp.where(keep, trial, t_),
        )
        return jax.lax.cond(settled, zoom_next, lambda c: c, c)

    def after_zoom_eval(c):
        b, bf, bg, bgtd, low = c["b"], c["bf"], c["bg"], c["bgtd"], c["low"]
        high = 1 - low
        t_, f_new, g_new, gtd_new = c["t"], c["f_new"], c["g_new"], c["gtd_new"]
        replace_high = (f_new > f + c1 * t_ * gtd) | (f_new >= bf[low])
        wolfe = jnp.abs(gtd_new) <= -c2 * gtd
        flip = ~wolfe & (gtd_new * (b[high] - b[low]) >= 0)

        def put(arr, i, v):
            return arr.at[i].set(v)

        # Armijo fails or not lower than the lowest point: the new point becomes the high end
        hb, hbf, hbg, hbgtd = (
            put(b, high, t_),
            put(bf, high, f_new),
            put(bg, high, g_new),
            put(bgtd, high, gtd_new),
        )
        h_low = jnp.where(hbf[0] <= hbf[1], 0, 1).astype(jnp.int32)
        # otherwise it becomes the low end (the old low becomes the high end if the slope overshot)
        fb, fbf = jnp.where(flip, put(b, high, b[low]), b), jnp.where(flip, put(bf, high, bf[low]), bf)
        fbg, fbgtd = (
            jnp.where(flip, put(bg, high, bg[low]), bg),
            jnp.where(flip, put(bgtd, high, bgtd[low]), bgtd),
        )
        lb, lbf, lbg, lbgtd = (
            put(fb, low, t_),
            put(fbf, low, f_new),
            put(fbg, low, g_new),
            put(fbgtd, low, gtd_new),
        )
        c = dict(
            c,
            b=jnp.where(replace_high, hb, lb),
            bf=jnp.where(replace_high, hbf, lbf),
            bg=jnp.where(replace_high, hbg, lbg),
            bgtd=jnp.where(replace_high, hbgtd, lbgtd),
            low=jnp.where(replace_high, h_low, low),
            done=~replace_high & wolfe,
        )
        return zoom_next(c)

    def body(c):
        f_new, g_new = obj(x, c["t"], d)
        c = dict(
            c, f_new=f_new, g_new=g_new, gtd_new=g_new @ d, evals=c["evals"] + 1, ls_iter=c["evals"]
        )  # evaluations after the first
        return jax.lax.cond(c["phase"] == _BRACKET, after_bracket_eval, after_zoom_eval, c)

    init = dict(
        phase=jnp.int32(_BRACKET),
        t=t,
        evals=jnp.int32(0),
        ls_iter=jnp.int32(0),
        done=jnp.bool_(False),
        insuf=jnp.bool_(False),
        t_prev=zero,
        f_prev=f,
        g_prev=g,
        gtd_prev=gtd,
        f_new=f,
        g_new=g,
        gtd_new=gtd,
        b=pair(zero, zero),
        bf=pair(f, f),
        bg=pair(g, g),
        bgtd=pair(gtd, gtd),
        low=jnp.int32(0),
    )
    c = jax.lax.while_loop(lambda c: c["phase"] != _DONE, body, init)
    low = c["low"]
    return c["bf"][low], c["bg"][low], c["b"][low], c["evals"]


def _optional_count(check: Checker, name: str, value: Any) -> int | None:
    return check.optional(name, value, check.count)


def _line_search(check: Checker, name: str, value: Any) -> str | None:
    return check.choice(name, value, (None, "strong_wolfe"))


# state fields carried through the iterations, by their names in the loop's carry
_CARRIED = {
    "n_iter": "state_n_iter",
    "func_evals": "func_evals",
    "d": "d",
    "t": "t",
    "old_dirs": "dirs",
    "old_stps": "stps",
    "ro": "ro",
    "num_old": "num_old",
    "head": "head",
    "H_diag": "H_diag",
    "prev_flat_grad": "prev_g",
    "prev_loss": "prev_loss",
}


class LBFGS(Config):
    """L-BFGS, with ``torch.optim.LBFGS``'s arguments, defaults and iterations, in functional form.

    A step runs up to ``max_iter`` iterations on the loss function (PyTorch's closure):
    ``params, state = opt.step(params, loss_fn, state, *args, **kwargs)`` where
    ``loss_fn(params, *args, **kwargs)`` returns a scalar. Only trainable leaves are optimised (they
    are concatenated into one vector); integers and buffers pass through. The whole step is jit-able.

    Args:
      lr: learning rate (default 1), or a schedule.
      max_iter: iterations per step (default 20).
      max_eval: loss evaluations per step (default ``max_iter * 5 // 4``).
      tolerance_grad: stop when ``max|grad| <= tolerance_grad``.
      tolerance_change: stop when the loss or the parameters change less than this.
      history_size: number of curvature pairs kept (memory: ``2 * history_size`` parameter vectors).
      line_search_fn: ``None`` (fixed step ``lr``) or ``"strong_wolfe"``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from torsh import optim
      >>> def loss_fn(p):
      ...     return (1 - p["x"]) ** 2 + 100 * (p["y"] - p["x"] ** 2) ** 2   # Rosenbrock
      >>> opt = optim.LBFGS(line_search_fn="strong_wolfe", max_iter=100)
      >>> params = {"x": jnp.float32(-1.5), "y": jnp.float32(2.0)}
      >>> state = opt.init(params)
      >>> params, state = jax.jit(lambda p, s: opt.step(p, loss_fn, s))(params, state)
      >>> round(float(params["x"]), 3), round(float(params["y"]), 3)
      (1.0, 1.0)
    """

    lr: float | Callable = option(1.0, "lr")
    max_iter: int = option(20, "count")
    max_eval: int | None = option(None, _optional_count)
    tolerance_grad: float = option(1e-7, "nonneg")
    tolerance_change: float = option(1e-9, "nonneg")
    history_size: int = option(100, "count")
    line_search_fn: str | None = option(None, _line_search)

    @classmethod
    def _check_combination(cls, check: Checker, values: dict[str, Any]) -> None:
        if values.get("max_eval") is None:  # PyTorch's default
            values["max_eval"] = values["max_iter"] * 5 // 4

    def _lr(self, step: Any) -> jax.Array:
        lr = self.lr
        return jnp.asarray(lr(step) if callable(lr) else lr, lr_dtype())

    def init(self, params: PyTree) -> LBFGSState:
        """The initial state for ``params`` (sized to the total number of trainable elements).

        Args:
          params: the parameters (any pytree with at least one trainable leaf).

        Returns:
          The :class:`LBFGSState`.

        Raises:
          ConfigError: ``params`` has no trainable leaf.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> optim.LBFGS().init({"w": jnp.zeros(3), "b": jnp.zeros(())}).d.shape
          (4,)
        """
        flat = _Flat(params)
        n, h, dt = flat.size, self.history_size, flat.dtype
        zero = jnp.zeros((), dt)
        return LBFGSState(
            step=jnp.zeros((), jnp.int32),
            lr={DEFAULT_GROUP: self._lr(0)},
            loss=jnp.full((), jnp.nan, dt),
            n_iter=jnp.zeros((), jnp.int32),
            func_evals=jnp.zeros((), jnp.int32),
            d=jnp.zeros((n,), dt),
            t=zero,
            old_dirs=jnp.zeros((h, n), dt),
            old_stps=jnp.zeros((h, n), dt),
            ro=jnp.zeros((h,), dt),
            num_old=jnp.zeros((), jnp.int32),
            head=jnp.zeros((), jnp.int32),
            H_diag=jnp.ones((), dt),
            prev_flat_grad=jnp.zeros((n,), dt),
            prev_loss=zero,
            hyperparams=FrozenDict(
                {
                    DEFAULT_GROUP: FrozenDict(
                        {k: v for k, v in self._config_items() if k != "lr" or callable(v)}
                    )
                }
            ),
        )

    def step(
        self, params: PyTree, loss_fn: Callable[..., Any], state: LBFGSState, *args: Any, **kwargs: Any
    ) -> tuple[PyTree, LBFGSState]:
        """Run one L-BFGS step (up to ``max_iter`` iterations) on ``loss_fn(params, *args, **kwargs)``.

        Args:
          params: the current parameters.
          loss_fn: ``(params, *args, **kwargs) -> scalar loss`` (PyTorch's closure).
          state: the state from :meth:`init` or the previous step.
          *args: extra positional arguments of ``loss_fn`` (e.g. a batch).
          **kwargs: extra keyword arguments of ``loss_fn``.

        Returns:
          ``(new_params, new_state)``; ``new_state.loss`` is the loss before the step.

        Raises:
          TreeError: ``state`` is not an :class:`LBFGSState`.
          ConfigError: ``loss_fn`` is not callable, or ``params`` has no trainable leaf.
          ShapeError: the state was made for other parameters, or ``loss_fn`` returns a non-scalar.

        Example:
          >>> import jax.numpy as jnp
          >>> from torsh import optim
          >>> opt = optim.LBFGS(max_iter=5)
          >>> params = {"w": jnp.array([3.0])}
          >>> params, state = opt.step(params, lambda p: jnp.sum((p["w"] - 1.0) ** 2), opt.init(params))
          >>> round(float(params["w"][0]), 4), float(state.loss)
          (1.0, 4.0)
        """
        if not isinstance(state, LBFGSState):
            raise TreeError(
                f"LBFGS.step: expected the LBFGSState returned by LBFGS.init, got {type(state).__name__}"
            )
        if not callable(loss_fn):
            raise ConfigError(
                f"LBFGS.step: loss_fn must be callable (params, *args) -> scalar, got {loss_fn!r}"
            )
        flat = _Flat(params)
        if state.d.shape != (flat.size,) or state.d.dtype != flat.dtype:
            raise ShapeError(
                f"LBFGS.step: the state was made for {state.d.shape[0]} trainable elements of "
                f"{state.d.dtype}, the "
                f"parameters have {flat.size} of {flat.dtype}"
            )
        dt = flat.dtype

        def value_and_grad(vec: jax.Array) -> tuple[jax.Array, jax.Array]:
            def f(v):
                value = jnp.asarray(loss_fn(flat.tree(v), *args, **kwargs))
                if value.shape != ():
                    raise ShapeError(f"LBFGS: loss_fn must return a scalar, got shape {list(value.shape)}")
                return value.astype(dt)

            return jax.value_and_grad(f)(vec)

        def directional(x, t, d):
            return value_and_grad(x + t * d)

        lr = state.lr[DEFAULT_GROUP].astype(dt)
        max_iter, max_eval, hist = self.max_iter, self.max_eval, self.history_size
        tol_grad, tol_change = self.tolerance_grad, self.tolerance_change

        x0 = flat.vector(params)
        loss0, g0 = value_and_grad(x0)
        opt_cond0 = jnp.max(jnp.abs(g0)) <= tol_grad

        def two_loop(g, dirs, stps, ro, num_old, head, H_diag):
            def index(i):
                return (head + i) % hist

            def backward(k, carry):
                q, al = carry
                i = num_old - 1 - k
                j = index(i)
                a = (stps[j] @ q) * ro[j]
                return q - a * dirs[j], al.at[i].set(a)

            q, al = jax.lax.fori_loop(0, num_old, backward, (-g, jnp.zeros((hist,), dt)))
            r = q * H_diag

            def forward(i, r):
                j = index(i)
                be = (dirs[j] @ r) * ro[j]
                return r + (al[i] - be) * stps[j]

            return jax.lax.fori_loop(0, num_old, forward, r)

        def iteration(c):
            n_iter, state_n_iter = c["n_iter"] + 1, c["state_n_iter"] + 1
            g = c["g"]
            first = state_n_iter == 1

            def first_direction(c):
                return -g, c["dirs"], c["stps"], c["ro"], jnp.int32(0), jnp.int32(0), jnp.ones((), dt)

            def lbfgs_direction(c):
                y = g - c["prev_g"]
                s = c["d"] * c["t"]
                ys = y @ s

                def push(c):
                    full = c["num_old"] == hist
                    slot = jnp.where(full, c["head"], (c["head"] + c["num_old"]) % hist)
                    return (
                        c["dirs"].at[slot].set(y),
                        c["stps"].at[slot].set(s),
                        c["ro"].at[slot].set(1.0 / ys),
                        jnp.where(full, c["num_old"], c["num_old"] + 1),
                        jnp.where(full, (c["head"] + 1) % hist, c["head"]),
                        ys / (y @ y),
                    )

                def keep(c):
                    return c["dirs"], c["stps"], c["ro"], c["num_old"], c["head"], c["H_diag"]

                dirs, stps, ro, num_old, head, H_diag = jax.lax.cond(ys > 1e-10, push, keep, c)
                d = two_loop(g, dirs, stps, ro, num_old, head, H_diag)
                return d, dirs, stps, ro, num_old, head, H_diag

            d, dirs, stps, ro, num_old, head, H_diag = jax.lax.cond(
                first, first_direction, lbfgs_direction, c
            )
            prev_g, prev_loss = g, c["loss"]
            t = jnp.where(first, jnp.minimum(1.0, 1.0 / jnp.sum(jnp.abs(g))) * lr, lr)
            gtd = g @ d
            no_descent = gtd > -tol_change

            def move(_):
                if self.line_search_fn == "strong_wolfe":
                    loss, g_new, t_new, evals = _strong_wolfe(
                        directional, c["x"], t, d, c["loss"], g, gtd, max_ls=max_eval - c["current_evals"]
                    )
                    x = c["x"] + t_new * d
                    return x, loss, g_new, t_new, jnp.max(jnp.abs(g_new)) <= tol_grad, evals
                x = c["x"] + t * d

                def evaluate(x):
                    loss, g_new = value_and_grad(x)
                    return loss, g_new, jnp.max(jnp.abs(g_new)) <= tol_grad, jnp.int32(1)

                def skip(x):  # the last iteration does not re-evaluate (as in PyTorch)
                    return c["loss"], g, c["opt_cond"], jnp.int32(0)

                loss, g_new, opt_cond, evals = jax.lax.cond(n_iter != max_iter, evaluate, skip, x)
                return x, loss, g_new, t, opt_cond, evals

            def stay(_):
                return c["x"], c["loss"], g, t, c["opt_cond"], jnp.int32(0)

            x, loss, g_new, t, opt_cond, evals = jax.lax.cond(no_descent, stay, move, None)
            current_evals = c["current_evals"] + evals
            done = (
                no_descent
                | (n_iter == max_iter)
                | (current_evals >= max_eval)
                | opt_cond
                | (jnp.max(jnp.abs(d * t)) <= tol_change)
                | (jnp.abs(loss - prev_loss) < tol_change)
            )
            return dict(
                x=x,
                loss=loss,
                g=g_new,
                d=d,
                t=t,
                dirs=dirs,
                stps=stps,
                ro=ro,
                num_old=num_old,
                head=head,
                H_diag=H_diag,
                prev_g=prev_g,
                prev_loss=prev_loss,
                n_iter=n_iter,
                state_n_iter=state_n_iter,
                current_evals=current_evals,
                func_evals=c["func_evals"] + evals,
                opt_cond=opt_cond,
                done=done,
            )

        carry = dict(
            x=x0,
            loss=loss0,
            g=g0,
            **{key: getattr(state, name) for name, key in _CARRIED.items()},
            n_iter=jnp.int32(0),
            current_evals=jnp.int32(1),
            opt_cond=opt_cond0,
            done=opt_cond0,
        )
        carry["func_evals"] = carry["func_evals"] + 1
        c = jax.lax.while_loop(lambda c: ~c["done"], iteration, carry)
        new_state = state.replace(
            step=state.step + 1,
            lr={DEFAULT_GROUP: self._lr(state.step + 1) if callable(self.lr) else state.lr[DEFAULT_GROUP]},
            loss=loss0,
            **{name: c[key] for name, key in _CARRIED.items()},
        )
        return flat.tree(c["x"]), new_state
