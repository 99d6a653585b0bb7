"""Normalisation layers: BatchNorm1d/2d/3d, SyncBatchNorm, InstanceNorm2d, LayerNorm, RMSNorm, GroupNorm.

BatchNorm (and InstanceNorm with ``track_running_stats=True``) update their running statistics in
training mode through :func:`torsh.nn.stateful`::

    out, model = nn.stateful(model)(x)

``axis_name`` on BatchNorm (and ``SyncBatchNorm``, which requires it) synchronises the batch
statistics over a mapped axis of ``shard_map`` / ``pmap`` / ``vmap`` (see ``F.batch_norm``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import jax
import jax.numpy as jnp

from ..errors import ConfigError, ShapeError
from ..tree import Struct, static
from . import functional as F
from ._utils import Axes, check_axes, check_float_input, float_dtype, positive_int, shape_str
from .functional._normalization import (
    batch_stats,
    check_axis_name,
    cross_map_lrn2d,
    normalize_with,
    sync_batch_stats,
    verify_batch_size,
)
from .module import Module, buffer
from .stateful import current_buffers, record_update

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "SyncBatchNorm",
    "InstanceNorm1d",
    "InstanceNorm2d",
    "InstanceNorm3d",
    "LayerNorm",
    "RMSNorm",
    "GroupNorm",
    "LocalResponseNorm",
    "CrossMapLRN2d",
]


def _check_momentum(owner: str, momentum: Any) -> float | None:
    if momentum is None:
        return None
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
        raise ConfigError(f"{owner}: momentum must be a number in [0, 1] or None, got {momentum!r}")
    return float(momentum)


def _check_eps(owner: str, eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ConfigError(f"{owner}: eps must be a non-negative number, got {eps!r}")
    return float(eps)


def _running_update(
    module: _NormBase, mean: jax.Array, var_biased: jax.Array, n: int, count_batches: bool
) -> None:
    """Report PyTorch's running-statistics update (unbiased variance, momentum or cumulative mean)."""
    cur = current_buffers(module)
    rm = cur.get("running_mean", module.running_mean)
    rv = cur.get("running_var", module.running_var)
    nbt = cur.get("num_batches_tracked", module.num_batches_tracked)
    assert rm is not None and rv is not None  # called only for modules tracking running statistics
    updates: dict[str, jax.Array] = {}
    if count_batches:
        assert nbt is not None
        nbt = nbt + 1
        updates["num_batches_tracked"] = nbt
    if n == 0:  # an empty batch has no statistics: PyTorch keeps the running ones (and counts the batch)
        if updates:
            record_update(module, **updates)
        return
    if module.momentum is None:
        if not count_batches:  # InstanceNorm passes momentum 0 when it is None: nothing changes
            return
        assert nbt is not None  # (count_batches)
        factor = 1.0 / nbt.astype(jnp.promote_types(rm.dtype, jnp.float32))  # f64 statistics: f64 factor
    else:
        factor = module.momentum
    unbiased = var_biased * (n / (n - 1)) if n > 1 else var_biased
    updates["running_mean"] = ((1 - factor) * rm + factor * mean).astype(rm.dtype)
    updates["running_var"] = ((1 - factor) * rv + factor * unbiased).astype(rv.dtype)
    record_update(module, **updates)


_NORM_AXES = {
    "weight": ("channels",),
    "bias": ("channels",),
    "running_mean": ("channels",),
    "running_var": ("channels",),
    "num_batches_tracked": (),
}


