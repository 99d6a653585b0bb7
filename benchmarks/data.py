"""DataLoader throughput and memory: torsh.data vs torch.utils.data on the same dataset object.

The pipeline is the classic CIFAR augmentation in NumPy, per sample: random crop (pad 4) + horizontal
flip + per-channel normalise, HWC uint8 -> CHW float32. Each candidate runs 3 epochs in its own fresh
process (so peak-memory numbers do not mix), candidates interleaved over ``--rounds`` rounds. Reported:

* samples/s of epoch 1 (includes starting workers) and of epochs 2-3;
* peak RSS of the main process, and peak PSS summed over the main process and its workers (PSS
  splits shared pages between the processes that map them, so shared data is counted once);
* RSS of the main process and PSS of the process tree at the end of each epoch: flat means no
  growth across epochs.

Run: ``python benchmarks/data.py [--n 50000] [--batch-size 256] [--rounds 1]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

import torsh.data as tdata

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32) * 255
STD = np.array([0.2470, 0.2435, 0.2616], np.float32) * 255
PAD = 4


class AugmentedImages(tdata.Dataset):
    """A map-style dataset both loaders can read: arrays in attributes, NumPy augmentation."""

    def __init__(self, n: int) -> None:
        g = np.random.default_rng(0)
        # from raw bytes: integers(dtype=uint8) would build an int64 array first (8x the memory)
        self.images = np.frombuffer(g.bytes(n * 32 * 32 * 3), np.uint8).reshape(n, 32, 32, 3)
        self.labels = g.integers(0, 10, size=n).astype(np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        r = tdata.rng()  # the per-batch generator under torsh; a per-thread generator under torch
        image = self.images[i]
        padded = np.pad(image, ((PAD, PAD), (PAD, PAD), (0, 0)))
        y, x = r.integers(0, 2 * PAD + 1, size=2)
        crop = padded[y : y + 32, x : x + 32]
        if r.random() < 0.5:
            crop = crop[:, ::-1]
        out = (crop.astype(np.float32) - MEAN) / STD
        return np.ascontiguousarray(out.transpose(2, 0, 1)), self.labels[i]


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


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _tree_pss_mb() -> float:
    # The fork server of torsh is a child too; it holds no data (it only imported torsh).
    return sum(_pss_kb(p) for p in _tree(os.getpid())) / 1024


class PeakSampler:
    def __init__(self, interval: float = 0.05) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_pss_mb())
            self._stop.wait(interval)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_pss_mb())


# -- one candidate, in a child process -----------------------------------------------------------


def make_loader(library: str, dataset: AugmentedImages, workers: int, batch_size: int, transport: str):
    if library == "torch":
        import torch.utils.data as tud

        return tud.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    from torsh.data import _pool

    _pool.DEFAULT_TRANSPORT = transport
    return tdata.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers, seed=0)


def child(library: str, workers: int, n: int, batch_size: int, epochs: int, transport: str) -> dict:
    if library == "torch":
        import torch

        torch.set_num_threads(1)
    dataset = AugmentedImages(n)
    loader = make_loader(library, dataset, workers, batch_size, transport)
    times, rss, pss = [], [], []
    with PeakSampler() as sampler:
        for _ in range(epochs):
            start = time.perf_counter()
            count = 0
            for _, y in loader:
                count += len(y)
            times.append(time.perf_counter() - start)
            assert count == n
            rss.append(_rss_kb(os.getpid()) / 1024)
            pss.append(_tree_pss_mb())
    return {
        "first": n / times[0],
        "steady": n * (epochs - 1) / sum(times[1:]) if epochs > 1 else n / times[0],
        "peak_main_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_tree_pss": sampler.peak,
        "rss": rss,
        "pss": pss,
    }


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
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("LIBRARY", "WORKERS", "TRANSPORT"))
    args = parser.parse_args()
    if args.child:
        library, workers, transport = args.child[0], int(args.child[1]), args.child[2]
        print(json.dumps(child(library, workers, args.n, args.batch_size, args.epochs, transport)))
        return

    import torch

    print(
        f"{args.n} images 32x32x3, batch {args.batch_size}, {args.epochs} epochs, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, python {sys.version.split()[0]}"
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
        f"\n  {'candidate':<34} {'epoch 1 samples/s':>18} {'epochs 2+ samples/s':>20} {'vs torch':>9}"
        f" {'peak main RSS MB':>17} {'peak tree PSS MB':>17}"
    )
    for cand in CANDIDATES:
        base = ("torch", cand[1], "shm")
        ratio = med(cand, "steady") / med(base, "steady")
        print(
            f"  {_label(*cand):<34} {med(cand, 'first'):>18.0f} {med(cand, 'steady'):>20.0f} {ratio:>8.2f}x"
            f" {med(cand, 'peak_main_rss'):>17.0f} {med(cand, 'peak_tree_pss'):>17.0f}"
        )
    print("\n  memory at the end of each epoch (last round): main RSS MB | process tree PSS MB")
    for cand in CANDIDATES:
        last = results[cand][-1]
        rss = " ".join(f"{v:6.0f}" for v in last["rss"])
        pss = " ".join(f"{v:6.0f}" for v in last["pss"])
        print(f"  {_label(*cand):<34} {rss} | {pss}")


if __name__ == "__main__":
    main()
