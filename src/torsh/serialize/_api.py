"""``save``/``load`` of any pytree as a safetensors file, and their in-memory twins."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from ._load import LoadOptions, build_tree
from ._reader import FileReader
from ._write import prepare, write_file

__all__ = ["save", "load", "to_bytes", "from_bytes", "read_metadata", "inspect", "EntryInfo"]

PathLike = str | os.PathLike


def save(path: PathLike, tree: Any, metadata: Mapping[str, str] | None = None) -> None:
    """Save a pytree (module, optimizer state, dict, ...) as a safetensors file.

    Keys are the leaves' dotted paths (``0.weight``, ``layers.2.bias``), the names PyTorch's
    ``state_dict`` uses. Arrays of every torsh dtype are stored as tensors (bfloat16 included;
    complex128 as float64 pairs); typed PRNG keys as their ``uint32`` data; Python
    ``bool``/``int``/``float``/``complex``/``str`` leaves in the header metadata, typed so they round-trip.
    ``metadata`` adds your own text entries (``str -> str``; names starting ``torsh.`` are reserved).

    The file is written under a temporary name and renamed into place, so ``path`` is never left
    half-written; arrays are streamed one at a time (no second host copy of the model). For
    durability across power loss use :class:`CheckpointManager`, which also fsyncs.
    The result is a standard safetensors file: ``safetensors.numpy.load_file`` and
    ``safetensors.torch.load_file`` read it.

    Args:
      path: the file to write.
      tree: any pytree of arrays, PRNG keys, Python scalars and strings (``None`` leaves are empty).
      metadata: extra ``str -> str`` header entries.

    Raises:
      ConfigError: ``path`` is not a str or path, or malformed ``metadata``.
      UnsupportedDTypeError: a leaf torsh cannot store (an object array, ``int4``).
      TraceError: called inside ``jit`` (the leaves are abstract).
      CheckpointError: the file cannot be written.

    Example:
      >>> import os, tempfile, torsh, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
      >>> torsh.serialize.save(path, {"layer": {"weight": jnp.ones((2, 3))}, "step": 7})
      >>> from safetensors.numpy import load_file
      >>> load_file(path)["layer.weight"].shape
      (2, 3)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"save: path must be a str or os.PathLike, got {type(path).__name__} {path!r:.60}")
    path = os.fspath(path)
    prepared = prepare(tree, metadata)
    try:
        write_file(path, prepared, atomic=True, fsync=False)
    except CheckpointError:
        raise
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write: {e.strerror or e}") from e


def load(
    path: PathLike,
    like: Any = None,
    *,
    strict: bool = True,
    cast: bool = False,
    dtype: Any = None,
    device: Any = None,
    sharding: Any = None,
    flat: bool = False,
) -> Any:
    """Load a safetensors file (written by torsh, PyTorch, ``safetensors.*`` or anyone else).

    Without ``like``, returns nested dicts split on dots (``{"0": {"weight": ...}}``), or the keys as
    they are with ``flat=True``. With ``like`` (a module, optimizer state or any pytree), entries are
    matched to ``like``'s leaves by dotted path and the result has ``like``'s exact structure and
    types; every missing, unexpected, mis-shaped or mis-typed entry is reported together in one
    :class:`StateDictMismatchError`. ``like`` may hold ``jax.ShapeDtypeStruct`` leaves (e.g. from
    ``jax.eval_shape``) so that no model has to be allocated first.

    Args:
      path: the file.
      like: the tree to match, or ``None``.
      strict: with ``like``, reject missing and unexpected entries. ``strict=False`` keeps ``like``'s
        value for entries the file lacks and ignores extra ones (wrong shapes still fail).
      cast: with ``like``, convert arrays and scalars to ``like``'s dtypes/types instead of failing.
      dtype: convert every floating array to this dtype (e.g. ``"bfloat16"``).
      device: a device (``"cpu"``, ``"cuda:0"``, a ``jax.Device``) for every array.
      sharding: a ``jax.sharding.Sharding`` for every array, or a tree / ``{path: sharding}`` dict for
        some; by default arrays follow the sharding of ``like``'s leaves (so a checkpoint written from
        one device layout restores onto another), else the default device.
      flat: without ``like``, return ``{dotted_key: value}`` instead of nested dicts.

    Each tensor is read (``pread``, never memory-mapped) into a buffer the result owns, then copied
    once to its device (on CPU, XLA adopts the buffer: no copy). Invalid files raise
    :class:`CorruptFileError` before any data is read, and so does a file that another program
    truncates or modifies in place during the load; all errors derive from
    :class:`torsh.errors.CheckpointError`.

    Returns:
      The tree: ``like``'s structure and types, or nested (``flat=False``) / flat dicts.

    Raises:
      CheckpointNotFoundError: no such file.
      CorruptFileError: not a valid safetensors file, or modified during the load.
      StateDictMismatchError: with ``like``, the entries do not match (every problem listed).
      ConfigError: conflicting or malformed options.

    Example:
      >>> import os, tempfile, torsh, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
      >>> params = {"w": jnp.ones((2, 2), jnp.bfloat16), "epoch": 3}
      >>> torsh.serialize.save(path, params)
      >>> back = torsh.serialize.load(path, like=params)
      >>> back["w"].dtype, back["epoch"]
      (dtype(bfloat16), 3)
      >>> torsh.serialize.load(path)["w"].shape
      (2, 2)
    """
    opts = LoadOptions.make(strict, cast, dtype, device, sharding, flat)
    with FileReader(path) as reader:
        return build_tree(reader, like, opts)