class _NormBase(Module, axes=_NORM_AXES):
    weight: jax.Array | None
    bias: jax.Array | None
    running_mean: jax.Array | None = buffer()
    running_var: jax.Array | None = buffer()
    num_batches_tracked: jax.Array | None = buffer()
    num_features: int = static()
    eps: float = static()
    momentum: float | None = static()
    affine: bool = static()
    track_running_stats: bool = static()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        name = type(self).__name__
        self.num_features = positive_int("num_features", num_features, name)
        self.eps = _check_eps(name, eps)
        self.momentum = _check_momentum(name, momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        d = float_dtype(dtype)
        self.weight = jnp.ones(num_features, d) if affine else None
        self.bias = jnp.zeros(num_features, d) if affine and bias else None
        if track_running_stats:
            self.running_mean = jnp.zeros(num_features, d)
            self.running_var = jnp.ones(num_features, d)
            self.num_batches_tracked = jnp.zeros((), jnp.int32)
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def _param_like(self) -> jax.Array | None:
        return self.weight if self.weight is not None else self.running_mean

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.num_features}"

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase, init=False):
    axis_name: Any = static(default=None)
    _ranks: ClassVar[tuple[int, ...]] = ()  # class constants, not fields
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        bias: bool = True,
        key: Any = None,
        dtype: Any = None,
        axis_name: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias, dtype=dtype)
        self.axis_name = check_axis_name(axis_name, type(self).__name__)

    def _check_rank(self, x: jax.Array) -> None:
        if x.ndim not in self._ranks:
            ranks = " or ".join(f"{r}D" for r in self._ranks)
            raise ShapeError(
                f"expected {ranks} input {self._layout}, got {x.ndim}D input of shape {shape_str(x.shape)}"
            )

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        check_float_input(x, self._param_like())
        self._check_rank(x)
        if x.shape[1] != self.num_features:
            raise ShapeError(
                f"expected {self.num_features} channels at dim 1 {self._layout}, "
                f"got input of shape {shape_str(x.shape)}"
            )
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        use_batch_stats = self.training or self.running_mean is None
        if not use_batch_stats:
            rm, rv = self.running_mean, self.running_var
            assert rm is not None and rv is not None  # (use_batch_stats is False)
            return normalize_with(x, rm, rv, self.weight, self.bias, self.eps, shape)
        axes = (0, *range(2, x.ndim))
        # As PyTorch's SyncBatchNorm: only training synchronises (eval without running statistics
        # normalises each device's batch by its own statistics).
        if self.axis_name is not None and self.training:
            mean, var, n = sync_batch_stats(x, axes, self.axis_name, type(self).__name__)
            verify_batch_size(x, n)
        else:
            verify_batch_size(x)
            mean, var = batch_stats(x, axes)
            n = math.prod(x.shape[a] for a in axes)
        if self.training and self.track_running_stats:
            _running_update(self, mean, var, n, count_batches=True)
        return normalize_with(x, mean, var, self.weight, self.bias, self.eps, shape)

    def extra_repr(self) -> str:
        sync = "" if self.axis_name is None else f", axis_name={self.axis_name!r}"
        return super().extra_repr() + sync


