"""Recurrent layers (``torch.nn.RNN``/``LSTM``/``GRU`` and their cells).

Parameter names, shapes, gate order and initialisation are PyTorch's: ``weight_ih_l0 [G*H, in]``,
``weight_hh_l0 [G*H, H]``, ``bias_ih_l0``, ``bias_hh_l0``, ``..._reverse`` for the backward direction,
``weight_hr_l0`` for LSTM projections; gates ``i, f, g, o`` (LSTM) and ``r, z, n`` (GRU, with
``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``); every parameter ``U(-1/sqrt(H), 1/sqrt(H))``.

The computation (cells, the ``scan`` over time and its hand-written backward pass) is in
``torsh.nn.functional._rnn``; this module holds the layers. How a layer runs is part of the layer:
``unroll`` (the scan's unroll factor) and ``fused_backward`` (the hand-written backward pass, which
forward-mode autodiff cannot go through) are static fields set by constructor keywords, so a
compiled function depends only on the layers it is given.

Parameter names depend on the configuration (``num_layers``, ``bidirectional``, ``bias``,
``proj_size``), but a module's fields are fixed per class. ``RNN``/``LSTM``/``GRU`` therefore build
(and cache) one concrete subclass per set of parameter names, with one field per parameter, so
attribute access (``lstm.weight_ih_l0``), freezing, logical axes and ``state_dict`` work per
parameter exactly as for any other layer. ``isinstance(m, nn.LSTM)`` holds and the class is named
``LSTM``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, cast

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ..errors import ConfigError, ShapeError
from ..tree import static
from . import functional as F
from . import init
from ._shapes import shaped
from ._utils import check_float_input, check_p, float_dtype, positive_int, resolve_key, shape_str
from .functional._rnn import _run_layer, gru_cell, lstm_cell, rnn_relu_cell, rnn_tanh_cell
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"]

# forward's jaxtyping annotations, checked by nn.shaped with the sizes bound from the layer's fields
# (_RNN_DIMS). "*lead" is [seq, batch] (or [batch, seq] with batch_first, or [seq] unbatched). The
# initial state is left to _check_state: whether it has a batch axis follows the input's rank, which
# a per-class string cannot say, and its message shows the whole expected shape.
# (Aliases: linters read a shape string written inside a signature as a Python expression, F722.)
_Seq = Float[Array, "*lead in"]
_SeqOut = Float[Array, "*lead d_out"]
_State = Float[Array, "layers *batch h_out"]
_Cell = Float[Array, "layers *batch cell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# -- modules ---------------------------------------------------------------------------------------
def _param_names(num_layers: int, bidirectional: bool, bias: bool, proj_size: int) -> tuple[str, ...]:
    names = []
    for layer in range(num_layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if bias else [])
            kinds += ["weight_hr"] if proj_size > 0 else []
            names += [f"{k}_l{layer}{suffix}" for k in kinds]
    return tuple(names)


_AXES = {
    "weight_ih": ("gates", "in"),
    "weight_hh": ("gates", "hidden"),
    "bias_ih": ("gates",),
    "bias_hh": ("gates",),
    "weight_hr": ("proj", "hidden"),
}
_CONCRETE: dict[tuple[type, tuple[str, ...]], type] = {}
# Former process-wide class switches, now static fields of each layer.
_LAYER_SETTINGS = ("unroll", "fused_backward")


class _RNNMeta(type):
    """Rejects ``nn.LSTM.fused_backward = False``-style class switches (they were read while tracing).

    A setting flipped on the class after a function was compiled would not reach that compiled
    function, and one flipped before would leak into every other layer: the settings are per-layer
    static fields now, and this error says what to write instead.
    """

    def __setattr__(cls, name: str, value: Any) -> None:
        if name in _LAYER_SETTINGS and cls.__dict__.get("_torsh_rnn_sealed", False):
            base = cls.__torsh_rnn_base__ or cls  # type: ignore[attr-defined]
            layer = "LSTM" if base.__name__ == "RNNBase" else base.__name__
            raise ConfigError(
                f"{base.__name__}.{name} is no longer a class-wide switch: it is a setting of each layer. "
                f"Build the layer with it (`nn.{layer}(..., {name}={value!r})`) or derive a changed copy "
                f"(`rnn = rnn.replace({name}={value!r})`)"
            )
        super().__setattr__(name, value)

    def __init__(cls, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type.__setattr__(cls, "_torsh_rnn_sealed", True)  # after dataclass set the field defaults


def _concrete_class(base: type, names: tuple[str, ...]) -> type:
    """The subclass of ``base`` with one array field per parameter name (cached)."""
    cls = _CONCRETE.get((base, names))
    if cls is None:
        namespace = {
            "__annotations__": {n: "jax.Array" for n in names},
            "__module__": base.__module__,
            "__qualname__": base.__qualname__,
            "__doc__": base.__doc__,
            "__torsh_rnn_names__": names,
            "__torsh_rnn_base__": base,
        }
        axes = {n: _AXES[n.split("_l")[0]] for n in names}
        cls = type(base)(base.__name__, (base,), namespace, axes=axes, init=False)
        _CONCRETE[(base, names)] = cls
    return cls


def _rnn_dims() -> dict[str, Any]:
    def d_out(m: RNNBase) -> int:
        """num_directions * (proj_size or hidden_size)"""
        return m._directions * (m.proj_size or m.hidden_size)

    def layers(m: RNNBase) -> int:
        """num_layers * num_directions"""
        return m.num_layers * m._directions

    def h_out(m: RNNBase) -> int:
        """proj_size or hidden_size"""
        return m.proj_size or m.hidden_size

    return {"in": "input_size", "d_out": d_out, "layers": layers, "h_out": h_out, "cell": "hidden_size"}


_RNN_DIMS = _rnn_dims()


class RNNBase(Module, metaclass=_RNNMeta):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU` (abstract: build those).

    Args:
      See :class:`RNN`, :class:`LSTM` and :class:`GRU`.

    Raises:
      ConfigError: when instantiated directly.

    Example:
      >>> import torsh
      >>> from torsh import nn
      >>> isinstance(nn.GRU(2, 3, key=torsh.random.key(0)), nn.RNNBase)
      True
    """

    mode: str = static()
    input_size: int = static()
    hidden_size: int = static()
    num_layers: int = static()
    bias: bool = static()
    batch_first: bool = static()
    dropout: float = static()
    bidirectional: bool = static()
    proj_size: int = static()
    # How the layer runs (benchmarks/layers_sequence.py measured both; docs/nn_sequence.md): the scan
    # unroll factor, and the hand-written backward pass (a custom VJP, which forward-mode autodiff --
    # jax.jvp, jacfwd, hessian -- cannot go through; fused_backward=False differentiates the plain scan).
    unroll: int = static(default=1)
    fused_backward: bool = static(default=True)

    # Class attributes, not fields (no annotations): set on the concrete subclasses.
    __torsh_rnn_names__ = None  # type: tuple[str, ...] | None
    __torsh_rnn_base__ = None  # type: type | None

    def __new__(cls, *args: Any, **kwargs: Any) -> RNNBase:
        base = cls.__torsh_rnn_base__ or cls
        if base is RNNBase:
            raise ConfigError("RNNBase is abstract: use nn.RNN, nn.LSTM or nn.GRU")
        bound = inspect.signature(base.__dict__["__init__"]).bind(None, *args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        names = _param_names(
            _check_int("num_layers", a["num_layers"], base.__name__),
            bool(a["bidirectional"]),
            bool(a["bias"]),
            a.get("proj_size", 0) if isinstance(a.get("proj_size", 0), int) else 0,
        )
        obj: RNNBase = object.__new__(_concrete_class(base, names))
        if not isinstance(obj, cls):  # type(m)(...) with another configuration: Python will not call __init__
            type(obj).__init__(obj, *args, **kwargs)
        return obj

    def _setup(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int,
        key: Any,
        dtype: Any,
        unroll: int,
        fused_backward: bool,
    ) -> None:
        owner = type(self).__name__
        positive_int("input_size", input_size, owner)
        positive_int("hidden_size", hidden_size, owner)
        positive_int("num_layers", num_layers, owner)
        for name, flag in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            if not isinstance(flag, bool):
                raise ConfigError(f"{owner}: {name} should be a bool, got {flag!r}")
        if not isinstance(fused_backward, bool):
            raise ConfigError(f"{owner}: fused_backward should be a bool, got {fused_backward!r}")
        positive_int("unroll", unroll, owner)
        check_p(dropout)
        positive_int("proj_size", proj_size, owner, allow_zero=True)
        if proj_size >= hidden_size:
            raise ConfigError(
                f"{owner}: proj_size ({proj_size}) has to be smaller than hidden_size ({hidden_size})"
            )
        if proj_size and mode != "LSTM":
            raise ConfigError(f"{owner}: proj_size is only supported by LSTM")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects "
                f"num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        self.mode, self.input_size, self.hidden_size, self.num_layers = (
            mode,
            input_size,
            hidden_size,
            num_layers,
        )
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.unroll, self.fused_backward = int(unroll), fused_backward
        d = float_dtype(dtype)
        gate, dirs = _GATES[mode] * hidden_size, 2 if bidirectional else 1
        out = proj_size or hidden_size
        shapes = {
            "weight_ih": lambda layer: (gate, input_size if layer == 0 else out * dirs),
            "weight_hh": lambda layer: (gate, out),
            "bias_ih": lambda layer: (gate,),
            "bias_hh": lambda layer: (gate,),
            "weight_hr": lambda layer: (proj_size, hidden_size),
        }
        names = type(self).__torsh_rnn_names__ or ()
        bound = 1.0 / math.sqrt(hidden_size)
        keys = jax.random.split(resolve_key(key), len(names))
        for k, name in zip(keys, names, strict=True):
            kind, rest = name.split("_l")
            layer = int(rest.removesuffix("_reverse"))
            setattr(self, name, init.uniform(k, shapes[kind](layer), -bound, bound, d))

    # -- forward -------------------------------------------------------------------------------
    @property
    def _weight0(self) -> jax.Array:
        """``weight_ih_l0`` (a field of every concrete subclass), whose dtype inputs must have."""
        return self.__dict__["weight_ih_l0"]

    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _layer_params(self, layer: int) -> list[dict[str, jax.Array | None]]:
        """Per direction, the layer's arrays under short names (absent ones None)."""
        d = self.__dict__
        short = {
            "w_ih": "weight_ih",
            "w_hh": "weight_hh",
            "b_ih": "bias_ih",
            "b_hh": "bias_hh",
            "w_hr": "weight_hr",
        }
        return [
            {k: d.get(f"{full}_l{layer}{suffix}") for k, full in short.items()}
            for suffix in ("", "_reverse")[: self._directions]
        ]

    def _check_input(self, input: Any) -> bool:
        check_float_input(input, self._weight0)
        layout = "[batch, seq, {}]" if self.batch_first else "[seq, batch, {}]"
        if input.ndim not in (2, 3) or input.shape[-1] != self.input_size:
            raise ShapeError(
                f"expected input {layout.format(self.input_size)} or unbatched [seq, {self.input_size}], got "
                f"{shape_str(input.shape)}"
            )
        return input.ndim == 3

    def _check_state(self, name: str, h: Any, batched: bool, batch: int, size: int) -> jax.Array:
        check_float_input(h, self._weight0, name)
        want = (
            (self.num_layers * self._directions, batch, size)
            if batched
            else (self.num_layers * self._directions, size)
        )
        if tuple(h.shape) != want:
            what = (
                "[num_layers * num_directions, batch, hidden]"
                if batched
                else "[num_layers * num_directions, hidden]"
            )
            raise ShapeError(f"expected {name} {shape_str(want)} ({what}), got {shape_str(h.shape)}")
        return h if batched else h[:, None]

    def _run(
        self,
        input: jax.Array,
        h0: Any,
        c0: Any,
        key: jax.Array | None,
    ) -> tuple[jax.Array, jax.Array, jax.Array | None]:
        batched = self._check_input(input)
        x = input if batched else input[:, None]
        if batched and self.batch_first:
            x = jnp.swapaxes(x, 0, 1)  # time-major inside
        n = x.shape[1]
        out_size = self.proj_size or self.hidden_size
        dirs = self._directions
        h0 = (
            jnp.zeros((self.num_layers * dirs, n, out_size), x.dtype)
            if h0 is None
            else self._check_state("h_0" if self.mode == "LSTM" else "hx", h0, batched, n, out_size)
        )
        if self.mode == "LSTM":
            c0 = (
                jnp.zeros((self.num_layers * dirs, n, self.hidden_size), x.dtype)
                if c0 is None
                else self._check_state("c_0", c0, batched, n, self.hidden_size)
            )
        if self.training and self.dropout > 0 and self.num_layers > 1 and key is None:
            raise ConfigError(
                f"{type(self).__name__} with dropout={self.dropout} in training mode needs a PRNG key: call "
                "`rnn(x, key=key)`, or switch to evaluation with `.eval()`"
            )
        h_n: list[jax.Array] = []
        c_n: list[jax.Array | None] = []
        for layer in range(self.num_layers):
            if layer > 0 and self.training and self.dropout > 0 and key is not None:  # None raised above
                x = F.dropout(x, self.dropout, True, key=jax.random.fold_in(key, layer))
            sl = slice(layer * dirs, (layer + 1) * dirs)
            x, h, c = _run_layer(
                self.mode,
                x,
                h0[sl],
                None if c0 is None else c0[sl],
                self._layer_params(layer),
                self.unroll,
                self.fused_backward,
            )
            h_n.append(h)
            c_n.append(c)
        h_out = jnp.concatenate(h_n, axis=0)
        c_out = jnp.concatenate([c for c in c_n if c is not None], axis=0) if self.mode == "LSTM" else None
        if batched and self.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        if not batched:
            x, h_out = x[:, 0], h_out[:, 0]
            c_out = None if c_out is None else c_out[:, 0]
        return x, h_out, c_out

    def _describe(self) -> str:
        bi = " bidirectional" if self.bidirectional else ""
        return f"{type(self).__name__} {self.input_size}->{self.hidden_size} layers={self.num_layers}{bi}"

    def extra_repr(self) -> str:
        """PyTorch's ``extra_repr`` (non-default arguments), plus torsh's non-default run settings.

        Returns:
          The text inside ``LSTM(...)`` in ``repr``.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> nn.LSTM(3, 4, num_layers=2, unroll=2, key=torsh.random.key(0)).extra_repr()
          '3, 4, num_layers=2, unroll=2'
        """
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        if self.unroll != 1:
            s += f", unroll={self.unroll}"
        if self.fused_backward is not True:
            s += f", fused_backward={self.fused_backward}"
        return s


