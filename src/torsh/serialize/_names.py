"""Names inside a checkpoint directory: item names that cannot escape it, step and temporary names."""

from __future__ import annotations

import os
import re
import secrets
import socket

from ._errors import UnsafePathError

__all__ = [
    "check_item_name",
    "item_file",
    "step_dir_name",
    "parse_step_dir",
    "temp_name",
    "owner_is_dead",
    "inside",
    "pid_is_dead",
    "HOST",
    "TMP_PREFIX",
    "TRASH_PREFIX",
]

TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
_ITEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
_STEP = re.compile(r"step_(\d{8,20})")
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10))}
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
HOST = _HOST


def check_item_name(name: object) -> str:
    """An item name is a plain file stem: letters, digits, ``_ . -``; no separators, no ``..``."""
    if not isinstance(name, str):
        raise UnsafePathError(f"checkpoint item names must be str, got {type(name).__name__} {name!r}")
    if (
        not _ITEM.fullmatch(name)
        or ".." in name
        or name.endswith(".")
        or name.split(".")[0].upper() in _WINDOWS_RESERVED
    ):
        raise UnsafePathError(
            f"checkpoint item name {name!r} is not allowed: use 1-128 characters from letters, digits, "
            "'_', '.', '-', not starting with '.' or '-', without '..' (names become file names inside "
            "the checkpoint directory and must not escape it)"
        )
    return name


def item_file(name: str) -> str:
    return f"{check_item_name(name)}.safetensors"


def step_dir_name(step: int) -> str:
    return f"step_{step:08d}"


def parse_step_dir(name: str) -> int | None:
    """The step of a committed step directory name, or None (only the canonical spelling counts)."""
    m = _STEP.fullmatch(name)
    if m is None:
        return None
    step = int(m.group(1))
    return step if step_dir_name(step) == name else None


def temp_name(prefix: str, label: str) -> str:
    return f"{prefix}{label}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def owner_is_dead(name: str) -> bool:
    """For a temporary name made by :func:`temp_name`: was it made on this host by a process that is gone?"""
    parts = name.rsplit("-", 3)
    if len(parts) != 4 or parts[1] != _HOST or not parts[2].isdigit():
        return False
    return pid_is_dead(int(parts[2]))


def pid_is_dead(pid: int) -> bool:
    """True when no process ``pid`` exists on this host (a zombie still counts as alive)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


def inside(directory: str, path: str) -> bool:
    """True when ``path`` resolves (following symlinks) to a location inside ``directory``."""
    root = os.path.realpath(directory)
    return os.path.commonpath([root, os.path.realpath(path)]) == root
