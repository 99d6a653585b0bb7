"""Device prefetch: batches placed on a device or a sharding by a background thread."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap

import _data_testlib as lib
import jax
import numpy as np
import pytest

from torsh.data import ArrayDataset, DataLoader, WorkerError
from torsh.errors import DeviceError

DS = ArrayDataset(*lib.images(20)).map(lib.augment)


def test_batches_arrive_on_the_device_with_host_values():
    host = list(DataLoader(DS, batch_size=6, shuffle=True, seed=2))
    for target in ("cpu", "cpu:0", jax.devices("cpu")[0]):
        placed = list(DataLoader(DS, batch_size=6, shuffle=True, seed=2, device=target, device_prefetch=2))
        assert len(placed) == len(host)
        for (x, y), (hx, hy) in zip(placed, host, strict=True):
            assert isinstance(x, jax.Array) and x.devices() == {jax.devices("cpu")[0]}
            np.testing.assert_array_equal(np.asarray(x), hx)
            np.testing.assert_array_equal(np.asarray(y), hy)


def test_non_array_leaves_pass_through_and_workers_combine_with_prefetch():
    ds = ArrayDataset(*lib.images(8)).map(lib.to_dict)
    batches = list(DataLoader(ds, batch_size=4, device="cpu", num_workers=2))
    assert isinstance(batches[0]["image"], jax.Array)
    assert batches[1]["meta"]["name"] == ["s4", "s5", "s6", "s7"]


def test_position_counts_only_batches_handed_out():
    loader = DataLoader(
        DS, batch_size=2, device="cpu", device_prefetch=3, num_workers=2, worker_type="thread"
    )
    it = iter(loader)
    next(it), next(it)
    assert loader.state_dict()["batch"] == 2  # prefetched batches are not consumed
    rest = list(it)
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["batch"] == 0
    assert len(rest) == 8


def test_errors_cross_the_prefetch_thread_and_workers_stop():
    bad = ArrayDataset(np.zeros((12, 2), np.float32), np.arange(12)).map(lib.fail_at_7)
    loader = DataLoader(bad, batch_size=2, device="cpu", num_workers=2)
    it = iter(loader)
    pids = list(it._host._pool.pids)
    with pytest.raises(WorkerError, match="sample 7"):
        list(it)
    assert lib.wait_gone(pids) == []
    it = iter(DataLoader(DS, batch_size=2, device="cpu", num_workers=2))
    pids = list(it._host._pool.pids)
    next(it)
    del it
    gc.collect()
    assert lib.wait_gone(pids) == []


def test_bad_devices():
    with pytest.raises(DeviceError, match="does not exist"):
        DataLoader(DS, device="cpu:99")
    with pytest.raises(DeviceError, match="not available"):
        DataLoader(DS, device="tpu")
    with pytest.raises(DeviceError, match="must be a jax.Device"):
        DataLoader(DS, device=3)


_SHARDING_SCRIPT = textwrap.dedent(
    """
    import numpy as np, jax
    from jax.sharding import NamedSharding, PartitionSpec as P
    from torsh.data import ArrayDataset, DataLoader
    from torsh.errors import DataError

    mesh = jax.make_mesh((8,), ("data",))
    sharding = NamedSharding(mesh, P("data"))
    ds = ArrayDataset(np.arange(40 * 3, dtype=np.float32).reshape(40, 3), np.arange(40))
    host = list(DataLoader(ds, batch_size=16, shuffle=True, seed=1, drop_last=True))
    placed = list(DataLoader(ds, batch_size=16, shuffle=True, seed=1, drop_last=True, device=sharding))
    assert len(placed) == len(host) == 2
    for (x, y), (hx, hy) in zip(placed, host):
        assert x.sharding == sharding and y.sharding == sharding
        assert len(x.addressable_shards) == 8 and x.addressable_shards[0].data.shape == (2, 3)
        np.testing.assert_array_equal(np.asarray(x), hx)
        np.testing.assert_array_equal(np.asarray(y), hy)
    try:
        list(DataLoader(ds, batch_size=12, device=sharding))
    except DataError as e:
        assert "drop_last=True" in str(e), e
    else:
        raise AssertionError("expected a DataError for a batch of 12 on 8 devices")
    print("OK")
    """
)


def test_prefetch_onto_a_sharding_of_8_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _SHARDING_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("OK")


def test_two_processes_assemble_global_batches_from_their_shards():
    import json
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ, JAX_PLATFORMS="cpu", JAX_NUM_CPU_DEVICES="4", JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo"
    )
    env.pop("XLA_FLAGS", None)
    script = os.path.join(os.path.dirname(lib.__file__), "_data_mp_job.py")
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(port), str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert reports[0]["global"] == reports[1]["global"]  # one global batch, seen alike by both
    for step, batch in enumerate(reports[0]["global"]):
        assert batch == reports[0]["local"][step] + reports[1]["local"][step]  # process 0's rows first
    seen = [i for batch in reports[0]["global"] for i in batch]
    assert sorted(seen) == list(range(64))  # the shards are disjoint and cover the data set
    masked = reports[0]["masked"]
    assert masked == reports[1]["masked"] and len(masked) == 4
    assert [sum(mask) for _, mask in masked] == [16, 16, 16, 12]
    assert masked[-1][1] == [True] * 6 + [False] * 2 + [True] * 6 + [False] * 2  # each process pads its own
    real = [label for labels, mask in masked for label, keep in zip(labels, mask, strict=True) if keep]
    assert sorted(real) == list(range(60))  # every sample counted exactly once under the mask
