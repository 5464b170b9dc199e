"""Speed of elman's translator on its two engines against the same model in PyTorch eager,
on this machine.

    python benchmarks/translate.py [--workloads multi30k,addition] [--repeats N]
                                   [--steps N] [--out DIR]

A training step (zero grads, forward, backward, clip by global norm, Adam update) of
``elman.translate.Translator`` (the NumPy engine, "elman"), of the same model on the
torch backend (``elman.torch_backend.TorchTranslator`` with the loop's Adam on its flat
tensor, "backend": what ``elman translate train --backend torch`` runs) and of the same
encoder-decoder written with PyTorch modules (tests/torch_models.py: nn.Embedding, a
packed nn.GRU/nn.LSTM encoder, nn.Linear bridges, attention in torch ops, nn.GRU/nn.LSTM
decoder, nn.Linear output, tied where elman ties; torch.optim.Adam, "torch"), holding
the same initial weights, timed in turn after warm-up steps in one fresh process per
workload (``bench.py``'s machinery: the same rest before each block, the same thread
count for all). Sources and targets are synthetic ids of sentence-like lengths
(seeded), padded and masked as training pads them. Speeds are in target tokens per
second (the loss's tokens, <eos> included); the ratios are elman's over the others',
medians of repeated blocks.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import statistics
import sys
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from bench import (
    SETTLE_SECONDS,
    blas_info,
    blas_threads,
    clock,
    cpu_model,
    in_fresh_process,
    relative_difference,
    time_alternately,
)

from elman.data.padded import mask_of, pad
from elman.optim import Adam
from elman.torch_backend import TorchTranslator
from elman.torch_names import zeroed_biases
from elman.translate.model import TranslateConfig, Translator, TranslatorModelConfig

ROOT = Path(__file__).resolve().parents[1]
CLIP = 1.0
LR = 0.001
SEED = 0
N_BATCHES = 4  # distinct synthetic batches, cycled
CHECK_RTOL = 1e-4  # the two losses on the same weights should agree this closely


def torch_models():
    """tests/torch_models.py, loaded from its path (it is the tests' reference model)."""
    spec = importlib.util.spec_from_file_location(
        "torch_models", ROOT / "tests" / "torch_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_reference():
    spec = importlib.util.spec_from_file_location(
        "torch_reference", ROOT / "tests" / "torch_reference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Workload:
    cell: str
    source_vocab: int
    target_vocab: int
    embed: int
    hidden: int
    bidirectional: bool
    attention: str
    tie: bool
    batch: int
    source_length: tuple[int, int]  # lengths drawn uniformly from [low, high]
    target_length: tuple[int, int]


WORKLOADS = {
    # The multi30k recipe's shape: Multi30k's vocabularies at min-count 2, sentences of
    # 8-18 words.
    "multi30k": Workload(
        "gru", 7_900, 5_900, 256, 256, True, "general", True, 64, (8, 18), (8, 18)
    ),
    # The addition recipe's shape: characters, 5-7 in, 2-5 out (with <eos>).
    "addition": Workload("lstm", 13, 12, 16, 128, False, "general", False, 64, (5, 7), (2, 5)),
}


def elman_model(w: Workload) -> Translator:
    config = TranslatorModelConfig(
        vocab_size=w.target_vocab, embed=w.embed, hidden=w.hidden, cell=w.cell,
        bidirectional=w.bidirectional, tie=w.tie,
    )  # fmt: skip
    translate = TranslateConfig(source_vocab_size=w.source_vocab, attention=w.attention)
    return Translator(config, translate, seed=SEED, dtype=np.float32)


def torch_copy(model: Translator, w: Workload):
    """A TorchTranslator holding ``model``'s weights (``elman.torch_names``); the RNN and
    LSTM biases elman folds into one (bias_hh) are zero and frozen, so both models compute
    and update the same function."""
    ref = torch_models().TorchTranslator(
        w.cell, w.source_vocab, w.target_vocab, w.embed, w.hidden, 1, w.bidirectional,
        attention=w.attention, tie=w.tie,
    )  # fmt: skip
    torch_reference().load_into(torch, ref, model.params)
    tparams = dict(ref.named_parameters())
    for name in zeroed_biases(model.params):
        tparams[name].requires_grad_(False)
    return ref


def synthetic_batches(w: Workload) -> list[tuple[np.ndarray, ...]]:
    """N_BATCHES (source, lengths, inputs, targets, mask), right-padded, seeded."""
    rng = np.random.default_rng(SEED)
    batches = []
    for _ in range(N_BATCHES):
        source_lengths = rng.integers(w.source_length[0], w.source_length[1] + 1, w.batch)
        target_lengths = rng.integers(w.target_length[0], w.target_length[1] + 1, w.batch)
        source, lengths = pad([rng.integers(2, w.source_vocab, n) for n in source_lengths])
        targets, target_lengths = pad([rng.integers(2, w.target_vocab, n) for n in target_lengths])
        inputs = np.concatenate([np.ones((w.batch, 1), np.int64), targets[:, :-1]], axis=1)
        batches.append(
            (source, lengths, inputs, targets, mask_of(target_lengths, targets.shape[1]))
        )
    return batches


def elman_trainer(model: Translator):
    optimizer = Adam(model.flat_params, LR)

    def step(source, lengths, inputs, targets, mask) -> float:
        model.zero_grad()
        loss = model.forward(source, lengths, inputs, targets, mask)
        model.backward()
        optimizer.step(model.flat_grads, clip=CLIP)
        return loss

    return step


def backend_trainer(model: TorchTranslator):
    """The torch backend's step, as the training loop takes it."""
    optimizer = Adam(model.flat_params, LR, arrays=model.arrays)

    def step(source, lengths, inputs, targets, mask) -> float:
        model.zero_grad()
        loss = model.forward(source, lengths, inputs, targets, mask)
        model.backward()
        optimizer.step(model.flat_grads, clip=CLIP)
        return loss

    return step


def torch_trainer(ref):
    params = [p for p in ref.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=LR)

    def step(source, lengths, inputs, targets, mask) -> float:
        optimizer.zero_grad()
        loss = ref.translation_loss(source, lengths, inputs, targets, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        optimizer.step()
        return loss.item()

    return step


def bench_training(name: str, args: argparse.Namespace) -> dict:
    w = WORKLOADS[name]
    model = elman_model(w)
    ref = torch_copy(model, w)
    elman_step, torch_step = elman_trainer(model), torch_trainer(ref)
    backend_step = backend_trainer(TorchTranslator(elman_model(w)))
    batches = synthetic_batches(w)
    tbatches = [tuple(map(torch.from_numpy, b)) for b in batches]

    runs = {
        "elman": lambda i: elman_step(*batches[i % N_BATCHES]),
        "backend": lambda i: backend_step(*batches[i % N_BATCHES]),
        "torch": lambda i: torch_step(*tbatches[i % N_BATCHES]),
    }
    losses: dict[str, list[float]] = {fw: [] for fw in runs}
    for i in range(max(args.warmup, 2)):
        for fw, run in runs.items():
            losses[fw].append(run(i))
    diffs = [
        relative_difference(a, b)
        for other in ("backend", "torch")
        for a, b in zip(losses["elman"][:2], losses[other][:2], strict=True)
    ]

    seconds = time_alternately(runs, args.repeats, args.steps, clock(args))
    tokens = statistics.mean(int(b[4].sum()) for b in batches)  # target tokens per step
    result = {"workload": name, "config": asdict(w), "target_tokens_per_step": tokens}
    result["parameters"] = int(model.flat_params.size)
    for fw in runs:
        samples = [tokens / s for s in seconds[fw]]
        result[fw] = {"tokens_per_s": statistics.median(samples), "tokens_per_s_samples": samples}
    for other in ("backend", "torch"):
        result[f"ratio_elman_over_{other}"] = (
            result["elman"]["tokens_per_s"] / result[other]["tokens_per_s"]
        )
    result["check"] = {
        "compares": "mean cross-entropy of step 1 (same weights) and step 2 (after one "
        "update), the NumPy engine's against each of the others'",
        **{f"{fw}_losses": losses[fw][:2] for fw in runs},
        "max_relative_difference": max(diffs),
        "ok": max(diffs) <= CHECK_RTOL,
    }
    if not result["check"]["ok"]:
        print(f"  WARNING: {name}: losses differ by {max(diffs):.2e} relative", file=sys.stderr)
    return result


def run_workload(name: str, args: argparse.Namespace, threads: int) -> dict:
    torch.set_num_threads(threads)
    return bench_training(name, args)


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# elman's translator vs PyTorch eager",
        "",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- machine: {m['cpu']}, {m['cpu_count']} logical CPUs, load average "
        f"{m['load_average_start'][0]:.2f} at start, {report['load_average_end'][0]:.2f} at end",
        f"- python {m['python']}, numpy {m['numpy']}, torch {m['torch']}",
        f"- threads: {report['threads']} ({report['threads_source']}); "
        f"torch.get_num_threads() = {report['torch_threads']}",
        f"- numpy BLAS: {json.dumps(report['blas']['numpy'])}",
        f"- clock: {'CPU time of the process' if report['args'].get('cpu_time') else 'wall'}; "
        f"repeats {report['args']['repeats']}, steps per repeat {report['args']['steps']}, "
        f"warm-up {report['args']['warmup']}",
        "",
        "## Training step (zero grads, forward, backward, clip 1.0, Adam), float32",
        "",
        "| workload | parameters | B | target tokens/step | elman (NumPy) tok/s "
        "| torch backend tok/s | PyTorch eager tok/s | elman/backend | elman/torch "
        "| loss rel. diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for x in report["results"]:
        check = f"{x['check']['max_relative_difference']:.1e}"
        check += "" if x["check"]["ok"] else " MISMATCH"
        spread = {
            fw: f"{x[fw]['tokens_per_s']:,.0f} ({min(x[fw]['tokens_per_s_samples']):,.0f}.."
            f"{max(x[fw]['tokens_per_s_samples']):,.0f})"
            for fw in ("elman", "backend", "torch")
        }
        lines.append(
            f"| {x['workload']} | {x['parameters']:,} | {x['config']['batch']} | "
            f"{x['target_tokens_per_step']:,.0f} | {spread['elman']} | {spread['backend']} | "
            f"{spread['torch']} | {x['ratio_elman_over_backend']:.2f} | "
            f"{x['ratio_elman_over_torch']:.2f} | {check} |"
        )
    lines += [
        "",
        "elman/backend and elman/torch are the NumPy engine's speed divided by the torch "
        "backend's and by PyTorch eager's (below 1: the NumPy engine is slower); medians "
        "over repeats, (lowest..highest repeat) beside them.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per framework")
    parser.add_argument("--steps", type=int, default=5, help="training steps per timed block")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (at least 2)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the blocks by this process's CPU time (as bench.py --cpu-time)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for translate-latest.md and .json (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    unknown = [x for x in args.workloads if x not in WORKLOADS]
    if unknown:
        parser.error(
            f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}"
        )
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads, source = blas_threads()
    torch.set_num_threads(threads)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "load_average_start": os.getloadavg(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "threads": threads,
        "threads_source": source,
        "torch_threads": torch.get_num_threads(),
        "blas": blas_info(),
        "settle_seconds": SETTLE_SECONDS,
    }
    results = []
    for name in args.workloads:
        print(f"{name} ...", file=sys.stderr)
        results.append(in_fresh_process(run_workload, name, args, threads))
    report["results"] = results
    report["load_average_end"] = os.getloadavg()
    text = markdown(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "translate-latest.md").write_text(text)
    (args.out / "translate-latest.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
