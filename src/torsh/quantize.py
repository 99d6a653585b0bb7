"""Weight-only int8 quantisation for deployment.

:func:`int8_weights` stores the weights of ``Linear``, ``Conv*``, ``ConvTranspose*``, ``Embedding``
and the input projections of ``MultiheadAttention`` as int8 with one float32 scale per output channel
(symmetric: ``w ≈ q * scale``, ``q = round(w / scale)`` in [-127, 127], ``scale = max|w| / 127`` over
the other axes). The result is
a module whose call dequantises the weights inside the graph and runs the original model, so every
layer works unchanged; saved or exported, it is ~4x smaller. State-dict keys are kept: ``0.weight``
holds the int8 values and ``0.weight.scale`` the scales.

Example:
    >>> import jax.numpy as jnp, torsh
    >>> from torsh import nn
    >>> model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    >>> small = torsh.quantize.int8_weights(model)
    >>> sorted(small.state_dict())[:3]
    ['0.bias', '0.weight', '0.weight.scale']
    >>> small.state_dict()["0.weight"].dtype
    dtype('int8')
    >>> x = jnp.ones((2, 16))
    >>> bool(jnp.allclose(small(x), model(x), atol=0.02))
    True
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .errors import ConfigError
from .nn.module import Module
from .tree import Struct, field, map_with_path

__all__ = ["QuantizedArray", "Int8Model", "int8_weights", "dequantize", "quantize_array"]

# Quantised weights of each layer type and their output-channel axis (ConvTranspose: [in, out/groups, ...]).
_W = {"weight": 0}
_QUANTISED = {
    "Linear": _W,
    "Bilinear": _W,
    "Conv1d": _W,
    "Conv2d": _W,
    "Conv3d": _W,
    "ConvTranspose1d": {"weight": 1},
    "ConvTranspose2d": {"weight": 1},
    "ConvTranspose3d": {"weight": 1},
    "Embedding": _W,
    "EmbeddingBag": _W,
    "MultiheadAttention": {"in_proj_weight": 0, "q_proj_weight": 0, "k_proj_weight": 0, "v_proj_weight": 0},
}


class QuantizedArray(Struct):
    """int8 ``values`` and float32 per-channel ``scale`` (broadcastable to ``values``).

    Its dotted path is the original weight's (``values`` is an inline field), the scale sits at
    ``<path>.scale``. Build one with :func:`quantize_array`.

    Args:
      values: the int8 array, in [-127, 127].
      scale: float32 scales, broadcastable to ``values`` (one per output channel).
      dtype: the original weight's dtype name, restored by :meth:`dequantize`.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> q = torsh.quantize.QuantizedArray(jnp.array([[127, -64]], jnp.int8), jnp.array([[0.5]]))
      >>> q.dequantize().tolist()
      [[63.5, -32.0]]
    """

    values: jax.Array = field(inline=True)
    scale: jax.Array
    dtype: str = field(static=True, default="float32")

    def dequantize(self) -> jax.Array:
        """The float approximation ``values * scale`` in the original dtype.

        Returns:
          An array of ``values``' shape and dtype ``self.dtype``.

        Example:
          >>> import jax.numpy as jnp, torsh
          >>> q = torsh.quantize.quantize_array(jnp.array([[1.0, -0.5]], jnp.bfloat16))
          >>> q.dequantize().dtype
          dtype(bfloat16)
        """
        return (self.values.astype(jnp.float32) * self.scale).astype(self.dtype)


def quantize_array(w: jax.Array, axis: int = 0) -> QuantizedArray:
    """Symmetric per-channel int8 quantisation of ``w`` along ``axis`` (the output channels).

    Args:
      w: a floating-point array.
      axis: the output-channel axis: one scale per index along it (negative values count from the end).

    Returns:
      A :class:`QuantizedArray` with ``scale = max|w| / 127`` over the other axes (1 for all-zero
      channels) and ``values = round(w / scale)``.

    Raises:
      ConfigError: ``w`` is not floating point, or ``axis`` is out of range.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> q = torsh.quantize.quantize_array(jnp.array([[0.5, -1.0], [2.0, 0.25]]))
      >>> q.values.tolist(), q.scale.ravel().tolist()
      ([[64, -127], [127, 16]], [0.007874015718698502, 0.015748031437397003])
    """
    w = jnp.asarray(w)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise ConfigError(f"quantize_array: expected a floating-point array, got {w.dtype}")
    if not -w.ndim <= axis < w.ndim:
        raise ConfigError(f"quantize_array: axis {axis} out of range for a rank-{w.ndim} array")
    axis %= w.ndim
    others = tuple(i for i in range(w.ndim) if i != axis)
    amax = jnp.max(jnp.abs(w.astype(jnp.float32)), axis=others, keepdims=True)
    # Channels whose scale would be subnormal (flushed to zero on CPU) quantise to 0 with scale 1.
    scale = jnp.where(amax > jnp.finfo(jnp.float32).tiny * 127, amax / 127.0, 1.0)
    values = jnp.clip(jnp.round(w.astype(jnp.float32) / scale), -127, 127).astype(jnp.int8)
    return QuantizedArray(values, scale.astype(jnp.float32), str(w.dtype))


def dequantize(tree: Any) -> Any:
    """Replace every :class:`QuantizedArray` in ``tree`` by its float approximation.

    Args:
      tree: any pytree (a module, a dict of weights...).

    Returns:
      The same tree with each :class:`QuantizedArray` replaced by ``values * scale``.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> tree = {"w": torsh.quantize.quantize_array(jnp.array([[2.0, -1.0]])), "b": jnp.zeros(1)}
      >>> torsh.quantize.dequantize(tree)["w"].tolist()  # one channel, step 2/127: -1 is rounded
      [[2.0, -1.0078740119934082]]
    """
    return jax.tree_util.tree_map(
        lambda x: x.dequantize() if isinstance(x, QuantizedArray) else x,
        tree,
        is_leaf=lambda x: isinstance(x, QuantizedArray),
    )


class Int8Model(Module):
    """A model whose large weights are int8 (see :func:`int8_weights`); calling it dequantises and runs it.

    Args:
      module: the wrapped model, with :class:`QuantizedArray` leaves in place of its large weights.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> small = torsh.quantize.int8_weights(nn.Linear(4, 2))
      >>> type(small).__name__, small(jnp.ones((3, 4))).shape
      ('Int8Model', (3, 2))
    """

    module: Any = field(inline=True)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return dequantize(self.module)(*args, **kwargs)

    def _signature_source(self) -> Any:
        # torsh.export names the inputs after the wrapped model's forward parameters.
        return type(self.module).forward


def int8_weights(model: Module, *, min_size: int = 0) -> Int8Model:
    """Quantise Linear/Conv/ConvTranspose/Embedding/attention-projection weights to int8 per output channel.

    Args:
      model: a torsh module (any nesting; other layers and all biases and norms stay as they are).
      min_size: leave weights with fewer elements than this in floating point.

    Returns:
      An :class:`Int8Model` with the same state-dict keys (plus ``<weight>.scale``), usable with
      ``torsh.save``/``torsh.load(like=...)``, ``torsh.jit`` and :func:`torsh.export.export`.

    Raises:
      ConfigError: ``model`` is not a torsh module, or has no layer to quantise.

    Example:
      >>> import jax.numpy as jnp, torsh
      >>> from torsh import nn
      >>> model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
      >>> small = torsh.quantize.int8_weights(model, min_size=32)
      >>> small.state_dict()["0.weight"].dtype, small.state_dict()["2.weight"].dtype  # 2x8 < 32: kept
      (dtype('int8'), dtype('float32'))
    """
    if not isinstance(model, Module):
        raise ConfigError(f"int8_weights: expected a torsh nn.Module, got {type(model).__name__}")
    targets: dict[str, int] = {}
    for path, sub in model.named_modules():
        for name, axis in _QUANTISED.get(type(sub).__name__, {}).items():
            weight = getattr(sub, name, None)
            if weight is not None and jnp.issubdtype(weight.dtype, jnp.floating) and weight.size >= min_size:
                targets[f"{path}.{name}" if path else name] = axis
    if not targets:
        raise ConfigError(
            f"int8_weights: {type(model).__name__} has no Linear/Conv/ConvTranspose/Embedding "
            "weight to quantise"
        )
    quantized = map_with_path(lambda p, x: quantize_array(x, targets[p]) if p in targets else x, model)
    return Int8Model(quantized)