def to_bytes(tree: Any, metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors encoding of ``tree`` as bytes (what :func:`save` would write).

    Args:
      tree: any pytree :func:`save` accepts.
      metadata: extra ``str -> str`` header entries.

    Returns:
      The bytes of a safetensors file.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> data = torsh.serialize.to_bytes({"b": jnp.zeros(3)})
      >>> torsh.serialize.from_bytes(data)["b"].shape
      (3,)
    """
    prepared = prepare(tree, metadata)
    buffer = io.BytesIO()
    prepared.write_to(buffer)
    return buffer.getvalue()


def from_bytes(
    data: bytes | bytearray | memoryview,
    like: Any = None,
    *,
    strict: bool = True,
    cast: bool = False,
    dtype: Any = None,
    device: Any = None,
    sharding: Any = None,
    flat: bool = False,
) -> Any:
    """:func:`load` from bytes in memory (same arguments, same checks).

    Args:
      data: the bytes of a safetensors file.
      like, strict, cast, dtype, device, sharding, flat: as in :func:`load`.

    Returns:
      The tree, as :func:`load` returns it.

    Raises:
      CorruptFileError: not a valid safetensors encoding.
      StateDictMismatchError: with ``like``, the entries do not match.

    Example:
      >>> import torsh, jax.numpy as jnp
      >>> data = torsh.serialize.to_bytes({"w": jnp.arange(3.0)})
      >>> torsh.serialize.from_bytes(data, flat=True)["w"].tolist()
      [0.0, 1.0, 2.0]
    """
    opts = LoadOptions.make(strict, cast, dtype, device, sharding, flat)
    with FileReader(data) as reader:
        return build_tree(reader, like, opts)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The user metadata of a file (what ``save(..., metadata=)`` stored), without loading any array.

    Args:
      path: the file.

    Returns:
      ``{key: value}`` strings (torsh's own entries are left out).

    Raises:
      CheckpointNotFoundError: no such file.
      CorruptFileError: not a valid safetensors file.

    Example:
      >>> import os, tempfile, torsh, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
      >>> torsh.serialize.save(path, {"w": jnp.ones(1)}, metadata={"run": "exp1"})
      >>> torsh.serialize.read_metadata(path)
      {'run': 'exp1'}
    """
    with FileReader(path) as reader:
        return dict(reader.leaves.user)


@dataclass(frozen=True)
class EntryInfo:
    """One entry of a file: ``kind`` is ``"array"``, ``"key"`` (PRNG key) or ``"scalar"``.

    Args:
      kind: ``"array"``, ``"key"`` or ``"scalar"``.
      dtype: the dtype name (``key<impl>`` for keys), ``None`` for scalars.
      shape: the shape, ``None`` for scalars.
      nbytes: the stored size.
      value: a scalar's value.

    Example:
      >>> import torsh
      >>> torsh.serialize.EntryInfo("scalar", None, None, 0, 3)
      EntryInfo(kind='scalar', dtype=None, shape=None, nbytes=0, value=3)
    """

    kind: str
    dtype: str | None
    shape: tuple[int, ...] | None
    nbytes: int
    value: Any = None


def inspect(path: PathLike) -> dict[str, EntryInfo]:
    """Every entry of a file by key (dtype, shape, size; the value of scalars), without loading arrays.

    Args:
      path: the file.

    Returns:
      ``{dotted key: EntryInfo}``, sorted by key.

    Raises:
      CheckpointNotFoundError: no such file.
      CorruptFileError: not a valid safetensors file.

    Example:
      >>> import os, tempfile, torsh, jax.numpy as jnp
      >>> path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
      >>> torsh.serialize.save(path, {"w": jnp.ones((2, 3)), "lr": 0.1})
      >>> info = torsh.serialize.inspect(path)
      >>> info["w"].dtype, info["w"].shape, info["lr"].value
      ('float32', (2, 3), 0.1)
    """
    with FileReader(path) as reader:
        out = {}
        for key, s in sorted(reader.stored.items()):
            if s.kind == "scalar":
                out[key] = EntryInfo("scalar", None, None, 0, s.value)
            else:
                dtype = f"key<{s.impl}>" if s.kind == "key" else str(np.dtype(s.dtype))
                nbytes = s.entry.nbytes if s.entry is not None else 0
                out[key] = EntryInfo(s.kind, dtype, s.shape, nbytes)
        return out
