"""Speed of elman and PyTorch when other processes want the cores too.

    python benchmarks/contention.py [--workloads rnn-ptb,...,generate] [--busy 2]
                                    [--repeats 5] [--steps 10] [--tokens 200]
                                    [--demo-repeats 3] [--demo-python PYTHON ...]

For every workload of bench.py, tokens per second on the quiet machine and again
while ``--busy`` CPU-bound processes (``yes > /dev/null``, which this script starts
and stops itself) compete for the cores, for elman (choosing its BLAS threads as
``elman train`` does, see elman/blas.py) and for PyTorch (as many threads as numpy's
BLAS has). Then the whole ``elman train --max-steps 60`` process (the demo model on
the built-in corpus), quiet and loaded, once for each ``--demo-python`` interpreter:
give another checkout's interpreter to compare two versions of elman. See
benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from bench import (
    GENERATE_MODELS,
    WARMUP_STEPS,
    WORKLOADS,
    blas_info,
    blas_threads,
    cpu_model,
    elman_gemms,
    generation_models,
    generation_steps,
    in_fresh_process,
    time_alternately,
    training_steps,
)

from elman.blas import BlasThreads

DEMO = ["-m", "elman", "train", "--max-steps", "60"]  # the demo model, built-in corpus


def busy_command() -> list[str]:
    """A CPU-bound process: ``yes`` (its output goes to /dev/null), or a Python loop
    where there is no ``yes``."""
    return ["yes"] if shutil.which("yes") else [sys.executable, "-c", "while True: pass"]


@contextmanager
def busy(n: int) -> Iterator[list[subprocess.Popen]]:
    """``n`` busy processes for the duration of the block, stopped however it ends."""
    processes: list[subprocess.Popen] = []
    try:
        for _ in range(n):
            processes.append(subprocess.Popen(busy_command(), stdout=subprocess.DEVNULL))
        time.sleep(0.5)  # let the scheduler spread them over the cores
        yield processes
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def measure(name: str, args: argparse.Namespace, threads: int) -> list[dict]:
    """Tokens per second of elman and torch on workload ``name`` (``generate``: one
    result per model), each framework's blocks taken in turn; run in a fresh process."""
    torch.set_num_threads(threads)
    results = []
    for workload in GENERATE_MODELS if name == "generate" else [name]:
        w = WORKLOADS[workload]
        if name == "generate":
            blas = {"elman": BlasThreads()}
            runs = generation_steps(*generation_models(w), blas["elman"])
            label, tokens, n = f"generate ({workload})", 1, args.tokens
        else:
            gemms = elman_gemms()  # numpy's products, and MKL's with the [mkl] extra
            blas = {name: BlasThreads() for name in gemms}
            runs = training_steps(w, gemms, blas)
            label, tokens, n = workload, w.batch * w.bptt, args.steps
        for i in range(args.warmup):
            for run in runs.values():
                run(i)
        seconds = time_alternately(runs, args.repeats, n)
        result = {"workload": label, "elman_threads": blas["elman"].choice}
        if "elman-mkl" in blas:
            result["elman_mkl_threads"] = blas["elman-mkl"].choice
        for fw, s in seconds.items():
            samples = [tokens / x for x in s]
            result[fw] = {"tokens_per_s": statistics.median(samples), "samples": samples}
        results.append(result)
    return results


def demo_seconds(python: str, repeats: int) -> list[float]:
    """Wall-clock seconds of whole ``elman train --max-steps 60`` processes."""
    seconds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeats):
            start = time.perf_counter()
            done = subprocess.run(
                [python, *DEMO, "--out", str(Path(tmp) / str(i))],
                cwd=tmp,
                capture_output=True,
                text=True,
            )
            seconds.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"{python} {shlex.join(DEMO)} failed:\n{done.stderr}")
    return seconds


