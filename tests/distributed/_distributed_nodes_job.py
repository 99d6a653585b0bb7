"""One training script for test_distributed_two_nodes.py, run unchanged three ways:

- ``python _distributed_nodes_job.py OUT`` with 4 simulated CPU devices: the 1-process x 4-device reference;
- ``torsh launch --nnodes 2 --node-rank R --coordinator ... -n 2 --devices-per-process 1`` twice
  (two "nodes" of 2 processes x 1 device): the same data-parallel FSDP run over 4 processes;
- again after a failure: it resumes from the latest checkpoint (the restart is the same command).

The data comes from ``DistributedSampler``: every process loads only its share (4 replicas in all:
one per process on 4 processes; the reference's single process loads all 4 shares and lays them out
the way 4 processes would), so both layouts see the same global batches. ``TORSH_TEST_FAIL`` =
``RANK:STEP`` makes that rank raise before that step (after the previous step's checkpoint).
"""

from __future__ import annotations

import json
import os
import sys

from torsh import distributed as dist

info = dist.init()  # no arguments: the launcher's variables, or a single process

import numpy as np  # noqa: E402

from torsh.data import DistributedSampler  # noqa: E402
from torsh.serialize import CheckpointManager  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _distributed_train  # noqa: E402

REPLICAS, N, LOCAL_BATCH, STEPS = 4, 64, 4, 6


def make_model():
    """One FSDP-sharded Linear layer: few distinct leaf shapes, so few programs to compile (each
    shape's checkpoint gather is one) on a test machine that may be busy."""
    import jax

    from torsh import nn

    return nn.Linear(
        _distributed_train.D_IN, _distributed_train.D_OUT, axes=("mlp", "embed"), key=jax.random.key(0)
    )


def main(out: str) -> None:
    p, n = info.process_index, info.process_count
    assert info.device_count == REPLICAS and REPLICAS % n == 0, info
    mesh = dist.mesh({"data": -1})
    plan = dist.fsdp()
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(N, _distributed_train.D_IN)).astype(np.float32)
    ys = rng.normal(size=(N, _distributed_train.D_OUT)).astype(np.float32)

    if n == REPLICAS:  # one replica per process: the sampler's defaults come from the job
        shares = [DistributedSampler(N, shuffle=True, seed=5, drop_last=True)]
        assert (shares[0].num_replicas, shares[0].rank) == (REPLICAS, p)
    else:  # this process plays replicas [p*k, (p+1)*k)
        k = REPLICAS // n
        shares = [
            DistributedSampler(N, num_replicas=REPLICAS, rank=r, shuffle=True, seed=5, drop_last=True)
            for r in range(p * k, (p + 1) * k)
        ]

    def batch(step: int):
        epoch, i = divmod(step - 1, N // REPLICAS // LOCAL_BATCH)
        rows = []
        for share in shares:
            share.set_epoch(epoch)
            rows.append(share.indices()[i * LOCAL_BATCH : (i + 1) * LOCAL_BATCH])
        rows = np.concatenate(rows)
        return rows, dist.shard_batch((xs[rows], ys[rows]), mesh, plan)

    import jax

    # One compiled program for the initialisation (op-by-op it would compile ~25 small programs).
    model, state = jax.jit(lambda: (lambda m: (m, _distributed_train.OPTIMIZER.init(m)))(make_model()))()
    model, state = dist.shard(model, mesh, plan), dist.shard(state, mesh, plan)
    like = {"model": model, "opt": state, "data": {"step": 0}}
    placed = (dist.sharding_of(model), dist.sharding_of(state))
    import torsh

    step_fn = torsh.jit(
        _distributed_train.train_step, donate=("model", "state"), out_shardings=(*placed, None)
    )

    ckpt = CheckpointManager(os.path.join(out, "ckpt"), keep=2)
    start = 0
    if ckpt.latest_step() is not None:
        restored = ckpt.restore("latest", like=like)
        model, state, start = restored["model"], restored["opt"], restored["data"]["step"]
        print(f"resumed from step {start}", flush=True)

    fail_rank, _, fail_step = os.environ.get("TORSH_TEST_FAIL", "-1:-1").partition(":")
    loaded = []
    for step in range(start + 1, STEPS + 1):
        if p == int(fail_rank) and step == int(fail_step):
            raise RuntimeError(f"injected failure on process {p} before step {step}")
        rows, (x, y) = batch(step)
        loaded.append(rows.tolist())
        model, state, loss = step_fn(model, state, x, y)
        loss = float(dist.to_host(loss))
        ckpt.save(step, {"model": model, "opt": state, "data": {"step": step}}, metrics={"loss": loss})
        if dist.is_main_process():
            with open(os.path.join(out, f"losses_{n}.jsonl"), "a") as f:
                f.write(json.dumps({"step": step, "loss": loss}) + "\n")
    with open(os.path.join(out, f"rows_{n}_{p}.json"), "a") as f:
        f.write(json.dumps({"start": start, "rows": loaded}) + "\n")
    params = dist.to_host(model.state_dict())
    if dist.is_main_process():
        np.savez(os.path.join(out, f"params_{n}.npz"), **params)
    print(f"process {p} of {n} done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
