"""Full softmax against adaptive softmax on the Penn Treebank, trained the same way.

    python benchmarks/adaptive_ptb.py [--epochs 2] [--data DIR] [--optimizer adam]
                                      [--lr 0] [--clip 1] [--max-steps 0] [--log-every 50]

Trains the ``rnn-ptb`` model of bench.py (word level, tanh RNN, embedding 256,
hidden 256, batch 20, bptt 35) twice with ``elman.train``, once with each
output layer, from the same seed and with the same optimiser settings, and prints
a markdown table: training speed, validation perplexity after each epoch, and the
adaptive softmax's speed and perplexity relative to the full softmax's.

Speed is the median over the logged intervals (every ``--log-every`` steps) of
tokens / seconds, from the ``tokens_per_s`` that ``metrics.jsonl`` records at each
logged step (tokens since the epoch's start over the time since then), so
evaluation is left out. Validation perplexity is exact for both: the adaptive
softmax's loss is -log p(cluster | h) - log p(token | cluster, h). Nothing is
written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from elman.data.batching import make_batches
from elman.data.tokenizers import make_tokenizer
from elman.lm.config import LanguageModelTrainConfig
from elman.lm.kind import train
from elman.lm.model import LanguageModel, LanguageModelConfig

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "ptb"
SOFTMAXES = ("full", "adaptive")


def interval_speeds(records: list[dict], batch_tokens: np.ndarray, steps_per_epoch: int) -> list:
    """Tokens per second over each logged interval, evaluation excluded.

    A step record holds the speed since its epoch's start, tokens(s) / time(s), so
    time(s) = tokens(s) / speed(s), with tokens(s) the real tokens of the epoch's first
    batches (``batch_tokens``, one count per batch, in order).
    """
    cumulative = np.cumsum(batch_tokens)
    speeds = []
    previous = {}  # epoch -> (tokens, seconds) at its last logged step
    for r in records:
        if r.get("event") != "step":
            continue
        in_epoch = r["step"] - (r["epoch"] - 1) * steps_per_epoch  # batches done this epoch
        tokens = float(cumulative[in_epoch - 1])
        seconds = tokens / r["tokens_per_s"]
        tokens_before, seconds_before = previous.get(r["epoch"], (0.0, 0.0))
        speeds.append((tokens - tokens_before) / (seconds - seconds_before))
        previous[r["epoch"]] = (tokens, seconds)
    return speeds


def run(softmax: str, texts: dict[str, str], args: argparse.Namespace) -> dict:
    tokenizer = make_tokenizer("word", texts["train"])
    model_config = LanguageModelConfig(
        vocab_size=len(tokenizer), embed=256, hidden=256, cell="rnn", softmax=softmax
    )
    train_config = LanguageModelTrainConfig(
        level="word",
        batch=20,
        bptt=35,
        epochs=args.epochs,
        max_steps=args.max_steps,
        optimizer=args.optimizer,
        lr=args.lr,
        clip=args.clip,
        seed=args.seed,
        save_every=0,
        log_every=args.log_every,
    )
    model = LanguageModel(model_config, seed=args.seed)
    batches = make_batches(tokenizer.encode(texts["train"]), "carry", tokenizer.eos_id, 20, 35)
    batch_tokens = np.array(
        [b.targets.size if b.mask is None else int(b.mask.sum()) for b in batches]
    )
    print(f"{softmax} softmax: {model.flat_params.size:,} parameters ...", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        history = train(
            model, tokenizer, texts["train"], texts["valid"], train_config, out, progress=False
        )
        lines = (Path(out) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    speeds = interval_speeds([json.loads(line) for line in lines], batch_tokens, len(batches))
    return {
        "softmax": softmax,
        "cutoffs": model.config.cutoffs,
        "parameters": int(model.flat_params.size),
        "tokens_per_s": statistics.median(speeds),
        "intervals": len(speeds),
        "valid_ppl": [r["valid_ppl"] for r in history],
        "wall_seconds": time.perf_counter() - start,
        "load_average": os.getloadavg(),  # 1, 5 and 15 minutes, at the run's end
    }


def markdown(results: list[dict], args: argparse.Namespace, load: tuple) -> str:
    full = results[0]
    epochs = max(len(r["valid_ppl"]) for r in results)
    lines = [
        "# Full vs adaptive softmax, word-level PTB, tanh RNN 256/256, batch 20, bptt 35",
        "",
        f"- date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- {os.cpu_count()} logical CPUs, load average {load[0]:.2f} at start, "
        f"{os.getloadavg()[0]:.2f} at end",
        f"- optimizer {args.optimizer}, lr {args.lr or 'default'}, clip {args.clip}, "
        f"seed {args.seed}, float32",
        "",
        "| softmax | parameters | tokens/s (median) | "
        + " | ".join(f"valid ppl epoch {e + 1}" for e in range(epochs))
        + " | speed vs full | valid ppl vs full | minutes | load average at end (1, 15 min) |",
        "|---|---:|---:|" + "---:|" * epochs + "---:|---:|---:|---|",
    ]
    for r in results:
        name = r["softmax"] + (f" ({r['cutoffs']})" if r["cutoffs"] else "")
        ppls = [f"{p:.2f}" for p in r["valid_ppl"]] + ["-"] * (epochs - len(r["valid_ppl"]))
        lines.append(
            f"| {name} | {r['parameters']:,} | {r['tokens_per_s']:,.0f} | "
            + " | ".join(ppls)
            + f" | {r['tokens_per_s'] / full['tokens_per_s']:.2f} | "
            f"{r['valid_ppl'][-1] / full['valid_ppl'][-1]:.3f} | "
            f"{r['wall_seconds'] / 60:.1f} | "
            f"{r['load_average'][0]:.2f}, {r['load_average'][2]:.2f} |"
        )
    lines += [
        "",
        "tokens/s: median over the logged intervals of every "
        f"{args.log_every} steps ({', '.join(str(r['intervals']) for r in results)} "
        "intervals), evaluation excluded. The ratios divide the adaptive softmax's "
        "speed and last validation perplexity by the full softmax's. The runs are "
        "sequential: a load average above the CPU count during one of them skews the "
        "speed ratio (not the perplexities).",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help=f"directory with the PTB train.txt and valid.txt (default: {DEFAULT_DATA})",
    )
    parser.add_argument("--epochs", type=int, default=2, help="epochs for each (default: 2)")
    parser.add_argument(
        "--max-steps", type=int, default=0, help="stop each run after N steps (0: no limit)"
    )
    parser.add_argument(
        "--optimizer", choices=("adam", "sgd"), default="adam", help="default: adam"
    )
    parser.add_argument(
        "--lr", type=float, default=0.0, help="0: the optimiser's default (0.002 for adam)"
    )
    parser.add_argument("--clip", type=float, default=1.0, help="global norm (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="default: 0")
    parser.add_argument(
        "--log-every", type=int, default=50, help="steps per timed interval (default: 50)"
    )
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    for name in ("train.txt", "valid.txt"):
        if not (args.data / name).is_file():
            parser.error(f"{args.data / name} does not exist; pass --data DIR")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()
    texts = {
        role: (args.data / f"{role}.txt").read_text(encoding="utf-8") for role in ("train", "valid")
    }
    results = [run(softmax, texts, args) for softmax in SOFTMAXES]
    print(markdown(results, args, load))


if __name__ == "__main__":
    main()
