"""/dev/shm bookkeeping for the tests that count its segments (test_data_sharing, test_data_transport).

/dev/shm is one directory for every process: under pytest-xdist, a segment another worker's test
creates while a test compares the listing before and after would look like a leak (or a copy) of
this one. Tests that count segments therefore hold one lock file for their whole run.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator

import pytest

_LOCK = os.path.join(tempfile.gettempdir(), "torsh-tests-dev-shm.lock")


def shm_names() -> set[str]:
    """The names in /dev/shm now (empty where there is none)."""
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.fixture(autouse=True)
def alone_in_dev_shm() -> Iterator[None]:
    """Run the test while no other segment-counting test (in any xdist worker) runs."""
    with open(_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