def _check_int(name: str, value: Any, owner: str) -> int:
    return positive_int(name, value, owner)


_FORWARD_DOC = """Run the layer over a sequence.

        Args:
          input: ``[L, N, H_in]`` (``[N, L, H_in]`` with ``batch_first``), or unbatched ``[L, H_in]``.
          hx: {hx}
          key: PRNG key of the dropout between layers (needed in training mode when ``dropout > 0``).

        Returns:
          {returns}

        Raises:
          ShapeError: an input or state of the wrong shape (the message gives the expected one).
          DTypeError: a non-floating input, or one of another dtype than the parameters.
          ConfigError: training-mode dropout without ``key``{extra}.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import nn
          >>> {example}
        """


class RNN(RNNBase):
    """Elman RNN ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (``torch.nn.RNN``), or with relu.

    ``forward(input, hx=None, *, key=None) -> (output, h_n)``: ``input [L, N, H_in]`` (``[N, L, H_in]``
    with ``batch_first``, or unbatched ``[L, H_in]``), ``hx [num_layers * D, N, H]`` (zeros when
    omitted), ``output [L, N, D * H]``. Dropout between layers in training mode needs ``key``.

    Args:
      input_size: features of each input step ``H_in``.
      hidden_size: features of the hidden state ``H``.
      num_layers: stacked recurrent layers (default 1).
      bias: whether the layers have ``bias_ih``/``bias_hh`` (default True).
      batch_first: inputs and outputs ``[N, L, ·]`` instead of ``[L, N, ·]`` (default False).
      dropout: dropout probability on the outputs of every layer but the last, in training mode
        (default 0; needs ``key=`` in ``forward`` when > 0).
      bidirectional: add a backward direction per layer (default False).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).
      unroll: time steps per iteration of the ``scan`` loop (default 1, measured fastest on CPU;
        a static setting: changing it recompiles).
      fused_backward: use the hand-written backward pass (default True, measured faster). Set False
        to differentiate the plain ``scan`` instead, which forward-mode autodiff (``jax.jvp``,
        ``jax.jacfwd``, ``jax.hessian``) needs.
      nonlinearity: ``"tanh"`` (default) or ``"relu"``.

    Raises:
      ConfigError: non-positive sizes, ``dropout`` outside [0, 1], non-bool flags, or ``unroll`` not
        a positive int.
      ShapeError: in ``forward``, an input or state of the wrong shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> rnn = nn.RNN(3, 5, num_layers=2, bidirectional=True, key=torsh.random.key(0))
      >>> out, h_n = rnn(jnp.ones((7, 2, 3)))
      >>> out.shape, h_n.shape
      ((7, 2, 10), (4, 2, 5))
      >>> [n for n, _ in rnn.named_parameters()][:5]
      ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0', 'weight_ih_l0_reverse']
    """

    nonlinearity: str = static(default="tanh")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
        *,
        key: Any = None,
        unroll: int = 1,
        fused_backward: bool = True,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        self._setup(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            key,
            dtype,
            unroll,
            fused_backward,
        )

    @shaped(dims=_RNN_DIMS)
    def forward(
        self,
        input: _Seq,
        hx: jax.Array | None = None,
        *,
        key: jax.Array | None = None,
    ) -> tuple[_SeqOut, _State]:
        out, h_n, _ = self._run(input, hx, None, key)
        return out, h_n

    forward.__doc__ = _FORWARD_DOC.format(
        hx="initial state ``[num_layers * D, N, H]`` (``[num_layers * D, H]`` unbatched); zeros if None.",
        returns="``(output [L, N, D * H], h_n [num_layers * D, N, H])``.",
        extra="",
        example="nn.RNN(3, 4, key=torsh.random.key(0))(jnp.ones((5, 3)))[0].shape\n          (5, 4)",
    )

    def extra_repr(self) -> str:
        """PyTorch's ``extra_repr``, with ``nonlinearity`` when not ``"tanh"``.

        Returns:
          The text inside ``RNN(...)`` in ``repr``.

        Example:
          >>> import torsh
          >>> from torsh import nn
          >>> nn.RNN(3, 4, nonlinearity="relu", key=torsh.random.key(0)).extra_repr()
          "3, 4, nonlinearity='relu'"
        """
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"