class BatchNorm1d(_BatchNorm, init=False):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs (``torch.nn.BatchNorm1d``).

    Training mode normalises with batch statistics and (with ``track_running_stats``) updates the
    running mean and unbiased variance: ``running = (1 - momentum) * running + momentum * batch``,
    or a cumulative average when ``momentum=None``. Call it through :func:`torsh.nn.stateful` to get
    the updated module; eval mode uses the running statistics.

    Args:
      num_features: The number of channels ``C``.
      eps: Added to the variance.
      momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
      affine: Learn a per-channel ``weight`` and ``bias``.
      track_running_stats: Keep running statistics (for eval mode).
      bias: Learn the ``bias`` (with ``affine``).
      key: Construction key (unused: the initial values are constants).
      dtype: Parameter dtype.
      axis_name: Mapped axis name (or tuple) of ``shard_map`` / ``pmap`` / ``vmap`` the batch is split
        over: training then uses the statistics of the whole global batch (see :class:`SyncBatchNorm`).

    Raises:
      ConfigError: If ``eps`` is negative, ``momentum`` is not in ``[0, 1]`` or None, or ``axis_name``
        is not a name or tuple of names.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> bn = nn.BatchNorm1d(3)
      >>> y, bn = nn.stateful(bn)(jnp.arange(12.0).reshape(4, 3))
      >>> int(bn.num_batches_tracked), bn.eval()(jnp.zeros((2, 3))).shape
      (1, (2, 3))
    """

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm, init=False):
    """Batch normalisation of ``(N, C, H, W)`` inputs (``torch.nn.BatchNorm2d``); see BatchNorm1d.

    Args:
        num_features: The number of channels ``C``.
        eps: Added to the variance.
        momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
        affine: Learn a per-channel ``weight`` and ``bias``.
        track_running_stats: Keep running statistics (for eval mode).
        bias: Learn the ``bias`` (with ``affine``).
        key: Construction key (unused: the initial values are constants).
        dtype: Parameter dtype.
        axis_name: Mapped axis name (or tuple) the batch is split over, for global statistics in
            training (see :class:`SyncBatchNorm`).

    Raises:
        ConfigError: If ``eps`` is negative, ``momentum`` is not in ``[0, 1]`` or None, or ``axis_name``
            is not a name or tuple of names.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> bn = nn.BatchNorm2d(3)
        >>> out, bn = nn.stateful(bn)(jnp.arange(24.0).reshape(2, 3, 2, 2))  # training: updates the buffers
        >>> [round(v, 4) for v in bn.running_mean.tolist()], int(bn.num_batches_tracked)
        ([0.75, 1.15, 1.55], 1)
    """

    _ranks = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm, init=False):
    """Batch normalisation of ``(N, C, D, H, W)`` inputs (``torch.nn.BatchNorm3d``); see BatchNorm1d.

    Args:
        num_features: The number of channels ``C``.
        eps: Added to the variance.
        momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
        affine: Learn a per-channel ``weight`` and ``bias``.
        track_running_stats: Keep running statistics (for eval mode).
        bias: Learn the ``bias`` (with ``affine``).
        key: Construction key (unused: the initial values are constants).
        dtype: Parameter dtype.
        axis_name: Mapped axis name (or tuple) the batch is split over, for global statistics in
            training (see :class:`SyncBatchNorm`).

    Raises:
        ConfigError: If ``eps`` is negative, ``momentum`` is not in ``[0, 1]`` or None, or ``axis_name``
            is not a name or tuple of names.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> nn.BatchNorm3d(2).eval()(jnp.ones((1, 2, 2, 2, 2))).shape  # eval: running statistics
        (1, 2, 2, 2, 2)
    """

    _ranks = (5,)
    _layout = "(N, C, D, H, W)"


class SyncBatchNorm(_BatchNorm, init=False):
    """Batch normalisation with statistics over a batch split across devices (``torch.nn.SyncBatchNorm``).

    The torsh way of PyTorch's process group is a mapped axis: run the model inside
    ``torsh.distributed.shard_map`` / ``torsh.pmap`` / ``torsh.vmap`` with the batch split along
    ``axis_name``; in training mode the mean and variance are those of the whole global batch
    (``psum`` of per-device sums), the running variance's unbiased correction uses the global count,
    and gradients flow through the collectives as PyTorch's all-reduced backward. Eval mode uses the
    running statistics, without communication. Any input ``(N, C, *)`` is accepted, as PyTorch.
    ``BatchNorm1d/2d/3d(..., axis_name=...)`` do the same for their ranks. (Under plain ``jit`` with a
    batch sharded over a mesh, arrays are global: a BatchNorm without ``axis_name`` already sees the
    whole batch.)

    Args:
      num_features: The number of channels ``C``.
      eps: Added to the variance.
      momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
      affine: Learn a per-channel ``weight`` and ``bias``.
      track_running_stats: Keep running statistics (for eval mode).
      process_group: PyTorch's process group; must be None (torsh synchronises over ``axis_name``).
      bias: Learn the ``bias`` (with ``affine``).
      key: Construction key (unused: the initial values are constants).
      dtype: Parameter dtype.
      axis_name: Required: the mapped axis name (or tuple of names) the batch is split over.

    Raises:
      ConfigError: If ``axis_name`` is missing or not a name, ``process_group`` is given, ``eps`` is
        negative or ``momentum`` is not in ``[0, 1]`` or None.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> from torsh import nn
      >>> bn = nn.SyncBatchNorm(1, axis_name="batch")
      >>> step = torsh.vmap(nn.stateful(bn), axis_name="batch", out_axes=(0, None))
      >>> out, bn = step(jnp.array([[[1.0]], [[3.0]]]))  # 2 devices, one sample each
      >>> out.round(3).ravel().tolist()
      [-1.0, 1.0]
      >>> round(float(bn.running_mean[0]), 3), round(float(bn.running_var[0]), 3)  # unbiased: 2 samples
      (0.2, 1.1)
    """

    _layout = "(N, C, *)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group: Any = None,
        *,
        bias: bool = True,
        key: Any = None,
        dtype: Any = None,
        axis_name: Any = None,
    ) -> None:
        if process_group is not None:
            raise ConfigError(
                f"SyncBatchNorm: process_group={process_group!r} has no meaning in torsh: pass "
                "axis_name=... (the mapped axis of shard_map / pmap / vmap the batch is split over)"
            )
        if axis_name is None:
            raise ConfigError(
                "SyncBatchNorm needs axis_name=...: the name of the mapped axis (shard_map mesh axis, or "
                "pmap / vmap axis_name) the batch is split over; for one device's batch use nn.BatchNorm2d"
            )
        super().__init__(
            num_features,
            eps,
            momentum,
            affine,
            track_running_stats,
            bias=bias,
            dtype=dtype,
            axis_name=axis_name,
        )

    def _check_rank(self, x: jax.Array) -> None:
        if x.ndim < 2:
            raise ShapeError(
                f"expected at least 2D input (N, C, *), got {x.ndim}D input of shape {shape_str(x.shape)}"
            )

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, axis_name: Any) -> Module:
        """Replace every ``BatchNorm*`` in ``module`` (itself included) by a ``SyncBatchNorm``.

        Parameters, running statistics, ``num_batches_tracked``, train/eval mode, frozen fields and
        logical axes are kept; only the synchronisation axis changes.

        Args:
          module: A model (or a single BatchNorm layer).
          axis_name: The mapped axis name (or tuple of names) the batch is split over.

        Returns:
          The converted model (a ``SyncBatchNorm`` if ``module`` itself is a BatchNorm).

        Raises:
          ConfigError: If ``axis_name`` is None or not a name or tuple of names.

        Example:
          >>> from torsh import nn
          >>> model = nn.Sequential(nn.Conv2d(3, 4, 3, key=0), nn.BatchNorm2d(4), nn.ReLU())
          >>> model = nn.SyncBatchNorm.convert_sync_batchnorm(model, "batch")
          >>> type(model[1]).__name__, model[1].axis_name
          ('SyncBatchNorm', 'batch')
        """
        if axis_name is None:
            raise ConfigError(
                "SyncBatchNorm.convert_sync_batchnorm needs axis_name: the mapped axis name the batch "
                "is split over"
            )
        check_axis_name(axis_name, "SyncBatchNorm.convert_sync_batchnorm")

        def convert(m: Module) -> Module:
            if not isinstance(m, _BatchNorm):
                return m
            fields = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}
            # a shell of the right class (constants only), then every field of ``m``
            shell = cls(m.num_features, axis_name=axis_name, affine=False, track_running_stats=False)
            return Struct.replace(shell, **{**fields, "axis_name": axis_name})

        return module.apply(convert)


class _InstanceNorm(_NormBase):
    _spatial = 2  # number of spatial axes, set by each concrete class
    _layout = "(C, H, W) or (N, C, H, W)"

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        *,
        bias: bool = True,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias, dtype=dtype)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        check_float_input(x, self._param_like())
        n = self._spatial
        if x.ndim not in (n + 1, n + 2):
            raise ShapeError(
                f"expected {n + 1}D or {n + 2}D input {self._layout}, got {x.ndim}D input "
                f"of shape {shape_str(x.shape)}"
            )
        unbatched = x.ndim == n + 1
        if unbatched:
            x = x[None]
        if x.shape[1] != self.num_features and (self.affine or self.track_running_stats):
            raise ShapeError(
                f"expected {self.num_features} channels at dim {0 if unbatched else 1}, got input of shape "
                f"{shape_str(x.shape[1:] if unbatched else x.shape)}"
            )
        use_input_stats = self.training or not self.track_running_stats
        if use_input_stats and self.training and self.track_running_stats:
            mean, var = batch_stats(x, tuple(range(2, x.ndim)))
            count = math.prod(x.shape[2:])
            # PyTorch averages the per-instance updates over the batch; the update is linear in the stats.
            _running_update(self, mean.mean(0), var.mean(0), count, count_batches=False)
        y = F.instance_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, use_input_stats, 0.0, self.eps
        )
        return y[0] if unbatched else y


class InstanceNorm1d(_InstanceNorm, init=False):
    """Per-sample, per-channel normalisation of ``(N, C, L)`` or ``(C, L)`` inputs; see InstanceNorm2d.

    Args:
        num_features: The number of channels ``C``.
        eps: Added to the variance.
        momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
        affine: (default False) Learn a per-channel ``weight`` and ``bias``.
        track_running_stats: (default False) Keep running statistics (for eval mode).
        bias: Learn the ``bias`` (with ``affine``).
        key: Construction key (unused: the initial values are constants).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> y = nn.InstanceNorm1d(2)(jnp.arange(8.0).reshape(1, 2, 4))
        >>> [round(v, 4) for v in y[0, 0].tolist()]
        [-1.3416, -0.4472, 0.4472, 1.3416]
    """

    _spatial = 1
    _layout = "(C, L) or (N, C, L)"


class InstanceNorm2d(_InstanceNorm, init=False):
    """Per-sample, per-channel normalisation of ``(N, C, H, W)`` or ``(C, H, W)`` inputs.

    PyTorch's defaults: ``affine=False``, ``track_running_stats=False`` (then batch statistics are
    used in eval mode too); ``affine=True, bias=False`` keeps only the weight, as PyTorch. With
    ``track_running_stats=True``, training mode updates the running statistics (averaged over the
    batch) through :func:`torsh.nn.stateful`.

    Args:
      num_features: The number of channels ``C``.
      eps: Added to the variance.
      momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
      affine: (default False) Learn a per-channel ``weight`` and ``bias``.
      track_running_stats: (default False) Keep running statistics (for eval mode).
      bias: Learn the ``bias`` (with ``affine``).
      key: Construction key (unused: the initial values are constants).
      dtype: Parameter dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> y = nn.InstanceNorm2d(2)(jnp.arange(32.0).reshape(1, 2, 4, 4))
      >>> round(float(y.mean()), 5), round(float(y[0, 0].std()), 3)
      (0.0, 1.0)
      >>> [name for name, _ in nn.InstanceNorm2d(2, affine=True, bias=False).named_parameters()]
      ['weight']
    """

    _spatial = 2
    _layout = "(C, H, W) or (N, C, H, W)"


class InstanceNorm3d(_InstanceNorm, init=False):
    """Per-sample, per-channel normalisation of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` inputs.

    Args:
        num_features: The number of channels ``C``.
        eps: Added to the variance.
        momentum: Weight of the new batch statistic in the running averages (None: cumulative average).
        affine: (default False) Learn a per-channel ``weight`` and ``bias``.
        track_running_stats: (default False) Keep running statistics (for eval mode).
        bias: Learn the ``bias`` (with ``affine``).
        key: Construction key (unused: the initial values are constants).
        dtype: Parameter dtype.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> from torsh import nn
        >>> nn.InstanceNorm3d(2)(jnp.ones((1, 2, 2, 2, 2))).shape
        (1, 2, 2, 2, 2)
    """

    _spatial = 3
    _layout = "(C, D, H, W) or (N, C, D, H, W)"


def _normalized_shape(owner: str, normalized_shape: int | Sequence[int]) -> tuple[int, ...]:
    ns = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    for s in ns:
        positive_int("normalized_shape entries", s, owner)
    return ns


def _norm_axes(owner: str, ns: tuple[int, ...], axes: Axes | None) -> Axes:
    """``axes`` checked against ``normalized_shape`` (even without a weight); default ``(..., "norm")``."""
    if axes is None:
        axes = (None,) * (len(ns) - 1) + ("norm",)
    return check_axes(axes, ns, name=f"{owner}.weight")


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes (``torch.nn.LayerNorm``).

    Logical axes of weight/bias default to ``("norm",)`` on the last axis; ``axes=("embed",)``
    renames them.

    Args:
      normalized_shape: the trailing shape to normalise over (an int or a tuple).
      eps: added to the variance.
      elementwise_affine: learn a ``weight`` (ones) and, with ``bias``, a ``bias`` (zeros).
      bias: learn a bias (with ``elementwise_affine``).
      key: unused (no random initialisation); accepted like every layer's.
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      axes: logical axis names, one per normalised axis (checked even without a weight).

    Raises:
      ConfigError: a bad ``normalized_shape`` or ``eps``, or bad axis names.
      ShapeError: as many axis names as normalised axes are needed.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> [round(v, 3) for v in nn.LayerNorm(4)(jnp.arange(8.0).reshape(2, 4))[0].tolist()]
      [-1.342, -0.447, 0.447, 1.342]
    """

    weight: jax.Array | None
    bias: jax.Array | None
    normalized_shape: tuple[int, ...] = static()
    eps: float = static()
    elementwise_affine: bool = static()

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        ns = _normalized_shape("LayerNorm", normalized_shape)
        self.normalized_shape = ns
        self.eps = _check_eps("LayerNorm", eps)
        self.elementwise_affine = bool(elementwise_affine)
        d = float_dtype(dtype)
        self.weight = jnp.ones(ns, d) if elementwise_affine else None
        self.bias = jnp.zeros(ns, d) if elementwise_affine and bias else None
        ax = _norm_axes("LayerNorm", ns, axes)
        self.with_axes(weight=ax, bias=ax)

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        check_float_input(x, self.weight)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def _describe(self) -> str:
        return f"LayerNorm {list(self.normalized_shape)}"

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """``x / sqrt(mean(x²) + eps) * weight`` over the trailing axes (``torch.nn.RMSNorm``).

    ``eps=None`` uses the machine epsilon of the computation type (float32 for half inputs).

    Args:
      normalized_shape: the trailing shape to normalise over (an int or a tuple).
      eps: added to the mean square; None for the machine epsilon.
      elementwise_affine: learn a ``weight`` (ones).
      key: unused (no random initialisation); accepted like every layer's.
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).
      axes: logical axis names, one per normalised axis.

    Raises:
      ConfigError: a bad ``normalized_shape`` or ``eps``, or bad axis names.
      ShapeError: as many axis names as normalised axes are needed.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> [round(v, 3) for v in nn.RMSNorm(2)(jnp.array([[3.0, 4.0]]))[0].tolist()]
      [0.849, 1.131]
    """

    weight: jax.Array | None
    normalized_shape: tuple[int, ...] = static()
    eps: float | None = static()
    elementwise_affine: bool = static()

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        *,
        key: Any = None,
        dtype: Any = None,
        axes: Axes | None = None,
    ) -> None:
        ns = _normalized_shape("RMSNorm", normalized_shape)
        self.normalized_shape = ns
        self.eps = None if eps is None else _check_eps("RMSNorm", eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = jnp.ones(ns, float_dtype(dtype)) if elementwise_affine else None
        self.with_axes(weight=_norm_axes("RMSNorm", ns, axes))

    def forward(self, x: jax.Array) -> jax.Array:  # PyTorch's RMSNorm names its argument x
        check_float_input(x, self.weight)
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def _describe(self) -> str:
        return f"RMSNorm {list(self.normalized_shape)}"

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module, axes={"weight": ("channels",), "bias": ("channels",)}):
    """Normalise ``(N, C, *)`` over groups of channels (``torch.nn.GroupNorm``).

    Args:
      num_groups: number of groups (divides ``num_channels``).
      num_channels: ``C``.
      eps: added to the variance.
      affine: learn a per-channel ``weight`` (ones) and, with ``bias``, ``bias`` (zeros).
      bias: learn a bias (with ``affine``).
      key: unused (no random initialisation); accepted like every layer's.
      dtype: parameter dtype (default: ``torsh.get_default_dtype()``).

    Raises:
      ConfigError: ``num_channels`` not divisible by ``num_groups``, or bad sizes/eps.
      ShapeError: an input whose channel axis is not ``num_channels``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.GroupNorm(2, 4)(jnp.ones((3, 4, 5))).shape
      (3, 4, 5)
    """

    weight: jax.Array | None
    bias: jax.Array | None
    num_groups: int = static()
    num_channels: int = static()
    eps: float = static()
    affine: bool = static()

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        key: Any = None,
        dtype: Any = None,
    ) -> None:
        positive_int("num_groups", num_groups, "GroupNorm")
        positive_int("num_channels", num_channels, "GroupNorm")
        if num_channels % num_groups:
            raise ConfigError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = _check_eps("GroupNorm", eps)
        self.affine = bool(affine)
        d = float_dtype(dtype)
        self.weight = jnp.ones(num_channels, d) if affine else None
        self.bias = jnp.zeros(num_channels, d) if affine and bias else None

    def forward(self, input: jax.Array) -> jax.Array:
        x = input
        check_float_input(x, self.weight)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"expected input (N, {self.num_channels}, *), got {shape_str(x.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def _describe(self) -> str:
        return f"GroupNorm {self.num_groups}x{self.num_channels // self.num_groups}"

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias is not None}"
        )


class LocalResponseNorm(Module):
    """Local response normalisation across neighbouring channels (``torch.nn.LocalResponseNorm``).

    Args:
      size: number of channels in the window.
      alpha: multiplicative factor.
      beta: exponent.
      k: additive factor.

    Raises:
      ConfigError: ``size < 1``.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> nn.LocalResponseNorm(2)(jnp.ones((1, 4, 3, 3))).shape
      (1, 4, 3, 3)
    """

    size: int = static()
    alpha: float = static()
    beta: float = static()
    k: float = static()

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        self.size = positive_int("size", size, "LocalResponseNorm")
        self.alpha, self.beta, self.k = float(alpha), float(beta), float(k)

    def forward(self, input: jax.Array) -> jax.Array:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class CrossMapLRN2d(Module):
    """PyTorch's legacy cross-channel LRN of ``(N, C, H, W)`` (``torch.nn.CrossMapLRN2d``).

    ``input * (k + alpha / size * S) ** -beta`` where ``S`` sums squares over a window of channels.
    Outputs and gradients are PyTorch's exactly, quirks included: its window is ``size`` channels
    centred on the channel for odd ``size`` and ``size - 1`` for even, and once past the first
    window channel 0 is never dropped from the sum; its gradient is its hand-written backward (not
    the exact derivative when ``C > 1``), so ported models train as in PyTorch. For new models prefer
    :class:`LocalResponseNorm`. With ``size=1`` (where PyTorch's backward fails) the gradient is exact.

    Args:
      size: Number of channels in the window.
      alpha: Multiplicative factor.
      beta: Exponent.
      k: Additive factor.

    Raises:
      ConfigError: ``size`` is not a positive int.
      ShapeError: in ``forward``, an input that is not 4-D.

    Example:
      >>> import jax.numpy as jnp
      >>> from torsh import nn
      >>> y = nn.CrossMapLRN2d(3, alpha=3.0, beta=1.0, k=1.0)(jnp.ones((1, 3, 1, 1)))
      >>> [round(v, 4) for v in y.ravel().tolist()]
      [0.3333, 0.25, 0.25]
    """

    size: int = static()
    alpha: float = static()
    beta: float = static()
    k: float = static()

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1) -> None:
        self.size = positive_int("size", size, "CrossMapLRN2d")
        self.alpha, self.beta = float(alpha), float(beta)
        self.k = k if isinstance(k, int) and not isinstance(k, bool) else float(k)  # repr "k=1" as PyTorch

    def forward(self, input: jax.Array) -> jax.Array:
        return cross_map_lrn2d(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
