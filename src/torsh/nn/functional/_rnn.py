"""Recurrent cells (``torch.rnn_tanh_cell``, ``lstm_cell``, ...) and the scan recurrence of RNN layers.

Public: the four single-step cells with PyTorch's formulas and gate orders. Private (used by
``torsh.nn.rnn``): the multi-layer recurrence, in which the input projection of all time steps is
one matrix product hoisted out of the loop and only the recurrent product runs inside
``jax.lax.scan``, with a hand-written backward pass (``fused=True``) or JAX's autodiff of the scan.
Every switch is an argument (the layers keep them as static fields): nothing here reads a global.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ...errors import ShapeError
from .._utils import check_float_input, shape_str
from ._activation import relu

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell"]


# -- single-step cells (PyTorch's formulas) ----------------------------------------------------------
def _linear(x: jax.Array, w: jax.Array, b: jax.Array | None) -> jax.Array:
    y = x @ w.T
    return y if b is None else y + b


def _check_cell(
    name: str,
    gates: int,
    input: Any,
    hs: tuple[Any, ...],
    w_ih: Any,
    w_hh: Any,
    b_ih: Any,
    b_hh: Any,
) -> None:
    """Shapes and dtypes of a cell's arguments, as ``torch.<name>`` checks them."""
    check_float_input(w_ih, what="w_ih")
    for what, w in (("input", input), ("w_hh", w_hh)):
        check_float_input(w, w_ih, what)
    for what, w in (("w_ih", w_ih), ("w_hh", w_hh)):
        if w.ndim != 2 or w.shape[0] % gates:
            raise ShapeError(
                f"{name}: expected {what} [{gates} * hidden_size, features], got {shape_str(w.shape)}"
            )
    hidden = w_hh.shape[0] // gates
    if input.ndim not in (1, 2) or input.shape[-1] != w_ih.shape[1] or w_ih.shape[0] != w_hh.shape[0]:
        raise ShapeError(
            f"{name}: expected input [batch, {w_ih.shape[1]}] or [{w_ih.shape[1]}] and w_ih/w_hh with "
            f"{gates} * hidden_size rows; got input {shape_str(input.shape)}, w_ih {shape_str(w_ih.shape)}, "
            f"w_hh {shape_str(w_hh.shape)}"
        )
    if w_hh.shape[1] != hidden:
        raise ShapeError(f"{name}: expected w_hh [{gates * hidden}, {hidden}], got {shape_str(w_hh.shape)}")
    want = (*input.shape[:-1], hidden)
    for i, h in enumerate(hs):
        check_float_input(h, w_ih, "hx")
        if tuple(h.shape) != want:
            raise ShapeError(f"{name}: expected hx[{i}] {shape_str(want)}, got {shape_str(h.shape)}")
    for what, b in (("b_ih", b_ih), ("b_hh", b_hh)):
        if b is not None and tuple(b.shape) != (gates * hidden,):
            raise ShapeError(f"{name}: expected {what} [{gates * hidden}], got {shape_str(b.shape)}")


