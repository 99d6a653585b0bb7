"""DataLoader throughput and memory: torsh.data vs torch.utils.data on the same dataset object.

Three pipelines (``--pipeline``): ``cifar``, the classic CIFAR augmentation in NumPy, per sample: random
crop (pad 4) + horizontal flip + per-channel normalise, HWC uint8 -> CHW float32; ``jpeg``, the
ImageNet-style one (issue 14 goal 1's heavier pipeline): ``torsh.vision.datasets.ImageFolder`` over
500x375 JPEG files the script writes once (into ``$TMPDIR/torsh-bench-jpeg-<n>``), Pillow decode +
``RandomResizedCrop(224)`` + ``RandomHorizontalFlip`` + ``ToArray`` + ``Normalize`` (torsh.vision's
transforms in both loaders); ``arrays``, an ``ArrayDataset`` of 3x64x64 float32 images with no
per-sample work (torsh's workers gather each batch in one step straight into shared memory; torch
reads it sample by sample). Each candidate runs 3 epochs in its own fresh
process (so peak-memory numbers do not mix), candidates interleaved over ``--rounds`` rounds. Reported:

* samples/s of epoch 1 (includes starting workers) and of epochs 2-3;
* CPU time of the whole process tree (main + workers) per 1000 samples in epochs 2-3: on a shared
  machine, where wall-clock throughput depends on what else runs, this is the steadier measure of
  how much work each loader does;
* peak RSS of the main process, and peak PSS summed over the main process and its workers (PSS
  splits shared pages between the processes that map them, so shared data is counted once);
* RSS of the main process and PSS of the process tree at the end of each epoch: flat means no
  growth across epochs.

``--first-batch`` measures instead the time to the first batch with 2 workers (issue 14 goal 1),
each candidate in a fresh process (torsh's fork server is per process): right after ``DataLoader()``,
after ``--other-work`` seconds of other work between ``DataLoader()`` and ``iter()`` (what a training
script does: build the model, compile the step), and in the second epoch.

Run: ``python benchmarks/data.py [--pipeline cifar|jpeg|arrays] [--n 50000] [--batch-size 256] [--rounds 1]
[--first-batch]`` (``jpeg``: use ``--n 2000 --batch-size 64``). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np

import torsh.data as tdata

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32) * 255
STD = np.array([0.2470, 0.2435, 0.2616], np.float32) * 255
PAD = 4


def augment(sample):
    """Random crop (pad 4) + flip + normalise; randomness from the loader's per-batch generator."""
    image, label = sample
    r = tdata.rng()  # the per-batch generator under torsh; a per-thread generator under torch
    padded = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)))
    y, x = r.integers(0, 2 * PAD + 1, size=2)
    crop = padded[y : y + 32, x : x + 32]
    if r.random() < 0.5:
        crop = crop[:, ::-1]
    out = (crop.astype(np.float32) - MEAN) / STD
    return np.ascontiguousarray(out.transpose(2, 0, 1)), label


