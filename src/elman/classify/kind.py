"""The classifier as a kind of model: what its runs read (labelled texts), build and
report (``elman.runs``).

Inputs, by role (the flags of ``elman classify train``): ``data``, labelled texts (a
label<TAB>text file, a label,text CSV file or a folder with one subfolder per label),
split into training, validation and test parts, stratified by label and seeded, unless
``valid`` and ``test`` give those parts; ``init``, a language model's checkpoint to
start the embedding and recurrent layers from (pre-training, then fine-tuning).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elman import kinds, runs
from elman.blocks.encoder import EncoderConfig
from elman.checkpoint import read_config
from elman.classify import checkpoint
from elman.classify.checkpoint import ClassifierCheckpoint
from elman.classify.data import LabeledData, encode, normalize
from elman.classify.evaluate import evaluate
from elman.classify.model import Classifier, ClassifierConfig, init_from_language_model
from elman.classify.recipes import RECIPES
from elman.classify.task import ClassifierTask
from elman.config import TokenizerConfig, TrainConfig
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.errors import ElmanError
from elman.metrics import report

# Defaults of `elman classify train`, over those of its dataclasses: a bidirectional GRU
# over words, which reaches the targets on the SMS Spam Collection in a few
# minutes on two cores (docs/classify.md).
DEFAULTS: dict[str, Any] = dict(
    embed=64, hidden=64, cell="gru", bidirectional=True, dropout=0.25,
    level="word", batch=32, epochs=6, max_minutes=8.0, eval_batch=64, lr_decay=2.0,
)  # fmt: skip
PARTS = ("train", "valid", "test")
SHAPE = ("embed", "hidden", "cell", "layers")  # what a classifier takes from --init's model


@dataclass
class ClassifierData:
    """The labelled texts of each part, the labels, and the run's record of them."""

    parts: dict[str, list[Example]]
    record: dict[str, Any] = field(default_factory=dict)
    init: Any = None  # the language model's checkpoint the run starts from, if any


