"""Training speed of the torch backend on a GPU against the NumPy engine on the CPU.

    python benchmarks/gpu.py [--device cuda|cpu] [--workloads rnn-ptb,lstm-ptb,...]
                             [--steps N] [--repeats N] [--out DIR]

For each workload, the same model (one seed, so the same initial weights) takes full
training steps as ``elman train`` takes them (zero grads, forward with dropout, backward,
SGD with clipping by global norm, through ``elman.optim`` on the model's flat buffers):
``TorchLanguageModel`` on ``--device`` (default cuda) and ``LanguageModel`` on the CPU,
in blocks of ``--steps`` steps timed in turn after warm-up, the GPU synchronised at the
end of each block. Reported: tokens per second, medians of the blocks, and the ratio.
Token ids are synthetic and uniform (a seeded generator), which costs what real ones do
for a full softmax.

Where there is no CUDA device it says so and exits with status 0 (``--device cpu``
measures the torch backend on the CPU instead). Not run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from elman.config import ModelConfig
from elman.lm.model import LanguageModel
from elman.optim import SGD
from elman.torch_backend import TorchLanguageModel

SEED = 0
CLIP = 0.25
SETTLE_SECONDS = 0.3


@dataclass(frozen=True)
class Workload:
    cell: str
    vocab: int
    embed: int
    hidden: int
    layers: int
    batch: int
    bptt: int
    dropout: float = 0.0


WORKLOADS = {  # the first three as benchmarks/bench.py's; the last the recipe's model
    "rnn-ptb": Workload("rnn", 10_000, 256, 256, 1, 20, 35),
    "lstm-ptb": Workload("lstm", 10_000, 200, 200, 2, 20, 20),
    "lstm-char": Workload("lstm", 65, 64, 512, 2, 32, 100),
    "ptb-lstm-medium": Workload("lstm", 10_000, 650, 650, 2, 20, 35, dropout=0.5),
}


def trainer(model, lr: float = 1.0):
    """One training step of ``model`` on (inputs, targets), as the loop takes it."""
    optimizer = SGD(model.flat_params, lr, arrays=model.arrays)
    model.training = True

    def step(inputs: np.ndarray, targets: np.ndarray) -> float:
        model.zero_grad()
        loss = model.forward(inputs, targets)
        model.backward()
        optimizer.step(model.flat_grads, clip=CLIP)
        return loss

    return step


def bench(name: str, device: torch.device, steps: int, repeats: int) -> dict:
    w = WORKLOADS[name]
    config = ModelConfig(
        vocab_size=w.vocab,
        embed=w.embed,
        hidden=w.hidden,
        cell=w.cell,
        layers=w.layers,
        dropout=w.dropout,
    )
    numpy_model = LanguageModel(config, seed=SEED)
    torch_model = TorchLanguageModel(LanguageModel(config, seed=SEED), device)
    rng = np.random.default_rng(SEED)
    batches = [rng.integers(0, w.vocab, (2, w.batch, w.bptt)) for _ in range(4)]
    runs = {"numpy_cpu": trainer(numpy_model), f"torch_{device.type}": trainer(torch_model)}
    first = {key: run(*batches[0]) for key, run in runs.items()}
    for run in runs.values():  # warm-up: allocations, cuDNN's plans
        for i in range(3):
            run(*batches[i % len(batches)])
    seconds: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            for i in range(steps):
                run(*batches[i % len(batches)])
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[key].append((time.perf_counter() - start) / steps)
    tokens = w.batch * w.bptt
    result = {"workload": name, "config": asdict(w), "first_losses": first}
    for key, samples in seconds.items():
        result[key] = {
            "tokens_per_s": tokens / statistics.median(samples),
            "samples_tokens_per_s": [tokens / s for s in samples],
        }
    keys = list(runs)
    result["ratio"] = result[keys[1]]["tokens_per_s"] / result[keys[0]]["tokens_per_s"]
    return result


def markdown(report: dict) -> str:
    device = report["device"]
    lines = [
        f"# Training speed: the torch backend on {device} vs the NumPy engine on the CPU",
        "",
        f"{report['machine']}. Tokens per second, median of {report['repeats']} blocks of "
        f"{report['steps']} steps (SGD, clip {CLIP}); load average at the end "
        f"{report['load_average_at_end'][0]:.1f}.",
        "",
        f"| workload | NumPy on the CPU | torch on {device} | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        torch_key = next(k for k in r if k.startswith("torch_"))
        lines.append(
            f"| {r['workload']} | {r['numpy_cpu']['tokens_per_s']:,.0f} | "
            f"{r[torch_key]['tokens_per_s']:,.0f} | {r['ratio']:.2f}x |"
        )
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "benchmarks/gpu.py: no CUDA device here (torch "
            f"{torch.__version__}, cuda {torch.version.cuda}), so there is nothing to measure; "
            "run it on a machine with a GPU, or with --device cpu for the torch backend on "
            "the CPU."
        )
        return 0
    device = torch.device(args.device)
    if device.type == "cuda":
        machine = f"{torch.cuda.get_device_name(device)} (torch {torch.__version__})"
    else:
        machine = f"CPU only, {os.cpu_count()} cores, torch {torch.__version__}"
    results = []
    for name in args.workloads.split(","):
        results.append(bench(name, device, args.steps, args.repeats))
        r = results[-1]
        torch_key = next(k for k in r if k.startswith("torch_"))
        print(
            f"{name}: numpy (CPU) {r['numpy_cpu']['tokens_per_s']:,.0f} tokens/s, torch "
            f"({device.type}) {r[torch_key]['tokens_per_s']:,.0f} tokens/s ({r['ratio']:.2f}x)"
        )
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "device": device.type,
        "machine": machine,
        "load_average_at_end": os.getloadavg(),
        "steps": args.steps,
        "repeats": args.repeats,
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"gpu-{device.type}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"gpu-{device.type}.md").write_text(markdown(report))
    print(f"wrote {out / f'gpu-{device.type}.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
