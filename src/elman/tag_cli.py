"""``elman tag``: train, eval and predict many-to-many taggers (one tag per word).

User mistakes raise ``ElmanError``, which ``elman.cli.main`` prints as one
sentence on stderr with exit code 2, as for the language model.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from elman import tagger as tg
from elman.cli import (
    add_config_flags,
    append_metrics,
    config_from_flags,
    defaults_text,
    is_blank,
    out_directory,
    refuse_unused,
)
from elman.config import ModelConfig, TrainConfig
from elman.data.conllu import Sentence, read_tagged
from elman.data.text import read_lines
from elman.errors import ElmanError
from elman.metrics import report
from elman.numbers import dumps
from elman.rundir import claim_run_directory
from elman.train import require_an_end

# Defaults of `elman tag train`, over those of ModelConfig and TrainConfig: a
# bidirectional LSTM over words with character features, which reaches the issue's
# target on UD English EWT within ten minutes on two cores (README). Explicit flags
# override them; --max-minutes stops a slow machine in time.
TAG_MODEL: dict[str, Any] = {
    "embed": 100,
    "hidden": 128,
    "cell": "lstm",
    "bidirectional": True,
    "dropout": 0.33,
}
TAG_TRAIN: dict[str, Any] = {
    "batch": 32,
    "epochs": 12,
    "max_minutes": 8.0,
    "eval_batch": 64,
    "lr_decay": 2.0,
}
UNUSED = {
    "level": "a tagger reads words, one per line of its files",
    "bptt": "a tagger reads each sentence whole",
    "tie": "the output layer predicts tags, not words",
    "state": "each sentence is read from a zero state",
    "save_every": "the best model is saved after each epoch",
    "on_nan": "training stops at a NaN or infinite loss",
    "softmax": "the output layer is a full softmax over the tags",
    "cutoffs": "the output layer is a full softmax over the tags",
    "div_value": "the output layer is a full softmax over the tags",
}


def cmd_train(args: argparse.Namespace) -> None:
    refuse_unused(args, UNUSED, "tag")
    tagger_config = config_from_flags(tg.TaggerConfig, args)
    train_config = config_from_flags(TrainConfig, args, TAG_TRAIN)
    model_config = config_from_flags(ModelConfig, args, {**TAG_MODEL, "vocab_size": 1})
    require_an_end(train_config)
    out = out_directory(args.out, args.overwrite)  # claimed once every input is checked

    column = tagger_config.tag_column
    train_sentences = read_tagged(args.train, column)
    valid_sentences = read_tagged(args.valid, column) if args.valid is not None else None
    test_sentences = read_tagged(args.test, column) if args.test is not None else None
    words, chars, tags = tg.build_vocabularies(
        train_sentences, tagger_config, train_config.max_vocab, train_config.min_count
    )
    model_config = dataclasses.replace(model_config, vocab_size=len(words))
    model = tg.Tagger(model_config, tagger_config, len(chars), len(tags), seed=train_config.seed)

    def encode(sentences: list[Sentence] | None, name: str | None) -> tg.TaggedData | None:
        if sentences is None:
            return None
        return tg.encode(sentences, words, chars, tags, tagger_config, name)

    train_data = encode(train_sentences, args.train)
    valid_data = encode(valid_sentences, args.valid)
    test_data = encode(test_sentences, args.test)
    n_words = sum(len(s.words) for s in train_sentences)
    print(
        f"{len(train_sentences):,} training sentences ({n_words:,} words, {len(tags)} tags); "
        f"vocabulary: {len(words):,} words, {len(chars):,} characters; model: "
        f"{model.flat_params.size:,} parameters; checkpoint: {out}"
    )
    ckpt = tg.TaggerCheckpoint(model, words, chars, tags, train_config)

    def save(info: dict[str, Any]) -> None:
        ckpt.info = info
        tg.save(out, ckpt)

    with claim_run_directory(out, args.overwrite, resumable=False):
        tg.train(
            model, train_data, valid_data, train_config, save=save, metrics=out / "metrics.jsonl"
        )
        if test_data is not None:
            result = tg.evaluate(model, test_data, train_config.eval_batch)
            append_metrics(out, {"event": "test", **result.as_dict(tags)})
            print(f"test: {summary(result)}")
    print(f"\nsaved to {out}; try: elman tag eval --model {out} --data FILE")


def summary(result: tg.TaggerEvaluation) -> str:
    oov = (
        f"{result.oov_accuracy:.4f} on {result.oov_words:,} out-of-vocabulary words"
        if result.oov_words
        else "no out-of-vocabulary words"
    )
    return (
        f"accuracy {result.scores.accuracy:.4f} on {int(result.scores.support.sum()):,} "
        f"words, {oov}, macro F1 {result.scores.macro_f1:.4f}"
    )


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = tg.load(args.model)
    sentences = read_tagged(args.data, ckpt.tagger_config.tag_column)
    data = tg.encode(sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config, args.data)
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    result = tg.evaluate(ckpt.model, data, batch)
    if args.json:
        print(dumps(result.as_dict(ckpt.tags)))
        return
    print(f"{len(sentences):,} sentences; {summary(result)}")
    print(report(result.scores, ckpt.tags))


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = tg.load(args.model)
    lines = read_lines(args.file)
    sentences = [
        Sentence(line.split(), [], number)
        for number, line in enumerate(lines, 1)
        if not is_blank(line)
    ]
    data = tg.encode(sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config)
    predicted = tg.predict_ids(ckpt.model, data, ckpt.train_config.eval_batch)
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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``elman tag`` with its train, eval and predict commands."""
    parser = subparsers.add_parser(
        "tag",
        help="many-to-many: one tag per word (part of speech, named entities)",
        description="Sequence tagging with a recurrent encoder.",
    )
    commands = parser.add_subparsers(dest="tag_command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "train",
        help="train a tagger",
        description="Train a tagger on CoNLL-U files (*.conllu: FORM tagged with UPOS or "
        "XPOS) or two-column token<TAB>tag files with a blank line after each sentence. "
        f"Defaults here, over the ones listed below: {defaults_text(TAG_MODEL, TAG_TRAIN)}.",
    )
    p.add_argument("--train", required=True, metavar="FILE", help="tagged sentences to train on")
    p.add_argument("--valid", metavar="FILE", help="validation sentences, after each epoch")
    p.add_argument("--test", metavar="FILE", help="test sentences, evaluated once at the end")
    p.add_argument("--out", metavar="DIR", help="checkpoint directory (default: runs/DATE-TIME)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out, if any"
    )
    add_config_flags(p, ModelConfig)
    add_config_flags(p, tg.TaggerConfig)
    add_config_flags(p, TrainConfig)
    p.set_defaults(run=cmd_train)

    p = commands.add_parser(
        "eval",
        help="token accuracy, accuracy on unseen words, per-tag F1",
        description="Evaluate a tagger on tagged sentences (the tag column it was trained on).",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("--data", required=True, metavar="FILE", help="tagged sentences")
    p.add_argument(
        "--batch", type=int, metavar="N", help="sentences per batch (default: as trained)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_eval)

    p = commands.add_parser(
        "predict",
        help="tag sentences, one per line",
        description="Tag each line, read as one sentence of whitespace-separated words; "
        "print token<TAB>tag lines with a blank line after each sentence (the two-column "
        "format that `elman tag eval` reads).",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="sentences (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per sentence")
    p.set_defaults(run=cmd_predict)
