"""Whole ``elman train`` processes against a plain PyTorch training loop, on bench.py's shapes.

    python benchmarks/train_vs_torch.py [--workloads rnn-ptb,lstm-char,gru-char] [--repeats 3]
                                        [--contestants ...] [--quick] [--out FILE.md]

An independent check of bench.py's ratios: here nothing is timed from inside. Each
contestant is a process of its own that trains a given number of steps on real text,
and the script times the whole process, wall clock, at two step counts. The speed is
the extra tokens over the extra seconds,

    (n_long - n_short) * B * T / (seconds(n_long) - seconds(n_short)),

so what both runs do once (start-up, imports, reading and tokenising the corpus,
building the model, the run's first and last saves and its final validation) cancels.

The contestants, on the same corpus, shapes and optimiser (SGD, lr 1, clip 0.25):

- ``elman train``: the command line, as a user runs it (``--max-steps N``), the
  recurrent products on numpy's matmul (``--gemm numpy``: what runs without the [mkl]
  extra).
- ``elman train mkl``: the same with ``--gemm mkl``, MKL's packed products.
- ``elman train auto``: the same with ``--gemm auto``, the default: MKL's products where
  the extra is installed and they were faster in the run's first timing, numpy's
  otherwise.
- ``bench step``: bench.py's elman step (``bench.elman_trainer``: zero grads, forward,
  backward, clipped SGD) in a bare loop over the same batches, without the training
  loop around it. ``elman train`` / ``bench step`` is what the loop costs on top
  (the "CLI gap").
- ``torch loop``: nn.Embedding -> nn.RNN(tanh) / nn.LSTM / nn.GRU -> nn.Linear,
  F.cross_entropy, clip_grad_norm_, torch.optim.SGD, the state detached between
  chunks, as pytorch/examples' word_language_model trains; torch's own
  initialisation, both biases, ``loss.item()`` every step as a logging loop reads it.

Workloads (shapes from bench.py's WORKLOADS): rnn-ptb and lstm-ptb on the Penn
Treebank's train.txt (word level; --ptb DIR), lstm-char and gru-char on the first 90%
of the built-in Tiny Shakespeare. Repeats are taken in turn (elman train, bench step, torch
loop, elman train, ...); the table gives medians and each repeat's rate. It also names
numpy's BLAS kernel (threadpoolctl's ``architecture``) and the load average before and
after: on a shared machine the ratios, taken in the same minutes, are what count.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from elman.data.batching import StreamBatches
from elman.data.corpus import tiny_shakespeare
from elman.data.text import split_text
from elman.data.tokenizers import make_tokenizer

HERE = Path(__file__).resolve().parent
CLIP = 0.25
LR = 1.0
CONTESTANTS = ("elman train", "elman train mkl", "elman train auto", "bench step", "torch loop")
GEMM = {"elman train": "numpy", "elman train mkl": "mkl", "elman train auto": "auto"}


@dataclass(frozen=True)
class Shape:
    """bench.py's workload (``bench.WORKLOADS``), restated so that this driver and the
    elman processes never import torch; ``check_shapes`` keeps the two equal."""

    cell: str
    level: str  # the corpus: "word" (PTB) or "char" (Tiny Shakespeare)
    embed: int
    hidden: int
    layers: int
    batch: int
    bptt: int
    steps: tuple[int, int]  # (short run, long run); --quick divides them
    quick_steps: tuple[int, int]


SHAPES = {
    "rnn-ptb": Shape("rnn", "word", 256, 256, 1, 20, 35, (20, 220), (10, 70)),
    "lstm-ptb": Shape("lstm", "word", 200, 200, 2, 20, 20, (20, 220), (10, 70)),
    # 3,200 tokens a step at a few thousand tokens/s: fewer steps for the same minute.
    "lstm-char": Shape("lstm", "char", 64, 512, 2, 32, 100, (10, 70), (5, 25)),
    "gru-char": Shape("gru", "char", 64, 512, 2, 32, 100, (10, 70), (5, 25)),
}


def check_shapes() -> None:
    """Fail if SHAPES and bench.WORKLOADS have drifted apart (run in a child process
    that imports bench, and with it torch)."""
    from bench import WORKLOADS  # only here: the driver itself stays free of torch

    for name, s in SHAPES.items():
        w = WORKLOADS[name]
        got = (s.cell, s.embed, s.hidden, s.layers, s.batch, s.bptt)
        want = (w.cell, w.embed, w.hidden, w.layers, w.batch, w.bptt)
        if got != want or w.softmax != "full":
            raise SystemExit(f"{name}: SHAPES says {got}, bench.WORKLOADS {want}")


# The corpora ------------------------------------------------------------------------


def corpus_file(shape: Shape, ptb: Path, tmp: Path) -> Path:
    """The training text: PTB's train.txt, or Tiny Shakespeare's first 90% written out
    (as ``elman train`` without --train splits it, minus the validation part, whose
    evaluation would only add noise)."""
    if shape.level == "word":
        path = ptb / "train.txt"
        if not path.is_file():
            raise SystemExit(f"{path} not found; give --ptb DIR holding the Penn Treebank")
        return path
    path = tmp / "shakespeare-train.txt"
    if not path.exists():
        path.write_text(split_text(tiny_shakespeare(), 0.9)[0], encoding="utf-8")
    return path


def stream_batches(shape: Shape, text_file: Path) -> tuple[StreamBatches, int]:
    """The batches ``elman train`` makes of the text (B streams, T steps), and V."""
    text = text_file.read_text(encoding="utf-8")
    tokenizer = make_tokenizer(shape.level, text)
    return StreamBatches(tokenizer.encode(text), shape.batch, shape.bptt), len(tokenizer)


# The contestants, each run as its own process -------------------------------------


def elman_command(
    shape: Shape, text_file: Path, steps: int, out: Path, gemm: str = "auto"
) -> list[str]:
    return [
        sys.executable, "-m", "elman", "train", "--train", str(text_file),
        "--out", str(out), "--overwrite", "--level", shape.level,
        "--cell", shape.cell, "--embed", str(shape.embed), "--hidden", str(shape.hidden),
        "--layers", str(shape.layers), "--batch", str(shape.batch), "--bptt", str(shape.bptt),
        "--optimizer", "sgd", "--lr", str(LR), "--clip", str(CLIP),
        "--max-steps", str(steps), "--epochs", "0", "--max-minutes", "0",
        "--restart-every", "0", "--gemm", gemm,
    ]  # fmt: skip


def child_command(kind: str, workload: str, text_file: Path, steps: int) -> list[str]:
    return [
        sys.executable, str(Path(__file__).resolve()), "--child", kind,
        "--workloads", workload, "--text", str(text_file), "--child-steps", str(steps),
    ]  # fmt: skip


def bench_step_child(shape: Shape, text_file: Path, steps: int) -> None:
    """bench.py's elman step over the batches ``elman train`` would read."""
    from bench import Workload, elman_model, elman_trainer  # bench imports torch

    from elman.blas import BlasThreads

    batches, vocab = stream_batches(shape, text_file)
    w = Workload(shape.cell, vocab, shape.embed, shape.hidden, shape.layers, shape.batch,
                 shape.bptt)  # fmt: skip
    model = elman_model(w)
    step = elman_trainer(model, BlasThreads())
    for k in range(steps):
        batch = batches[k % len(batches)]
        if batch.reset:
            model.reset_state()
        step(batch.inputs, batch.targets)


