"""Device discovery and selection over XLA platforms."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from typing import Any

import jax

from ..errors import BackendUnavailableError, ConfigError, DeviceError
from ._platforms import PLATFORMS

__all__ = [
    "BackendStatus",
    "available",
    "devices",
    "device",
    "default_device",
    "set_default_device",
    "to_device",
    "synchronize",
    "memory_stats",
    "device_count",
    "set_cpu_device_count",
]

_DEVICE_RE = re.compile(r"^\s*([A-Za-z]+)\s*(?::\s*(\d+))?\s*$")


@dataclasses.dataclass(frozen=True)
class BackendStatus:
    """Whether a platform can be used here, and if not, why and how to fix it (see :func:`available`).

    Args:
        name: The platform (``"cpu"``, ``"cuda"``, ``"metal"``).
        available: Whether it has usable devices.
        device_count: How many devices it has (0 when unavailable).
        reason: The device kind when available; else why not, with the install command.

    Example:
        >>> import torsh
        >>> status = torsh.backends.available()["cpu"]
        >>> status.name, status.available, status.device_count >= 1
        ('cpu', True, True)
    """

    name: str
    available: bool
    device_count: int
    reason: str

    def __str__(self) -> str:
        state = f"available ({self.device_count} device(s))" if self.available else "unavailable"
        return f"{self.name}: {state}; {self.reason}"


def _plugin_installed(name: str) -> bool:
    for module in PLATFORMS[name].plugin_modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return True
        except (ImportError, ValueError):
            continue
    return False


def _jax_devices(name: str) -> list[Any]:
    """Devices of a platform, or raise BackendUnavailableError with the reason and install command."""
    platform = PLATFORMS[name]
    errors = []
    for jax_name in platform.jax_names:
        try:
            found = jax.devices(jax_name)
        except RuntimeError as e:
            errors.append(str(e).splitlines()[0])
            continue
        if found:
            return found
    if name == "cpu":  # pragma: no cover - XLA always has a CPU backend
        raise DeviceError(f"the CPU backend is unavailable: {errors}")
    installed = _plugin_installed(name)
    why = (
        f"its XLA plugin is installed but no {name} device was found ({'; '.join(errors) or 'none reported'})"
        if installed
        else f"its XLA plugin is not installed; install it with: {platform.install}"
    )
    raise BackendUnavailableError(f"{name} is not available: {why}")


def available() -> dict[str, BackendStatus]:
    """The status of each platform (cpu, cuda, metal), with the reason when one is unavailable.

    Returns:
        A dict from platform name to :class:`BackendStatus`.

    Raises:
        DeviceError: Never for an unusable platform: its ``DeviceError`` (or ``BackendUnavailableError``)
            is caught and its message becomes the status' ``reason``.

    Example:
        >>> import torsh
        >>> torsh.backends.available()["cpu"].available
        True
        >>> sorted(torsh.backends.available())
        ['cpu', 'cuda', 'metal']
    """
    out = {}
    for name in PLATFORMS:
        try:
            found = _jax_devices(name)
            out[name] = BackendStatus(name, True, len(found), f"{found[0].device_kind}")
        except DeviceError as e:
            out[name] = BackendStatus(name, False, 0, str(e))
    return out


def _check_platform(name: str) -> str:
    key = name.lower()
    if key == "gpu":
        key = "cuda"
    if key not in PLATFORMS:
        raise DeviceError(f"unknown platform {name!r}; expected one of {sorted(PLATFORMS)}")
    return key


def devices(platform: str | None = None) -> list[Any]:
    """The devices of ``platform`` ("cpu", "cuda", "metal"), or of the default platform.

    Args:
        platform: A platform name (``"gpu"`` means ``"cuda"``); JAX's default platform if None.

    Returns:
        A list of ``jax.Device``.

    Raises:
        DeviceError: If ``platform`` is not a known platform name.
        BackendUnavailableError: If the platform's plugin is missing or it has no devices.

    Example:
        >>> import torsh
        >>> torsh.devices("cpu")[0].platform
        'cpu'
    """
    if platform is None:
        return jax.devices()
    return _jax_devices(_check_platform(platform))


def device_count(platform: str | None = None) -> int:
    """Number of devices of ``platform`` (or of the default platform), like ``torch.cuda.device_count``.

    Args:
        platform: A platform name; JAX's default platform if None.

    Returns:
        The number of devices.

    Raises:
        DeviceError: If ``platform`` is not a known platform name.
        BackendUnavailableError: If the platform's plugin is missing or it has no devices.

    Example:
        >>> import torsh
        >>> torsh.device_count("cpu") >= 1
        True
    """
    return len(devices(platform))


def device(spec: Any = None) -> Any:
    """A ``jax.Device`` from a name like ``"cuda:0"``, an index, or a device (``torch.device``'s counterpart).

    Names are ``"cpu"``, ``"cpu:3"``, ``"cuda:0"``, ``"gpu"``, ``"metal:0"``; an int indexes the default
    platform's devices; a ``jax.Device`` is returned unchanged; ``None`` gives :func:`default_device`.

    Args:
        spec: The device name, index or ``jax.Device``.

    Returns:
        The ``jax.Device``.

    Raises:
        DeviceError: For a malformed name, an unknown platform or an index past the device count.
        BackendUnavailableError: For a platform whose plugin is missing (naming the install command).

    Example:
        >>> import torsh
        >>> torsh.device("cpu:0")
        CpuDevice(id=0)
        >>> try:
        ...     torsh.device("cpu:99")
        ... except torsh.errors.DeviceError as e:
        ...     print(str(e).split(";")[0])
        device 'cpu:99': index 99 out of range
    """
    if spec is None:
        return default_device()
    if isinstance(spec, jax.Device):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        found = jax.devices()
        index = spec
        platform = found[0].platform
    elif isinstance(spec, str):
        match = _DEVICE_RE.match(spec)
        if not match:
            raise DeviceError(
                f"malformed device {spec!r}; expected 'platform' or 'platform:index', e.g. 'cuda:0'"
            )
        platform = _check_platform(match.group(1))
        index = int(match.group(2) or 0)
        found = _jax_devices(platform)
    else:
        raise DeviceError(f"expected a device name, index or jax.Device, got {type(spec).__name__} {spec!r}")
    if not 0 <= index < len(found):
        raise DeviceError(
            f"device {spec!r}: index {index} out of range; {platform} has {len(found)} device(s)"
        )
    return found[index]


_default: Any = None


def _from_environment() -> Any:
    spec = os.environ.get("TORSH_DEVICE")
    if not spec:
        return None
    try:
        return device(spec)
    except DeviceError as e:  # keep the class: a missing plugin stays a BackendUnavailableError
        raise type(e)(f"TORSH_DEVICE={spec!r} is not usable: {e}") from None


def apply_environment() -> None:
    """Apply ``TORSH_DEVICE`` when torsh is imported, so that every array (``jnp`` included) lands there.

    A bare platform (``cpu``, ``cuda``, ``cuda:0``) is set by name and does not start JAX's backends,
    so ``set_cpu_device_count`` and ``jax.distributed`` still work afterwards; an index above 0 has
    to find the device and therefore starts them. A malformed value, or a platform whose plugin is
    not installed, fails here, at import, with the install command.

    Raises:
        DeviceError: If ``TORSH_DEVICE`` is malformed, names an unknown platform or a missing index.
        BackendUnavailableError: If it names a platform whose plugin is not installed.

    Example:
        >>> import os, unittest.mock, torsh
        >>> with unittest.mock.patch.dict(os.environ, {"TORSH_DEVICE": "cuda-1"}):
        ...     torsh.backends.apply_environment()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        torsh.errors.DeviceError: TORSH_DEVICE='cuda-1': expected 'platform' or 'platform:index', ...
    """
    global _default
    spec = os.environ.get("TORSH_DEVICE")
    if not spec:
        return
    match = _DEVICE_RE.match(spec)
    if not match:
        raise DeviceError(f"TORSH_DEVICE={spec!r}: expected 'platform' or 'platform:index', e.g. 'cuda:0'")
    platform = _check_platform(match.group(1))
    if int(match.group(2) or 0) > 0:
        set_default_device(_from_environment())
        return
    if platform != "cpu" and not _plugin_installed(platform):
        raise BackendUnavailableError(
            f"TORSH_DEVICE={spec!r}: {platform} is not available: its XLA plugin is not installed; "
            f"install it with: {PLATFORMS[platform].install}"
        )
    jax.config.update("jax_default_device", PLATFORMS[platform].jax_names[0])


def default_device() -> Any:
    """The device new arrays go to.

    It is the one set by :func:`set_default_device`, else ``TORSH_DEVICE``, else JAX's default (the
    first device of the best available platform).

    Returns:
        A ``jax.Device``.

    Raises:
        DeviceError: If ``TORSH_DEVICE`` is set to an unusable device.

    Example:
        >>> import torsh
        >>> torsh.zeros(2).devices() == {torsh.default_device()}
        True
    """
    global _default
    if _default is None:
        env = _from_environment()
        if env is not None:
            set_default_device(env)
    if _default is not None:
        return _default
    return jax.devices()[0]


def set_default_device(spec: Any) -> None:
    """Make ``spec`` the default device for new arrays and computations (``jax_default_device``).

    Like ``torch.set_default_device``.

    Args:
        spec: Anything :func:`device` accepts; ``None`` restores JAX's default.

    Raises:
        DeviceError: If ``spec`` is not a usable device.
        BackendUnavailableError: If its platform's plugin is missing.

    Example:
        >>> import torsh
        >>> torsh.set_default_device("cpu:0")
        >>> torsh.default_device().platform
        'cpu'
        >>> torsh.set_default_device(None)
    """
    global _default
    if spec is None:
        _default = None
        jax.config.update("jax_default_device", None)
        return
    dev = device(spec)
    jax.config.update("jax_default_device", dev)
    _default = dev


def to_device(tree: Any, spec: Any = None) -> Any:
    """Copy every array leaf of ``tree`` (a module, a dict, ...) to a device or sharding (``model.to``).

    Args:
        tree: Any pytree of arrays.
        spec: Anything :func:`device` accepts, or a ``jax.sharding.Sharding``.

    Returns:
        The same structure with the arrays on the target.

    Raises:
        DeviceError: If ``spec`` is not a usable device.
        BackendUnavailableError: If its platform's plugin is missing.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> moved = torsh.to_device({"w": jnp.ones(2)}, "cpu:0")
        >>> moved["w"].devices() == {torsh.device("cpu:0")}
        True
    """
    target = spec if isinstance(spec, jax.sharding.Sharding) else device(spec)
    return jax.device_put(tree, target)


def synchronize(tree: Any = None) -> Any:
    """Wait until the arrays in ``tree`` are computed, or all pending work when ``tree`` is None.

    JAX dispatches work asynchronously; time a step with ``torsh.synchronize`` as with
    ``torch.cuda.synchronize``.

    Args:
        tree: A pytree of arrays to wait for, or None for everything.

    Returns:
        ``tree``, so it can wrap a result: ``loss = torsh.synchronize(step(...))``.

    Example:
        >>> import torsh, jax.numpy as jnp
        >>> y = torsh.synchronize(jnp.ones(3) * 2)
        >>> y.tolist()
        [2.0, 2.0, 2.0]
    """
    if tree is None:
        jax.effects_barrier()
        for d in jax.live_arrays():
            d.block_until_ready()
        return None
    return jax.block_until_ready(tree)


def memory_stats(spec: Any = None) -> dict[str, int] | None:
    """The allocator statistics XLA reports for a device (``torch.cuda.memory_stats``).

    Args:
        spec: Anything :func:`device` accepts; the default device if None.

    Returns:
        A dict (``bytes_in_use``, ``peak_bytes_in_use``, ``bytes_limit``, ...) or ``None`` where the
        platform reports none (the CPU backend usually does not).

    Raises:
        DeviceError: If ``spec`` is not a usable device.

    Example:
        >>> import torsh
        >>> stats = torsh.memory_stats("cpu")
        >>> stats is None or "bytes_in_use" in stats
        True
    """
    stats = device(spec).memory_stats()
    return dict(stats) if stats else None


def _backends_initialized() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # pragma: no cover
        return True


def set_cpu_device_count(n: int) -> None:
    """Simulate ``n`` CPU devices (for multi-device code on one machine).

    Must run before JAX initialises its backends (before the first array or device query). Later,
    it raises unless the count already equals ``n``. Equivalent to
    ``XLA_FLAGS=--xla_force_host_platform_device_count=n`` / ``JAX_NUM_CPU_DEVICES=n``.

    Args:
        n: The number of CPU devices (``>= 1``).

    Raises:
        ConfigError: If ``n`` is not a positive int.
        DeviceError: If JAX has already started with a different number of CPU devices.

    Example:
        >>> import torsh
        >>> n = torsh.device_count("cpu")  # JAX has started: only the current count is accepted
        >>> torsh.set_cpu_device_count(n)
        >>> try:
        ...     torsh.set_cpu_device_count(n + 1)
        ... except torsh.errors.DeviceError:
        ...     print("call it first thing in the script")
        call it first thing in the script
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"set_cpu_device_count: expected a positive int, got {n!r}")
    if _backends_initialized():
        current = len(jax.devices("cpu"))
        if current == n:
            return
        raise DeviceError(
            f"set_cpu_device_count({n}): JAX has already started with {current} CPU device(s). Call it "
            "before creating any array, or set XLA_FLAGS=--xla_force_host_platform_device_count="
            f"{n} (or JAX_NUM_CPU_DEVICES={n}) in the environment before starting Python."
        )
    jax.config.update("jax_num_cpu_devices", n)