def elman_version(python: str) -> str:
    """Where the interpreter imports elman from, and that checkout's commit if any."""
    where = subprocess.run(
        [python, "-c", "import elman, os; print(os.path.dirname(elman.__file__))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    commit = subprocess.run(
        ["git", "-C", where or ".", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return f"{where} ({commit or 'no git'})"


def percent(loaded: float, quiet: float) -> str:
    return f"{100 * loaded / quiet:.0f}%"


def markdown(report: dict) -> str:
    blas = [lib for lib in report["blas"]["numpy"] if lib.get("user_api") == "blas"]
    lines = [
        "# elman and PyTorch with other processes on the cores",
        "",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- machine: {report['cpu']}, {report['cpu_count']} logical CPUs; load average "
        f"{report['load_average_start'][0]:.2f} at start, {report['load_average_end'][0]:.2f} "
        "at end",
        f"- load: {report['busy']} x `{shlex.join(report['busy_command'])}`, started and "
        "stopped by the script",
        "- numpy BLAS: "
        + "; ".join(
            f"{lib['internal_api']} {lib.get('version')}, kernel {lib.get('architecture')}, "
            f"{lib['num_threads']} threads"
            for lib in blas
        ),
        f"- torch {torch.__version__}, {report['torch_threads']} threads; numpy {np.__version__}",
        f"- BLAS/OpenMP environment: {json.dumps(report['blas']['environment'])}",
        f"- repeats {report['args']['repeats']}, steps per repeat {report['args']['steps']}, "
        f"tokens per repeat (generate) {report['args']['tokens']}, warm-up "
        f"{report['args']['warmup']}",
        "",
    ]
    if report["results"]:
        lines += [
            "## Tokens per second, quiet and loaded (medians of repeats)",
            "",
            "| workload | elman quiet | elman loaded | elman loaded / quiet | elman threads "
            "quiet / loaded | torch quiet | torch loaded | torch loaded / quiet |",
            "|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for x in report["results"]:
            q, b = x["quiet"], x["loaded"]
            e = [q["elman"]["tokens_per_s"], b["elman"]["tokens_per_s"]]
            t = [q["torch"]["tokens_per_s"], b["torch"]["tokens_per_s"]]
            lines.append(
                f"| {x['workload']} | {e[0]:,.0f} | {e[1]:,.0f} | **{percent(e[1], e[0])}** | "
                f"{q['elman_threads']} / {b['elman_threads']} | {t[0]:,.0f} | {t[1]:,.0f} | "
                f"{percent(t[1], t[0])} |"
            )
        lines.append("")
    with_mkl = [x for x in report["results"] if "elman-mkl" in x["quiet"]]
    if with_mkl:
        lines += [
            "## elman on MKL's packed recurrent products (the [mkl] extra, --gemm mkl)",
            "",
            "| workload | elman mkl quiet | elman mkl loaded | loaded / quiet "
            "| threads quiet / loaded |",
            "|---|---:|---:|---:|---|",
        ]
        for x in with_mkl:
            q, b = x["quiet"], x["loaded"]
            k = [q["elman-mkl"]["tokens_per_s"], b["elman-mkl"]["tokens_per_s"]]
            lines.append(
                f"| {x['workload']} | {k[0]:,.0f} | {k[1]:,.0f} | **{percent(k[1], k[0])}** | "
                f"{q['elman_mkl_threads']} / {b['elman_mkl_threads']} |"
            )
        lines.append("")
    if report["demo"]:
        lines += [
            "## `elman train --max-steps 60` (demo model, built-in corpus), whole process",
            "",
            "| elman | quiet s | loaded s | loaded / quiet speed |",
            "|---|---:|---:|---:|",
        ]
        for d in report["demo"]:
            q, b = statistics.median(d["quiet"]), statistics.median(d["loaded"])
            lines.append(f"| {d['elman']} | {q:.1f} | {b:.1f} | **{percent(q, b)}** |")
        lines.append("")
    lines += [
        "Loaded: while the busy processes run. elman threads: the BLAS thread count elman "
        "had settled on at the end (elman.blas). Demo times are medians over "
        f"{report['args']['demo_repeats']} runs each, seconds of wall clock from start to "
        "exit (imports, reading the corpus, 60 steps, validation, the sample).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [*WORKLOADS, "generate"]
    parser.add_argument(
        "--workloads",
        default=",".join(names),
        help=f"comma-separated, from {', '.join(names)} (default: all; '' for none)",
    )
    parser.add_argument("--busy", type=int, default=2, help="busy processes for 'loaded'")
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per framework")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS, help="untimed steps first")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per block (generate)")
    parser.add_argument(
        "--demo-repeats", type=int, default=3, help="runs of the demo per condition (0: none)"
    )
    parser.add_argument(
        "--demo-python",
        action="append",
        help="interpreter whose elman runs the demo; repeat to compare checkouts "
        "(default: this one)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for contention.md and contention.json (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    unknown = [x for x in args.workloads if x not in names]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    for flag in ("busy", "repeats", "steps", "tokens"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    args.demo_python = args.demo_python or [sys.executable]
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # A terminated script still stops its busy processes (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    threads, _ = blas_threads()
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "busy": args.busy,
        "busy_command": busy_command(),
        "torch_threads": threads,
        "blas": blas_info(),
    }
    results = []
    for name in args.workloads:
        print(f"{name}: quiet ...", file=sys.stderr)
        quiet = in_fresh_process(measure, name, args, threads)
        with busy(args.busy):
            print(f"{name}: loaded ...", file=sys.stderr)
            loaded = in_fresh_process(measure, name, args, threads)
        for q, b in zip(quiet, loaded, strict=True):
            workload = q.pop("workload")
            assert b.pop("workload") == workload
            results.append({"workload": workload, "quiet": q, "loaded": b})
    demo = []
    for python in args.demo_python if args.demo_repeats else []:
        print(f"demo with {python}: quiet ...", file=sys.stderr)
        entry = {"python": python, "elman": elman_version(python)}
        entry["quiet"] = demo_seconds(python, args.demo_repeats)
        with busy(args.busy):
            print(f"demo with {python}: loaded ...", file=sys.stderr)
            entry["loaded"] = demo_seconds(python, args.demo_repeats)
        demo.append(entry)
    report.update(results=results, demo=demo, load_average_end=os.getloadavg())

    text = markdown(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "contention.md").write_text(text)
    (args.out / "contention.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'contention.md'} and {args.out / 'contention.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
