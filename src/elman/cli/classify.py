"""``elman classify``: train, eval and predict many-to-one text classifiers."""

from __future__ import annotations

import argparse
import dataclasses
from collections import Counter
from pathlib import Path
from typing import Any

from elman.classify import checkpoint as clf_checkpoint
from elman.classify.checkpoint import ClassifierCheckpoint
from elman.classify.data import LabeledData, encode, normalize, token_ids
from elman.classify.evaluate import evaluate, predict_proba
from elman.classify.model import Classifier, ClassifierConfig, init_from_language_model
from elman.classify.task import ClassifierTask
from elman.cli import common
from elman.cli.backend import (
    Engine,
    add_backend_flags,
    on_engine,
    train_on_engine,
)
from elman.config import ModelConfig, TrainConfig
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.data.text import read_lines
from elman.data.tokenizers import make_tokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint as lm_checkpoint
from elman.metrics import confusion_report, report
from elman.strict_json import dumps
from elman.training import require_an_end

# Defaults of `elman classify train`, over those of ModelConfig and TrainConfig: a
# bidirectional GRU over words, which reaches the targets on the SMS Spam
# Collection in a few minutes on two cores (docs/classify.md). Explicit flags override them.
CLASSIFY_MODEL: dict[str, Any] = dict(
    embed=64, hidden=64, cell="gru", bidirectional=True, dropout=0.25
)
CLASSIFY_TRAIN: dict[str, Any] = dict(
    level="word", batch=32, epochs=6, max_minutes=8.0, eval_batch=64, lr_decay=2.0
)
SPLITS = ("all", "train", "valid", "test")
SPLIT_PARTS = {"train": 0, "valid": 1, "test": 2}
INPUTS = ("data", "valid", "test", "init")  # what a new run reads, and --resume may not take


def cmd_train(args: argparse.Namespace) -> None:
    train_on_engine(args, new_training, resume_training)


def new_training(args: argparse.Namespace, engine: Engine) -> None:
    # A language model's vocabulary was built from raw text: by default, read texts as it did.
    classifier_base = {"normalize": False} if args.init is not None else {}
    classifier_config = common.config_from_flags(ClassifierConfig, args, classifier_base)
    train_config = common.config_from_flags(TrainConfig, args, CLASSIFY_TRAIN)
    language_model = None
    model_base = {**CLASSIFY_MODEL, "vocab_size": 1}  # the vocabulary sets it later
    if args.data is None:
        raise ElmanError("give --data, the labelled texts to train on, or --resume DIR.")
    if args.init is not None:
        language_model = lm_checkpoint.load(args.init)
        lm = language_model.model.config
        model_base.update(embed=lm.embed, hidden=lm.hidden, cell=lm.cell, layers=lm.layers)
        level = language_model.tokenizer.level
        if args.level is not None and args.level != level:
            raise ElmanError(
                f"--init {args.init} is a {level}-level language model, so the classifier "
                f"reads {level}s too; drop --level {args.level}."
            )
        train_config = dataclasses.replace(train_config, level=level)
    model_config = common.config_from_flags(ModelConfig, args, model_base)
    require_an_end(train_config)
    engine.check_batch(train_config.batch)
    out = engine.out_directory(args)  # claimed once every input is checked

    files = {"data": args.data, "valid": args.valid, "test": args.test}
    train_examples, valid_examples, test_examples, record = common.labelled_parts(
        files, classifier_config
    )
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
            texts = [normalize(text) for text in texts]
        tokenizer = make_tokenizer(
            train_config.level,
            "\n".join(texts),
            train_config.max_vocab,
            train_config.min_count,
        )
    model_config = dataclasses.replace(model_config, vocab_size=len(tokenizer))
    model = Classifier(model_config, len(labels), classifier_config.pooling, seed=train_config.seed)
    if language_model is not None:
        lm_model = language_model.model
        copied = init_from_language_model(model, lm_model.config, lm_model.params)
        print(f"initialised {len(copied)} tensors from the language model in {args.init}")
    parameters = model.flat_params.size
    model = engine.model(model)
    ckpt = ClassifierCheckpoint(model, tokenizer, labels, classifier_config, train_config, record)
    parts = [encode_part(ckpt, part) for part in (train_examples, valid_examples, test_examples)]
    counts = Counter(e.label for e in train_examples)
    print(
        f"{len(train_examples):,} training texts ("
        + ", ".join(f"{label} {counts[label]:,}" for label in labels)
        + f"), {len(valid_examples):,} validation, {len(test_examples):,} test; "
        f"vocabulary: {len(tokenizer):,} {train_config.level} tokens; model: "
        f"{parameters:,} parameters; checkpoint: {out}"
    )
    task = ClassifierTask(ckpt, parts[0], parts[1])
    with engine.run_directory(out, resume=False, overwrite=args.overwrite):
        if engine.primary:  # the run's files exist from the start, so that it can resume
            ckpt.info = {"epoch": 0}
            clf_checkpoint.save(out, ckpt)
        common.train_task(task, train_config, out, resume=False, world=engine.world)
        if engine.primary:
            finish_training(out, ckpt, parts[2], args.data, given_test=args.test is not None)


