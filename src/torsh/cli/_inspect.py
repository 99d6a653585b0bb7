"""``torsh inspect PATH [--json]``: a safetensors file, a checkpoint step or a checkpoint directory.

PATH may be a ``.safetensors`` file, a checkpoint step directory (``step_00000100``), a checkpoint
directory (its latest step), ``DIR/latest`` or a run directory with a ``checkpoints/`` folder.
Nothing is loaded but headers; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
from typing import Any

from .._format import byte_size
from ..errors import CheckpointError


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("path", help="a .safetensors file, a checkpoint (step) directory, or a run directory")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _step_dirs(directory: pathlib.Path) -> list[pathlib.Path]:
    found = [
        p for p in directory.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()
    ]
    return sorted(found, key=lambda p: int(p.name[5:]))


def _resolve(path: pathlib.Path) -> tuple[str, pathlib.Path]:
    """``("file", path)`` or ``("step", step_dir)``."""
    if path.name == "latest" and not path.exists():
        steps = _step_dirs(path.parent) if path.parent.is_dir() else []
        if not steps:
            raise CheckpointError(f"{path.parent}: no checkpoints (no step_* directories)")
        return "step", steps[-1]
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.is_file():
        return "file", path
    if (path / "manifest.json").is_file():
        return "step", path
    for directory in (path, path / "checkpoints"):
        if directory.is_dir():
            steps = _step_dirs(directory)
            if steps:
                return "step", steps[-1]
    raise CheckpointError(
        f"{path}: not a safetensors file, a checkpoint step (no manifest.json) or a checkpoint directory "
        "(no step_*)"
    )


def _describe_file(path: pathlib.Path) -> dict[str, Any]:
    from ..serialize import inspect, read_metadata

    entries = inspect(path)
    rows: list[dict[str, Any]] = []
    for key, e in entries.items():
        rows.append(
            {
                "key": key,
                "kind": e.kind,
                "dtype": e.dtype,
                "shape": list(e.shape) if e.shape is not None else None,
                "bytes": e.nbytes,
                **(
                    {"value": e.value if not isinstance(e.value, complex) else repr(e.value)}
                    if e.kind == "scalar"
                    else {}
                ),
            }
        )
    arrays = [r for r in rows if r["kind"] != "scalar"]
    return {
        "file": str(path),
        "entries": rows,
        "metadata": read_metadata(path),
        "total": {
            "entries": len(rows),
            "arrays": len(arrays),
            "elements": sum(math.prod(r["shape"]) for r in arrays),
            "bytes": sum(r["bytes"] for r in arrays),
            "file_bytes": path.stat().st_size,
        },
    }


def _describe_step(step_dir: pathlib.Path) -> dict[str, Any]:
    manifest_path = step_dir / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        items = manifest["items"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{manifest_path}: not a readable checkpoint manifest ({e})") from None
    files = {}
    for name, entry in sorted(items.items()):
        file = step_dir / str(entry.get("file", f"{name}.safetensors"))
        files[name] = _describe_file(file)
    return {
        "checkpoint": str(step_dir),
        "step": manifest.get("step"),
        "metrics": manifest.get("metrics", {}),
        "metadata": manifest.get("metadata", {}),
        "items": files,
        "total": {
            "arrays": sum(f["total"]["arrays"] for f in files.values()),
            "elements": sum(f["total"]["elements"] for f in files.values()),
            "bytes": sum(f["total"]["bytes"] for f in files.values()),
        },
    }


def _table(doc: dict[str, Any], prefix: str = "") -> list[str]:
    rows = [("key", "dtype", "shape", "bytes")]
    for r in doc["entries"]:
        if r["kind"] == "scalar":
            rows.append((prefix + r["key"], type(r["value"]).__name__, "=", repr(r["value"])[:40]))
        else:
            rows.append(
                (
                    prefix + r["key"],
                    r["dtype"],
                    "[" + ", ".join(map(str, r["shape"])) + "]",
                    f"{r['bytes']:,}",
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]:>{widths[3]}}"
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return lines


def _print_file(doc: dict[str, Any], title: str) -> None:
    t = doc["total"]
    print(title)
    for line in _table(doc):
        print("  " + line)
    meta = {k: v for k, v in doc["metadata"].items()}
    if meta:
        print("  metadata: " + ", ".join(f"{k}={v}" for k, v in sorted(meta.items())))
    print(
        f"  total: {t['arrays']} arrays, {t['elements']:,} elements, {byte_size(t['bytes'])} "
        f"({t['entries'] - t['arrays']} other entries; file {byte_size(t['file_bytes'])})"
    )


def _is_export_artifact(path: pathlib.Path) -> bool:
    from ..export import FORMAT
    from ..serialize import read_metadata

    return read_metadata(path).get("format") == FORMAT


def _print_artifact(doc: dict[str, Any], title: str) -> None:
    print(f"{title}: torsh exported program (format {doc['format_version']})")
    print("  inputs:  " + "; ".join(doc["inputs"]))
    print("  outputs: " + "; ".join(doc["outputs"]))
    print(f"  platforms: {', '.join(doc['platforms'])}")
    print(
        f"  weights: {doc['weights']} arrays, {byte_size(doc['weight_bytes'])}; "
        f"program {byte_size(doc['program_bytes'])}"
    )
    print(f"  torsh {doc['torsh_version']}, jax {doc['jax_version']}; sha256 {doc['sha256']}")


def run_from_args(ns: argparse.Namespace) -> int:
    kind, path = _resolve(pathlib.Path(ns.path))
    if kind == "file" and _is_export_artifact(path):  # a torsh.export artifact: show its signature
        from ..export import describe

        artifact = describe(path)
        if ns.json:
            print(json.dumps(artifact, indent=1))
        else:
            _print_artifact(artifact, str(path))
        return 0
    doc = _describe_file(path) if kind == "file" else _describe_step(path)
    if ns.json:
        print(json.dumps(doc, indent=1))
        return 0
    if kind == "file":
        _print_file(doc, str(path))
        return 0
    print(f"checkpoint {doc['checkpoint']} (step {doc['step']})")
    if doc["metrics"]:
        print("metrics: " + ", ".join(f"{k}={v:.6g}" for k, v in sorted(doc["metrics"].items())))
    for name, file_doc in doc["items"].items():
        _print_file(file_doc, f"item {name!r}: {file_doc['file']}")
    t = doc["total"]
    print(f"total: {t['arrays']} arrays, {t['elements']:,} elements, {byte_size(t['bytes'])}")
    return 0
