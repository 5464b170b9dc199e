"""One to many: a label-conditioned language model against an unconditioned one of the
same size, and texts generated per label read back by a classifier. Not part of the test
suite; each model trains for at most --max-minutes.

    # Korean movie reviews (the nsmc-conditioned recipe's table, docs/korean.md)
    python benchmarks/conditioned.py --name nsmc --train ../shared/data/nsmc/train.tsv \
        --valid ../shared/data/nsmc/valid.tsv --test ../shared/data/nsmc/test.tsv \
        --recipe nsmc-conditioned --classifier runs/nsmc-sentiment
    # the SMS Spam Collection (docs/conditioned.md), peeky
    python benchmarks/conditioned.py --name sms --data ../shared/data/sms_spam/SMSSpamCollection \
        --flags "--level char --cell lstm --embed 64 --hidden 256 --dropout 0.2 --epochs 20" --peeky

1. The classifier: --classifier DIR, or `elman classify train` on the same parts.
2. `elman train --condition label` on the labelled parts (--data is split as the
   classifier splits it, so both see the same parts).
3. `elman train --state reset` on the same parts' texts without their labels, same flags,
   on the same data: as many epochs, or as many steps when the conditioned model's time
   limit stopped it part-way through one.
4. Held-out perplexity and bits per character per label: the conditioned model given the
   true label and given another label, the unconditioned model.
5. --samples texts generated per label (temperature 1), classified by the classifier,
   beside the share of real test texts of that label it classifies as that label (its
   recall: a faithful generator cannot be recognised more often than real text).

Prints a markdown table and writes benchmarks/results/conditioned-NAME.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from elman.config import SplitConfig
from elman.data.labeled import Example, read_labeled, stratified_split

RESULTS = Path(__file__).parent / "results"


def elman(*args: object) -> str:
    print("+ elman", " ".join(map(str, args)), flush=True)
    result = subprocess.run(
        [sys.executable, "-m", "elman", *map(str, args)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return result.stdout


def read_parts(args: argparse.Namespace) -> dict[str, list[Example]]:
    """The training, validation and test examples: three files, or --data split as
    ``elman classify train`` splits it."""
    if args.data is None:
        return {part: read_labeled(getattr(args, part)) for part in ("train", "valid", "test")}
    examples = read_labeled(args.data)
    split = SplitConfig()
    rows = stratified_split([e.label for e in examples], split.valid_fraction,
                            split.test_fraction, split.split_seed)  # fmt: skip
    names = ("train", "valid", "test")
    return {part: [examples[i] for i in index] for part, index in zip(names, rows, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="names the results file")
    parser.add_argument("--data", help="one labelled file, split 70/10/20 as the classifier does")
    parser.add_argument("--train", help="labelled training texts (with --valid and --test)")
    parser.add_argument("--valid")
    parser.add_argument("--test")
    parser.add_argument("--recipe", help="the language models' recipe (elman train --recipe)")
    parser.add_argument("--flags", default="", help="the language models' flags, over the recipe")
    parser.add_argument("--peeky", action="store_true", help="the conditioned model also --peeky")
    parser.add_argument("--classifier", help="a trained classifier (default: train one)")
    parser.add_argument("--out", help="where the runs go (default: runs/conditioned-NAME)")
    parser.add_argument("--samples", type=int, default=500, help="texts generated per label")
    parser.add_argument("--length", type=int, default=200, help="at most this many tokens each")
    args = parser.parse_args()
    if (args.data is None) == (args.train is None):
        parser.error("give --data, or --train, --valid and --test")
    out = Path(args.out or f"runs/conditioned-{args.name}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    parts = read_parts(args)
    labels = sorted({e.label for e in parts["train"]})
    for part, examples in parts.items():
        (out / f"{part}.tsv").write_text("".join(f"{e.label}\t{e.text}\n" for e in examples))
        (out / f"{part}.txt").write_text("".join(f"{e.text}\n" for e in examples))
    for label in labels:
        mine = [e.text for e in parts["test"] if e.label == label]
        (out / f"test-{label}.txt").write_text("".join(f"{t}\n" for t in mine))
        for given in labels:
            as_given = "".join(f"{given}\t{t}\n" for t in mine)
            (out / f"test-{label}-as-{given}.tsv").write_text(as_given)

    classifier = Path(args.classifier) if args.classifier else out / "classifier"
    if not args.classifier:
        elman("classify", "train", "--data", out / "train.tsv",
              "--valid", out / "valid.tsv", "--test", out / "test.tsv",
              "--out", classifier, "--overwrite")  # fmt: skip
    recipe = ["--recipe", args.recipe] if args.recipe else []
    flags = [*recipe, *shlex.split(args.flags)]
    parts_flags = [f"--{part}={out / part}.tsv" for part in ("train", "valid", "test")]
    elman("train", *parts_flags, "--condition", "label", *(["--peeky"] if args.peeky else []),
          *flags, "--out", out / "conditioned", "--overwrite")  # fmt: skip
    # The same data as the conditioned model saw, whatever the time limit: a model with the
    # label in every input is slower a step, so equal minutes would give the unconditioned
    # one more (2,907 steps against 2,119 in 20 minutes on NSMC). A run that finished its
    # epochs is matched epoch for epoch; one stopped part-way by its time limit, step for
    # step (on NSMC's pieces a step of either model reads 64 reviews: 2,772 and 2,834 steps
    # an epoch; a character model of long texts reads --bptt windows where the conditioned
    # one reads whole texts, so give such runs --epochs and no time limit).
    info = json.loads((out / "conditioned" / "config.json").read_text())["info"]
    same_data = ["--max-steps", info["step"]] if info.get("partial") else []
    flags_plain = [*flags, *same_data, "--max-minutes", 0]
    elman("train", "--train", out / "train.txt", "--valid", out / "valid.txt",
          "--test", out / "test.txt", "--state", "reset", *flags_plain, "--condition", "none",
          "--no-peeky", "--out", out / "plain", "--overwrite")  # fmt: skip

    def evaluate(model: Path, data: Path) -> dict:
        figures = json.loads(elman("eval", "--model", model, "--data", data, "--json"))
        return {"perplexity": figures["perplexity"], "bits_per_char": figures["bits_per_char"]}

    def classified(path: Path, label: str) -> tuple[int, float]:
        rows = elman("classify", "predict", "--model", classifier, "--json", path)
        predicted = [json.loads(r)["label"] for r in rows.splitlines() if r]
        return len(predicted), sum(p == label for p in predicted) / max(len(predicted), 1)

    table = {}
    for label in labels:
        others = [g for g in labels if g != label]
        table[label] = {
            "true label": evaluate(out / "conditioned", out / f"test-{label}-as-{label}.tsv"),
            "wrong label": evaluate(out / "conditioned", out / f"test-{label}-as-{others[0]}.tsv"),
            "unconditioned": evaluate(out / "plain", out / f"test-{label}.txt"),
        }
    generated = {}
    for label in labels:
        text = elman("generate", "--model", out / "conditioned", "--label", label, "--count",
                     args.samples, "--length", args.length, "--seed", "1")  # fmt: skip
        path = out / f"generated-{label}.txt"
        path.write_text(text)
        samples, share = classified(path, label)
        real, recall = classified(out / f"test-{label}.txt", label)
        generated[label] = {"samples": samples, "classified_as_label": share,
                            "real_test_texts": real, "real_recall": recall,
                            "examples": text.splitlines()[:8]}  # fmt: skip
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "minutes": (time.time() - start) / 60,
              "flags": " ".join(map(str, flags)), "peeky": args.peeky,
              "classifier": str(classifier), "perplexity": table,
              "generated": generated}  # fmt: skip
    lines = [
        f"# Label-conditioned model, {args.name}, {result['date']} "
        f"({result['minutes']:.0f} minutes)",
        "",
        f"Both language models: `{result['flags']}`"
        + (", the conditioned one `--peeky`." if args.peeky else "."),
        "Perplexity per token, then bits per character, of the test texts of each label:",
        "",
        "| test texts | conditioned, true label | conditioned, wrong label | unconditioned |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | "
            + " | ".join(
                f"{row[k]['perplexity']:.3f} ({row[k]['bits_per_char']:.3f})"
                for k in ("true label", "wrong label", "unconditioned")
            )
            + " |"
            for label, row in table.items()
        ),  # fmt: skip
        "",
        f"{args.samples} texts generated per label (temperature 1, "
        f"`--length {args.length} --seed 1`), read by `{classifier}`:",
        "",
        "| label | generated texts classified as it | real test texts classified as it |",
        "|---|---:|---:|",
        *(
            f"| {label} | {100 * g['classified_as_label']:.1f}% of {g['samples']} | "
            f"{100 * g['real_recall']:.1f}% of {g['real_test_texts']:,} |"
            for label, g in generated.items()
        ),  # fmt: skip
    ]
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"conditioned-{args.name}.md").write_text("\n".join(lines) + "\n")
    record = json.dumps(result, indent=2, ensure_ascii=False)
    (RESULTS / f"conditioned-{args.name}.json").write_text(record + "\n")


if __name__ == "__main__":
    main()
