"""The 2-process job of test_multiprocess.py (started by ``python -m torsh.distributed.launch -n 2
--devices-per-process 4 _mp_job.py OUT_DIR``).

Each process joins the job, trains the same layouts as the 1-process x 8-device checks (feeding only
its rows of every batch), restores the checkpoint the 1-process run wrote, and writes its own
checkpoint the way a multi-process program should: gather, one writer, barrier. Process 0 saves
the results for the test to compare.
"""

from __future__ import annotations

import os
import sys

import numpy as np

import torsh
from torsh import distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _train  # noqa: E402


def main(out_dir: str) -> None:
    # Importing torsh creates no arrays, so init() can still join the job here.
    info = dist.init()  # from the launcher's environment
    assert (info.process_count, info.local_device_count, info.device_count) == (2, 4, 8), info
    assert info.platform == "cpu" and info.coordinator_address.startswith("127.0.0.1:"), info
    print(
        f"process {info.process_index} of {info.process_count} with {info.local_device_count} devices",
        flush=True,
    )

    mesh = dist.mesh({"data": 8})
    rows = dist.local_batch_slice(_train.BATCH, mesh)
    assert rows == slice(16 * info.process_index, 16 * (info.process_index + 1)), rows

    for config in ("dp", "fsdp", "2d_fsdp"):
        got = _train.train(config)
        if dist.is_main_process():
            np.savez(os.path.join(out_dir, f"mp_params_{config}.npz"), losses=got["losses"], **got["params"])
        if config == "fsdp":
            model = got["model"]
            report = dist.describe(model)
            assert len(report.per_device) == 8 and report.max_device_bytes == report.total_bytes // 8, str(
                report
            )

    # The DataLoader: each process loads its share (DistributedSampler) and gets global batches.
    from torsh.data import ArrayDataset, DataLoader, DistributedSampler

    values = np.arange(64, dtype=np.float32) * 10
    loader = DataLoader(
        ArrayDataset(values),
        batch_size=8,
        drop_last=True,
        sampler=DistributedSampler(64, shuffle=True, seed=3),
        device=dist.batch_sharding(mesh),
    )
    shares = [DistributedSampler(64, num_replicas=2, rank=r, shuffle=True, seed=3).indices() for r in (0, 1)]
    for i, (batch,) in enumerate(loader):
        assert batch.shape == (16,) and not batch.is_fully_addressable, batch.shape
        rows = np.concatenate([share[8 * i : 8 * (i + 1)] for share in shares])
        np.testing.assert_array_equal(dist.to_host(batch), values[rows])
    assert i == 3

    # Restore the checkpoint written by 1 process x 8 devices into this 2-process layout.
    like = dist.shard(_train.make_mlp(), mesh, dist.fsdp())
    restored = torsh.serialize.load(os.path.join(out_dir, "fsdp_1proc.safetensors"), like=like)
    for key, leaf in restored.state_dict().items():
        assert not leaf.is_fully_addressable and leaf.sharding == like.state_dict()[key].sharding, key
    restored_host = dist.to_host(restored.state_dict())
    if dist.is_main_process():
        np.savez(os.path.join(out_dir, "mp_restored_fsdp.npz"), **restored_host)

    # Save from 2 processes: every process gathers (a collective), process 0 writes, all wait.
    host_model = dist.to_host(model)
    if dist.is_main_process():
        torsh.serialize.save(os.path.join(out_dir, "fsdp_2proc.safetensors"), host_model)
    dist.barrier("fsdp_2proc saved")
    print("done", flush=True)
    dist.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
