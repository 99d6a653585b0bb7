"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` (PyTorch's arguments, weights, keys).

Weights have PyTorch's shapes (``Conv2d``: ``[out, in/groups, kh, kw]``; ``ConvTranspose2d``:
``[in, out/groups, kh, kw]``) and names (``weight``, ``bias``), so ``load_state_dict`` takes a
PyTorch state dict as is. Initialisation is PyTorch's: ``kaiming_uniform(a=sqrt(5))`` for the weight
and ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for the bias, with ``fan_in = weight.shape[1] * prod(kernel)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
from jaxtyping import Array, Float

from ..errors import ConfigError
from ..tree import static
from . import init
from ._shapes import shaped
from ._utils import Axes, check_axes, float_dtype, ntuple, positive_int, resolve_key
from .functional._conv import (
    IntOrTuple,
    Padding,
    check_conv_input,
    conv_forward,
    conv_padding,
    conv_transpose_forward,
    conv_transpose_output_padding,
    pad_spatial,
)
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

# forward's jaxtyping annotations, checked by nn.shaped with "in"/"out" bound from the channel counts.
# (Aliases: linters read a shape string written inside a signature as a Python expression, F722.)
# The output's spatial names are free: the layer's own checks compute and verify them.
_IN1 = Float[Array, "*batch in length"]
_OUT1 = Float[Array, "*batch out out_length"]
_IN2 = Float[Array, "*batch in height width"]
_OUT2 = Float[Array, "*batch out out_height out_width"]
_IN3 = Float[Array, "*batch in depth height width"]
_OUT3 = Float[Array, "*batch out out_depth out_height out_width"]
_DIMS = {"in": "in_channels", "out": "out_channels"}

_KERNEL_AXES = {1: ("kw",), 2: ("kh", "kw"), 3: ("kd", "kh", "kw")}


def _axes(n: int, transposed: bool) -> dict[str, tuple[str, ...]]:
    """Default logical axes: weight ``(out, in, *kernel)`` (transposed: in, out), bias ``(out,)``."""
    channels = ("in", "out") if transposed else ("out", "in")
    return {"weight": (*channels, *_KERNEL_AXES[n]), "bias": ("out",)}