def resume_training(args: argparse.Namespace, engine: Engine) -> None:
    """Continue the run in --resume DIR exactly where it stopped."""
    out = Path(args.resume)
    ckpt = clf_checkpoint.load(out)
    train_config = common.resumed_train_config(args, ckpt.train_config, INPUTS, (ClassifierConfig,))
    engine.check_batch(train_config.batch)
    ckpt.train_config = train_config
    ckpt.model = engine.model(ckpt.model)
    files = ckpt.data.get("files")
    if not isinstance(files, dict):
        raise ElmanError(f"{out} records no training files, so it cannot be resumed.")
    *examples, record = common.labelled_parts(files, ckpt.classifier_config)
    if any(ckpt.data.get(key) != value for key, value in record.items()):
        raise ElmanError(
            f"the labelled texts ({', '.join(f for f in files.values() if f)}) changed since "
            f"the run in {out} started; restore them, or start a new run with --out."
        )
    parts = [encode_part(ckpt, part) for part in examples]
    task = ClassifierTask(ckpt, parts[0], parts[1])
    with engine.run_directory(out, resume=True, overwrite=False):
        print(f"resuming the run in {out}")
        history = common.train_task(task, train_config, out, resume=True, world=engine.world)
        if history is not None and engine.primary:
            finish_training(out, ckpt, parts[2], files["data"], files.get("test") is not None)


def encode_part(ckpt: ClassifierCheckpoint, examples: list[Example]) -> LabeledData:
    config = ckpt.classifier_config
    return encode(examples, ckpt.tokenizer, ckpt.labels, config.normalize, config.max_length)


def finish_training(
    out: Path, ckpt: ClassifierCheckpoint, test_data: LabeledData, data: str, given_test: bool
) -> None:
    """Evaluate the best model on the test texts, if any, and say what to try next."""
    if len(test_data.labels):
        result = evaluate(ckpt.model, test_data, ckpt.train_config.eval_batch)
        common.append_metrics(out, {"event": "test", **result.as_dict(ckpt.labels)})
        print(f"test ({len(test_data.labels):,} texts):")
        print(report(result.scores, ckpt.labels))
    print(
        f"\nsaved to {out}; try: elman classify eval --model {out} --data {data}"
        + (" --split test" if not given_test and len(test_data.labels) else "")
    )


def select_split(
    ckpt: ClassifierCheckpoint, examples: list[Example], split: str, data: str
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
    ckpt = on_engine(args, clf_checkpoint.load)
    examples = select_split(ckpt, read_labeled(args.data), args.split, args.data)
    if not examples:
        raise ElmanError(f"the {args.split} part of {args.data} is empty; nothing to evaluate.")
    data = encode_part(ckpt, examples)
    batch = ckpt.train_config.eval_batch if args.batch is None else args.batch
    if batch < 1:
        raise ElmanError(f"--batch must be a positive integer, got {batch}.")
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
    texts = [line.strip() for line in lines if not common.is_blank(line)]
    config = ckpt.classifier_config
    sequences = [
        token_ids(text, ckpt.tokenizer, config.normalize, config.max_length) for text in texts
    ]
    probs = predict_proba(ckpt.model, sequences, ckpt.train_config.eval_batch)
    answers = iter(zip(texts, probs, strict=True))
    for line in lines:
        if common.is_blank(line):
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
    commands = common.add_family(
        subparsers,
        "classify",
        help="many-to-one: one label per text (spam filtering, sentiment)",
        description="Text classification with a recurrent encoder.",
    )
    defaults = common.defaults_text(CLASSIFY_MODEL, CLASSIFY_TRAIN)

    p = commands.add_parser(
        "train",
        help="train a classifier",
        description="Train a classifier on labelled texts: a label<TAB>text file (one text "
        "per line), a label,text CSV file (*.csv) or a folder with one subfolder per label. "
        "Without --valid and --test, --data is split into training, validation and test "
        "parts, stratified by label and seeded; the checkpoint records the split. Defaults "
        f"here, over the ones listed below: {defaults}.",
    )
    p.add_argument("--data", metavar="PATH", help="labelled texts to train on")
    p.add_argument("--valid", metavar="PATH", help="validation texts (default: part of --data)")
    p.add_argument("--test", metavar="PATH", help="test texts (default: part of --data)")
    add_backend_flags(p, training=True)
    p.add_argument(
        "--init",
        metavar="DIR",
        help="start the embedding and recurrent layers from a language model checkpoint "
        "(pre-training, then fine-tuning); its vocabulary, --embed, --hidden, --cell and "
        "--layers are used, and texts are not normalised unless --normalize is given",
    )
    configs = (ModelConfig, ClassifierConfig, TrainConfig)
    common.add_training_flags(p, "classify train", "classify", configs)
    common.declare(
        p,
        cmd_train,
        common.WRITES_FILES,
        "choose smaller sizes (--hidden, --embed, --layers, --batch)",
    )

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
    add_backend_flags(p)
    common.declare(p, cmd_eval, common.WRITES_OUTPUT, "choose a smaller --batch")

    p = commands.add_parser(
        "predict",
        help="the likeliest label of each line",
        description="Print the likeliest label, its probability and the text, for each line.",
    )
    p.add_argument("--model", required=True, metavar="DIR", help="checkpoint directory")
    p.add_argument("file", nargs="?", metavar="FILE", help="texts, one per line (default: stdin)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_backend_flags(p)
    common.declare(p, cmd_predict, common.WRITES_OUTPUT, "choose a smaller --batch")
