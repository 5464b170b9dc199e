"""The classifier's commands besides train: ``elman classify eval | predict``."""

from __future__ import annotations

import argparse

from elman.classify import checkpoint as clf_checkpoint
from elman.classify.evaluate import evaluate, predict_texts
from elman.classify.kind import PARTS, encode_part, evaluation_part
from elman.cli.backend import add_backend_flags, on_engine
from elman.cli.flags import WRITES_OUTPUT, batch_of, declare, is_blank
from elman.data.text import read_lines
from elman.errors import ElmanError
from elman.metrics import confusion_report, report
from elman.strict_json import dumps

SPLITS = ("all", *PARTS)


def register(parser: argparse.ArgumentParser, command: str) -> None:
    """Fill ``parser`` with ``command``: eval or predict."""
    {"eval": add_eval, "predict": add_predict}[command](parser)


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, clf_checkpoint.load)
    examples = evaluation_part(ckpt, args.data, args.split)
    if not examples:
        raise ElmanError(f"the {args.split} part of {args.data} is empty; nothing to evaluate.")
    data = encode_part(ckpt, examples)
    batch = batch_of(args, ckpt)
    result = evaluate(ckpt.model, data, batch)
    if args.json:
        print(dumps({**result.as_dict(ckpt.labels), "split": args.split}))
        return
    print(f"{len(examples):,} texts ({args.split}); loss {result.loss:.4f} nats/text")
    print(report(result.scores, ckpt.labels))
    print()
    print(confusion_report(result.scores, ckpt.labels))


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, clf_checkpoint.load)
    lines = read_lines(args.file)
    texts = [line.strip() for line in lines if not is_blank(line)]
    answers = iter(zip(texts, predict_texts(ckpt, texts), strict=True))
    for line in lines:
        if is_blank(line):
            print()  # a blank line has no label: output stays aligned with input
            continue
        text, p = next(answers)
        k = int(p.argmax())
        if args.json:
            record = {"label": ckpt.labels[k], "probability": float(p[k]), "text": text}
            print(dumps(record, ensure_ascii=False))
        else:
            print(f"{ckpt.labels[k]}\t{p[k]:.4f}\t{text}")


def add_eval(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate a classifier on labelled texts."
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--data", required=True, metavar="PATH", help="labelled texts")
    p.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="evaluate on this part of --data, split as recorded in the checkpoint (it must "
        "be the file the model was trained from); default: all of it",
    )
    p.add_argument("--batch", type=int, metavar="N", help="texts per batch (default: as trained)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_backend_flags(p)
    declare(p, cmd_eval, WRITES_OUTPUT, "choose a smaller --batch")


def add_predict(p: argparse.ArgumentParser) -> None:
    p.description = "Print the likeliest label, its probability and the text, for each line."
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="texts, one per line (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_backend_flags(p)
    declare(p, cmd_predict, WRITES_OUTPUT, "choose a smaller --batch")
