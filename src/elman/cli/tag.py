"""``elman tag``: train, eval and predict many-to-many taggers (one tag per word)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from elman.cli import common
from elman.cli.backend import (
    Engine,
    add_backend_flags,
    on_engine,
    train_on_engine,
)
from elman.config import ModelConfig, TrainConfig
from elman.data.conllu import Sentence, read_tagged
from elman.data.text import read_lines, read_text
from elman.errors import ElmanError
from elman.metrics import report
from elman.strict_json import dumps
from elman.tag import checkpoint as tag_checkpoint
from elman.tag.checkpoint import TaggerCheckpoint
from elman.tag.data import TaggedData, build_vocabularies, encode
from elman.tag.evaluate import TaggerEvaluation, evaluate, predict_ids
from elman.tag.model import Tagger, TaggerConfig
from elman.tag.task import TaggerTask
from elman.training import require_an_end

# Defaults of `elman tag train`, over those of ModelConfig and TrainConfig: a
# bidirectional LSTM over words with character features, which reaches the issue's
# target on UD English EWT within ten minutes on two cores (docs/classify.md). Explicit
# flags override them; --max-minutes stops a slow machine in time.
TAG_MODEL: dict[str, Any] = dict(
    embed=100, hidden=128, cell="lstm", bidirectional=True, dropout=0.33
)
TAG_TRAIN: dict[str, Any] = dict(batch=32, epochs=12, max_minutes=8.0, eval_batch=64, lr_decay=2.0)
ROLES = ("train", "valid", "test")


def cmd_train(args: argparse.Namespace) -> None:
    train_on_engine(args, new_training, resume_training)


def new_training(args: argparse.Namespace, engine: Engine) -> None:
    if args.train is None:
        raise ElmanError("give --train, the tagged sentences to train on, or --resume DIR.")
    tagger_config = common.config_from_flags(TaggerConfig, args)
    train_config = common.config_from_flags(TrainConfig, args, TAG_TRAIN)
    model_config = common.config_from_flags(ModelConfig, args, {**TAG_MODEL, "vocab_size": 1})
    require_an_end(train_config)
    engine.check_batch(train_config.batch)
    out = engine.out_directory(args)  # claimed once every input is checked

    files = {role: getattr(args, role) for role in ROLES}
    sentences, record = read_parts(files, tagger_config.tag_column)
    words, chars, tags = build_vocabularies(
        sentences["train"], tagger_config.lowercase, train_config.max_vocab, train_config.min_count
    )
    model_config = dataclasses.replace(model_config, vocab_size=len(words))
    model = Tagger(model_config, tagger_config, len(chars), len(tags), seed=train_config.seed)
    parameters = model.flat_params.size
    ckpt = TaggerCheckpoint(engine.model(model), words, chars, tags, train_config, data=record)
    data = encode_parts(ckpt, sentences, files)
    n_words = sum(len(s.words) for s in sentences["train"])
    print(
        f"{len(sentences['train']):,} training sentences ({n_words:,} words, {len(tags)} tags); "
        f"vocabulary: {len(words):,} words, {len(chars):,} characters; model: "
        f"{parameters:,} parameters; checkpoint: {out}"
    )
    task = TaggerTask(ckpt, data["train"], data["valid"])
    with engine.run_directory(out, resume=False, overwrite=args.overwrite):
        if engine.primary:  # the run's files exist from the start, so that it can resume
            ckpt.info = {"epoch": 0}
            tag_checkpoint.save(out, ckpt)
        common.train_task(task, train_config, out, resume=False, world=engine.world)
        if engine.primary:
            finish_training(out, ckpt, data["test"])


def resume_training(args: argparse.Namespace, engine: Engine) -> None:
    """Continue the run in --resume DIR exactly where it stopped."""
    out = Path(args.resume)
    ckpt = tag_checkpoint.load(out)
    train_config = common.resumed_train_config(args, ckpt.train_config, ROLES, (TaggerConfig,))
    engine.check_batch(train_config.batch)
    ckpt.train_config = train_config
    ckpt.model = engine.model(ckpt.model)
    files = ckpt.data.get("files")
    if not isinstance(files, dict):
        raise ElmanError(f"{out} records no training files, so it cannot be resumed.")
    sentences, record = read_parts(files, ckpt.tagger_config.tag_column)
    if any(ckpt.data.get(key) != value for key, value in record.items()):
        raise ElmanError(
            f"the tagged sentences ({', '.join(f for f in files.values() if f)}) changed since "
            f"the run in {out} started; restore them, or start a new run with --out."
        )
    data = encode_parts(ckpt, sentences, files)
    task = TaggerTask(ckpt, data["train"], data["valid"])
    with engine.run_directory(out, resume=True, overwrite=False):
        print(f"resuming the run in {out}")
        history = common.train_task(task, train_config, out, resume=True, world=engine.world)
        if history is not None and engine.primary:
            finish_training(out, ckpt, data["test"])


def read_parts(
    files: dict[str, str | None], column: str
) -> tuple[dict[str, list[Sentence] | None], dict[str, Any]]:
    """The sentences of each file given (None for the others), and the record of the
    files a checkpoint keeps for --resume."""
    sentences = {role: None if f is None else read_tagged(f, column) for role, f in files.items()}
    record = {
        "files": {role: None if f is None else os.path.abspath(f) for role, f in files.items()},
        "sha256": {
            role: None if f is None else common.digest(read_text(f)) for role, f in files.items()
        },
    }
    return sentences, record


def encode_parts(
    ckpt: TaggerCheckpoint, sentences: dict[str, list[Sentence] | None], files: dict[str, Any]
) -> dict[str, TaggedData | None]:
    return {
        role: None
        if part is None
        else encode(
            part, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config.lowercase, files[role]
        )
        for role, part in sentences.items()
    }


def finish_training(out: Path, ckpt: TaggerCheckpoint, test_data: TaggedData | None) -> None:
    """Evaluate the best model on the test sentences, if any, and say what to try next."""
    if test_data is not None:
        result = evaluate(ckpt.model, test_data, ckpt.train_config.eval_batch)
        common.append_metrics(out, {"event": "test", **result.as_dict(ckpt.tags)})
        print(f"test: {summary(result)}")
    print(f"\nsaved to {out}; try: elman tag eval --model {out} --data FILE")


def summary(result: TaggerEvaluation) -> str:
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
    ckpt = on_engine(args, tag_checkpoint.load)
    sentences = read_tagged(args.data, ckpt.tagger_config.tag_column)
    data = encode(
        sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config.lowercase, args.data
    )
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    result = evaluate(ckpt.model, data, batch)
    if args.json:
        print(dumps(result.as_dict(ckpt.tags)))
        return
    print(f"{len(sentences):,} sentences; {summary(result)}")
    print(report(result.scores, ckpt.tags))


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = on_engine(args, tag_checkpoint.load)
    lines = read_lines(args.file)
    sentences = [
        Sentence(line.split(), [], number)
        for number, line in enumerate(lines, 1)
        if not common.is_blank(line)
    ]
    data = encode(sentences, ckpt.words, ckpt.chars, ckpt.tags, ckpt.tagger_config.lowercase)
    predicted = predict_ids(ckpt.model, data, ckpt.train_config.eval_batch)
    answers = iter(zip(sentences, predicted, strict=True))
    for line in lines:
        if common.is_blank(line):
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
    commands = common.add_family(
        subparsers,
        "tag",
        help="many-to-many: one tag per word (part of speech, named entities)",
        description="Sequence tagging with a recurrent encoder.",
    )

    p = commands.add_parser(
        "train",
        help="train a tagger",
        description="Train a tagger on CoNLL-U files (*.conllu: FORM tagged with UPOS or "
        "XPOS) or two-column token<TAB>tag files with a blank line after each sentence. "
        f"Defaults here, over the ones listed below: {common.defaults_text(TAG_MODEL, TAG_TRAIN)}.",
    )
    p.add_argument("--train", metavar="FILE", help="tagged sentences to train on")
    p.add_argument("--valid", metavar="FILE", help="validation sentences, after each epoch")
    p.add_argument("--test", metavar="FILE", help="test sentences, evaluated once at the end")
    common.add_training_flags(p, "tag train", "tag", (ModelConfig, TaggerConfig, TrainConfig))
    add_backend_flags(p, training=True)
    common.declare(
        p,
        cmd_train,
        common.WRITES_FILES,
        "choose smaller sizes (--hidden, --embed, --layers, --batch)",
    )

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
    add_backend_flags(p)
    common.declare(p, cmd_eval, common.WRITES_OUTPUT, "choose a smaller --batch")

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
    add_backend_flags(p)
    common.declare(p, cmd_predict, common.WRITES_OUTPUT, "choose a smaller --batch")