def rnn_tanh_cell(
    input: jax.Array,
    hx: jax.Array,
    w_ih: jax.Array,
    w_hh: jax.Array,
    b_ih: jax.Array | None = None,
    b_hh: jax.Array | None = None,
) -> jax.Array:
    """One Elman RNN step ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``torch.rnn_tanh_cell``).

    Args:
      input: ``[N, in]`` or unbatched ``[in]``.
      hx: the previous hidden state ``[N, H]`` (``[H]``).
      w_ih: ``[H, in]``.
      w_hh: ``[H, H]``.
      b_ih: ``[H]`` or None.
      b_hh: ``[H]`` or None.

    Returns:
      The next hidden state, shaped as ``hx``.

    Raises:
      ShapeError: shapes that do not fit together (the message names the argument).
      DTypeError: non-floating arguments, or dtypes different from the input's.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.rnn_tanh_cell(jnp.ones((2, 3)), jnp.zeros((2, 4)), jnp.zeros((4, 3)), jnp.zeros((4, 4))).shape
      (2, 4)
    """
    _check_cell("rnn_tanh_cell", 1, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    return jnp.tanh(_linear(input, w_ih, b_ih) + _linear(hx, w_hh, b_hh))


def rnn_relu_cell(
    input: jax.Array,
    hx: jax.Array,
    w_ih: jax.Array,
    w_hh: jax.Array,
    b_ih: jax.Array | None = None,
    b_hh: jax.Array | None = None,
) -> jax.Array:
    """One Elman RNN step ``h' = relu(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (``torch.rnn_relu_cell``).

    Args:
      input: ``[N, in]`` or unbatched ``[in]``.
      hx: the previous hidden state ``[N, H]`` (``[H]``).
      w_ih: ``[H, in]``.
      w_hh: ``[H, H]``.
      b_ih: ``[H]`` or None.
      b_hh: ``[H]`` or None.

    Returns:
      The next hidden state, shaped as ``hx``.

    Raises:
      ShapeError: shapes that do not fit together (the message names the argument).
      DTypeError: non-floating arguments, or dtypes different from the input's.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.rnn_relu_cell(-jnp.ones((1, 2)), jnp.zeros((1, 3)), jnp.ones((3, 2)), jnp.ones((3, 3))).tolist()
      [[0.0, 0.0, 0.0]]
    """
    _check_cell("rnn_relu_cell", 1, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    return relu(_linear(input, w_ih, b_ih) + _linear(hx, w_hh, b_hh))


def _lstm_update(gates: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c_new = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    return jax.nn.sigmoid(o) * jnp.tanh(c_new), c_new


def lstm_cell(
    input: jax.Array,
    hx: tuple[jax.Array, jax.Array],
    w_ih: jax.Array,
    w_hh: jax.Array,
    b_ih: jax.Array | None = None,
    b_hh: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """One LSTM step with PyTorch's gate order ``i, f, g, o`` (``torch.lstm_cell``).

    Args:
      input: ``[N, in]`` or unbatched ``[in]``.
      hx: ``(h, c)``, each ``[N, H]`` (``[H]``).
      w_ih: ``[4 * H, in]``.
      w_hh: ``[4 * H, H]``.
      b_ih: ``[4 * H]`` or None.
      b_hh: ``[4 * H]`` or None.

    Returns:
      ``(h', c')``.

    Raises:
      ShapeError: ``hx`` not a pair, or shapes that do not fit together.
      DTypeError: non-floating arguments, or dtypes different from the input's.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> h, c = F.lstm_cell(jnp.ones((2, 3)), (jnp.zeros((2, 4)), jnp.zeros((2, 4))),
      ...                     jnp.zeros((16, 3)), jnp.zeros((16, 4)))
      >>> h.shape, c.shape
      ((2, 4), (2, 4))
    """
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise ShapeError(f"lstm_cell: expected hx = (h, c), a pair of arrays, got {type(hx).__name__}")
    _check_cell("lstm_cell", 4, input, tuple(hx), w_ih, w_hh, b_ih, b_hh)
    h, c = hx
    return _lstm_update(_linear(input, w_ih, b_ih) + _linear(h, w_hh, b_hh), c)


def _gru_update(gi: jax.Array, gh: jax.Array, h: jax.Array) -> jax.Array:
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(i_r + h_r)
    z = jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * h_n)
    return n + z * (h - n)  # = (1 - z) * n + z * h, written as PyTorch's kernel computes it


def gru_cell(
    input: jax.Array,
    hx: jax.Array,
    w_ih: jax.Array,
    w_hh: jax.Array,
    b_ih: jax.Array | None = None,
    b_hh: jax.Array | None = None,
) -> jax.Array:
    """One GRU step with PyTorch's gates ``r, z, n`` and ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    Args:
      input: ``[N, in]`` or unbatched ``[in]``.
      hx: the previous hidden state ``[N, H]`` (``[H]``).
      w_ih: ``[3 * H, in]``.
      w_hh: ``[3 * H, H]``.
      b_ih: ``[3 * H]`` or None.
      b_hh: ``[3 * H]`` or None.

    Returns:
      The next hidden state, shaped as ``hx``.

    Raises:
      ShapeError: shapes that do not fit together (the message names the argument).
      DTypeError: non-floating arguments, or dtypes different from the input's.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh.nn import functional as F
      >>> F.gru_cell(jnp.ones((2, 3)), jnp.zeros((2, 4)), jnp.zeros((12, 3)), jnp.zeros((12, 4))).shape
      (2, 4)
    """
    _check_cell("gru_cell", 3, input, (hx,), w_ih, w_hh, b_ih, b_hh)
    return _gru_update(_linear(input, w_ih, b_ih), _linear(hx, w_hh, b_hh), hx)


# -- cells with hand-derived backward passes ---------------------------------------------------------
# A cell maps (gi, gh, state) -> (new state, saved), with gi the input projection (+ biases) and
# gh = h @ W_hh^T (+ the recurrent bias GRU keeps apart); state[0] is h, the output. ``saved`` is
# what the backward pass needs beyond the states before and after the step, which it gets from
# the stacked states (shifted by one step outside the loop): one array per step, so the loop stores
# few slices (each stored array is a separate kernel per step on CPU).
# ``bwd(saved, prev, new, d_new) -> (d_gi, d_gh, d_prev)`` (d_prev without the W_hh path of h).
def _lstm_fwd(gi: jax.Array, gh: jax.Array, state: tuple) -> tuple[tuple, jax.Array]:
    z = gi + gh
    i, f, g, o = jnp.split(z, 4, axis=-1)
    act = jnp.concatenate([jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)], axis=-1)
    i, f, g, o = jnp.split(act, 4, axis=-1)
    c = f * state[1] + i * g
    return (o * jnp.tanh(c), c), act


def _lstm_bwd(act: jax.Array, prev: tuple, new: tuple, d_new: tuple) -> tuple[jax.Array, jax.Array, tuple]:
    i, f, g, o = jnp.split(act, 4, axis=-1)
    dh, dc = d_new
    tc = jnp.tanh(new[1])
    dc = dc + dh * o * (1 - tc * tc)
    dz = jnp.concatenate(
        [dc * g * i * (1 - i), dc * prev[1] * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)],
        axis=-1,
    )
    return dz, dz, (jnp.zeros_like(dh), dc * f)


def _gru_fwd(gi: jax.Array, gh: jax.Array, state: tuple) -> tuple[tuple, jax.Array]:
    h = state[0]
    i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r, z = jax.nn.sigmoid(i_r + h_r), jax.nn.sigmoid(i_z + h_z)
    n = jnp.tanh(i_n + r * h_n)
    return (n + z * (h - n),), jnp.concatenate([r, z, n, h_n], axis=-1)


def _gru_bwd(saved: jax.Array, prev: tuple, new: tuple, d_new: tuple) -> tuple[jax.Array, jax.Array, tuple]:
    r, z, n, h_n = jnp.split(saved, 4, axis=-1)
    (dh,) = d_new
    da_n = dh * (1 - z) * (1 - n * n)
    da_r = da_n * h_n * r * (1 - r)
    da_z = dh * (prev[0] - n) * z * (1 - z)
    return (
        jnp.concatenate([da_r, da_z, da_n], axis=-1),
        jnp.concatenate([da_r, da_z, da_n * r], axis=-1),
        (dh * z,),
    )


def _tanh_fwd(gi: jax.Array, gh: jax.Array, state: tuple) -> tuple[tuple, None]:
    return (jnp.tanh(gi + gh),), None


def _tanh_bwd(saved: None, prev: tuple, new: tuple, d_new: tuple) -> tuple[jax.Array, jax.Array, tuple]:
    da = d_new[0] * (1 - new[0] * new[0])
    return da, da, (jnp.zeros_like(da),)


def _relu_fwd(gi: jax.Array, gh: jax.Array, state: tuple) -> tuple[tuple, None]:
    return (relu(gi + gh),), None


def _relu_bwd(saved: None, prev: tuple, new: tuple, d_new: tuple) -> tuple[jax.Array, jax.Array, tuple]:
    da = jnp.where(new[0] > 0, d_new[0], jnp.zeros_like(d_new[0]))  # gradient 0 at 0, as PyTorch
    return da, da, (jnp.zeros_like(da),)


_CELLS: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "LSTM": (_lstm_fwd, _lstm_bwd),
    "GRU": (_gru_fwd, _gru_bwd),
    "RNN_TANH": (_tanh_fwd, _tanh_bwd),
    "RNN_RELU": (_relu_fwd, _relu_bwd),
}