class ClassifierKind(runs.KindBase):
    """``elman.runs.Kind`` for the classifier."""

    name = checkpoint.KIND
    checkpoint = checkpoint
    command = "classify train"
    roles = {
        "data": "labelled texts to train on",
        "valid": "validation texts (default: part of --data)",
        "test": "test texts (default: part of --data)",
        "init": "start the embedding and recurrent layers from a language model checkpoint "
        "(pre-training, then fine-tuning); its vocabulary, --embed, --hidden, --cell and "
        "--layers are used, and texts are not normalised unless --normalize is given",
    }
    sections = {
        "model": EncoderConfig,
        "classifier": ClassifierConfig,
        "tokenizer": TokenizerConfig,
        "train": TrainConfig,
    }
    defaults = DEFAULTS
    recipes = RECIPES
    refused = {
        "grow_vocab": "--grow-vocab grows a language model's vocabulary when elman train "
        "--init fine-tunes it; a classifier started with --init reads texts with the language "
        "model's vocabulary as it is (words it lacks count as <unk>), so leave --grow-vocab out."
    }

    def defaults_for(self, inputs: runs.Inputs) -> dict[str, Any]:
        init = inputs.get("init")
        if init is None:
            return DEFAULTS
        # A language model's vocabulary was built from raw text: read texts as it did.
        config = read_config(init)
        shape = {name: config.get("model", {}).get(name) for name in SHAPE}
        level = config.get("tokenizer", {}).get("level")
        return {**DEFAULTS, **shape, "level": level, "normalize": False}

    def read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False
    ) -> ClassifierData:
        if inputs.get("data") is None:
            raise ElmanError("give --data, the labelled texts to train on, or --resume DIR.")
        config: ClassifierConfig = settings["classifier"]
        examples = _examples(inputs["data"])
        given = {role: _examples(inputs[role]) for role in ("valid", "test") if inputs.get(role)}
        fractions = {
            role: 0.0 if role in given else getattr(config, f"{role}_fraction")
            for role in ("valid", "test")
        }
        rows = stratified_split([e.label for e in examples], fractions["valid"],
                                fractions["test"], config.split_seed)  # fmt: skip
        parts = {role: [examples[i] for i in part] for role, part in zip(PARTS, rows, strict=True)}
        parts.update(given)
        record_inputs = {"data": runs.input_record(inputs["data"], fingerprint(examples))}
        for role, found in given.items():
            record_inputs[role] = runs.input_record(inputs[role], fingerprint(found))
        init = inputs.get("init")
        if init is not None:
            record_inputs["init"] = {"path": str(Path(init).resolve()), "sha256": None}
        record = {
            "inputs": record_inputs,
            "split": {
                "file": record_inputs["data"]["path"],
                "examples": len(examples),
                "fingerprint": fingerprint(examples),
                "valid_fraction": fractions["valid"],
                "test_fraction": fractions["test"],
                "seed": config.split_seed,
            },
        }
        held = runs.held_out(parts) or []
        record["examples"] = runs.examples([e.text for e in held], [e.label for e in held])
        return ClassifierData(parts, record, None if resuming or init is None else init)

    def build(self, data: ClassifierData, settings: runs.Settings) -> ClassifierCheckpoint:
        config: ClassifierConfig = settings["classifier"]
        tokenizer_config: TokenizerConfig = settings["tokenizer"]
        train = data.parts["train"]
        labels = sorted({e.label for e in train})
        if len(labels) < 2:
            raise ElmanError(
                f"the training texts all have label {labels[0]!r}; a classifier needs at "
                "least two labels."
            )
        language_model = None if data.init is None else _language_model(data.init)
        if language_model is not None:
            tokenizer = language_model.tokenizer
            if tokenizer_config.level != tokenizer.level:
                raise ElmanError(
                    f"--init {data.init} is a {tokenizer.level}-level language model, so the "
                    f"classifier reads {tokenizer.level}s too; drop --level "
                    f"{tokenizer_config.level}."
                )
            tokenizer_config = language_model.tokenizer_config
        else:
            texts = [normalize(e.text) if config.normalize else e.text for e in train]
            tokenizer = tokenizer_config.fit("\n".join(texts))
        model_config = dataclasses.replace(settings["model"], vocab_size=len(tokenizer))
        model = Classifier(model_config, len(labels), config.pooling, seed=settings["train"].seed)
        if language_model is not None:
            lm = language_model.model
            data.record["initialised"] = init_from_language_model(model, lm.config, lm.params)
        return ClassifierCheckpoint(model, tokenizer, labels, config, settings["train"],
                                    tokenizer_config=tokenizer_config)  # fmt: skip

    def describe(self, ckpt: ClassifierCheckpoint, data: ClassifierData) -> list[str]:
        train = data.parts["train"]
        counts = Counter(e.label for e in train)
        lines = [
            f"{len(train):,} training texts ("
            + ", ".join(f"{label} {counts[label]:,}" for label in ckpt.labels)
            + f"), {len(data.parts['valid']):,} validation, {len(data.parts['test']):,} test; "
            f"vocabulary: {len(ckpt.tokenizer):,} {ckpt.tokenizer_config.level} tokens; model: "
            f"{ckpt.model.flat_params.size:,} parameters"
        ]
        if "initialised" in data.record:
            copied = data.record.pop("initialised")
            lines.append(
                f"initialised {len(copied)} tensors from the language model in {data.init}"
            )
        return lines

    def task(self, ckpt: ClassifierCheckpoint, data: ClassifierData) -> ClassifierTask:
        return ClassifierTask(ckpt, encode_part(ckpt, data.parts["train"]),
                              encode_part(ckpt, data.parts["valid"]))  # fmt: skip

    def finish(
        self, ckpt: ClassifierCheckpoint, data: ClassifierData, say: Callable[[str], None]
    ) -> dict | None:
        test = encode_part(ckpt, data.parts["test"])
        if not len(test.labels):
            return None
        result = evaluate(ckpt.model, test, ckpt.train_config.eval_batch)
        say(f"test ({len(test.labels):,} texts):")
        say(report(result.scores, ckpt.labels))
        return result.as_dict(ckpt.labels)

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        if test is None:
            return "no test part"
        return f"test accuracy {test['accuracy']:.4f}, macro F1 {test['macro_f1']:.4f}"


KIND = ClassifierKind()


def encode_part(ckpt: ClassifierCheckpoint, examples: list[Example]) -> LabeledData:
    """Examples as the checkpoint's model reads them."""
    config = ckpt.classifier_config
    return encode(examples, ckpt.tokenizer, ckpt.labels, config.normalize, config.max_length)


def _examples(given: Any) -> list[Example]:
    return list(given) if isinstance(given, list) else read_labeled(given)


def _language_model(directory: Any) -> Any:
    """The checkpoint --init names, refused unless it is a language model's: a tokenizer,
    and an embedding and recurrent layers named as a language model names them."""
    found = kinds.load(directory)
    names = getattr(found.model, "params", {})
    if (
        getattr(found, "tokenizer", None) is None
        or "embed.W" not in names
        or "rnn.0.W_x" not in names
    ):
        raise ElmanError(
            f"--init {directory} holds a {found.kind} checkpoint, but a classifier starts from "
            "a language model's (the --out of elman train)."
        )
    if getattr(found, "condition", None) is not None and found.condition.conditioned:
        raise ElmanError(
            f"--init {directory} is a language model conditioned on a "
            f"{found.condition.condition}; start from a plain one (elman train without "
            "--condition)."
        )
    return found


def evaluation_part(ckpt: ClassifierCheckpoint, data: str, split: str = "all") -> list[Example]:
    """The labelled texts of ``data`` to evaluate on: all of them, or the part ``split``
    ("train", "valid", "test") re-split as the run recorded (it must be the file the
    model was split from)."""
    examples = read_labeled(data)
    if split == "all":
        return examples
    record = runs.recorded_split(ckpt, data, fingerprint(examples), "examples")
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
    return [examples[i] for i in parts[PARTS.index(split)]]
