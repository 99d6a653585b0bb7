"""``torsh convert weights.pth out.safetensors [--key NAME]``: PyTorch weights to safetensors.

The input is read with ``torch.load(weights_only=True)`` — PyTorch's restricted unpickler, which
refuses files that would run code — and torch must be installed; torsh itself never unpickles. The
output is a standard safetensors file with the state dict's keys (``0.weight``, ``fc.bias``), ready
for ``torsh.load(path, like=model)`` or ``safetensors.torch.load_file``.
"""

from __future__ import annotations

import argparse
import pathlib
from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError, ConfigError

_WRAPPERS = ("state_dict", "model_state_dict", "model", "module", "net")


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("input", help="a PyTorch file (torch.save of a state dict): .pth, .pt, .bin")
    parser.add_argument("output", help="the .safetensors file to write")
    parser.add_argument(
        "--key",
        default=None,
        help="convert only this entry of a checkpoint dict (e.g. state_dict); default: auto",
    )
    parser.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    return parser


def _is_tensor(x: Any) -> bool:
    import torch

    return isinstance(x, torch.Tensor)


def _flatten(tree: Any, prefix: str, out: dict[str, Any], source: str) -> None:
    if _is_tensor(tree) or isinstance(tree, (bool, int, float, str)):
        if prefix in out:
            raise CheckpointError(f"{source}: two entries are both named {prefix!r} once flattened")
        out[prefix] = tree
        return
    if isinstance(tree, Mapping):
        for k, v in tree.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out, source)
        return
    if isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            _flatten(v, f"{prefix}.{i}" if prefix else str(i), out, source)
        return
    if tree is None:
        return
    raise CheckpointError(
        f"{source}: entry {prefix or '<root>'!r} is a {type(tree).__name__}, not a tensor or number"
    )


def _select(obj: Any, key: str | None, source: str) -> tuple[Any, str | None]:
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            have = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
            raise CheckpointError(f"{source}: no entry {key!r} (the file holds {have})")
        return obj[key], key
    if isinstance(obj, Mapping) and not any(_is_tensor(v) for v in obj.values()):
        for name in _WRAPPERS:  # a training checkpoint {"epoch": .., "state_dict": {...}}
            if isinstance(obj.get(name), Mapping):
                return obj[name], name
    return obj, None


def _to_numpy(t: Any) -> Any:
    import torch

    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        import ml_dtypes

        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
    return t.numpy().copy()


def convert(
    input_path: str, output_path: str, key: str | None = None, *, force: bool = False
) -> dict[str, Any]:
    """Convert a PyTorch state-dict file to safetensors; returns ``{"entries", "bytes", "key"}``."""
    try:
        import torch
    except ImportError:
        raise ConfigError("torsh convert reads PyTorch files with torch.load: pip install torch") from None
    src, dst = pathlib.Path(input_path), pathlib.Path(output_path)
    if not src.is_file():
        raise CheckpointError(f"{src}: no such file")
    if dst.suffix != ".safetensors":
        raise ConfigError(f"torsh convert: the output must end in .safetensors, got {dst}")
    if dst.exists() and not force:
        raise CheckpointError(f"{dst} exists; pass --force to overwrite it")
    try:
        obj = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise CheckpointError(
            f"{src}: torch.load(weights_only=True) cannot read it: {' '.join(str(e).split())[:300]}"
        ) from None
    obj, used = _select(obj, key, str(src))
    flat: dict[str, Any] = {}
    _flatten(obj, "", flat, str(src))
    tensors = {k: _to_numpy(v) for k, v in flat.items() if _is_tensor(v)}
    if not tensors:
        raise CheckpointError(f"{src}: no tensors found (top-level entries: {sorted(map(str, flat))[:10]})")
    from ..serialize import save

    others = {k: v for k, v in flat.items() if not _is_tensor(v)}
    save(
        dst, {**tensors, **others}, metadata={"converted_from": src.name, **({"entry": used} if used else {})}
    )
    return {
        "entries": len(tensors),
        "bytes": sum(a.nbytes for a in tensors.values()),
        "key": used,
        "scalars": len(others),
    }


def run_from_args(ns: argparse.Namespace) -> int:
    result = convert(ns.input, ns.output, ns.key, force=ns.force)
    where = f" (entry {result['key']!r})" if result["key"] else ""
    print(f"{ns.output}: {result['entries']} tensors, {result['bytes']:,} bytes from {ns.input}{where}")
    return 0