# -- the recurrence over time -------------------------------------------------------------------------
def _scan_cells(
    mode: str,
    reverse: bool,
    unroll: int,
    pre: jax.Array,
    state0: tuple,
    w_hh: jax.Array,
    b_rec: jax.Array | None,
    keep: bool,
) -> tuple[tuple, Any]:
    """Run the cell over time: ``(final state, stacked h)``, with ``keep`` ``(stacked states, saved)``."""
    cell = _CELLS[mode][0]

    def step(state: tuple, gi: jax.Array) -> tuple[tuple, Any]:
        gh = state[0] @ w_hh.T
        if b_rec is not None:
            gh = gh + b_rec
        new, saved = cell(gi, gh, state)
        return new, ((new, saved) if keep else new[0])

    return jax.lax.scan(step, state0, pre, reverse=reverse, unroll=unroll)


def _previous(stacked: jax.Array, first: jax.Array, reverse: bool) -> jax.Array:
    """The state before each step: ``first`` then the stacked states, one step later in scan order."""
    if reverse:
        return jnp.concatenate([stacked[1:], first[None]], axis=0)
    return jnp.concatenate([first[None], stacked[:-1]], axis=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1, 2))
def _recurrence(
    mode: str,
    reverse: bool,
    unroll: int,
    pre: jax.Array,
    state0: tuple,
    w_hh: jax.Array,
    b_rec: jax.Array | None,
) -> tuple[jax.Array, tuple]:
    """``(ys [L, N, H], final_state)`` of the ``mode`` cell over time, with a hand-written backward pass.

    JAX's autodiff of a scan accumulates ``dW_hh`` with one small product per step and keeps more
    intermediates. This backward pass uses each cell's derivative written out (as PyTorch's and
    cuDNN's kernels do), keeps the per-step cotangents of ``h @ W_hh^T`` and forms ``dW_hh`` with one
    large product after the loop; the forward loop stores only the states and one array per step
    (docs/nn_sequence.md has the measurements). Forward-mode autodiff cannot go through a custom
    VJP: layers built with ``fused_backward=False`` use :func:`_scan_cells` instead.
    """
    final, ys = _scan_cells(mode, reverse, unroll, pre, state0, w_hh, b_rec, keep=False)
    return ys, final


