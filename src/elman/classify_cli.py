"""``elman classify``: train, eval and predict many-to-one text classifiers.

User mistakes raise ``ElmanError``, which ``elman.cli.main`` prints as one
sentence on stderr with exit code 2, as for the language model.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections import Counter
from typing import Any

from elman import checkpoint
from elman import classifier as clf
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
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.data.text import read_lines
from elman.data.tokenizers import make_tokenizer
from elman.errors import ElmanError
from elman.metrics import confusion_report, report
from elman.numbers import dumps
from elman.rundir import claim_run_directory
from elman.train import require_an_end

# Defaults of `elman classify train`, over those of ModelConfig and TrainConfig: a
# bidirectional GRU over words, which reaches the targets on the SMS Spam
# Collection in a few minutes on two cores (README). Explicit flags override them.
CLASSIFY_MODEL: dict[str, Any] = {
    "embed": 64,
    "hidden": 64,
    "cell": "gru",
    "bidirectional": True,
    "dropout": 0.25,
}
CLASSIFY_TRAIN: dict[str, Any] = {
    "level": "word",
    "batch": 32,
    "epochs": 6,
    "max_minutes": 8.0,
    "eval_batch": 64,
    "lr_decay": 2.0,
}
# Settings of the language model that a classifier has no use for: refused when given.
UNUSED = {
    "bptt": "a classifier reads each text whole",
    "tie": "the output layer predicts labels, not tokens",
    "state": "each text is read from a zero state",
    "save_every": "the best model is saved after each epoch",
    "on_nan": "training stops at a NaN or infinite loss",
    "softmax": "the output layer is a full softmax over the labels",
    "cutoffs": "the output layer is a full softmax over the labels",
    "div_value": "the output layer is a full softmax over the labels",
}
SPLITS = ("all", "train", "valid", "test")
SPLIT_PARTS = {"train": 0, "valid": 1, "test": 2}


def cmd_train(args: argparse.Namespace) -> None:
    refuse_unused(args, UNUSED, "classify")
    # A language model's vocabulary was built from raw text: by default, read texts as it did.
    classifier_base = {"normalize": False} if args.init is not None else {}
    classifier_config = config_from_flags(clf.ClassifierConfig, args, classifier_base)
    train_config = config_from_flags(TrainConfig, args, CLASSIFY_TRAIN)
    language_model = None
    model_base = {**CLASSIFY_MODEL, "vocab_size": 1}  # the vocabulary sets it later
    if args.init is not None:
        language_model = checkpoint.load(args.init)
        lm = language_model.model.config
        model_base.update(embed=lm.embed, hidden=lm.hidden, cell=lm.cell, layers=lm.layers)
        level = language_model.tokenizer.level
        if args.level is not None and args.level != level:
            raise ElmanError(
                f"--init {args.init} is a {level}-level language model, so the classifier "
                f"reads {level}s too; drop --level {args.level}."
            )
        train_config = dataclasses.replace(train_config, level=level)
    model_config = config_from_flags(ModelConfig, args, model_base)
    require_an_end(train_config)
    out = out_directory(args.out, args.overwrite)  # claimed once every input is checked

    examples = read_labeled(args.data)
    valid_given = read_labeled(args.valid) if args.valid is not None else None
    test_given = read_labeled(args.test) if args.test is not None else None
    valid_fraction = 0.0 if valid_given is not None else classifier_config.valid_fraction
    test_fraction = 0.0 if test_given is not None else classifier_config.test_fraction
    parts = stratified_split(
        [e.label for e in examples], valid_fraction, test_fraction, classifier_config.split_seed
    )
    train_examples, valid_examples, test_examples = ([examples[i] for i in p] for p in parts)
    valid_examples = valid_given if valid_given is not None else valid_examples
    test_examples = test_given if test_given is not None else test_examples
    split = {
        "file": os.path.abspath(args.data),
        "examples": len(examples),
        "fingerprint": fingerprint(examples),
        "valid_fraction": valid_fraction,
        "test_fraction": test_fraction,
        "seed": classifier_config.split_seed,
    }
    labels = sorted({e.label for e in train_examples})
    if len(labels) < 2:
        raise ElmanError(
            f"the training texts all have label {labels[0]!r}; a classifier needs at least two "
            "labels."
        )

    if language_model is not None:
        tokenizer = language_model.tokenizer
    else:
        texts = [e.text for e in train_examples]
        if classifier_config.normalize:
            texts = [clf.normalize(text) for text in texts]
        tokenizer = make_tokenizer(
            train_config.level,
            "\n".join(texts),
            train_config.max_vocab,
            train_config.min_count,
        )
    model_config = dataclasses.replace(model_config, vocab_size=len(tokenizer))
    model = clf.Classifier(
        model_config, len(labels), classifier_config.pooling, seed=train_config.seed
    )
    if language_model is not None:
        copied = clf.init_from_language_model(model, language_model.model)
        print(f"initialised {len(copied)} tensors from the language model in {args.init}")

    def encode(part: list[Example]) -> clf.LabeledData:
        return clf.encode(part, tokenizer, labels, classifier_config)

    train_data, valid_data, test_data = (
        encode(p) for p in (train_examples, valid_examples, test_examples)
    )
    counts = Counter(e.label for e in train_examples)
    print(
        f"{len(train_examples):,} training texts ("
        + ", ".join(f"{label} {counts[label]:,}" for label in labels)
        + f"), {len(valid_examples):,} validation, {len(test_examples):,} test; "
        f"vocabulary: {len(tokenizer):,} {train_config.level} tokens; model: "
        f"{model.flat_params.size:,} parameters; checkpoint: {out}"
    )
    ckpt = clf.ClassifierCheckpoint(
        model, tokenizer, labels, classifier_config, train_config, {"split": split}
    )

    def save(info: dict[str, Any]) -> None:
        ckpt.info = info
        clf.save(out, ckpt)

    with claim_run_directory(out, args.overwrite, resumable=False):
        clf.train(
            model,
            train_data,
            valid_data,
            train_config,
            classifier_config.class_weights,
            save=save,
            metrics=out / "metrics.jsonl",
        )
        if test_examples:
            result = clf.evaluate(model, test_data, train_config.eval_batch)
            append_metrics(out, {"event": "test", **result.as_dict(labels)})
            print(f"test ({len(test_examples):,} texts):")
            print(report(result.scores, labels))
    print(
        f"\nsaved to {out}; try: elman classify eval --model {out} --data {args.data}"
        + (" --split test" if test_given is None and test_examples else "")
    )


def select_split(
    ckpt: clf.ClassifierCheckpoint, examples: list[Example], split: str, data: str
) -> list[Example]:
    """The part ``split`` of ``examples``, re-split as recorded in the checkpoint."""
    if split == "all":
        return examples
    record = ckpt.data.get("split")
    if not isinstance(record, dict) or "fingerprint" not in record:
        raise ElmanError(
            "the checkpoint records no split of its data; evaluate on a file with --split all."
        )
    if record["fingerprint"] != fingerprint(examples):
        raise ElmanError(
            f"{data} is not the data the model was split from ({record.get('file')}, "
            f"{record.get('examples')} texts); give that file, or use --split all."
        )
    if (
        split == "valid"
        and record["valid_fraction"] == 0
        or (split == "test" and record["test_fraction"] == 0)
    ):
        raise ElmanError(
            f"the model was trained with a separate --{split} file, so {data} has no {split} "
            f"part; evaluate that file with --split all."
        )
    parts = stratified_split(
        [e.label for e in examples],
        record["valid_fraction"],
        record["test_fraction"],
        record["seed"],
    )
    return [examples[i] for i in parts[SPLIT_PARTS[split]]]


def cmd_eval(args: argparse.Namespace) -> None:
    ckpt = clf.load(args.model)
    examples = select_split(ckpt, read_labeled(args.data), args.split, args.data)
    if not examples:
        raise ElmanError(f"the {args.split} part of {args.data} is empty; nothing to evaluate.")
    data = clf.encode(examples, ckpt.tokenizer, ckpt.labels, ckpt.classifier_config)
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
    result = clf.evaluate(ckpt.model, data, batch)
    if args.json:
        print(dumps({**result.as_dict(ckpt.labels), "split": args.split}))
        return
    print(f"{len(examples):,} texts ({args.split}); loss {result.loss:.4f} nats/text")
    print(report(result.scores, ckpt.labels))
    print()
    print(confusion_report(result.scores, ckpt.labels))


def cmd_predict(args: argparse.Namespace) -> None:
    ckpt = clf.load(args.model)
    lines = read_lines(args.file)
    texts = [line.strip() for line in lines if not is_blank(line)]
    sequences = [clf.token_ids(text, ckpt.tokenizer, ckpt.classifier_config) for text in texts]
    probs = clf.predict_proba(ckpt.model, sequences, ckpt.train_config.eval_batch)
    answers = iter(zip(texts, probs, strict=True))
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


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``elman classify`` with its train, eval and predict commands."""
    parser = subparsers.add_parser(
        "classify",
        help="many-to-one: one label per text (spam filtering, sentiment)",
        description="Text classification with a recurrent encoder.",
    )
    commands = parser.add_subparsers(dest="classify_command", required=True, metavar="COMMAND")

    p = commands.add_parser(
        "train",
        help="train a classifier",
        description="Train a classifier on labelled texts: a label<TAB>text file (one text "
        "per line), a label,text CSV file (*.csv) or a folder with one subfolder per label. "
        "Without --valid and --test, --data is split into training, validation and test "
        "parts, stratified by label and seeded; the checkpoint records the split. Defaults "
        f"here, over the ones listed below: {defaults_text(CLASSIFY_MODEL, CLASSIFY_TRAIN)}.",
    )
    p.add_argument("--data", required=True, metavar="PATH", help="labelled texts to train on")
    p.add_argument("--valid", metavar="PATH", help="validation texts (default: part of --data)")
    p.add_argument("--test", metavar="PATH", help="test texts (default: part of --data)")
    p.add_argument("--out", metavar="DIR", help="checkpoint directory (default: runs/DATE-TIME)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out, if any"
    )
    p.add_argument(
        "--init",
        metavar="DIR",
        help="start the embedding and recurrent layers from a language model checkpoint "
        "(pre-training, then fine-tuning); its vocabulary, --embed, --hidden, --cell and "
        "--layers are used, and texts are not normalised unless --normalize is given",
    )
    add_config_flags(p, ModelConfig)
    add_config_flags(p, clf.ClassifierConfig)
    add_config_flags(p, TrainConfig)
    p.set_defaults(run=cmd_train)

    p = commands.add_parser(
        "eval",
        help="accuracy, per-class precision/recall/F1, macro F1, confusion matrix",
        description="Evaluate a classifier on labelled texts.",
    )
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
    p.set_defaults(run=cmd_eval)

    p = commands.add_parser(
        "predict",
        help="the likeliest label of each line",
        description="Print the likeliest label, its probability and the text, for each line.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="texts, one per line (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=cmd_predict)
