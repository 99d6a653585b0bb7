"""Building models without per-shape compiles: structure first, then host-side initial values.

Constructing a layer with ``torsh.nn`` draws its initial values with ``jax.random`` eagerly, and XLA
compiles one random-number program per distinct parameter shape: about 1.4 s each on a loaded 2-core
CPU, so a ResNet-50 (~20 distinct shapes) took ~30 s to construct. The models here instead

1. build the module tree under :func:`jax.eval_shape` (tracing only: shapes, no values, no compile);
2. fill every parameter and buffer on the host with numpy, from a generator seeded by the torsh
   construction key (``key=`` or the ``torsh.manual_seed`` stream), with each model's torchvision
   initialisation rule (``kaiming_normal_(mode="fan_out")`` convolutions, ...), then copy to device.

Construction is deterministic per key and takes well under a second for a ResNet-50.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ... import tree as _tree
from ...nn import BatchNorm2d, Conv2d, GroupNorm, LayerNorm, Linear, Module, MultiheadAttention
from ...nn._utils import float_dtype as _float_dtype
from ...nn._utils import resolve_key

__all__ = ["HostInit", "build", "Rule"]


class HostInit:
    """Initial values drawn with numpy from a generator seeded by a torsh/JAX key.

    Each method mirrors a ``torch.nn.init`` function and returns a float64 numpy array; filling a model
    this way compiles nothing (see the module docstring).

    Args:
        key: A PRNG key or int seed (None: the ``torsh.manual_seed`` stream).

    Raises:
        ConfigError: If ``key`` is not None, an int or a PRNG key.
        TraceError: If ``key`` is None inside a traced function.

    Example:
        >>> import torsh
        >>> from torsh.vision.models._init import HostInit
        >>> init = HostInit(torsh.random.key(0))
        >>> w = init.kaiming_normal_fan_out((16, 8, 3, 3))
        >>> w.shape, w.dtype, round(float(w.std()) / (2 / (16 * 9)) ** 0.5, 1)
        ((16, 8, 3, 3), dtype('float64'), 1.0)
    """

    def __init__(self, key: Any) -> None:
        key = resolve_key(key)
        if jnp.issubdtype(getattr(key, "dtype", np.float32), jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        seed = np.asarray(key, dtype=np.uint64).ravel()
        self.rng = np.random.default_rng(seed)

    @staticmethod
    def fans(shape: tuple[int, ...]) -> tuple[int, int]:
        """``(fan_in, fan_out)`` of a weight shape, as PyTorch computes them.

        Args:
            shape: A weight shape ``[out, in, *kernel]`` (1-D: ``fan_in`` is its length).

        Returns:
            ``(fan_in, fan_out)``.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> HostInit.fans((16, 8, 3, 3))
            (72, 144)
        """
        receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
        fan_in = shape[1] * receptive if len(shape) > 1 else shape[0]
        return fan_in, shape[0] * receptive

    def uniform(self, shape: tuple[int, ...], a: float, b: float) -> np.ndarray:
        """U(a, b) samples.

        Args:
            shape: The array's shape.
            a: The lower bound.
            b: The upper bound.

        Returns:
            A float64 array.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> x = HostInit(0).uniform((100,), -1.0, 1.0)
            >>> bool((abs(x) <= 1).all())
            True
        """
        return self.rng.uniform(a, b, shape)

    def normal(self, shape: tuple[int, ...], mean: float = 0.0, std: float = 1.0) -> np.ndarray:
        """N(mean, std²) samples.

        Args:
            shape: The array's shape.
            mean: The mean.
            std: The standard deviation.

        Returns:
            A float64 array.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> HostInit(0).normal((2, 3), std=0.02).shape
            (2, 3)
        """
        return self.rng.normal(mean, std, shape)

    def trunc_normal(
        self, shape: tuple[int, ...], std: float = 1.0, a: float = -2.0, b: float = 2.0
    ) -> np.ndarray:
        """N(0, std²) truncated to the absolute bounds [a, b] (``torch.nn.init.trunc_normal_``).

        Args:
            shape: The array's shape.
            std: The standard deviation before truncation.
            a: The lower bound.
            b: The upper bound.

        Returns:
            A float64 array with values in ``[a, b]``.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> x = HostInit(0).trunc_normal((1000,), std=1.0, a=-0.5, b=0.5)
            >>> bool((abs(x) <= 0.5).all())
            True
        """
        n = math.prod(shape)
        out = np.empty(0)
        while out.size < n:  # rejection sampling: acceptance is >95% for the bounds torchvision uses
            draw = self.rng.normal(0.0, std, max(16, int(n * 1.1) - out.size))
            out = np.concatenate([out, draw[(draw >= a) & (draw <= b)]])
        return out[:n].reshape(shape)

    def kaiming_normal_fan_out(self, shape: tuple[int, ...], gain: float = math.sqrt(2.0)) -> np.ndarray:
        """``kaiming_normal_(w, mode="fan_out", nonlinearity="relu")`` (gain sqrt(2)).

        Args:
            shape: The array's shape.
            gain: The gain.

        Returns:
            A float64 array with standard deviation ``gain / sqrt(fan_out)``.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> HostInit(0).kaiming_normal_fan_out((8, 4, 3, 3)).shape
            (8, 4, 3, 3)
        """
        return self.normal(shape, 0.0, gain / math.sqrt(self.fans(shape)[1]))

    def torch_default(self, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        """PyTorch's Linear/Conv default, ``kaiming_uniform_(a=sqrt(5))``: U(±1/sqrt(fan_in)).

        Args:
            shape: The array's shape.
            fan_in: The layer's fan-in (the bound is 0 when it is 0).

        Returns:
            A float64 array.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> w = HostInit(0).torch_default((10, 16), fan_in=16)
            >>> bool((abs(w) <= 0.25).all())
            True
        """
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return self.uniform(shape, -bound, bound)

    def xavier_uniform(self, shape: tuple[int, ...], gain: float = 1.0) -> np.ndarray:
        """``xavier_uniform_``: U(±gain * sqrt(6 / (fan_in + fan_out))).

        Args:
            shape: The array's shape.
            gain: The gain.

        Returns:
            A float64 array.

        Example:
            >>> from torsh.vision.models._init import HostInit
            >>> w = HostInit(0).xavier_uniform((16, 8))
            >>> bool((abs(w) <= (6 / 24) ** 0.5).all())
            True
        """
        fan_in, fan_out = self.fans(shape)
        bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return self.uniform(shape, -bound, bound)


#: A model's initialisation rule: ``rule(path, owner, field, shape, init)`` returns the initial
#: value of one array (``owner`` is the module holding it, ``None`` for arrays of the model itself),
#: or ``None`` to use PyTorch's default for the owner's layer type.
Rule = Callable[[str, Any, str, tuple[int, ...], HostInit], Any]


def default_value(owner: Any, field: str, shape: tuple[int, ...], init: HostInit) -> np.ndarray:
    """PyTorch's default initialisation of ``owner.field`` (the layer constructors' own rules)."""
    if isinstance(owner, (Conv2d, Linear)):
        fan_in = HostInit.fans(owner.weight.shape)[0]
        return init.torch_default(shape, fan_in)
    if isinstance(owner, (BatchNorm2d, LayerNorm, GroupNorm)):
        if field in ("weight", "running_var"):
            return np.ones(shape)
        return np.zeros(shape)  # bias, running_mean, num_batches_tracked
    if isinstance(owner, MultiheadAttention):
        if field.endswith("proj_weight"):
            return init.xavier_uniform(shape)
        if field in ("bias_k", "bias_v"):
            fan_in, fan_out = HostInit.fans(shape)
            return init.normal(shape, 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
        return np.zeros(shape)  # in_proj_bias
    raise NotImplementedError(  # a model added a layer type without an initialisation rule
        f"no initialisation rule for {type(owner).__name__}.{field}"
    )


def _owners(parts: Any) -> dict[str, tuple[Any, str]]:
    """``path -> (owning module, field)`` for every abstract array in ``parts`` (a dict of modules/arrays)."""
    out: dict[str, tuple[Any, str]] = {}
    for name, value in parts.items():
        if isinstance(value, jax.ShapeDtypeStruct):
            out[name] = (None, name)
            continue
        for path, m in value.named_modules(prefix=name):
            for f in dataclasses.fields(m):
                v = m.__dict__.get(f.name)
                if isinstance(v, jax.ShapeDtypeStruct):
                    out[f"{path}.{f.name}" if path else f.name] = (m, f.name)
    return out


def build(
    make: Callable[[jax.Array], dict[str, Any]], key: Any, rule: Rule | None = None, dtype: Any = None
) -> dict[str, Any]:
    """Run ``make(key) -> {name: module or array}`` for its structure only, then fill its arrays.

    ``make`` receives a traced key (its layers' own initialisers are traced, never run); every array
    is then set from ``rule`` (or PyTorch's default for its layer type) with a numpy generator seeded
    by ``key``, in a fixed (path) order.

    Args:
        make: Builds the parts of a model from a key.
        key: The construction key (None: the ``torsh.manual_seed`` stream).
        rule: The model's initialisation rule (see :data:`Rule`), or None for PyTorch's defaults.
        dtype: The dtype of floating arrays (default: the default float dtype); integer buffers keep
            theirs.

    Returns:
        ``make``'s dict with every array filled (on the default device).

    Raises:
        ConfigError: If ``dtype`` is not a floating dtype or ``key`` is not a key.

    Example:
        >>> import torsh
        >>> from torsh import nn
        >>> from torsh.vision.models._init import build
        >>> parts = build(lambda k: {"fc": nn.Linear(4, 2, key=k)}, torsh.random.key(0))
        >>> fc = parts["fc"]
        >>> fc.weight.shape, bool((abs(fc.weight) <= 0.5).all())  # PyTorch's default: U(±1/sqrt(4))
        ((2, 4), True)
    """
    init = HostInit(key)
    float_dtype = _float_dtype(dtype)
    # The layers' own initialisers are only traced; the "unsafe_rbg" key traces to one primitive
    # instead of threefry's many, which makes this step ~3x faster.
    abstract = jax.eval_shape(lambda: make(jax.random.key(0, impl="unsafe_rbg")))
    owners = _owners(abstract)

    def fill(path: str, leaf: Any) -> Any:
        if not isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        owner, field = owners[path]
        shape = tuple(leaf.shape)
        value = rule(path, owner, field, shape, init) if rule is not None else None
        if value is None:
            value = default_value(owner, field, shape, init)
        dt = float_dtype if jnp.issubdtype(leaf.dtype, jnp.floating) else leaf.dtype
        # Cast on the host: jnp.asarray(..., dtype) would compile a conversion per shape.
        return jax.device_put(np.asarray(value).reshape(shape).astype(dt))

    return _tree.map_with_path(fill, abstract)


def conv_bn_rule(linear: str = "default") -> Rule:
    """torchvision's CNN rule: conv ``kaiming_normal_(fan_out, relu)`` with zero bias, norms 1/0, and
    Linear layers ``"default"`` (PyTorch's), ``"normal001"`` (N(0, 0.01²), zero bias: MobileNets) or
    ``"uniform_out"`` (U(±1/sqrt(out_features)), zero bias: EfficientNet)."""

    def rule(path: str, owner: Any, field: str, shape: tuple[int, ...], init: HostInit) -> Any:
        if isinstance(owner, Conv2d):
            return init.kaiming_normal_fan_out(shape) if field == "weight" else np.zeros(shape)
        if isinstance(owner, Linear) and linear != "default":
            if field == "bias":
                return np.zeros(shape)
            if linear == "normal001":
                return init.normal(shape, 0.0, 0.01)
            bound = 1.0 / math.sqrt(shape[0])
            return init.uniform(shape, -bound, bound)
        return None

    return rule


def assign(module: Module, parts: dict[str, Any]) -> None:
    """Set the fields of ``module`` (inside its ``__init__``) from a built ``parts`` dict."""
    for name, value in parts.items():
        setattr(module, name, value)
