"""One to many on the SMS Spam Collection: a label-conditioned character model against
an unconditioned one of the same size, and messages generated per label read back by a
classifier. Not part of the test suite; about 30 minutes on 2 cores. The models train for a
fixed number of epochs (no time cap), so a busy machine makes the run slower, not different.

    python benchmarks/conditioned_sms.py --data ../shared/data/sms_spam/SMSSpamCollection

1. `elman classify train` on the file (its stratified 70/10/20 split, --split-seed 0).
2. `elman train --condition label` on the same file: the same split, since the language
   model splits --data as the classifier does.
3. `elman train --state reset` on the same three parts' texts without their labels.
4. Held-out perplexity per class: the conditioned model given the true label and given
   the other label, the unconditioned model.
5. 500 messages generated per label, classified by the classifier of step 1.

Prints a markdown table and writes benchmarks/results/conditioned-sms.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from elman.config import SplitConfig
from elman.data.labeled import read_labeled, stratified_split

RESULTS = Path(__file__).parent / "results"
MODEL = ["--level", "char", "--cell", "lstm", "--embed", "64", "--hidden", "256", "--dropout",
         "0.2", "--batch", "32", "--epochs", "20", "--max-minutes", "0"]  # fmt: skip


def elman(*args: object) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "elman", *map(str, args)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the SMS Spam Collection file")
    parser.add_argument("--out", default="runs/conditioned-sms", help="where the runs go")
    parser.add_argument("--samples", type=int, default=500, help="messages generated per label")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    examples = read_labeled(args.data)
    split = SplitConfig()
    parts = stratified_split([e.label for e in examples], split.valid_fraction,
                             split.test_fraction, split.split_seed)  # fmt: skip
    files = {}
    for name, index in zip(("train", "valid", "test"), parts, strict=True):
        chosen = [examples[i] for i in index]
        files[name] = out / f"{name}.txt"
        files[name].write_text("".join(" ".join(e.text.split("\n")) + "\n" for e in chosen))
        for label in ("ham", "spam"):
            mine = [e for e in chosen if e.label == label]
            (out / f"{name}-{label}.tsv").write_text("".join(f"{label}\t{e.text}\n" for e in mine))
            other = "spam" if label == "ham" else "ham"
            (out / f"{name}-{label}-as-{other}.tsv").write_text(
                "".join(f"{other}\t{e.text}\n" for e in mine)
            )
            (out / f"{name}-{label}.txt").write_text("".join(f"{e.text}\n" for e in mine))

    elman("classify", "train", "--data", args.data, "--out", out / "classifier", "--overwrite")
    elman("train", "--data", args.data, "--condition", "label", *MODEL,
          "--out", out / "conditioned", "--overwrite")  # fmt: skip
    elman("train", "--train", files["train"], "--valid", files["valid"], "--test", files["test"],
          "--state", "reset", *MODEL, "--out", out / "plain", "--overwrite")  # fmt: skip

    def ppl(model: Path, data: Path) -> float:
        return json.loads(elman("eval", "--model", model, "--data", data, "--json"))["perplexity"]

    table = {}
    for label in ("ham", "spam"):
        other = "spam" if label == "ham" else "ham"
        table[label] = {
            "true label": ppl(out / "conditioned", out / f"test-{label}.tsv"),
            "wrong label": ppl(out / "conditioned", out / f"test-{label}-as-{other}.tsv"),
            "unconditioned": ppl(out / "plain", out / f"test-{label}.txt"),
        }
    generated = {}
    for label in ("ham", "spam"):
        text = elman("generate", "--model", out / "conditioned", "--label", label, "--count",
                     args.samples, "--length", "200", "--seed", "1")  # fmt: skip
        path = out / f"generated-{label}.txt"
        path.write_text(text)
        rows = elman("classify", "predict", "--model", out / "classifier", "--json", path)
        predicted = [json.loads(r)["label"] for r in rows.splitlines() if r]
        generated[label] = {
            "samples": len(predicted),
            "classified_as_label": sum(p == label for p in predicted) / max(len(predicted), 1),
            "examples": text.splitlines()[:5],
        }
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "minutes": (time.time() - start) / 60,
              "model": " ".join(MODEL), "perplexity": table, "generated": generated}  # fmt: skip
    lines = [
        f"# Label-conditioned SMS model, {result['date']} ({result['minutes']:.0f} minutes)",
        "",
        f"Both language models: `{result['model']}`.",
        "",
        "| test messages | conditioned, true label | conditioned, wrong label | unconditioned |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {row['true label']:.3f} | {row['wrong label']:.3f} | "
            f"{row['unconditioned']:.3f} |"
            for label, row in table.items()
        ),  # fmt: skip
        "",
        "| generated from | samples | classified as that label |",
        "|---|---:|---:|",
        *(
            f"| {label} | {g['samples']} | {100 * g['classified_as_label']:.1f}% |"
            for label, g in generated.items()
        ),  # fmt: skip
    ]
    print("\n".join(lines))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "conditioned-sms.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "conditioned-sms.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
