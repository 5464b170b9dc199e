"""The tagger's commands besides train: ``elman tag eval | predict``."""

from __future__ import annotations

import argparse

from elman.cli.backend import add_backend_flags, on_engine
from elman.cli.flags import WRITES_OUTPUT, batch_of, declare, is_blank
from elman.data.conllu import Sentence, read_tagged
from elman.data.text import read_lines
from elman.metrics import report
from elman.strict_json import dumps
from elman.tag import checkpoint as tag_checkpoint
from elman.tag.data import encode, split_words
from elman.tag.evaluate import evaluate, predict_ids, summary


def register(parser: argparse.ArgumentParser, command: str) -> None:
    """Fill ``parser`` with ``command``: eval or predict."""
    {"eval": add_eval, "predict": add_predict}[command](parser)


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, tag_checkpoint.load)
    sentences = read_tagged(args.data, ckpt.tagger_config.tag_column)
    data = encode(
        sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config.lowercase, args.data
    )
    batch = batch_of(args, ckpt)
    result = evaluate(ckpt.model, data, batch)
    if args.json:
        print(dumps(result.as_dict(ckpt.tags)))
        return
    print(f"{len(sentences):,} sentences; {summary(result)}")
    print(report(result.scores, ckpt.tags))


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, tag_checkpoint.load)
    lines = read_lines(args.file)
    config = ckpt.tagger_config
    sentences = [
        Sentence(split_words(line, ckpt.words, config.lowercase, config.split), [], number)
        for number, line in enumerate(lines, 1)
        if not is_blank(line)
    ]
    data = encode(sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config.lowercase)
    predicted = predict_ids(ckpt.model, data, ckpt.train_config.eval_batch)
    answers = iter(zip(sentences, predicted, strict=True))
    for line in lines:
        if is_blank(line):
            print()  # an empty sentence: output stays aligned with input
            continue
        sentence, ids = next(answers)
        tags = [ckpt.tags[k] for k in ids]
        if args.json:
            print(dumps({"words": sentence.words, "tags": tags}, ensure_ascii=False))
        else:
            print("".join(f"{w}\t{t}\n" for w, t in zip(sentence.words, tags, strict=True)))


def add_eval(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate a tagger on tagged sentences (the tag column it was trained on)."
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--data", required=True, metavar="FILE", help="tagged sentences")
    p.add_argument(
        "--batch", type=int, metavar="N", help="sentences per batch (default: as trained)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_backend_flags(p)
    declare(p, cmd_eval, WRITES_OUTPUT, "choose a smaller --batch")


def add_predict(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Tag each line, read as one sentence, split into words as the tagger was trained "
        "(its --split: punctuation apart, or at whitespace only); print token<TAB>tag "
        "lines with a blank line after each sentence (the two-column format that `elman "
        "tag eval` reads)."
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="sentences (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    add_backend_flags(p)
    declare(p, cmd_predict, WRITES_OUTPUT, "choose a smaller --batch")
