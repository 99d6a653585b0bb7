"""Muon (Jordan et al., 2024; Liu et al., "Muon is Scalable for LLM Training", 2025), as
``torch.optim.Muon``."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import ShapeError
from ._config import Checker, option
from ._optimizer import Leaf, Optimizer, lerp

__all__ = ["Muon", "MuonState"]

PyTree = Any


def _bf16(x: jax.Array) -> jax.Array:
    """Round float32 values to bfloat16's precision. An explicit ``reduce_precision``: under ``jit``
    XLA may skip the rounding of float32 -> bfloat16 -> float32 conversions (excess precision)."""
    return jax.lax.reduce_precision(x, exponent_bits=8, mantissa_bits=7)


def _addmm(add: jax.Array, x: jax.Array, y: jax.Array, beta: float, alpha: float = 1.0) -> jax.Array:
    """``torch.addmm(add, x, y, beta=beta, alpha=alpha)`` on bfloat16 values: float32 accumulation,
    one rounding."""
    return _bf16(alpha * jnp.matmul(x, y, precision="highest") + beta * add)


def newton_schulz(
    g: jax.Array, coefficients: tuple[float, float, float], steps: int, eps: float
) -> jax.Array:
    """The quintic Newton–Schulz iteration that approximately orthogonalizes ``g`` (``U V^T`` of its
    SVD), in bfloat16 as PyTorch's and Keller Jordan's reference implementation.

    Args:
      g: a matrix.
      coefficients: :math:`(a, b, c)` of :math:`X \\leftarrow aX + (bA + cA^2)X`, :math:`A = XX^T`.
      steps: number of iterations.
      eps: floor of the Frobenius norm ``g`` is divided by first.

    Returns:
      The orthogonalized matrix, bfloat16, of ``g``'s shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.optim._muon import newton_schulz
      >>> o = newton_schulz(jnp.array([[3.0, 0.0], [0.0, 0.5]]), (3.4445, -4.775, 2.0315), 5, 1e-7)
      >>> o.dtype, [round(float(v), 1) for v in jnp.diag(o)]
      (dtype(bfloat16), [0.7, 1.0])
    """
    a, b, c = coefficients
    x = _bf16(g.astype(jnp.float32))  # bfloat16 values held in float32 (see _bf16)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    x = _bf16(x / jnp.maximum(_bf16(jnp.linalg.norm(x)), _bf16(jnp.float32(eps))))
    for _ in range(steps):
        gram = _bf16(jnp.matmul(x, x.T, precision="highest"))
        x = _addmm(x, _addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return (x.T if tall else x).astype(jnp.bfloat16)


def _adjusted_ratio(shape: tuple[int, ...], adjust_lr_fn: str | None) -> float:
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return math.sqrt(max(1.0, rows / cols))  # Keller Jordan's
    return 0.2 * math.sqrt(max(rows, cols))  # "match_rms_adamw" (Moonshot's)


class Muon(Optimizer):
    r"""Muon: momentum orthogonalized by Newton–Schulz iterations, for 2-D weights.

    .. math::
        B_t = \mu B + (1-\mu) g,\quad \tilde B = \operatorname{lerp}(g, B_t, \mu) \text{ (Nesterov) or } B_t,

    .. math::
        p \leftarrow p(1 - \eta\lambda) - \eta\,r\,\mathrm{NS}_k^{(a,b,c)}(\tilde B),\quad
        r = \sqrt{\max(1, A/B)} \text{ ("original") or } 0.2\sqrt{\max(A, B)} \text{ ("match_rms_adamw")}

    for an :math:`A \times B` parameter. Every trained leaf must be a matrix: train biases, norms and
    embeddings with another optimizer, e.g. ``optim.chain(optim.masked(optim.Muon(), is_matrix),
    optim.masked(optim.AdamW(), lambda path, x: not is_matrix(path, x)))`` with
    ``is_matrix = lambda path, x: x.ndim == 2``.

    Args:
      lr: learning rate :math:`\eta` (default 1e-3), or a schedule.
      weight_decay: decoupled weight decay :math:`\lambda` (default 0.1).
      momentum: :math:`\mu` (default 0.95).
      nesterov: Nesterov momentum (default True).
      ns_coefficients: :math:`(a, b, c)` of the Newton–Schulz polynomial.
      eps: floor of the norm the momentum is divided by.
      ns_steps: Newton–Schulz iterations :math:`k` (1 to 99).
      adjust_lr_fn: ``None``/``"original"`` or ``"match_rms_adamw"``.
      maximize, param_groups: keyword-only, as for every :class:`torsh.optim.Optimizer`.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import optim
      >>> opt = optim.Muon(lr=0.1, weight_decay=0.0)
      >>> params = {"w": jnp.zeros((2, 2))}
      >>> params, _ = opt.step(params, {"w": jnp.eye(2)}, opt.init(params))
      >>> [round(v, 2) for v in jnp.diag(params["w"]).tolist()]
      [-0.11, -0.11]
    """

    lr: float | Callable = 1e-3
    weight_decay: float = option(0.1, "nonneg")
    momentum: float = option(0.95, "nonneg")
    nesterov: bool = option(True, "flag")
    ns_coefficients: tuple[float, float, float] = option(
        (3.4445, -4.775, 2.0315), lambda c, n, v: _coefficients(c, n, v)
    )
    eps: float = option(1e-7, "positive")
    ns_steps: int = option(5, lambda c, n, v: _ns_steps(c, n, v))
    adjust_lr_fn: str | None = option(
        None, lambda c, n, v: c.choice(n, v, (None, "original", "match_rms_adamw"))
    )

    slots = {"momentum_buffer": "the momentum :math:`B`"}
    weight_decay_style = "decoupled"  # PyTorch decays with the unadjusted lr, before the update

    def init(self, params: PyTree) -> Any:
        leaves, _, paths, trainable = self._layout(params)
        bad = [
            f"{p} {list(jnp.shape(x))}"
            for p, x, t in zip(paths, leaves, trainable, strict=True)
            if t and jnp.ndim(x) != 2
        ]
        if bad:
            raise ShapeError(
                f"Muon: only matrices can be trained by Muon, got {', '.join(bad[:6])}; train the other "
                "parameters with another optimizer: optim.chain(optim.masked(optim.Muon(...), "
                "lambda path, x: x.ndim == 2), optim.masked(optim.AdamW(...), lambda path, x: x.ndim != 2))"
            )
        if any(t and jnp.iscomplexobj(x) for x, t in zip(leaves, trainable, strict=True)):
            raise TypeError("Muon does not support complex parameters (as torch.optim.Muon)")
        return super().init(params)

    def direction(self, leaf: Leaf) -> tuple:
        g = leaf.grad
        buf = lerp(leaf.slots["momentum_buffer"], g, 1 - self.momentum)
        direction = lerp(g, buf, self.momentum) if self.nesterov else buf
        ortho = newton_schulz(direction, self.ns_coefficients, self.ns_steps, self.eps)
        ratio = _adjusted_ratio(leaf.param.shape, self.adjust_lr_fn)
        return ratio * ortho.astype(leaf.param.dtype), {"momentum_buffer": buf}


def _coefficients(check: Checker, name: str, value: Any) -> tuple[float, float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        check.fail(name, "three numbers (a, b, c)", value)
    return tuple(check.finite(f"{name}[{i}]", v) for i, v in enumerate(value))  # type: ignore[return-value]


def _ns_steps(check: Checker, name: str, value: Any) -> int:
    steps = check.count(name, value)
    if steps >= 100:
        check.fail(name, "an integer from 1 to 99 (PyTorch's limit)", value)
    return steps


MuonState = Muon.State
