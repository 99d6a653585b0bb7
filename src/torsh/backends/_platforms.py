"""What each torsh platform name means to XLA, and how to install it."""

from __future__ import annotations

import dataclasses

__all__ = ["Platform", "PLATFORMS"]


@dataclasses.dataclass(frozen=True)
class Platform:
    """What one torsh platform name means to XLA, and how to install its plugin.

    Args:
        name: torsh's name (``"cuda"``).
        jax_names: What ``jax.devices()`` accepts / ``Device.platform`` reports.
        plugin_modules: Importable modules that provide the XLA plugin.
        install: The command that installs it.

    Example:
        >>> from torsh.backends._platforms import PLATFORMS
        >>> PLATFORMS["cuda"].install
        'pip install "torsh[cuda]"'
    """

    name: str  # torsh's name ("cuda")
    jax_names: tuple[str, ...]  # what jax.devices() accepts / Device.platform reports
    plugin_modules: tuple[str, ...]  # importable modules that provide the XLA plugin
    install: str  # the command that installs it


PLATFORMS: dict[str, Platform] = {
    "cpu": Platform("cpu", ("cpu",), (), "pip install torsh"),
    "cuda": Platform(
        "cuda",
        ("cuda", "gpu"),
        ("jax_cuda12_plugin", "jax_cuda13_plugin", "jax_plugins.xla_cuda12"),
        'pip install "torsh[cuda]"',
    ),
    "metal": Platform(
        "metal", ("METAL", "metal"), ("jax_metal", "jax_plugins.metal_plugin"), 'pip install "torsh[metal]"'
    ),
}
