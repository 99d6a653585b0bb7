"""``torsh info [--json]``: versions, devices, XLA flags, cache directory, extras, job environment."""

from __future__ import annotations

import argparse
import importlib.metadata as metadata
import json
import os
import platform
import re
import sys
from typing import Any

# Extras as pyproject.toml declares them; used when the installed metadata is older than the code.
_KNOWN_EXTRAS = {
    "cuda": ["jax-cuda12-plugin"],
    "metal": ["jax-metal"],
    "data": ["polars", "pyarrow"],
    "vision": ["pillow"],
    "text": ["tokenizers"],
    "plot": ["matplotlib"],
    "tensorboard": ["tensorboardX"],
    "examples": ["scikit-learn"],
    "dev": ["ruff", "mypy"],
}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _extras() -> dict[str, dict[str, str | None]]:
    """``{extra: {package: installed version or None}}``."""
    declared: dict[str, list[str]] = {}
    try:
        for req in metadata.requires("torsh") or []:
            m = re.match(r"\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?[^;]*;\s*extra\s*==\s*['\"]([^'\"]+)['\"]", req)
            if m and m.group(3) != "test":
                declared.setdefault(m.group(3), []).append(m.group(1))
    except metadata.PackageNotFoundError:
        pass
    for extra, packages in _KNOWN_EXTRAS.items():
        declared.setdefault(extra, packages)
    out = {}
    for extra, packages in declared.items():
        if extra == "cuda":
            packages = ["jax-cuda12-plugin"]  # jax[cuda12] installs this plugin
        out[extra] = {p: _version(p) for p in packages}
    return out


def _devices() -> tuple[list[dict[str, Any]], str, dict[str, str]]:
    import jax

    from ..backends import available, default_device

    rows = []
    for dev in jax.devices():
        row: dict[str, Any] = {"device": f"{dev.platform}:{dev.id}", "kind": getattr(dev, "device_kind", "")}
        try:
            stats = dev.memory_stats()
        except Exception:  # not every backend reports memory
            stats = None
        if stats and "bytes_limit" in stats:
            row["memory_bytes"] = int(stats["bytes_limit"])
            row["memory_in_use_bytes"] = int(stats.get("bytes_in_use", 0))
        rows.append(row)
    statuses = {}
    for name, status in available().items():
        statuses[name] = (
            "available"
            if getattr(status, "available", False)
            else str(getattr(status, "reason", "") or "not installed")
        )
    return rows, str(default_device()), statuses


def collect() -> dict[str, Any]:
    """Everything ``torsh info`` shows, as a dict."""
    import jax

    from .. import __version__, compile_cache
    from ..distributed import environment_summary

    devices, default, platforms = _devices()
    cache = compile_cache.cache_dir()
    return {
        "versions": {
            "torsh": __version__,
            "jax": jax.__version__,
            "jaxlib": _version("jaxlib"),
            "python": platform.python_version(),
            "numpy": _version("numpy"),
            "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        },
        "platforms": platforms,
        "devices": devices,
        "default_device": default,
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "environment_variables": {
            k: v for k, v in sorted(os.environ.items()) if k.startswith(("JAX_", "TORSH_", "XLA_", "TF_CPP_"))
        },
        "compile_cache": {
            "directory": str(cache) if cache else str(compile_cache.default_cache_root() / "xla"),
            "enabled": cache is not None
            or os.environ.get("TORSH_COMPILE_CACHE", "1").strip().lower() not in ("0", "false", "no", "off"),
            "switch": "TORSH_COMPILE_CACHE=0 turns it off; TORSH_CACHE_DIR moves it",
        },
        "extras": _extras(),
        "job": environment_summary(),
    }


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def run_from_args(ns: argparse.Namespace) -> int:
    info = collect()
    if ns.json:
        print(json.dumps(info, indent=1, default=str))
        return 0
    v = info["versions"]
    print(
        f"torsh {v['torsh']}  jax {v['jax']}  jaxlib {v['jaxlib']}  numpy {v['numpy']}  python {v['python']}"
    )
    print(f"os: {v['os']}, {info['cpu_count']} CPUs  ({sys.executable})")
    print("platforms: " + ", ".join(f"{k} ({s})" for k, s in info["platforms"].items()))
    print("devices:")
    for d in info["devices"]:
        mem = f"  memory {_size(d['memory_bytes'])}" if "memory_bytes" in d else ""
        print(f"  {d['device']:<8} {d['kind']}{mem}")
    print(f"default device: {info['default_device']}")
    print(f"XLA_FLAGS: {info['xla_flags'] or '(none)'}")
    for k, val in info["environment_variables"].items():
        if k != "XLA_FLAGS":
            print(f"  {k}={val}")
    cc = info["compile_cache"]
    print(f"compile cache: {cc['directory']} ({'on' if cc['enabled'] else 'off'}; {cc['switch']})")
    print("extras:")
    for extra, packages in info["extras"].items():
        have = all(packages.values())
        detail = ", ".join(f"{p} {ver}" if ver else f"{p} missing" for p, ver in packages.items())
        print(f"  {extra:<12} {'installed' if have else 'not installed':<14} {detail}")
    job = info["job"]
    print(
        f"job: {job.get('environment')} (process {job.get('process_index')}/{job.get('process_count')}, "
        f"{job.get('local_device_count')} local devices, coordinator {job.get('coordinator')})"
    )
    return 0