class LSTM(RNNBase):
    """Long short-term memory (``torch.nn.LSTM``): gates ``i, f, g, o``; optional projection ``proj_size``.

    ``forward(input, hx=None, *, key=None) -> (output, (h_n, c_n))`` with ``hx = (h_0, c_0)``;
    ``h [num_layers * D, N, proj_size or H]``, ``c [num_layers * D, N, H]``.

    Args:
      input_size: features of each input step ``H_in``.
      hidden_size: features of the hidden state ``H``.
      num_layers: stacked recurrent layers (default 1).
      bias: whether the layers have ``bias_ih``/``bias_hh`` (default True).
      batch_first: inputs and outputs ``[N, L, ·]`` instead of ``[L, N, ·]`` (default False).
      dropout: dropout probability on the outputs of every layer but the last, in training mode
        (default 0; needs ``key=`` in ``forward`` when > 0).
      bidirectional: add a backward direction per layer (default False).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).
      unroll: time steps per iteration of the ``scan`` loop (default 1, measured fastest on CPU;
        a static setting: changing it recompiles).
      fused_backward: use the hand-written backward pass (default True, measured faster). Set False
        to differentiate the plain ``scan`` instead, which forward-mode autodiff (``jax.jvp``,
        ``jax.jacfwd``, ``jax.hessian``) needs.
      proj_size: if > 0, project each hidden state to ``proj_size`` features with ``weight_hr_l{k}``
        (default 0; such layers differentiate the plain scan).

    Raises:
      ConfigError: non-positive sizes, ``dropout`` outside [0, 1], non-bool flags, or ``unroll`` not
        a positive int.
      ShapeError: in ``forward``, an input or state of the wrong shape.
      ConfigError: ``proj_size >= hidden_size``.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> lstm = nn.LSTM(3, 8, batch_first=True, key=torsh.random.key(0))
      >>> out, (h_n, c_n) = lstm(jnp.ones((2, 7, 3)))
      >>> out.shape, h_n.shape, c_n.shape
      ((2, 7, 8), (1, 2, 8), (1, 2, 8))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
        *,
        key: Any = None,
        unroll: int = 1,
        fused_backward: bool = True,
    ) -> None:
        self._setup(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            key,
            dtype,
            unroll,
            fused_backward,
        )

    @shaped(dims=_RNN_DIMS)
    def forward(
        self,
        input: _Seq,
        hx: tuple[jax.Array, jax.Array] | None = None,
        *,
        key: jax.Array | None = None,
    ) -> tuple[_SeqOut, tuple[_State, _Cell]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ConfigError(f"LSTM: hx must be a tuple (h_0, c_0), got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        out, h_n, c_n = self._run(input, h0, c0, key)
        return out, (h_n, cast(jax.Array, c_n))  # an LSTM always has a cell state

    forward.__doc__ = _FORWARD_DOC.format(
        hx="``(h_0, c_0)``: ``h_0 [num_layers * D, N, proj_size or H]``, ``c_0 [num_layers * D, N, H]`` "
        "(no N unbatched); zeros if None.",
        returns="``(output [L, N, D * (proj_size or H)], (h_n, c_n))``.",
        extra=", or ``hx`` not a pair",
        example="nn.LSTM(3, 4, key=torsh.random.key(0))(jnp.ones((5, 3)))[1][1].shape\n          (1, 4)",
    )


class GRU(RNNBase):
    """GRU (``torch.nn.GRU``), gates ``r, z, n``; ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``.

    ``forward(input, hx=None, *, key=None) -> (output, h_n)``.

    Args:
      input_size: features of each input step ``H_in``.
      hidden_size: features of the hidden state ``H``.
      num_layers: stacked recurrent layers (default 1).
      bias: whether the layers have ``bias_ih``/``bias_hh`` (default True).
      batch_first: inputs and outputs ``[N, L, ·]`` instead of ``[L, N, ·]`` (default False).
      dropout: dropout probability on the outputs of every layer but the last, in training mode
        (default 0; needs ``key=`` in ``forward`` when > 0).
      bidirectional: add a backward direction per layer (default False).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).
      unroll: time steps per iteration of the ``scan`` loop (default 1, measured fastest on CPU;
        a static setting: changing it recompiles).
      fused_backward: use the hand-written backward pass (default True, measured faster). Set False
        to differentiate the plain ``scan`` instead, which forward-mode autodiff (``jax.jvp``,
        ``jax.jacfwd``, ``jax.hessian``) needs.

    Raises:
      ConfigError: non-positive sizes, ``dropout`` outside [0, 1], non-bool flags, or ``unroll`` not
        a positive int.
      ShapeError: in ``forward``, an input or state of the wrong shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> gru = nn.GRU(3, 4, num_layers=2, key=torsh.random.key(0)).eval()
      >>> out, h_n = gru(jnp.ones((5, 3)))            # unbatched [seq, features]
      >>> out.shape, h_n.shape
      ((5, 4), (2, 4))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        dtype: Any = None,
        *,
        key: Any = None,
        unroll: int = 1,
        fused_backward: bool = True,
    ) -> None:
        self._setup(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            key,
            dtype,
            unroll,
            fused_backward,
        )

    @shaped(dims=_RNN_DIMS)
    def forward(
        self,
        input: _Seq,
        hx: jax.Array | None = None,
        *,
        key: jax.Array | None = None,
    ) -> tuple[_SeqOut, _State]:
        out, h_n, _ = self._run(input, hx, None, key)
        return out, h_n

    forward.__doc__ = _FORWARD_DOC.format(
        hx="initial state ``[num_layers * D, N, H]`` (``[num_layers * D, H]`` unbatched); zeros if None.",
        returns="``(output [L, N, D * H], h_n [num_layers * D, N, H])``.",
        extra="",
        example="nn.GRU(3, 4, key=torsh.random.key(0))(jnp.ones((5, 2, 3)))[1].shape\n          (1, 2, 4)",
    )


