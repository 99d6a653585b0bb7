"""CPU / CUDA / Metal device discovery and selection (XLA platforms).

CPU is always available. CUDA and Metal work when their XLA plugin is installed
(``pip install "torsh[cuda]"``, ``pip install "torsh[metal]"``); asking for them otherwise raises
:class:`~torsh.errors.BackendUnavailableError` naming that command. The ``TORSH_DEVICE`` environment
variable (e.g. ``TORSH_DEVICE=cuda:1``) sets the default device.

Example:
    >>> import torsh
    >>> for status in torsh.backends.available().values():
    ...     print(status.name, status.available)  # doctest: +ELLIPSIS
    cpu True
    ...
"""

from ._devices import (
    BackendStatus,
    apply_environment,
    available,
    default_device,
    device,
    device_count,
    devices,
    memory_stats,
    set_cpu_device_count,
    set_default_device,
    synchronize,
    to_device,
)

__all__ = [
    "BackendStatus",
    "apply_environment",
    "available",
    "devices",
    "device",
    "device_count",
    "default_device",
    "set_default_device",
    "to_device",
    "synchronize",
    "memory_stats",
    "set_cpu_device_count",
]
