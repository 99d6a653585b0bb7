"""Save and load throughput of a ~100M-parameter model: torsh vs raw safetensors.numpy vs torch.save/load.

The model is 24 float32 matrices of 2048x2048 plus biases (100.7M parameters, 403 MB) held as
``jax.Array`` on CPU for torsh, numpy arrays for ``safetensors.numpy`` and torch tensors for
``torch.save``/``torch.load`` (each library's native input, built before timing). Candidates run
interleaved in one process for several rounds; the table shows the median GB/s and the ratio to raw
safetensors.numpy. Files live in a temporary directory; right after a save they sit in the page
cache, so load figures measure the in-memory path (as safetensors' own benchmark does), not the disk.
Before each timed save the directory is emptied and ``os.sync()`` flushes earlier writes, so a save
measures writing into the page cache, not the write-back of another candidate's file.

``--memory`` also runs each operation once in a fresh subprocess and reports its peak anonymous
memory above the model it starts with (sampled every 2 ms from /proc/self/status): the cost in
extra copies of the model.

Targets (issue 6): torsh >= 80% of raw safetensors, and >= torch.

Run:  python benchmarks/serialize.py [--rounds 5] [--layers 24] [--width 2048] [--memory]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import jax
import numpy as np


def make_model(layers: int, width: int) -> dict[str, jax.Array]:
    key = jax.random.key(0)
    model = {}
    for i in range(layers):
        key, sub = jax.random.split(key)
        model[f"layers.{i}.weight"] = jax.random.normal(sub, (width, width), jax.numpy.float32)
        model[f"layers.{i}.bias"] = jax.numpy.zeros(width, jax.numpy.float32)
    return jax.block_until_ready(model)


def load_via_mmap(path: str) -> dict[str, jax.Array]:
    """torsh's reader before issue 17, for comparison: map the file, copy each tensor out of the mapping
    into a fresh aligned buffer, one batched device_put. (Replaced by pread: a mapping of a file that
    another program truncates kills the process with SIGBUS.)"""
    import json
    import mmap
    import struct

    from torsh.serialize._host import owned_copy

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            buffer = memoryview(mapped)
            keys, hosts = [], []
            for key, e in header.items():
                start, end = e["data_offsets"]
                view = np.frombuffer(buffer, np.uint8, end - start, 8 + n + start)
                hosts.append(owned_copy(view.view(np.float32).reshape(e["shape"])))
                keys.append(key)
                del view
            del buffer
            out = dict(zip(keys, jax.device_put(hosts), strict=True))
    return out


def candidates(model: dict[str, jax.Array], directory: str) -> tuple[dict, dict]:
    import safetensors.numpy as stn
    import torch

    import torsh

    as_numpy = {k: np.asarray(v) for k, v in model.items()}
    as_torch = {k: torch.from_numpy(np.array(v)) for k, v in model.items()}
    paths = {name: os.path.join(directory, name) for name in ("torsh", "stn", "torch")}
    saves: dict[str, Callable[[], object]] = {
        "torsh.save (jax.Array)": lambda: torsh.save(paths["torsh"], model),
        "safetensors.numpy.save_file": lambda: stn.save_file(as_numpy, paths["stn"]),
        "torch.save": lambda: torch.save(as_torch, paths["torch"]),
    }
    loads: dict[str, Callable[[], object]] = {
        "torsh.load -> jax.Array": lambda: jax.block_until_ready(torsh.load(paths["torsh"], flat=True)),
        "torsh.load(like=model)": lambda: jax.block_until_ready(torsh.load(paths["torsh"], like=model)),
        "mmap + copy (torsh reader before #17)": lambda: jax.block_until_ready(load_via_mmap(paths["torsh"])),
        "safetensors.numpy.load_file -> numpy": lambda: stn.load_file(paths["stn"]),
        "safetensors.numpy + jnp.asarray": lambda: jax.block_until_ready(
            {k: jax.numpy.asarray(v) for k, v in stn.load_file(paths["stn"]).items()}
        ),
        "torch.load(weights_only=True)": lambda: torch.load(paths["torch"], weights_only=True),
    }
    return saves, loads


def timed(fn: Callable[[], object], before: Callable[[], None] | None = None) -> float:
    if before is not None:
        before()
    gc.collect()
    start = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - start
    del out
    return elapsed


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, before: Callable[[], None] | None = None
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            samples[name].append(timed(fns[name], before))
    return {name: statistics.median(v) for name, v in samples.items()}


def report(title: str, seconds: dict[str, float], nbytes: int, baseline: str) -> None:
    base = nbytes / seconds[baseline]
    print(f"\n{title} ({nbytes / 1e9:.2f} GB, median of interleaved rounds)")
    print(f"  {'candidate':<40} {'s':>7} {'GB/s':>7} {'vs ' + baseline.split(' ')[0]:>16}")
    for name, s in seconds.items():
        rate = nbytes / s
        print(f"  {name:<40} {s:>7.3f} {rate / 1e9:>7.2f} {rate / base:>15.2f}x")


# -- memory: one operation per fresh process ---------------------------------------------------------

_MEMORY_CHILD = r"""
import os, sys, threading, time
sys.path.insert(0, {here!r})
import jax, numpy as np
import serialize as bench
def anon():
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024
model = bench.make_model({layers}, {width})
saves, loads = bench.candidates(model, {directory!r})
op = {{**saves, **loads}}[{name!r}]
if {name!r} not in saves:
    for s in saves.values():
        s()
gc = __import__("gc"); gc.collect()
base, peak, done = anon(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon()); time.sleep(0.002)
t = threading.Thread(target=sample); t.start()
out = op()
done.set(); t.join()
peak[0] = max(peak[0], anon())
print(peak[0] - base)
"""


def memory(args: argparse.Namespace, names: list[str], nbytes: int) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"\nPeak extra anonymous memory of one operation, fresh process (model = {nbytes / 1e6:.0f} MB)")
    for name in names:
        with tempfile.TemporaryDirectory() as directory:
            code = _MEMORY_CHILD.format(
                here=here, layers=args.layers, width=args.width, directory=directory, name=name
            )
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            extra = int(out.stdout.strip().splitlines()[-1])
        print(f"  {name:<40} {extra / 1e6:>8.0f} MB  ({extra / nbytes:.2f} model copies)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layers", type=int, default=24)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--memory", action="store_true")
    args = parser.parse_args()

    model = make_model(args.layers, args.width)
    params = sum(v.size for v in model.values())
    nbytes = sum(v.nbytes for v in model.values())
    print(
        f"model: {params / 1e6:.1f}M float32 parameters in {len(model)} arrays; jax {jax.__version__}, "
        f"{os.cpu_count()} CPUs"
    )
    with tempfile.TemporaryDirectory() as directory:
        saves, loads = candidates(model, directory)
        for fn in saves.values():  # warm up (and create the files the loads read)
            fn()
        for fn in loads.values():
            timed(fn)

        def fresh_target() -> None:
            # Each save starts with no file to replace and no dirty pages of earlier saves to flush
            # (otherwise whichever candidate runs while the kernel writes back pays for the others).
            for name in os.listdir(directory):
                os.unlink(os.path.join(directory, name))
            os.sync()

        report("save", interleaved(saves, args.rounds, fresh_target), nbytes, "safetensors.numpy.save_file")
        for fn in saves.values():  # the files the loads read
            fn()
        report("load", interleaved(loads, args.rounds), nbytes, "safetensors.numpy.load_file -> numpy")
    if args.memory:
        memory(args, [*saves, *loads], nbytes)


if __name__ == "__main__":
    main()
