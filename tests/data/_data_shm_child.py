"""Run by test_data_shm.py inside a private mount namespace whose /dev/shm is a tmpfs of 8 MiB
(Docker's 64 MiB, scaled down): a loader with process workers over a dataset larger than /dev/shm,
then over one that fits but leaves no room for batches, then with a temporary directory (argv[1], a
1 MiB tmpfs) too small for the fallback. Prints one JSON line per case."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings

import numpy as np

from torsh.data import ArrayDataset, DataLoader, SharedMemoryWarning
from torsh.errors import DataError


def run(name: str, n: int) -> None:
    x = np.random.default_rng(0).integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)  # 27 KiB per sample
    ds = ArrayDataset(x, np.arange(n))
    expected = [(a.copy(), b.copy()) for a, b in DataLoader(ds, batch_size=64)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = list(DataLoader(ds, batch_size=64, num_workers=2))
    equal = len(got) == len(expected) and all(
        np.array_equal(a, c) and np.array_equal(b, d) for (a, b), (c, d) in zip(got, expected, strict=True)
    )
    shm = os.statvfs("/dev/shm")
    print(
        json.dumps(
            {
                "case": name,
                "equal": equal,
                "batches": len(got),
                "shm_total": shm.f_blocks * shm.f_frsize,
                "warnings": [str(w.message) for w in caught if issubclass(w.category, SharedMemoryWarning)],
            }
        ),
        flush=True,
    )


def no_room_anywhere(small_dir: str) -> None:
    """/dev/shm is too small and so is the temporary directory: a DataError, not a crash."""
    tempfile.tempdir = small_dir
    try:
        run("no room anywhere", 384)
    except DataError as e:
        print(json.dumps({"case": "no room anywhere", "error": type(e).__name__, "message": str(e)}))


if __name__ == "__main__":
    run("dataset larger than /dev/shm", 384)  # 10.6 MB
    run("batches do not fit", 256)  # 7.1 MB dataset fits; 1.8 MB batches do not
    no_room_anywhere(sys.argv[1])
