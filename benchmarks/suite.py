"""The side-by-side benchmark suite (same as ``torsh bench``): torsh vs hand-written JAX + optax vs
PyTorch eager on an MLP (784-512-512-10, batch 16, with and without ``train.scan_steps``) and the
2-conv CNN training step; median ms/step and ratios as a markdown table.

Run:  python benchmarks/suite.py [--quick] [--only mlp|cnn] [--rounds N] [-o results.md]
"""

from __future__ import annotations

import argparse
import sys

from torsh.cli import _bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _bench.add_arguments(parser)
    return _bench.run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