# -- single-step cells -----------------------------------------------------------------------------
class _CellBase(Module, axes={k: v for k, v in _AXES.items() if k != "weight_hr"}):
    weight_ih: jax.Array
    weight_hh: jax.Array
    bias_ih: jax.Array | None
    bias_hh: jax.Array | None
    input_size: int = static()
    hidden_size: int = static()

    _gates = 1

    def _init_params(self, input_size: int, hidden_size: int, bias: bool, key: Any, dtype: Any) -> None:
        owner = type(self).__name__
        positive_int("input_size", input_size, owner)
        positive_int("hidden_size", hidden_size, owner)
        self.input_size, self.hidden_size = input_size, hidden_size
        d, g, bound = float_dtype(dtype), self._gates * hidden_size, 1.0 / math.sqrt(hidden_size)
        k1, k2, k3, k4 = jax.random.split(resolve_key(key), 4)
        self.weight_ih = init.uniform(k1, (g, input_size), -bound, bound, d)
        self.weight_hh = init.uniform(k2, (g, hidden_size), -bound, bound, d)
        self.bias_ih = init.uniform(k3, (g,), -bound, bound, d) if bias else None
        self.bias_hh = init.uniform(k4, (g,), -bound, bound, d) if bias else None

    def _check(self, input: Any, hx: Any, name: str = "hx") -> tuple[bool, jax.Array]:
        check_float_input(input, self.weight_ih)
        if input.ndim not in (1, 2) or input.shape[-1] != self.input_size:
            raise ShapeError(
                f"expected input [batch, {self.input_size}] or unbatched [{self.input_size}], got "
                f"{shape_str(input.shape)}"
            )
        batched = input.ndim == 2
        want = (input.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if hx is None:
            return batched, jnp.zeros(want, input.dtype)
        check_float_input(hx, self.weight_ih, name)
        if tuple(hx.shape) != want:
            raise ShapeError(f"expected {name} {shape_str(want)}, got {shape_str(hx.shape)}")
        return batched, hx

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.input_size}->{self.hidden_size}"

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias_ih is not None else s + ", bias=False"


