"""Child process for the cross-process export tests: loads artifacts and runs them, with no model code.

Usage: python _export_serve_child.py DIR — for every DIR/NAME.torshx and DIR/NAME.in.K.npy (inputs of case K),
writes DIR/NAME.out.K.npy. It imports torsh.export only: no torsh.nn, no test modules.
"""

import glob
import os
import sys

import numpy as np

import torsh.export


def main() -> None:
    folder = sys.argv[1]
    for path in sorted(glob.glob(os.path.join(folder, "*.torshx"))):
        name = os.path.basename(path)[: -len(".torshx")]
        served = torsh.export.load(path)
        for inp in sorted(glob.glob(os.path.join(folder, f"{name}.in.*.npy"))):
            case = inp.split(".")[-2]
            out = served(np.load(inp))
            np.save(os.path.join(folder, f"{name}.out.{case}.npy"), np.asarray(out))
    assert "torsh.nn" not in sys.modules, "the serving process must not need model code"
    print("served", len(glob.glob(os.path.join(folder, "*.out.*.npy"))))


if __name__ == "__main__":
    main()
