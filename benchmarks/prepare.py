"""Corpora bigger than memory (issue 30): what ``elman prepare`` and training from a
prepared corpus cost, in memory and time, on a text of a gigabyte.

    python benchmarks/prepare.py [--size-mb 1000] [--dir /tmp/elman-prepare-bench]
                                 [--what char,word,train,korean] [--repeats 3]
                                 [--before OTHER/src] [--keep] [--out FILE]

1. Writes ``big.txt``: the shared corpora's Tiny Shakespeare, Penn Treebank training text
   and the NSMC reviews' text column (``base.txt``, 21.8 MB, 3,109 distinct characters)
   repeated to ``--size-mb``, so that it has base.txt's vocabulary.
2. ``elman prepare`` at character level (the workers elman chooses), then at word level
   with one process and with the workers elman chooses: wall time, MB/s over the whole
   command (every pass: sha256, counting, writing), and the peak anonymous memory
   (RssAnon, summed over the process and its workers, sampled every 20 ms: the memory
   map's file pages are not in it).
3. ``elman train --max-steps 50`` on the prepared character corpus (no validation) and on
   base.txt read into memory, the same model and vocabulary, ``--repeats`` times in
   turn: the step rate between steps 10 and 50 (``tokens_per_s`` of metrics.jsonl, a
   token a character; and per CPU second of the process, steadier on a loaded
   machine), the peak RssAnon, and the model's and optimiser's memory
   (parameters, gradients, two Adam moments, float32).
4. ``korean``: today's 124 MB case of the issue, the NSMC text column 8 times
   (ko8.txt), ``elman train --train ko8.txt --level char --max-steps 2``: time to the
   first step and peak memory, with this checkout (preparing into a fresh cache, then
   again from the cache, then in memory with ELMAN_PREPARE_ABOVE=1000) and, given
   ``--before OTHER/src``, with another checkout (e.g. ``git archive main | tar -x -C
   /tmp/elman-main``).

Prints a markdown table and writes ``--out`` (.md and .json). Deletes the texts and
corpora it wrote unless ``--keep``. Nothing here asserts a bound: the bounds of issue 30
are printed beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():
    DATA = Path("/work/shared/data")
ROOT = Path(__file__).resolve().parents[1]
POLL = 0.02
# The model trained in step 3: a character LSTM whose step is mostly its output layer.
MODEL = ["--cell", "lstm", "--embed", "64", "--hidden", "256", "--batch", "32", "--bptt", "50"]
TRAIN = [*MODEL, "--threads", "1", "--log-every", "10", "--save-every", "0"]
TOKENS_PER_STEP = 32 * 50
BOUND_MB = 600


def base_text(directory: Path) -> Path:
    """Tiny Shakespeare, the PTB training text and the NSMC reviews, one after another."""
    path = directory / "base.txt"
    with open(path, "wb") as out:
        out.write((DATA / "tinyshakespeare" / "input.txt").read_bytes())
        out.write((DATA / "ptb" / "train.txt").read_bytes())
        out.write(korean_text())
    return path


def korean_text() -> bytes:
    """The text column of NSMC's training reviews, a line each."""
    lines = (DATA / "nsmc" / "train.tsv").read_bytes().splitlines()
    return b"".join(line.split(b"\t", 1)[1] + b"\n" for line in lines)


