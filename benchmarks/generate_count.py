"""``elman generate --count N``: N samples drawn as one batch against one at a time.

    python benchmarks/generate_count.py [--model DIR] [--count 32] [--length 200]
                                        [--repeats 5] [--before-src DIR] [--out FILE.md]

In one process, on the same loaded model: the N samples as ``elman generate --count N``
drew them before issue #31 (``generate(..., seed=seed + k, stop_at_line_end=True)`` for
k = 0 .. N-1, one stream each) and as it draws them now (``elman.lm.generate.samples``:
the N streams as one batch), alternately, ``--repeats`` times; the medians, their ratio,
and the share of the sequential samples' characters the batched ones repeat. Then the
whole ``elman generate`` process (imports, loading, sampling) with this checkout, and
with ``--before-src DIR`` (the ``src`` directory of another checkout, put first on
PYTHONPATH) with that one too. Without ``--model`` it trains the built-in demo model
first (``elman train --max-steps 60``, a few seconds; with the older checkout when given,
since a checkpoint names the settings of the version that wrote it).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import threadpoolctl

from elman.lm import checkpoint
from elman.lm.generate import generate, samples


def agreement(batched: list[str], sequential: list[str]) -> float:
    """The share of the sequential samples' characters the batched ones repeat before
    their first difference."""
    same = sum(len(os.path.commonprefix([a, b])) for a, b in zip(batched, sequential, strict=True))
    return same / max(sum(len(b) for b in sequential), 1)


def in_process(model_dir: Path, count: int, length: int, repeats: int) -> dict:
    ckpt = checkpoint.load(model_dir)
    model, tokenizer = ckpt.model, ckpt.tokenizer
    runs = {
        "sequential": lambda: [
            generate(model, tokenizer, "", length, seed=k, stop_at_line_end=True)
            for k in range(count)
        ],
        "batched": lambda: list(samples(model, tokenizer, count, "", length, seed=0)),
    }
    texts = {name: run() for name, run in runs.items()}  # also a warm-up
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(0.3)  # BLAS threads of the last run stop spinning
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {
        "seconds": seconds,
        "agreement": agreement(texts["batched"], texts["sequential"]),
        "characters": sum(len(t) for t in texts["sequential"]),
        "longest": max(len(t) for t in texts["sequential"]),
    }


def process_seconds(src: str | None, model_dir: Path, count: int, length: int) -> float:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "elman", "generate", "--model", str(model_dir)]
    command += ["--count", str(count), "--length", str(length)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed:\n{done.stderr}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, help="a language model's checkpoint directory")
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--length", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before-src", help="another checkout's src directory, timed too")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model
        if model_dir is None:  # the demo model, by the older checkout if given: both read it
            model_dir = Path(tmp) / "demo"
            env = dict(os.environ)
            if args.before_src:
                paths = [args.before_src, env.get("PYTHONPATH")]
                env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
            subprocess.run(
                [sys.executable, "-m", "elman", "train", "--max-steps", "60", "--out",
                 str(model_dir)],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
        result = in_process(model_dir, args.count, args.length, args.repeats)
        checkouts = {"this checkout": None, **({args.before_src: args.before_src}
                                               if args.before_src else {})}  # fmt: skip
        processes: dict[str, list[float]] = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, src in checkouts.items():
                processes[name].append(process_seconds(src, model_dir, args.count, args.length))
    seq, bat = (statistics.median(result["seconds"][k]) for k in ("sequential", "batched"))
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    lines = [
        f"# `elman generate --count {args.count} --length {args.length}`: one batch against "
        "one sample at a time",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; cpus: {os.cpu_count()}; numpy "
        f"{np.__version__}, BLAS "
        + ", ".join(f"{p['internal_api']} {p.get('architecture')}" for p in blas),
        "- load average (1, 5, 15 min) at start "
        f"{', '.join(f'{x:.2f}' for x in load_start)}, at end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- model: {args.model or 'the demo model (elman train --max-steps 60)'}; the "
        f"sequential samples have {result['characters']:,} characters, the longest "
        f"{result['longest']}",
        "",
        "| in one process | seconds (median) | each repeat |",
        "|---|---:|---|",
        *(
            f"| {name} | {statistics.median(s):.3f} | {', '.join(f'{x:.3f}' for x in s)} |"
            for name, s in result["seconds"].items()
        ),
        "",
        f"Batched over sequential: **{seq / bat:.2f}x** as fast; the batched samples repeat "
        f"{100 * result['agreement']:.2f}% of the sequential samples' characters.",
        "",
        "| whole `elman generate` process | seconds (median) | each repeat |",
        "|---|---:|---|",
        *(
            f"| {name} | {statistics.median(s):.2f} | {', '.join(f'{x:.2f}' for x in s)} |"
            for name, s in processes.items()
        ),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
