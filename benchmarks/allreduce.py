"""What data-parallel training adds to a step: the all-reduce of the flat gradient buffer.

    python benchmarks/allreduce.py [--processes 2] [--repeats 20]

For each workload of benchmarks/gpu.py, the float32 buffer of its parameter count is
summed over ``--processes`` local processes with torch.distributed's gloo (what both
engines do once per step under torchrun on CPUs, the NumPy engine on its own array
through ``torch.from_numpy``), and one NumPy training step of that model in one process
is timed beside it. Medians of ``--repeats``; the share is the all-reduce's time over
the step's.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from elman.config import ModelConfig
from elman.lm.model import LanguageModel, parameter_count

# The workloads, and the training step, of gpu.py beside this file.
_spec = importlib.util.spec_from_file_location("gpu", Path(__file__).with_name("gpu.py"))
gpu = importlib.util.module_from_spec(_spec)
sys.modules["gpu"] = gpu  # its dataclasses look their module up
_spec.loader.exec_module(gpu)
WORKLOADS, trainer = gpu.WORKLOADS, gpu.trainer


def config_of(name: str) -> ModelConfig:
    w = WORKLOADS[name]
    return ModelConfig(
        vocab_size=w.vocab, embed=w.embed, hidden=w.hidden, cell=w.cell, layers=w.layers
    )


def reduce_times(rank: int, size: int, port: int, sizes: list[int], repeats: int, out) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=size)
    results = []
    for n in sizes:
        buffer = torch.from_numpy(np.ones(n, np.float32))
        dist.all_reduce(buffer)  # warm-up
        seconds = []
        for _ in range(repeats):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(buffer)
            seconds.append(time.perf_counter() - start)
        results.append(statistics.median(seconds))
    if rank == 0:
        out.put(results)
    dist.destroy_process_group()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args(argv)
    names = args.workloads.split(",")
    sizes = [parameter_count(config_of(name)) for name in names]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = mp.get_context("spawn").Queue()
    mp.spawn(
        reduce_times,
        args=(args.processes, port, sizes, args.repeats, queue),
        nprocs=args.processes,
    )
    reduce = queue.get()
    print(f"gloo all-reduce over {args.processes} local processes, medians of {args.repeats}:")
    print("| workload | parameters | all-reduce ms | NumPy step ms (1 process) | share |")
    print("| --- | --- | --- | --- | --- |")
    for name, n, t in zip(names, sizes, reduce, strict=True):
        w = WORKLOADS[name]
        step = trainer(LanguageModel(config_of(name), seed=0))
        rng = np.random.default_rng(0)
        batch = rng.integers(0, w.vocab, (2, w.batch, w.bptt))
        step(*batch)
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            step(*batch)
            seconds.append(time.perf_counter() - start)
        s = statistics.median(seconds)
        print(f"| {name} | {n:,} | {t * 1e3:.1f} | {s * 1e3:.0f} | {t / s:.1%} |")


if __name__ == "__main__":
    main()