def _recurrence_fwd(
    mode: str,
    reverse: bool,
    unroll: int,
    pre: jax.Array,
    state0: tuple,
    w_hh: jax.Array,
    b_rec: jax.Array | None,
) -> tuple[tuple[jax.Array, tuple], tuple]:
    final, (states, saved) = _scan_cells(mode, reverse, unroll, pre, state0, w_hh, b_rec, keep=True)
    return (states[0], final), (states, saved, state0, w_hh, b_rec)


def _recurrence_bwd(mode: str, reverse: bool, unroll: int, res: tuple, cts: tuple) -> tuple:
    states, saved, state0, w_hh, b_rec = res
    d_ys, d_final = cts
    cell_bwd = _CELLS[mode][1]
    prevs = tuple(_previous(s, s0, reverse) for s, s0 in zip(states, state0, strict=True))

    def step(d_state: tuple, t: tuple) -> tuple[tuple, tuple]:
        saved_t, prev_t, new_t, dy = t
        d_gi, d_gh, d_prev = cell_bwd(saved_t, prev_t, new_t, (d_state[0] + dy, *d_state[1:]))
        return (d_prev[0] + d_gh @ w_hh, *d_prev[1:]), (d_gi, d_gh)

    d_state0, (d_pre, d_gh) = jax.lax.scan(
        step, tuple(d_final), (saved, prevs, states, d_ys), reverse=not reverse, unroll=unroll
    )
    d_w_hh = jnp.einsum("lng,lnh->gh", d_gh, prevs[0])
    d_b_rec = None if b_rec is None else d_gh.sum(axis=(0, 1))
    return d_pre, d_state0, d_w_hh, d_b_rec