_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvBase(Module):
    """Fields and construction shared by convolutions and transposed convolutions."""

    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = static()
    out_channels: int = static()
    kernel_size: tuple[int, ...] = static()
    stride: tuple[int, ...] = static()
    padding: Any = static()  # tuple of ints, or "same"/"valid" (convolutions only)
    dilation: tuple[int, ...] = static()
    groups: int = static()
    padding_mode: str = static()

    _N = 0  # number of spatial axes, set by each concrete class
    _TRANSPOSED = False

    def _setup(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple,
        padding: Any,
        dilation: IntOrTuple,
        groups: int,
        bias: bool,
        padding_mode: str,
        key: Any,
        dtype: Any,
        axes: Axes | None,
    ) -> None:
        name, n = type(self).__name__, self._N
        positive_int("in_channels", in_channels, name)
        positive_int("out_channels", out_channels, name)
        positive_int("groups", groups, name)
        if in_channels % groups:
            raise ConfigError(f"{name}: in_channels ({in_channels}) must be divisible by groups ({groups})")
        if out_channels % groups:
            raise ConfigError(f"{name}: out_channels ({out_channels}) must be divisible by groups ({groups})")
        if padding_mode not in _PADDING_MODES:
            raise ConfigError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got {padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = ntuple(kernel_size, n, "kernel_size", name)
        self.stride = ntuple(stride, n, "stride", name)
        self.dilation = ntuple(dilation, n, "dilation", name)
        if isinstance(padding, str):
            conv_padding(padding, n, self.kernel_size, self.stride, self.dilation, name)  # validates
            self.padding = padding
        else:
            self.padding = ntuple(padding, n, "padding", name, minimum=0)
        self.groups = groups
        self.padding_mode = padding_mode
        d = float_dtype(dtype)
        if self._TRANSPOSED:
            shape = (in_channels, out_channels // groups, *self.kernel_size)
        else:
            shape = (out_channels, in_channels // groups, *self.kernel_size)
        kw, kb = jax.random.split(resolve_key(key))
        self.weight = init.kaiming_uniform(kw, shape, a=math.sqrt(5), dtype=d)
        fan_in = shape[1] * math.prod(self.kernel_size)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.bias = init.uniform(kb, (out_channels,), -bound, bound, d) if bias else None
        if axes is not None:
            axes = check_axes(axes, self.weight.shape, name=f"{name}.weight")
            self.with_axes(weight=axes, bias=(axes[1] if self._TRANSPOSED else axes[0],))

    def _describe(self) -> str:
        k = self.kernel_size[0] if len(set(self.kernel_size)) == 1 else "x".join(map(str, self.kernel_size))
        return f"{type(self).__name__} {self.in_channels}->{self.out_channels} k{k}"

    def _extra(self, output_padding: tuple[int, ...] | None) -> str:
        n = self._N
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"  # PyTorch prints strings unquoted: padding=same
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if output_padding is not None and output_padding != (0,) * n:
            s += f", output_padding={output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvNd(_ConvBase):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: Padding = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        self._setup(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            key,
            dtype,
            axes,
        )

    def forward(self, input: jax.Array) -> jax.Array:
        n = self._N
        where = ""  # Module.__call__ prefixes the module's path and description to errors
        batched = check_conv_input(input, self.weight, n, self.in_channels, where)
        x = input if batched else input[None]
        pads = conv_padding(self.padding, n, self.kernel_size, self.stride, self.dilation, where)
        if self.padding_mode != "zeros":
            # As PyTorch: pad explicitly with the mode, then convolve without padding.
            x = pad_spatial(x, pads, self.padding_mode, where)
            pads = ((0, 0),) * n
        y = conv_forward(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=pads,
            dilation=self.dilation,
            groups=self.groups,
            where=where,
            input_shape=input.shape,
        )
        return y if batched else y[0]

    def extra_repr(self) -> str:
        return self._extra(None)


class Conv1d(_ConvNd, init=False, axes=_axes(1, transposed=False)):
    """1D convolution over ``[N, C_in, L]`` or ``[C_in, L]`` (``torch.nn.Conv1d``).

    Args:
      in_channels, out_channels: channel counts (both divisible by ``groups``).
      kernel_size, stride, dilation: int or 1-tuple.
      padding: int, 1-tuple, ``"valid"`` or ``"same"`` (stride 1 only).
      groups: independent channel groups (``groups == in_channels``: depthwise).
      bias: add a learnable ``[out_channels]`` bias.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      key: PRNG key for initialisation (default: the ``torsh.manual_seed`` stream).
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      axes: logical axis names of the weight (default ``("out", "in", "kw")``; the bias gets the first).

    Weight ``[out_channels, in_channels / groups, kL]``.

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> conv = nn.Conv1d(4, 8, 3, padding="same", padding_mode="circular", key=torsh.random.key(0))
      >>> conv(jnp.ones((2, 4, 10))).shape
      (2, 8, 10)
      >>> conv
      Conv1d(4, 8, kernel_size=(3,), stride=(1,), padding=same, padding_mode=circular)
    """

    _N = 1

    @shaped(dims=_DIMS)
    def forward(self, input: _IN1) -> _OUT1:
        return super().forward(input)


class Conv2d(_ConvNd, init=False, axes=_axes(2, transposed=False)):
    """2D convolution over ``[N, C_in, H, W]`` or ``[C_in, H, W]`` (``torch.nn.Conv2d``).

    Arguments as :class:`Conv1d`, with ints or 2-tuples. Weight ``[out_channels, in_channels / groups,
    kH, kW]``, logical axes ``("out", "in", "kh", "kw")``.

    Args:
      in_channels: Input channels.
      out_channels: Output channels.
      kernel_size: An int or 2-tuple.
      stride: An int or 2-tuple.
      padding: An int, a 2-tuple, ``"valid"`` or ``"same"``.
      dilation: An int or 2-tuple.
      groups: Independent channel groups.
      bias: Learn a bias.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      dtype: Parameter dtype.
      axes: Logical axis names of the weight (default ``("out", "in", ...)``).

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax, jax.numpy as jnp
      >>> from torsh import nn
      >>> conv = nn.Conv2d(3, 16, 3, stride=2, padding=1, key=torsh.random.key(0))
      >>> jax.jit(lambda m, x: m(x))(conv, jnp.ones((1, 3, 32, 32))).shape
      (1, 16, 16, 16)
      >>> [(name, p.shape) for name, p in conv.named_parameters()]
      [('weight', (16, 3, 3, 3)), ('bias', (16,))]
    """

    _N = 2

    @shaped(dims=_DIMS)
    def forward(self, input: _IN2) -> _OUT2:
        return super().forward(input)


class Conv3d(_ConvNd, init=False, axes=_axes(3, transposed=False)):
    """3D convolution over ``[N, C_in, D, H, W]`` or ``[C_in, D, H, W]`` (``torch.nn.Conv3d``).

    Arguments as :class:`Conv1d`, with ints or 3-tuples. Weight ``[out_channels, in_channels / groups,
    kD, kH, kW]``, logical axes ``("out", "in", "kd", "kh", "kw")``.

    Args:
      in_channels: Input channels.
      out_channels: Output channels.
      kernel_size: An int or 3-tuple.
      stride: An int or 3-tuple.
      padding: An int, a 3-tuple, ``"valid"`` or ``"same"``.
      dilation: An int or 3-tuple.
      groups: Independent channel groups.
      bias: Learn a bias.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      dtype: Parameter dtype.
      axes: Logical axis names of the weight (default ``("out", "in", ...)``).

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.Conv3d(2, 4, (1, 3, 3), key=torsh.random.key(0))(jnp.ones((1, 2, 4, 8, 8))).shape
      (1, 4, 4, 6, 6)
    """

    _N = 3

    @shaped(dims=_DIMS)
    def forward(self, input: _IN3) -> _OUT3:
        return super().forward(input)


class _ConvTransposeNd(_ConvBase):
    output_padding: tuple[int, ...] = static()

    _TRANSPOSED = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: IntOrTuple = 0,
        output_padding: IntOrTuple = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrTuple = 1,
        padding_mode: str = "zeros",
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        name = type(self).__name__
        if padding_mode != "zeros":
            raise ConfigError(f"{name}: only padding_mode='zeros' is supported, got {padding_mode!r}")
        if isinstance(padding, str):
            raise ConfigError(
                f"{name}: padding must be an int or a tuple of ints (no 'same'/'valid'), got {padding!r}"
            )
        self._setup(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            key,
            dtype,
            axes,
        )
        self.output_padding = ntuple(output_padding, self._N, "output_padding", name, minimum=0)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation, strict=True):
            if op >= s and op >= d:
                raise ConfigError(
                    f"{name}: output_padding must be smaller than either stride or dilation, got "
                    f"output_padding={self.output_padding}, stride={self.stride}, dilation={self.dilation}"
                )

    def forward(self, input: jax.Array, output_size: Sequence[int] | None = None) -> jax.Array:
        """Transposed convolution; ``output_size`` (static ints) picks among the sizes that stride allows."""
        n = self._N
        where = ""  # Module.__call__ prefixes the module's path and description to errors
        batched = check_conv_input(input, self.weight, n, self.in_channels, where)
        x = input if batched else input[None]
        out_pad = conv_transpose_output_padding(
            x.shape[2:],
            output_size,
            self.stride,
            self.padding,
            self.kernel_size,
            self.dilation,
            self.output_padding,
            batched,
            where,
        )
        y = conv_transpose_forward(
            x,
            self.weight,
            self.bias,
            stride=self.stride,
            padding=self.padding,
            output_padding=out_pad,
            dilation=self.dilation,
            groups=self.groups,
            where=where,
            input_shape=input.shape,
        )
        return y if batched else y[0]

    def extra_repr(self) -> str:
        return self._extra(self.output_padding)


class ConvTranspose1d(_ConvTransposeNd, init=False, axes=_axes(1, transposed=True)):
    """1D transposed convolution over ``[N, C_in, L]`` or ``[C_in, L]`` (``torch.nn.ConvTranspose1d``).

    The gradient of :class:`Conv1d` with respect to its input ("deconvolution"). Note PyTorch's
    argument order: ``output_padding, groups, bias, dilation``. ``forward(x, output_size=None)``
    accepts the wanted output size (the stride makes several sizes possible).

    Args:
      in_channels, out_channels: channel counts (both divisible by ``groups``).
      kernel_size, stride, dilation: int or 1-tuple.
      padding: crop ``padding`` elements from both ends of the full output.
      output_padding: add elements at the end of the output (smaller than stride or dilation).
      groups: independent channel groups.
      bias: add a learnable ``[out_channels]`` bias.
      padding_mode: only ``"zeros"`` (as in PyTorch).
      key, dtype: as :class:`Conv1d`.
      axes: logical axis names of the weight (default ``("in", "out", "kw")``; the bias gets the second).

    Weight ``[in_channels, out_channels / groups, kL]``.

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> up = nn.ConvTranspose1d(4, 2, 3, stride=2, padding=1, key=torsh.random.key(0))
      >>> up(jnp.ones((1, 4, 5))).shape
      (1, 2, 9)
      >>> up(jnp.ones((1, 4, 5)), output_size=[10]).shape
      (1, 2, 10)
    """

    _N = 1

    @shaped(dims=_DIMS)
    def forward(self, input: _IN1, output_size: Sequence[int] | None = None) -> _OUT1:
        return super().forward(input, output_size)


class ConvTranspose2d(_ConvTransposeNd, init=False, axes=_axes(2, transposed=True)):
    """2D transposed convolution over ``[N, C_in, H, W]`` or ``[C_in, H, W]`` (``torch.nn.ConvTranspose2d``).

    Arguments as :class:`ConvTranspose1d`, with ints or 2-tuples. Weight ``[in_channels,
    out_channels / groups, kH, kW]``, logical axes ``("in", "out", "kh", "kw")``.

    Args:
      in_channels: Input channels.
      out_channels: Output channels.
      kernel_size: An int or 2-tuple.
      stride: An int or 2-tuple.
      padding: An int or 2-tuple cropped from both ends of the full output.
      output_padding: Extra elements at the end of the output.
      groups: Independent channel groups.
      bias: Learn a bias.
      dilation: An int or 2-tuple.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      dtype: Parameter dtype.
      axes: Logical axis names of the weight (default ``("out", "in", ...)``).

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> up = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1, key=torsh.random.key(0))
      >>> up(jnp.ones((1, 8, 7, 7))).shape
      (1, 4, 14, 14)
    """

    _N = 2

    @shaped(dims=_DIMS)
    def forward(self, input: _IN2, output_size: Sequence[int] | None = None) -> _OUT2:
        return super().forward(input, output_size)


class ConvTranspose3d(_ConvTransposeNd, init=False, axes=_axes(3, transposed=True)):
    """3D transposed convolution (``torch.nn.ConvTranspose3d``).

    Input ``[N, C_in, D, H, W]`` or ``[C_in, D, H, W]``.

    Arguments as :class:`ConvTranspose1d`, with ints or 3-tuples. Weight ``[in_channels,
    out_channels / groups, kD, kH, kW]``, logical axes ``("in", "out", "kd", "kh", "kw")``.

    Args:
      in_channels: Input channels.
      out_channels: Output channels.
      kernel_size: An int or 3-tuple.
      stride: An int or 3-tuple.
      padding: An int or 3-tuple cropped from both ends of the full output.
      output_padding: Extra elements at the end of the output.
      groups: Independent channel groups.
      bias: Learn a bias.
      dilation: An int or 3-tuple.
      padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
      key: Construction key (default: the ``torsh.manual_seed`` stream).
      dtype: Parameter dtype.
      axes: Logical axis names of the weight (default ``("out", "in", ...)``).

    Raises:
      ConfigError: For channels not divisible by ``groups``, a bad ``padding``/``padding_mode``, or
        non-positive sizes.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.ConvTranspose3d(2, 2, 2, stride=2, key=torsh.random.key(0))(jnp.ones((2, 3, 3, 3))).shape
      (2, 6, 6, 6)
    """

    _N = 3

    @shaped(dims=_DIMS)
    def forward(self, input: _IN3, output_size: Sequence[int] | None = None) -> _OUT3:
        return super().forward(input, output_size)