def repeated(source: Path, path: Path, size: int) -> Path:
    """``source`` written again and again into ``path`` until it holds ``size`` bytes."""
    data = source.read_bytes()
    copies = -(-size // len(data))
    with open(path, "wb") as out:
        for _ in range(copies):
            out.write(data)
    return path


# Measuring a command ----------------------------------------------------------------------


def tree(root: int) -> list[int]:
    """``root`` and its descendants (from /proc/*/stat)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def status(pid: int, field: str) -> int:
    """A /proc/PID/status field in kB (0 if the process has gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of the processes (from /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def measured(
    command: list[str], env: dict[str, str], metrics: Path | None = None
) -> dict[str, Any]:
    """Run ``command``: its wall seconds, peak RssAnon and RSS (MB, summed over its process
    tree), and with ``metrics`` (a run's metrics.jsonl) the seconds to its first step and
    the CPU seconds of the process when each step was logged (``cpu_at_step``): on a
    machine others load, CPU time per step is steadier than the wall clock's."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    anon = rss = 0
    first = float("nan")
    cpu_at_step: dict[int, float] = {}
    pids, refreshed, read = [process.pid], 0.0, 0
    while process.poll() is None:
        now = time.perf_counter()
        if now - refreshed > 0.5:
            pids, refreshed = tree(process.pid), now
        anon = max(anon, sum(status(p, "RssAnon") for p in pids))
        rss = max(rss, sum(status(p, "VmRSS") for p in pids))
        if metrics is not None and metrics.is_file():
            lines = metrics.read_text().splitlines()
            for line in lines[read:]:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break  # a line being written: read it next time
                read += 1
                if record["event"] == "step":
                    cpu_at_step[record["step"]] = cpu_seconds([process.pid])
                    if first != first:
                        first = now - start
        time.sleep(POLL)
    seconds = time.perf_counter() - start
    out, err = process.communicate()
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    return {"seconds": seconds, "rss_anon_mb": anon / 1024, "rss_mb": rss / 1024,
            "first_step_s": first, "cpu_at_step": cpu_at_step}  # fmt: skip


def elman(*args: str) -> list[str]:
    return [sys.executable, "-m", "elman", *args]


def step_rate(metrics: Path, first: int = 10) -> float:
    """Characters a second between step ``first`` and the last step logged: from the
    epoch's running rate at each (``tokens_per_s`` over the steps since the epoch began)."""
    steps = [json.loads(line) for line in metrics.read_text().splitlines()]
    steps = [r for r in steps if r["event"] == "step"]
    a = next(r for r in steps if r["step"] == first)
    b = steps[-1]
    # time to step k = k * tokens per step / rate at k; the tokens per step cancel out
    seconds = b["step"] / b["tokens_per_s"] - a["step"] / a["tokens_per_s"]
    return (b["step"] - a["step"]) / seconds


def cpu_step_rate(cpu_at_step: dict[int, float], tokens_per_step: int, first: int = 10) -> float:
    """Tokens per CPU second between step ``first`` and the last step logged."""
    last = max(cpu_at_step)
    return (last - first) * tokens_per_step / (cpu_at_step[last] - cpu_at_step[first])


def model_memory_mb(run: Path) -> float:
    """Parameters, gradients and Adam's two moments, float32, of the run's model."""
    import safetensors.numpy

    weights = safetensors.numpy.load_file(run / "model.safetensors")
    return 4 * 4 * sum(w.size for w in weights.values()) / 2**20


# The benchmark ----------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=1000)
    parser.add_argument("--dir", default="/tmp/elman-prepare-bench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument(
        "--what",
        default="char,word,train,korean",
        help="what to measure, comma-separated: char and word (prepare at that level), train "
        "(needs char), korean (the 124 MB case); default all",
    )
    parser.add_argument("--before", metavar="SRC", help="another checkout's src, for korean")
    parser.add_argument("--keep", action="store_true", help="keep the texts and corpora")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "prepare"))
    args = parser.parse_args()
    what = set(args.what.split(","))

    work = Path(args.dir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "ELMAN_CACHE": str(work / "cache")}
    report: dict = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_at_start": os.getloadavg(),
        "python": platform.python_version(),
    }
    rows = []
    try:
        base = base_text(work)
        if what & {"char", "word", "train"}:
            big = repeated(base, work / "big.txt", int(args.size_mb * 1e6))
            size = big.stat().st_size
            report["text"] = {"bytes": size, "base_bytes": base.stat().st_size}
            print(f"{big}: {size / 1e6:,.0f} MB", flush=True)

        runs = [("char", "char", []), ("word, 1 process", "word", ["--workers", "1"]),
                ("word", "word", [])]  # fmt: skip
        for name, level, extra in [run for run in runs if run[1] in what]:
            out = work / f"corpus-{level}"
            shutil.rmtree(out, ignore_errors=True)
            m = measured(elman("prepare", "--train", str(big), "--out", str(out), "--level",
                               level, *extra), env)  # fmt: skip
            m["mb_per_s"] = size / 1e6 / m["seconds"]
            m["tokens"] = json.loads((out / "corpus.json").read_text())["parts"]["train"]["tokens"]
            report[f"prepare {name}"] = m
            rows.append((f"elman prepare --level {level} {' '.join(extra)}".strip(),
                         f"{m['seconds']:.0f} s, {m['mb_per_s']:.1f} MB/s",
                         f"{m['rss_anon_mb']:.0f}",
                         f"≤ {BOUND_MB}" if level == "char" else "(none)"))  # fmt: skip
            print(rows[-1], flush=True)
            if level == "word":
                shutil.rmtree(out, ignore_errors=True)

        if "train" in what:
            corpus = work / "corpus-char"
            steps = ["--max-steps", str(args.steps)]
            rates: dict[str, list[float]] = {"prepared": [], "memory": []}
            cpu_rates: dict[str, list[float]] = {"prepared": [], "memory": []}
            anon: dict[str, list[float]] = {"prepared": [], "memory": []}
            for repeat in range(args.repeats):
                for name, given in (("memory", base), ("prepared", corpus)):
                    run = work / f"run-{name}-{repeat}"
                    m = measured(elman("train", "--train", str(given), "--out", str(run), *TRAIN,
                                       *steps), env, run / "metrics.jsonl")  # fmt: skip
                    rates[name].append(step_rate(run / "metrics.jsonl"))
                    cpu_rates[name].append(cpu_step_rate(m["cpu_at_step"], TOKENS_PER_STEP))
                    anon[name].append(m["rss_anon_mb"])
                    print(name, repeat, round(rates[name][-1]), round(cpu_rates[name][-1]),
                          round(m["rss_anon_mb"]), flush=True)  # fmt: skip
            model_mb = model_memory_mb(work / "run-memory-0")
            report["train"] = {"rates": rates, "cpu_rates": cpu_rates, "rss_anon_mb": anon,
                               "model_and_optimiser_mb": model_mb}  # fmt: skip
            rate = {k: statistics.median(v) for k, v in rates.items()}
            cpu = {k: statistics.median(v) for k, v in cpu_rates.items()}
            peak = {k: max(v) for k, v in anon.items()}
            ratio = rate["prepared"] / rate["memory"]
            cpu_ratio = cpu["prepared"] / cpu["memory"]
            rows.append((
                f"train {args.steps} steps from the prepared {size / 1e9:.1f} GB",
                f"{rate['prepared']:,.0f} chars/s, {cpu['prepared']:,.0f} per CPU second "
                f"({ratio:.3f} and {cpu_ratio:.3f} of in memory)",
                f"{peak['prepared']:.0f}",
                f"≤ {BOUND_MB} + model and optimiser ({model_mb:.0f}); rate within 5%",
            ))  # fmt: skip
            rows.append((
                f"train {args.steps} steps from base.txt in memory "
                f"({base.stat().st_size / 1e6:.1f} MB)",
                f"{rate['memory']:,.0f} chars/s, {cpu['memory']:,.0f} per CPU second",
                f"{peak['memory']:.0f}",
                "",
            ))  # fmt: skip

        if "korean" in what:
            ko8 = work / "ko8.txt"
            ko8.write_bytes(korean_text() * 8)
            train = ["train", "--train", str(ko8), "--level", "char", "--max-steps", "2",
                     "--log-every", "1"]  # fmt: skip
            checkouts = [("before", args.before, {})] if args.before else []
            checkouts += [
                ("this, preparing", None, {}),
                ("this, from the cache", None, {}),
                ("this, in memory", None, {"ELMAN_PREPARE_ABOVE": "1000"}),
            ]
            for name, src, more in checkouts:
                run = work / f"ko8-{name.split(',')[0]}-{len(rows)}"
                there = {**env, **more, **({"PYTHONPATH": src} if src else {})}
                m = measured(elman(*train, "--out", str(run)), there, run / "metrics.jsonl")
                report[f"ko8 {name}"] = m
                rows.append((f"ko8.txt (124 MB) to the first step: {name}",
                             f"{m['first_step_s']:.1f} s", f"{m['rss_anon_mb']:.0f}",
                             f"peak RSS {m['rss_mb']:.0f} MB"))  # fmt: skip
                print(rows[-1], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["load_at_end"] = os.getloadavg()
    table = ["| what | time, speed | peak RssAnon (MB) | bound, note |", "|---|---|---:|---|"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    stamp = (f"{report['date']}, {report['cpu']} ({report['cores']} cores), load "
             f"{report['load_at_start'][0]:.1f} at start and {report['load_at_end'][0]:.1f} "
             f"at end; `{report['command']}`")  # fmt: skip
    text = "\n".join([stamp, "", *table]) + "\n"
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
