"""Long fuzz run of torsh's safetensors loader (the CI test runs 1,000 examples; this runs 10,000+).

Each example is a small valid file with one damage applied (see tests/serialize/_serialize_fuzz_cases.py):
truncation, junk, flipped bytes, forged header length, forged header (overlapping offsets, wrong
shapes/dtypes, broken torsh metadata), non-UTF-8 bytes, another format's magic, deep JSON nesting.
The property: loading raises a torsh CheckpointError or succeeds, never anything else, never hangs;
and torsh's header validation agrees with the reference parser (safetensors.deserialize).
A fraction of the examples also goes through a real file (the memory-mapped path).

Run:  python scripts/fuzz_load.py [--examples 10000] [--seed 0] [--files-every 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "serialize"))

from _serialize_fuzz_cases import check, damaged_files  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from torsh import serialize  # noqa: E402
from torsh.errors import CheckpointError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-every", type=int, default=20, help="also load every Nth example from disk")
    args = parser.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)  # float64 -> float32 overflow of random bytes

    counts = {"examples": 0, "accepted": 0, "rejected": 0, "files": 0}
    directory = tempfile.mkdtemp(prefix="torsh-fuzz-")
    path = os.path.join(directory, "f.safetensors")

    @seed(args.seed)
    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(damaged_files())
    def run(data: bytes) -> None:
        counts["examples"] += 1
        check(data)
        try:
            serialize.from_bytes(data, flat=True)
            counts["accepted"] += 1
        except CheckpointError:
            counts["rejected"] += 1
        if counts["examples"] % args.files_every == 0:
            counts["files"] += 1
            with open(path, "wb") as f:
                f.write(data)
            try:
                serialize.load(path, flat=True)
            except CheckpointError as e:
                assert path in str(e), str(e)

    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(
        f"{counts['examples']} examples in {elapsed:.1f} s: {counts['accepted']} loaded, "
        f"{counts['rejected']} rejected with a CheckpointError, {counts['files']} also from disk; "
        "no other exception, torsh and the reference parser agreed on every header."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
