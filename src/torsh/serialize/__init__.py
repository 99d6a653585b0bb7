"""Saving and loading pytrees as safetensors files, and crash-safe checkpoints.

safetensors only: no pickle anywhere, so loading an untrusted file never runs code. Keys are the
dotted paths PyTorch's ``state_dict`` uses, so weights move between PyTorch and torsh unchanged.

Example:
    >>> import os, tempfile, torsh, jax.numpy as jnp
    >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
    >>> model = {"0": {"weight": jnp.ones((4, 2)), "bias": jnp.zeros(4)}}
    >>> torsh.serialize.save(path, model)
    >>> restored = torsh.serialize.load(path, like=model)
    >>> torsh.tree.allclose(restored, model)
    True
"""

from ._api import EntryInfo, from_bytes, inspect, load, read_metadata, save, to_bytes
from ._checkpoint import CHECKPOINT_FORMAT_VERSION, CheckpointManager
from ._errors import (
    BackgroundSaveError,
    CheckpointNotFoundError,
    CorruptFileError,
    FormatVersionError,
    StateDictMismatchError,
    UnsafePathError,
    UnsupportedDTypeError,
)
from ._leaves import FORMAT_VERSION

__all__ = [
    "save",
    "load",
    "to_bytes",
    "from_bytes",
    "read_metadata",
    "inspect",
    "EntryInfo",
    "CheckpointManager",
    "CHECKPOINT_FORMAT_VERSION",
    "FORMAT_VERSION",
    "CorruptFileError",
    "UnsupportedDTypeError",
    "FormatVersionError",
    "StateDictMismatchError",
    "CheckpointNotFoundError",
    "UnsafePathError",
    "BackgroundSaveError",
]
