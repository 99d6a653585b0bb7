"""Device meshes and the active mesh/rules context.

A mesh names the axes of a grid of devices (``{"data": 4, "model": 2}``). Its axes are JAX's *Auto*
axes by default: shardings are annotations on inputs (and optional constraints on activations) and
XLA's partitioner propagates them through the unchanged model code. JAX 0.10's ``make_mesh`` default,
*Explicit* axes, makes sharding part of every array's type: an FSDP matmul whose batch dimension and
weight dimension live on the same mesh axis is then a type error until the model code passes an
``out_sharding=`` to that matmul, which is exactly the model-code change torsh promises users never
have to make. ``axis_types="explicit"`` is available for code written for that mode.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import jax
from jax.sharding import AbstractMesh, AxisType, Mesh

from ._errors import MeshError

__all__ = ["mesh", "use_mesh", "current_mesh", "current_rules"]

_RULES: contextvars.ContextVar[Any] = contextvars.ContextVar("torsh_distributed_rules", default=None)

_AXIS_TYPES = {"auto": AxisType.Auto, "explicit": AxisType.Explicit}


def _resolve_sizes(shape: Mapping[str, int], n_devices: int) -> dict[str, int]:
    """Check the axis sizes and fill in one ``-1`` with the remaining device count."""
    sizes: dict[str, int] = {}
    unknown = []
    for name, size in shape.items():
        if not isinstance(name, str) or not name:
            raise MeshError(f"mesh: axis names must be non-empty strings, got {name!r} in {dict(shape)}")
        if not isinstance(size, int) or isinstance(size, bool) or (size < 1 and size != -1):
            raise MeshError(f"mesh: the size of axis {name!r} must be a positive int or -1, got {size!r}")
        if size == -1:
            unknown.append(name)
        sizes[name] = size
    if len(unknown) > 1:
        raise MeshError(f"mesh: at most one axis may have size -1 (the remaining devices), got {unknown}")
    known = math.prod(s for s in sizes.values() if s != -1)
    if unknown:
        if n_devices % known:
            raise MeshError(
                f"mesh: {dict(shape)}: the fixed axes use {known} devices, which does not divide the "
                f"{n_devices} available devices"
            )
        sizes[unknown[0]] = n_devices // known
    total = math.prod(sizes.values())
    if total != n_devices:
        hint = ""
        if jax.default_backend() == "cpu" and total > n_devices:
            hint = (
                f"; to simulate {total} CPU devices set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{total} (or call torsh.backends.set_cpu_device_count({total})) before JAX starts"
            )
        raise MeshError(f"mesh: {sizes} needs {total} devices but {n_devices} are given{hint}")
    return sizes


def mesh(
    shape: Mapping[str, int],
    devices: Sequence[Any] | None = None,
    *,
    axis_types: str = "auto",
) -> Mesh:
    """A device mesh with named axes, e.g. 4-way data parallel × 2-way model parallel.

    Args:
        shape: Axis name → size, in mesh order (outer to inner; put the axis whose collectives are
            heaviest, usually ``"model"``, last so it maps to nearby devices). One size may be ``-1``: the
            remaining devices.
        devices: The devices to use (default: all of ``jax.devices()``, every process's devices in a
            multi-process job). Their count must equal the product of the sizes.
        axis_types: ``"auto"`` (default: shardings propagate through unchanged model code) or
            ``"explicit"`` (JAX's sharding-in-types mode); see the module docstring for the reason.

    Returns:
        A :class:`jax.sharding.Mesh`, usable with :func:`use_mesh`, :func:`shard` and ``jax`` directly.

    Raises:
        MeshError: If ``shape`` is empty or malformed, more than one size is ``-1``, the sizes do not
            multiply to the device count (the message says how to simulate CPU devices), or
            ``axis_types`` is unknown.

    Example:
        >>> import jax, torsh
        >>> m = torsh.distributed.mesh({"data": -1})
        >>> m.shape["data"] == len(jax.devices())
        True
    """
    if not isinstance(shape, Mapping) or not shape:
        raise MeshError(f"mesh: expected a non-empty dict of axis name -> size, got {shape!r}")
    if axis_types not in _AXIS_TYPES:
        raise MeshError(f"mesh: axis_types must be one of {sorted(_AXIS_TYPES)}, got {axis_types!r}")
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise MeshError("mesh: got an empty device list")
    sizes = _resolve_sizes(shape, len(devs))
    types = (_AXIS_TYPES[axis_types],) * len(sizes)
    try:
        return jax.make_mesh(tuple(sizes.values()), tuple(sizes), axis_types=types, devices=devs)
    except (ValueError, AssertionError) as e:  # e.g. a topology that cannot be split this way
        raise MeshError(f"mesh: cannot arrange {len(devs)} devices as {sizes}: {e}") from None


@contextlib.contextmanager
def use_mesh(m: Mesh, rules: Any = None) -> Iterator[Mesh]:
    """Make ``m`` (and optionally a rules table or plan) the active mesh inside a ``with`` block.

    Inside, :func:`shard`, :func:`shard_batch`, :func:`with_sharding_constraint`, :func:`spec` and
    :func:`shard_map` use them when no mesh/rules are passed, and ``jax.jit`` sees the mesh
    (it is ``jax.set_mesh``). Rules are read when a function is *traced*: a jitted function traced under
    one rules table keeps its constraints if called later under another (call ``.clear_cache()`` or
    jit again).

    Args:
        m: The mesh (from :func:`mesh`).
        rules: A rules table (logical name → mesh axes) or a :class:`Plan`, or None.

    Returns:
        A context manager yielding ``m``.

    Raises:
        MeshError: If ``m`` is not a ``jax.sharding.Mesh``.

    Example:
        >>> import torsh
        >>> from torsh import distributed as dist
        >>> with dist.use_mesh(dist.mesh({"data": -1}), {"batch": "data"}):
        ...     dist.spec(("batch", None))
        P('data', None)
    """
    if not isinstance(m, Mesh):
        raise MeshError(
            f"use_mesh: expected a jax.sharding.Mesh (from torsh.distributed.mesh), got {type(m).__name__}"
        )
    token = _RULES.set(rules)
    try:
        with jax.set_mesh(m):
            yield m
    finally:
        _RULES.reset(token)


def current_mesh() -> Mesh | AbstractMesh | None:
    """The mesh made active by :func:`use_mesh` or ``jax.set_mesh``, or ``None``.

    Inside a traced (jitted) function this is the abstract mesh (axis names and sizes, no devices).

    Returns:
        The active ``Mesh`` (or ``AbstractMesh`` while tracing), or None.

    Example:
        >>> from torsh import distributed as dist
        >>> dist.current_mesh() is None
        True
        >>> with dist.use_mesh(dist.mesh({"data": -1})):
        ...     dist.current_mesh().axis_names
        ('data',)
    """
    m: Mesh | AbstractMesh | None
    try:
        m = jax.sharding.get_mesh()
    except ValueError:  # while tracing only the abstract mesh is available
        m = jax.sharding.get_abstract_mesh()
    if m is None or getattr(m, "empty", False) or not getattr(m, "axis_names", ()):
        return None
    return m


def current_rules() -> Any:
    """The rules table or plan made active by :func:`use_mesh`, or ``None``.

    Returns:
        What was passed as ``rules=`` to the innermost :func:`use_mesh`, or None.

    Example:
        >>> from torsh import distributed as dist
        >>> with dist.use_mesh(dist.mesh({"data": -1}), {"batch": "data"}):
        ...     dist.current_rules()
        {'batch': 'data'}
        >>> dist.current_rules() is None
        True
    """
    return _RULES.get()


def resolve_mesh(m: Mesh | None, what: str, *, allow_abstract: bool = False) -> Any:
    """``m`` or the active mesh; a clear error when there is neither."""
    kinds = (Mesh, AbstractMesh) if allow_abstract else (Mesh,)
    if m is not None:
        if not isinstance(m, kinds):
            raise MeshError(f"{what}: expected a jax.sharding.Mesh, got {type(m).__name__}")
        return m
    active = current_mesh()
    if not isinstance(active, kinds):
        raise MeshError(
            f"{what}: no mesh given and none active; pass mesh=torsh.distributed.mesh({{...}}) or wrap the "
            "call in `with torsh.distributed.use_mesh(mesh):`"
        )
    return active