def jpeg_dataset(n: int) -> Any:
    """An ImageFolder over ``n`` 500x375 JPEGs in 10 classes (written once, reused by later runs)."""
    import tempfile

    from PIL import Image

    from torsh.vision import transforms as T
    from torsh.vision.datasets import ImageFolder

    root = os.path.join(tempfile.gettempdir(), f"torsh-bench-jpeg-{n}")
    if not os.path.exists(os.path.join(root, "done")):
        g = np.random.default_rng(0)
        yy, xx = np.mgrid[0:375, 0:500]
        for i in range(n):
            folder = os.path.join(root, f"class{i % 10}")
            os.makedirs(folder, exist_ok=True)
            # smooth colour fields plus noise: compresses like a photograph (~40-60 kB), not like noise
            a, b, c = g.uniform(0.005, 0.05, 3)
            base = np.stack([np.sin(a * xx + b * yy), np.cos(b * xx - c * yy), np.sin(c * (xx + yy))], -1)
            pixels = (127 + 100 * base + g.normal(0, 8, base.shape)).clip(0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(os.path.join(folder, f"{i:06d}.jpg"), quality=90)
        open(os.path.join(root, "done"), "w").close()
    transform = T.Compose(
        [
            T.RandomResizedCrop(224),
            T.RandomHorizontalFlip(),
            T.ToArray(),
            T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ]
    )
    return ImageFolder(root, transform=transform)


def make_dataset(n: int, pipeline: str = "cifar") -> Any:
    """Images and labels in an ArrayDataset, mapped through ``augment``: a plain map-style dataset
    (``len`` + ``__getitem__``) that torch's DataLoader reads as well (``jpeg``: see jpeg_dataset)."""
    if pipeline == "jpeg":
        return jpeg_dataset(n)
    g = np.random.default_rng(0)
    if pipeline == "arrays":
        floats = g.standard_normal((n, 3, 64, 64), dtype=np.float32)
        return tdata.ArrayDataset(floats, g.integers(0, 10, size=n).astype(np.int64))
    images = np.empty((n, 32, 32, 3), np.uint8)
    for start in range(0, n, 4096):  # from raw bytes, in chunks: no transient copies of the data set
        rows = images[start : start + 4096]
        rows[...] = np.frombuffer(g.bytes(rows.size), np.uint8).reshape(rows.shape)
    labels = g.integers(0, 10, size=n).astype(np.int64)
    return tdata.ArrayDataset(images, labels).map(augment)


# -- memory probes ------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def _tree(pid: int) -> list[int]:
    out, frontier = [pid], [pid]
    while frontier:
        kids = _children(frontier.pop())
        out += kids
        frontier += kids
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def _cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tree_pss_mb() -> float:
    # The fork server of torsh is a child too; it holds no data (it only imported torsh).
    return sum(_pss_kb(p) for p in _tree(os.getpid())) / 1024


class PeakSampler:
    """Samples the process tree: peak PSS, and CPU time per process (last value seen, so a worker
    that exits between two samples loses at most one interval of CPU time)."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = 0.0
        self.cpu: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def sample(self) -> None:
        pids = _tree(os.getpid())
        pss = sum(_pss_kb(p) for p in pids) / 1024
        with self._lock:
            self.peak = max(self.peak, pss)
            for p in pids:
                t = _cpu_seconds(p)
                if t is not None:
                    self.cpu[p] = max(self.cpu.get(p, 0.0), t)

    def total_cpu(self) -> float:
        self.sample()
        with self._lock:
            return sum(self.cpu.values())

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_pss_mb())


# -- one candidate, in a child process -----------------------------------------------------------


def make_loader(library: str, dataset: Any, workers: int, batch_size: int, transport: str):
    if library == "torch":
        import torch.utils.data as tud

        return tud.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    from torsh.data import _pool

    _pool.DEFAULT_TRANSPORT = transport
    return tdata.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, seed=0)


def child(
    library: str, workers: int, n: int, batch_size: int, epochs: int, transport: str, pipeline: str
) -> dict:
    if library == "torch":
        import torch

        torch.set_num_threads(1)
    dataset = make_dataset(n, pipeline)
    loader = make_loader(library, dataset, workers, batch_size, transport)
    times, cpu, rss, pss = [], [], [], []
    with PeakSampler() as sampler:
        for _ in range(epochs):
            start, cpu_start = time.perf_counter(), sampler.total_cpu()
            count = 0
            for _, y in loader:
                count += len(y)
            times.append(time.perf_counter() - start)
            cpu.append(sampler.total_cpu() - cpu_start)
            assert count == n
            rss.append(_rss_kb(os.getpid()) / 1024)
            pss.append(_tree_pss_mb())
    steady = slice(1, None) if epochs > 1 else slice(0, None)
    return {
        "first": n / times[0],
        "steady": n * len(times[steady]) / sum(times[steady]),
        "cpu_ms_per_1k": 1e6 * sum(cpu[steady]) / (n * len(cpu[steady])),
        # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec from the parent
        "peak_main_rss": _status_kb(os.getpid(), "VmHWM") / 1024,
        "peak_tree_pss": sampler.peak,
        "rss": rss,
        "pss": pss,
    }


def first_batch_child(
    library: str, worker_type: str, n: int, batch_size: int, other_work: float, pipeline: str
) -> dict:
    dataset = make_dataset(n, pipeline)
    out = {}
    for label, work in (("immediate", 0.0), ("after_work", other_work)):

        def make():
            if library == "torch":
                import torch.utils.data as tud

                return tud.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=2)
            return tdata.DataLoader(
                dataset, batch_size=batch_size, shuffle=True, num_workers=2, seed=0, worker_type=worker_type
            )

        if label == "after_work" and library == "torsh" and worker_type == "process":
            _restart_forkserver()  # measure a cold start again, with a head start this time
        loader = make()
        time.sleep(work)
        start = time.perf_counter()
        it = iter(loader)
        next(it)
        out[label] = time.perf_counter() - start
        for _ in it:
            pass
        start = time.perf_counter()
        it = iter(loader)
        next(it)
        out[f"{label}_epoch2"] = time.perf_counter() - start
        del it, loader
    return out


def _restart_forkserver() -> None:
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if server._forkserver_pid is not None:
        os.close(server._forkserver_alive_fd)
        os.kill(server._forkserver_pid, 15)
        os.waitpid(server._forkserver_pid, 0)
        server._forkserver_pid = server._forkserver_alive_fd = server._forkserver_address = None


FIRST_BATCH = [("torch", "process"), ("torsh", "process"), ("torsh", "thread")]


def first_batch_main(args: argparse.Namespace) -> None:
    print(
        f"time to first batch, 2 workers, {args.n} images ({args.pipeline}), batch {args.batch_size}, "
        f"other work {args.other_work:g} s, {os.cpu_count()} CPUs, median of {args.rounds} round(s)"
    )
    results: dict[tuple, list[dict]] = {c: [] for c in FIRST_BATCH}
    for r in range(args.rounds):
        for cand in FIRST_BATCH[r % len(FIRST_BATCH) :] + FIRST_BATCH[: r % len(FIRST_BATCH)]:
            cmd = [
                sys.executable,
                __file__,
                "--n",
                str(args.n),
                "--batch-size",
                str(args.batch_size),
                "--other-work",
                str(args.other_work),
                "--pipeline",
                args.pipeline,
                "--first-batch-child",
                *cand,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                sys.exit(f"{cand} failed:\n{out.stderr}")
            results[cand].append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("immediate", "after_work", "immediate_epoch2")
    print(f"\n  {'candidate':<26} {'iter() at once':>15} {'after other work':>17} {'epoch 2':>9}   (seconds)")
    for cand in FIRST_BATCH:
        med = [statistics.median(r[k] for r in results[cand]) for k in keys]
        print(f"  {cand[0] + ' ' + cand[1] + ' workers':<26} {med[0]:>15.2f} {med[1]:>17.2f} {med[2]:>9.2f}")


# -- driver --------------------------------------------------------------------------------------

CANDIDATES = [
    ("torch", 0, "shm"),
    ("torsh", 0, "shm"),
    ("torch", 2, "shm"),
    ("torsh", 2, "shm"),
    ("torsh", 2, "pickle"),
]


def _label(library: str, workers: int, transport: str) -> str:
    extra = f", {transport} batches" if library == "torsh" and workers else ""
    return f"{library} ({workers} workers{extra})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pipeline", choices=("cifar", "jpeg", "arrays"), default="cifar")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "WORKERS", "TRANSPORT"))
    parser.add_argument("--first-batch", action="store_true")
    parser.add_argument("--other-work", type=float, default=5.0)
    parser.add_argument("--first-batch-child", nargs=2, metavar=("LIBRARY", "WORKER_TYPE"))
    args = parser.parse_args()
    if args.first_batch_child:
        library, worker_type = args.first_batch_child
        res = first_batch_child(library, worker_type, args.n, args.batch_size, args.other_work, args.pipeline)
        print(json.dumps(res))
        return
    if args.first_batch:
        first_batch_main(args)
        return
    if args.child:
        library, workers, transport = args.child[0], int(args.child[1]), args.child[2]
        res = child(library, workers, args.n, args.batch_size, args.epochs, transport, args.pipeline)
        print(json.dumps(res))
        return

    from importlib.metadata import version

    make_dataset(args.n, args.pipeline)  # write the JPEG files once, before any timing
    shape = {
        "cifar": "32x32x3 (cifar)",
        "jpeg": "500x375 JPEG -> 3x224x224 (jpeg)",
        "arrays": "3x64x64 float32, no per-sample work (arrays)",
    }[args.pipeline]
    print(
        f"{args.n} images {shape}, batch {args.batch_size}, {args.epochs} epochs, {os.cpu_count()} CPUs, "
        f"torch {version('torch')}, python {sys.version.split()[0]}"
    )
    results: dict[tuple, list[dict]] = {c: [] for c in CANDIDATES}
    for r in range(args.rounds):
        order = CANDIDATES[r % len(CANDIDATES) :] + CANDIDATES[: r % len(CANDIDATES)]
        for cand in order:
            cmd = [
                sys.executable,
                __file__,
                "--n",
                str(args.n),
                "--batch-size",
                str(args.batch_size),
                "--epochs",
                str(args.epochs),
                "--pipeline",
                args.pipeline,
                "--child",
                cand[0],
                str(cand[1]),
                cand[2],
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                sys.exit(f"{_label(*cand)} failed:\n{out.stderr}")
            results[cand].append(json.loads(out.stdout.strip().splitlines()[-1]))

    def med(cand: tuple, key: str) -> float:
        return statistics.median(r[key] for r in results[cand])

    print(
        f"\n  {'candidate':<34} {'epoch 1':>9} {'epochs 2+':>10} {'vs torch':>9} {'CPU ms/1k':>10}"
        f" {'vs torch':>9} {'peak main RSS':>14} {'peak tree PSS':>14}"
    )
    print(
        f"  {'':<34} {'samples/s':>9} {'samples/s':>10} {'':>9} {'samples':>10} {'':>9} {'MB':>14} {'MB':>14}"
    )
    for cand in CANDIDATES:
        base = ("torch", cand[1], "shm")
        speed = med(cand, "steady") / med(base, "steady")
        cpu = med(cand, "cpu_ms_per_1k") / med(base, "cpu_ms_per_1k")
        print(
            f"  {_label(*cand):<34} {med(cand, 'first'):>9.0f} {med(cand, 'steady'):>10.0f} {speed:>8.2f}x"
            f" {med(cand, 'cpu_ms_per_1k'):>10.0f} {cpu:>8.2f}x"
            f" {med(cand, 'peak_main_rss'):>14.0f} {med(cand, 'peak_tree_pss'):>14.0f}"
        )
    print("\n  memory at the end of each epoch (last round): main RSS MB | process tree PSS MB")
    for cand in CANDIDATES:
        last = results[cand][-1]
        rss = " ".join(f"{v:6.0f}" for v in last["rss"])
        pss = " ".join(f"{v:6.0f}" for v in last["pss"])
        print(f"  {_label(*cand):<34} {rss} | {pss}")


if __name__ == "__main__":
    main()