class RNNCell(_CellBase):
    """One Elman RNN step (``torch.nn.RNNCell``): ``forward(input, hx=None) -> h'``.

    Args:
      input_size: features of the input ``H_in``.
      hidden_size: features of the hidden state ``H``.
      bias: whether the cell has ``bias_ih``/``bias_hh`` (default True).
      nonlinearity: ``"tanh"`` (default) or ``"relu"``.
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).

    Raises:
      ConfigError: non-positive sizes, or an unknown ``nonlinearity``.
      ShapeError: in ``forward``, an input or state of the wrong shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.RNNCell(3, 4, key=torsh.random.key(0))(jnp.ones((2, 3))).shape
      (2, 4)
    """

    nonlinearity: str = static()

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        dtype: Any = None,
        *,
        key: Any = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        self._init_params(input_size, hidden_size, bias, key, dtype)

    def forward(self, input: jax.Array, hx: jax.Array | None = None) -> jax.Array:
        """One step.

        Args:
          input: ``[N, H_in]`` or unbatched ``[H_in]``.
          hx: ``[N, H]`` (``[H]``); zeros if None.

        Returns:
          ``h'``, shaped as ``hx``.

        Raises:
          ShapeError: an input or state of the wrong shape.
          DTypeError: a non-floating input, or one of another dtype than the parameters.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import nn
          >>> nn.RNNCell(3, 4, key=torsh.random.key(0))(jnp.ones(3)).shape
          (4,)
        """
        _, h = self._check(input, hx)
        cell = rnn_tanh_cell if self.nonlinearity == "tanh" else rnn_relu_cell
        return cell(input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(_CellBase):
    """One LSTM step (``torch.nn.LSTMCell``): ``forward(input, hx=None) -> (h', c')`` with ``hx = (h, c)``.

    Args:
      input_size: features of the input ``H_in``.
      hidden_size: features of the hidden state ``H``.
      bias: whether the cell has ``bias_ih``/``bias_hh`` (default True).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).

    Raises:
      ConfigError: non-positive sizes.
      ShapeError: in ``forward``, an input or state of the wrong shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> h, c = nn.LSTMCell(3, 4, key=torsh.random.key(0))(jnp.ones((2, 3)))
      >>> h.shape, c.shape
      ((2, 4), (2, 4))
    """

    _gates = 4

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None, *, key: Any = None
    ) -> None:
        self._init_params(input_size, hidden_size, bias, key, dtype)

    def forward(
        self,
        input: jax.Array,
        hx: tuple[jax.Array, jax.Array] | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """One step.

        Args:
          input: ``[N, H_in]`` or unbatched ``[H_in]``.
          hx: ``(h, c)``, each ``[N, H]`` (``[H]``); zeros if None.

        Returns:
          ``(h', c')``.

        Raises:
          ShapeError: an input or state of the wrong shape.
          DTypeError: a non-floating input, or one of another dtype than the parameters.
          ConfigError: ``hx`` not a pair.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import nn
          >>> nn.LSTMCell(3, 4, key=torsh.random.key(0))(jnp.ones(3))[1].shape
          (4,)
        """
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ConfigError(f"LSTMCell: hx must be a tuple (h, c), got {type(hx).__name__}")
        _, h = self._check(input, None if hx is None else hx[0], "h")
        _, c = self._check(input, None if hx is None else hx[1], "c")
        return lstm_cell(input, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_CellBase):
    """One GRU step (``torch.nn.GRUCell``): ``forward(input, hx=None) -> h'``.

    Args:
      input_size: features of the input ``H_in``.
      hidden_size: features of the hidden state ``H``.
      bias: whether the cell has ``bias_ih``/``bias_hh`` (default True).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      key: PRNG key of the initialisation (default: the next key of ``torsh.manual_seed``'s stream).

    Raises:
      ConfigError: non-positive sizes.
      ShapeError: in ``forward``, an input or state of the wrong shape.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.GRUCell(3, 4, key=torsh.random.key(0))(jnp.ones(3)).shape
      (4,)
    """

    _gates = 3

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None, *, key: Any = None
    ) -> None:
        self._init_params(input_size, hidden_size, bias, key, dtype)

    def forward(self, input: jax.Array, hx: jax.Array | None = None) -> jax.Array:
        """One step.

        Args:
          input: ``[N, H_in]`` or unbatched ``[H_in]``.
          hx: ``[N, H]`` (``[H]``); zeros if None.

        Returns:
          ``h'``, shaped as ``hx``.

        Raises:
          ShapeError: an input or state of the wrong shape.
          DTypeError: a non-floating input, or one of another dtype than the parameters.

        Example:
          >>> import torsh, jax.numpy as jnp
          >>> from torsh import nn
          >>> nn.GRUCell(3, 4, key=torsh.random.key(0))(jnp.ones((2, 3))).shape
          (2, 4)
        """
        _, h = self._check(input, hx)
        return gru_cell(input, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
