"""Where the time of one elman training step goes, part by part.

    python benchmarks/profile_step.py [WORKLOAD] [--steps N]

Takes ``bench.py``'s workload (default lstm-ptb), trains it on its synthetic batches
and times every layer's forward and backward, the loss, zeroing the gradients, and
clipping with the SGD update, each as the median over ``--steps`` steps. The last
line is the same step's matrix products alone (``bench.products_alone``): what the
step would take if nothing but numpy's matrix products cost time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

from bench import (
    N_BATCHES,
    WARMUP_STEPS,
    WORKLOADS,
    elman_model,
    elman_trainer,
    products_alone,
    synthetic_batches,
)

from elman.blas import BlasThreads


def timed(times: dict[str, list[float]], name: str, function: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        times[name].append(time.perf_counter() - start)
        return result

    return wrapper


def profile(workload: str, steps: int) -> list[tuple[str, float]]:
    """(part, median milliseconds) for one step of ``workload``, in the order they run."""
    w = WORKLOADS[workload]
    model = elman_model(w)
    batches = synthetic_batches(w)
    times: dict[str, list[float]] = defaultdict(list)
    # Instance attributes shadow the methods, so only this model is instrumented.
    for name, layer in model.layers():
        layer.forward = timed(times, f"{name} forward", layer.forward)
        layer.backward = timed(times, f"{name} backward", layer.backward)
    if not model.adaptive:
        loss = model.loss_layer
        loss.forward = timed(times, "softmax + cross-entropy forward", loss.forward)
        loss.backward = timed(times, "softmax + cross-entropy backward", loss.backward)
    # The whole model's calls, kept apart: what is left of the step is clip + update.
    calls: dict[str, list[float]] = defaultdict(list)
    for name in ("zero_grad", "forward", "backward"):
        setattr(model, name, timed(calls, name, getattr(model, name)))
    train_step = elman_trainer(model, BlasThreads())  # the very step bench.py times

    def step(i: int) -> None:
        start = time.perf_counter()
        train_step(*batches[i % N_BATCHES])
        whole = time.perf_counter() - start
        model_calls = sum(calls[name][-1] for name in ("zero_grad", "forward", "backward"))
        times["zero gradients"].append(calls["zero_grad"][-1])
        times["clip + SGD update"].append(whole - model_calls)
        times["whole step"].append(whole)

    for i in range(WARMUP_STEPS):
        step(i)
    times.clear()
    for i in range(steps):
        step(i)
    parts = [(name, 1e3 * statistics.median(t)) for name, t in times.items()]
    alone = products_alone(w)
    if alone is not None:
        alone(0)
        seconds = []
        for i in range(steps):
            start = time.perf_counter()
            alone(i)
            seconds.append(time.perf_counter() - start)
        parts.append(("matrix products alone", 1e3 * statistics.median(seconds)))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", nargs="?", default="lstm-ptb", choices=list(WORKLOADS))
    parser.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    args = parser.parse_args()
    print(f"{args.workload}: median milliseconds over {args.steps} steps")
    for name, ms in profile(args.workload, args.steps):
        print(f"{name:36s} {ms:8.2f}")


if __name__ == "__main__":
    main()