def torch_loop_child(shape: Shape, text_file: Path, steps: int) -> None:
    """A plain PyTorch training loop (see the module doc)."""
    import torch  # only in this child: the elman processes must not load torch's runtime
    import torch.nn.functional as F

    batches, vocab = stream_batches(shape, text_file)
    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(vocab, shape.embed)
            rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(shape.cell, torch.nn.RNN)
            self.rnn = rnn(shape.embed, shape.hidden, shape.layers, batch_first=True)
            self.output = torch.nn.Linear(shape.hidden, vocab)

        def forward(self, x, state):
            out, state = self.rnn(self.embed(x), state)  # (B, T, H)
            return self.output(out), state  # (B, T, V)

    model = Model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    state = None
    for k in range(steps):
        batch = batches[k % len(batches)]
        inputs, targets = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
        if batch.reset:
            state = None
        elif state is not None:  # truncated BPTT
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        optimizer.zero_grad()
        logits, state = model(inputs, state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        optimizer.step()
        loss.item()


# Timing -------------------------------------------------------------------------------


def run_seconds(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system, every thread) seconds of a process; its output
    is kept only if it fails."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=child_environment())
    seconds = time.perf_counter() - start
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return seconds, cpu


def child_environment() -> dict[str, str]:
    """This environment, with the benchmarks directory importable (for ``bench``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    return env


def measure(name: str, shape: Shape, args: argparse.Namespace, tmp: Path) -> dict:
    """Tokens per second of each contestant: medians over repeats, and every repeat."""
    text_file = corpus_file(shape, args.ptb, tmp)
    short, long = args.steps or (shape.quick_steps if args.quick else shape.steps)
    tokens = (long - short) * shape.batch * shape.bptt
    commands = {
        contestant: partial(elman_command, shape, text_file, out=tmp / f"run-{name}", gemm=gemm)
        for contestant, gemm in GEMM.items()
    }
    commands |= {
        "bench step": lambda n: child_command("bench", name, text_file, n),
        "torch loop": lambda n: child_command("torch", name, text_file, n),
    }
    commands = {c: commands[c] for c in args.contestants}
    rates: dict[str, list[float]] = {c: [] for c in args.contestants}
    cpu_rates: dict[str, list[float]] = {c: [] for c in args.contestants}
    for repeat in range(args.repeats):
        for contestant, command in commands.items():
            (wall_short, cpu_short), (wall_long, cpu_long) = (
                run_seconds(command(n)) for n in (short, long)
            )
            rates[contestant].append(tokens / (wall_long - wall_short))
            cpu_rates[contestant].append(tokens / (cpu_long - cpu_short))
            print(
                f"{name} repeat {repeat + 1}: {contestant} {wall_short:.1f} s "
                f"({short} steps), {wall_long:.1f} s ({long} steps): "
                f"{rates[contestant][-1]:,.0f} tokens/s, "
                f"{cpu_rates[contestant][-1]:,.0f} tokens per CPU second",
                file=sys.stderr,
            )
    return {"name": name, "steps": (short, long), "rates": rates, "cpu_rates": cpu_rates}


# Report -------------------------------------------------------------------------------


def blas_kernel() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (pip install threadpoolctl)"
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return ", ".join(
        f"{p['internal_api']} {p['version']} {p.get('architecture', '?')} "
        f"{p['num_threads']} threads"
        for p in pools
    )


def mkl_text() -> str:
    """MKL as elman.gemm finds it, or why it cannot run."""
    from elman.gemm import MklGemm, describe, mkl, mkl_problem

    problem = mkl_problem()
    return f"not used: {problem}" if problem else describe(MklGemm(mkl()))


def ratio_text(medians: dict[str, float], a: str, b: str) -> str:
    return f"{medians[a] / medians[b]:.2f}" if a in medians and b in medians else "-"


def markdown(results: list[dict], header: list[str]) -> str:
    lines = [*header, ""]
    measured = [c for c in CONTESTANTS if any(c in r["rates"] for r in results)]
    others = [c for c in measured if c != "torch loop"]
    for key, unit, what in (
        ("rates", "tok/s", "Wall clock: tokens per second"),
        ("cpu_rates", "tok/CPU s", "CPU time (user + system, all threads): tokens per CPU second"),
    ):
        ratios = [f"{c} / torch" for c in others if "torch loop" in measured]
        if "elman train" in measured and "bench step" in measured:
            ratios.append("elman train / bench step")
        columns = [f"{c} {unit}" for c in measured] + ratios
        lines += [
            f"## {what}",
            "",
            f"| workload | steps (short, long) | {' | '.join(columns)} |",
            "|---|---|" + "---:|" * len(columns),
        ]
        for r in results:
            rates = r[key]
            med = {c: statistics.median(rates[c]) for c in rates}
            cells = [
                f"{med[c]:,.0f} ({', '.join(f'{x:,.0f}' for x in rates[c])})" if c in med else "-"
                for c in measured
            ]
            ratio = partial(ratio_text, med)
            cells += [ratio(c, "torch loop") for c in others if "torch loop" in measured]
            if "elman train" in measured and "bench step" in measured:
                cells.append(ratio("elman train", "bench step"))
            steps = f"{r['steps'][0]}, {r['steps'][1]}"
            lines.append(f"| {r['name']} | {steps} | {' | '.join(cells)} |")
        lines.append("")
    lines += [
        "Rates: the extra tokens of the long run over its extra seconds, whole processes "
        "(start-up cancels); medians over repeats, each repeat in brackets; ratios of "
        "medians, below 1 the first is slower. Wall clock is the speed a user sees; CPU "
        "time is less sensitive to other processes on a loaded machine but counts the "
        "BLAS and OpenMP threads' spinning as work. elman train runs --gemm numpy (the "
        "recurrent products without the [mkl] extra), elman train mkl --gemm mkl, elman "
        "train auto the default --gemm auto.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workloads",
        default="rnn-ptb,lstm-char,gru-char",
        help=f"comma-separated, from {', '.join(SHAPES)} (default: rnn-ptb,lstm-char,gru-char)",
    )
    parser.add_argument(
        "--contestants",
        default=",".join(CONTESTANTS),
        help=f"comma-separated, from {', '.join(CONTESTANTS)} (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each step count")
    parser.add_argument(
        "--quick", action="store_true", help="fewer steps and one repeat: a look, not a figure"
    )
    parser.add_argument(
        "--ptb",
        type=Path,
        default=Path("/work/shared/data/ptb"),
        help="directory holding the Penn Treebank's train.txt",
    )
    parser.add_argument(
        "--steps",
        help="SHORT,LONG: the two step counts of every workload (default: 20,220 for the "
        "PTB shapes, 10,70 for lstm-char; with --quick 10,70 and 5,25)",
    )
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    # The child processes (internal).
    parser.add_argument("--child", choices=("bench", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--text", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    unknown = [x for x in args.workloads if x not in SHAPES]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(SHAPES)}")
    args.contestants = [x.strip() for x in args.contestants.split(",") if x.strip()]
    unknown = [x for x in args.contestants if x not in CONTESTANTS]
    if unknown:
        parser.error(
            f"unknown contestant(s) {', '.join(unknown)}; choose from {', '.join(CONTESTANTS)}"
        )
    if args.steps is not None:
        try:
            args.steps = tuple(int(x) for x in args.steps.split(","))
        except ValueError:
            parser.error(f"--steps expects SHORT,LONG, e.g. 20,220, got {args.steps}")
        if len(args.steps) != 2 or not 0 < args.steps[0] < args.steps[1]:
            parser.error(f"--steps expects SHORT,LONG with 0 < SHORT < LONG, got {args.steps}")
    if args.quick:
        args.repeats = 1
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        shape = SHAPES[args.workloads[0]]
        child = bench_step_child if args.child == "bench" else torch_loop_child
        child(shape, args.text, args.child_steps)
        return
    done = subprocess.run(
        [sys.executable, "-c", "import train_vs_torch as t; t.check_shapes()"],
        env=child_environment(),
    )
    if done.returncode != 0:
        raise SystemExit(done.returncode)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(name, SHAPES[name], args, Path(tmp)) for name in args.workloads]
    load_end = os.getloadavg()
    header = [
        "# Whole `elman train` processes vs a plain PyTorch loop",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; cpus: {os.cpu_count()}",
        f"- numpy {np.__version__} BLAS: {blas_kernel()}",
        f"- MKL (elman.gemm, the [mkl] extra): {mkl_text()}",
        "- load average (1, 5, 15 min) at start "
        f"{', '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{', '.join(f'{x:.2f}' for x in load_end)}",
        "- BLAS/OpenMP environment: "
        + (
            ", ".join(
                f"{k}={v}" for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))
            )
            or "none set"
        ),
    ]
    text = markdown(results, header)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
