"""The ``torsh`` command line.

Subcommands are registered in :data:`COMMANDS` (name → module defining ``add_arguments(parser)``
and ``run_from_args(namespace) -> int``); a module is imported only when its subcommand runs.

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
    "launch": (
        "torsh.distributed.launch",
        "start N processes of a script on this machine (multi-process training)",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``torsh`` argument parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="torsh", description="torsh command line tools.")
    parser.add_argument("--version", action="version", version=f"torsh {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(sub_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torsh`` console script; returns the exit status."""
    parser = build_parser()
    ns = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    if ns.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(importlib.import_module(COMMANDS[ns.command][0]).run_from_args(ns))
