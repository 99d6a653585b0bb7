"""The 2-process job of test_distributed_multiprocess.py (started by ``python -m torsh.distributed.launch -n 2
--devices-per-process 4 _distributed_mp_job.py OUT_DIR``).

Each process joins the job, trains the same layouts as the 1-process x 8-device checks (feeding only
its rows of every batch), restores the file and the ``CheckpointManager`` checkpoint the 1-process
run wrote, and saves its own checkpoints with ``CheckpointManager`` (a collective: every process
gathers, process 0 writes, all meet at a barrier), synchronously and asynchronously. Process 0 saves
the results for the test to compare.
"""

from __future__ import annotations

import os
import sys

import jax
import numpy as np

import torsh
from torsh import distributed as dist
from torsh.serialize import CheckpointManager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _distributed_train


def _assert_same(tree, host: dict, like) -> None:
    """``tree`` is placed like ``like`` and holds the values ``host``."""
    for key, leaf in tree.state_dict().items():
        assert leaf.sharding == like.state_dict()[key].sharding, key
    got = dist.to_host(tree.state_dict())
    assert sorted(got) == sorted(host)
    for key in host:
        np.testing.assert_array_equal(got[key], host[key], err_msg=key)


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
    rows = dist.local_batch_slice(_distributed_train.BATCH, mesh)
    assert rows == slice(16 * info.process_index, 16 * (info.process_index + 1)), rows

    for config in ("dp", "fsdp", "2d_fsdp"):
        got = _distributed_train.train(config)
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

    # Restore the checkpoints written by 1 process x 8 devices into this 2-process layout.
    like = dist.shard(_distributed_train.make_mlp(), mesh, dist.fsdp())
    restored = torsh.serialize.load(os.path.join(out_dir, "fsdp_1proc.safetensors"), like=like)
    from_manager = CheckpointManager(os.path.join(out_dir, "ckpt_1proc")).restore(
        "latest", like={"model": like}
    )
    for name, tree in (("file", restored), ("manager", from_manager["model"])):
        for key, leaf in tree.state_dict().items():
            assert not leaf.is_fully_addressable and leaf.sharding == like.state_dict()[key].sharding, (
                name,
                key,
            )
    restored_host = dist.to_host(restored.state_dict())
    manager_host = dist.to_host(from_manager["model"].state_dict())
    if dist.is_main_process():
        np.savez(os.path.join(out_dir, "mp_restored_fsdp.npz"), **restored_host)
        np.savez(os.path.join(out_dir, "mp_restored_ckpt_fsdp.npz"), **manager_host)

    # Save from 2 processes with the manager: a collective on every process; process 0 writes.
    key = jax.random.key(7)
    model_host = dist.to_host(model.state_dict())
    ckpt = CheckpointManager(os.path.join(out_dir, "ckpt_2proc"), keep=1)
    for step in (1, 2):
        ckpt.save(step, {"model": model, "rng": key, "data": {"step": step}}, metrics={"loss": 1.0 / step})
        assert ckpt.all_steps() == [step], (step, ckpt.all_steps())  # committed before anyone returns
    back = ckpt.restore("latest", like={"model": like, "rng": jax.random.key(0)})
    _assert_same(back["model"], model_host, like)

    with CheckpointManager(os.path.join(out_dir, "ckpt_2proc_async"), async_save=True) as ckpt:
        ckpt.save(3, {"model": model, "data": {"step": 3}})
        ckpt.wait()  # a collective: returns once process 0 has committed
        assert ckpt.latest_step() == 3 and ckpt.item_names() == ["data", "model"]
        back = ckpt.restore(3, like={"model": like})
        _assert_same(back["model"], model_host, like)
    print("done", flush=True)
    dist.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
