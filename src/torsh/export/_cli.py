"""``torsh export MODULE:FACTORY --weights W --input x:batch,3,32,32:float32 -o model.torshx``.

The factory is imported and called with no arguments to build the model, the weights are loaded into
it (``torsh.load(W, like=model)``), it is put in eval mode and exported. The output's suffix picks the
format: ``.torshx`` (StableHLO artifact), ``.onnx`` (jax2onnx, checked in ONNX Runtime) or ``.vmfb``
(IREE, fixed sizes only).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

from ..errors import ConfigError

__all__ = ["add_arguments", "run_from_args"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "factory", metavar="MODULE:FACTORY", help="e.g. my_pkg.models:make_cnn (called with no arguments)"
    )
    parser.add_argument(
        "--weights", help="a safetensors file of the model's weights (torsh.save / converted .pth)"
    )
    parser.add_argument(
        "--input",
        dest="inputs",
        action="append",
        required=True,
        metavar="NAME:DIMS:DTYPE",
        help="one per input, e.g. x:batch,3,32,32:float32 (named dimensions are symbolic)",
    )
    parser.add_argument("-o", "--output", required=True, help="model.torshx | model.onnx | model.vmfb")
    parser.add_argument(
        "--platform",
        dest="platforms",
        action="append",
        help="XLA platform to lower for (repeatable; .torshx only)",
    )
    parser.add_argument(
        "--int8", action="store_true", help="quantise Linear/Conv/Embedding weights to int8 first"
    )


def _load_factory(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"expected MODULE:FACTORY such as my_pkg.models:make, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"cannot import {module_name!r} ({e}); run from the folder that contains it"
        ) from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    return factory()


def run_from_args(ns: argparse.Namespace) -> int:
    import numpy as np

    import torsh

    from ._api import export
    from ._signature import parse_input_spec

    specs = [parse_input_spec(text) for text in ns.inputs]
    model = _load_factory(ns.factory)
    if ns.weights:
        model = torsh.load(ns.weights, like=model)
    if hasattr(model, "eval"):
        model = model.eval()
    if ns.int8:
        model = torsh.quantize.int8_weights(model)
    suffix = os.path.splitext(ns.output)[1]
    names = [s.name for s in specs]
    if suffix == ".torshx":
        export(model, *specs, input_names=names, platforms=ns.platforms).save(ns.output)
    elif suffix in (".onnx", ".vmfb"):
        symbolic = {s.name: {i: d for i, d in enumerate(s.shape) if isinstance(d, str)} for s in specs}
        if suffix == ".vmfb" and any(symbolic.values()):
            raise ConfigError(
                "IREE modules have fixed sizes: replace the named dimensions in "
                f"{[str(s) for s in specs]} by numbers"
            )
        examples = [np.zeros([2 if isinstance(d, str) else d for d in s.shape], s.dtype) for s in specs]
        if suffix == ".onnx":
            torsh.export.to_onnx(model, *examples, input_names=names, dynamic=symbolic, path=ns.output)
        else:
            torsh.export.to_iree(model, *examples, path=ns.output)
    else:
        raise ConfigError(f"unknown output format {suffix!r}: use .torshx, .onnx or .vmfb")
    print(f"wrote {ns.output} ({os.path.getsize(ns.output):,} bytes)")
    return 0
