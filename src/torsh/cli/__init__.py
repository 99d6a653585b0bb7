"""The ``torsh`` command line.

Subcommands are registered in :data:`COMMANDS` (name → module defining ``add_arguments(parser)``
and ``run_from_args(namespace) -> int``); a module is imported only when its subcommand runs.

Exit codes: 0 success, 2 usage errors (argparse), 1 runtime errors, printed as one line
``torsh: error: ...`` (``--debug`` prints the traceback as well).

Example:
    >>> from torsh.cli import build_parser
    >>> ns = build_parser().parse_args(["launch", "-n", "2", "train.py", "--lr", "0.1"])
    >>> ns.command, ns.nprocs, ns.script, ns.args
    ('launch', 2, 'train.py', ['--lr', '0.1'])
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main", "build_parser", "COMMANDS"]

#: subcommand → (module with add_arguments/run_from_args, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": (
        "torsh.cli._info",
        "versions, devices, XLA flags, cache directory, installed extras, job environment",
    ),
    "train": (
        "torsh.cli._train",
        "train a built-in recipe (digits-cnn, ...) or a recipe file into a run directory",
    ),
    "inspect": (
        "torsh.cli._inspect",
        "keys, shapes, dtypes and sizes of a safetensors file or checkpoint; signature of an exported model",
    ),
    "plot": ("torsh.cli._plot", "a PNG comparing the curves of one or more run directories"),
    "bench": ("torsh.cli._bench", "side-by-side benchmark: torsh vs hand-written JAX vs PyTorch eager"),
    "convert": ("torsh.cli._convert", "convert PyTorch weights (.pth/.pt/.bin state dict) to safetensors"),
    "export": (
        "torsh.export._cli",
        "export MODULE:FACTORY (+ weights) to a .torshx program, .onnx or IREE .vmfb",
    ),
    "launch": (
        "torsh.distributed.launch",
        "start N processes of a script on this machine, or this node's share of a multi-node job "
        "(--nnodes/--node-rank/--coordinator)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``torsh`` argument parser with every registered subcommand.

    Returns:
      An :class:`argparse.ArgumentParser`; each subcommand's module adds its own arguments.

    Example:
      >>> from torsh.cli import build_parser
      >>> ns = build_parser().parse_args(["info"])
      >>> ns.command
      'info'
    """
    from .. import __version__

    parser = argparse.ArgumentParser(prog="torsh", description="torsh command line tools.")
    parser.add_argument("--version", action="version", version=f"torsh {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name != "launch":  # launch passes everything after the script to it
            sub_parser.add_argument(
                "--debug",
                action="store_true",
                default=argparse.SUPPRESS,
                help="print the full traceback of an error",
            )
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torsh`` console script; returns the exit status.

    Expected failures (torsh errors, ``OSError``, a missing optional dependency) print one line,
    ``torsh: error: ...``, and return 1 (``--debug`` re-raises them with the traceback).

    Args:
      argv: the arguments after ``torsh`` (default: ``sys.argv[1:]``).

    Returns:
      The exit status: 0 on success, 1 on an error, 2 on a usage error, 130 on Ctrl-C.

    Example:
      >>> from torsh.cli import main
      >>> main(["inspect", "no-such-file.torshx"])
      1
    """
    from ..errors import TorshError

    parser = build_parser()
    ns = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if ns.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(importlib.import_module(COMMANDS[ns.command][0]).run_from_args(ns))
    except KeyboardInterrupt:
        print("torsh: interrupted", file=sys.stderr)
        return 130
    except (TorshError, OSError, ImportError) as e:  # expected failures: a clear line, no traceback
        if getattr(ns, "debug", False):
            raise
        print(f"torsh: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug or an error from user code (a recipe): still one line by default
        if getattr(ns, "debug", False):
            raise
        print(
            f"torsh: error: {type(e).__name__}: {_one_line(e)} (run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
