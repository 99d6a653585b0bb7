"""Child process of test_serialize_faults.py: loads and saves that another program interferes with.

``python _serialize_fault_child.py MODE PATH [PATH2 | N]`` prints one JSON line per outcome. Run in a child so
that a SIGBUS (what a memory-mapped reader gets when the file shrinks under it) shows up as the
child's exit status instead of killing pytest.

Modes:
  interfere truncate PATH to half its size after the header is parsed, before any tensor is read;
            then rewrite PATH2 in place (same size, other bytes) at that same moment of its load
  loop      load PATH N times while the parent truncates and rewrites it; count each outcome
  hang-save save a tree to PATH and stop (forever) after the header is written: the parent kills it
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

import torsh
from torsh.errors import CheckpointError
from torsh.serialize import _api, _write


def outcome(fn):
    try:
        fn()
    except CheckpointError as e:
        return {"error": type(e).__name__, "message": str(e)}
    return {"error": None}


def main() -> None:
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "interfere":  # truncate argv[2], then rewrite argv[3] in place, each during its load
        real = _api.build_tree
        for action, target in (("truncate", sys.argv[2]), ("rewrite", sys.argv[3])):

            def interfere(reader, like, opts, action=action, target=target):
                size = os.path.getsize(target)
                if action == "truncate":
                    os.truncate(target, size // 2)
                else:
                    with open(target, "r+b") as f:
                        f.seek(size // 2)
                        f.write(b"\x7f" * (size - size // 2))
                return real(reader, like, opts)

            _api.build_tree = interfere
            print(json.dumps({"action": action, **outcome(lambda t=target: torsh.load(t))}), flush=True)
    elif mode == "loop":
        counts: dict[str, int] = {}
        print("ready", flush=True)
        for _ in range(int(sys.argv[3])):
            result = outcome(lambda: torsh.load(path))
            counts[result["error"] or "ok"] = counts.get(result["error"] or "ok", 0) + 1
        print(json.dumps(counts), flush=True)
    elif mode == "hang-save":
        real_write = _write._write_all

        def write_then_hang(f, data, hasher):
            real_write(f, data, hasher)
            print("writing", flush=True)
            while True:
                time.sleep(60)

        _write._write_all = write_then_hang
        torsh.save(path, {"w": np.ones((256, 256), np.float32)})
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