_recurrence.defvjp(_recurrence_fwd, _recurrence_bwd)


def _run_direction(
    mode: str,
    xs: jax.Array,
    h0: jax.Array,
    c0: jax.Array | None,
    p: dict[str, Any],
    reverse: bool,
    unroll: int,
    fused: bool,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """One direction of one layer: ``xs [L, N, in]`` -> ``(ys [L, N, H], h_n, c_n)``.

    The input projection of every time step is one matrix product before the loop. ``b_hh`` joins it
    there too, except GRU's ``b_hn``, which ``r`` multiplies. (Measured: one scan per direction with
    a plain matrix product per step beats batching both directions into one scan on CPU.)
    """
    w_hh = p["w_hh"]
    pre = xs @ p["w_ih"].T
    b_rec = None
    if p["b_ih"] is not None:
        b_ih, b_hh = p["b_ih"], p["b_hh"]
        if mode == "GRU":
            hidden = w_hh.shape[1]
            pre = pre + (b_ih + jnp.concatenate([b_hh[: 2 * hidden], jnp.zeros_like(b_hh[2 * hidden :])]))
            b_rec = jnp.concatenate([jnp.zeros_like(b_hh[: 2 * hidden]), b_hh[2 * hidden :]])
        else:
            pre = pre + (b_ih + b_hh)
    state0: tuple[Any, ...] = (h0, c0) if mode == "LSTM" else (h0,)

    if mode == "LSTM" and p["w_hr"] is not None:  # projection: plain autodiff through the scan
        w_hr = p["w_hr"]

        def proj_step(carry: tuple[jax.Array, jax.Array], gi: jax.Array) -> tuple[Any, jax.Array]:
            h, c = carry
            h_new, c_new = _lstm_update(gi + h @ w_hh.T, c)
            h_new = h_new @ w_hr.T
            return (h_new, c_new), h_new

        (h_n, c_n), ys = jax.lax.scan(proj_step, state0, pre, reverse=reverse, unroll=unroll)
        return ys, h_n, c_n
    if fused:
        ys, final = _recurrence(mode, reverse, unroll, pre, state0, w_hh, b_rec)
    else:
        final, ys = _scan_cells(mode, reverse, unroll, pre, state0, w_hh, b_rec, keep=False)
    return ys, final[0], (final[1] if mode == "LSTM" else None)


def _run_layer(
    mode: str,
    xs: jax.Array,
    h0: jax.Array,
    c0: jax.Array | None,
    params: list[dict[str, Any]],
    unroll: int,
    fused: bool,
) -> tuple[jax.Array, jax.Array, jax.Array | None]:
    """One layer, all directions. ``xs [L, N, in]``, ``h0/c0 [D, N, ·]`` -> ``(out [L, N, D*H], h_n, c_n)``.

    The backward direction scans in reverse, so its outputs line up with the input time steps and
    its final state is the one after reading ``x_0``, as in PyTorch.
    """
    results: list[tuple[Any, Any, Any]] = [
        _run_direction(
            mode, xs, h0[d], None if c0 is None else c0[d], p, reverse=d == 1, unroll=unroll, fused=fused
        )
        for d, p in enumerate(params)
    ]
    out = results[0][0] if len(results) == 1 else jnp.concatenate([r[0] for r in results], axis=-1)
    h_n = jnp.stack([r[1] for r in results])
    c_n = None if c0 is None else jnp.stack([r[2] for r in results])
    return out, h_n, c_n
