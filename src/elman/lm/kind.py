"""The language model as a kind of model: what its runs read (texts, or label<TAB>text
lines, or texts with a vector per line), what they build and how they finish
(``elman.runs``), and ``train``, the Python entry point of a run.

Inputs, by role (the flags of ``elman train``): ``train``, ``valid``, ``test`` (texts),
or ``data`` (a directory holding train.txt, valid.txt and test.txt, or one text split
into its first 90% and last 10%); with a label condition, label<TAB>text files (``data``
split as the classifier splits it); with a vector condition, each text's ``vectors``,
``valid_vectors``, ``test_vectors``. No text at all: the built-in Tiny Shakespeare,
split 90/10.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import runs
from elman.config import SplitConfig, TokenizerConfig, TrainConfig, extended
from elman.data.corpus import tiny_shakespeare
from elman.data.labeled import Example, fingerprint, read_labeled, stratified_split
from elman.data.text import read_text, split_text
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.checkpoint import Checkpoint
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
from elman.lm.data import Part, label_id, labelled_part, vector_part
from elman.lm.evaluate import evaluate
from elman.lm.generate import generate
from elman.lm.model import LanguageModel, check_memory
from elman.lm.recipes import RECIPES
from elman.lm.task import LanguageModelTask, training_ids
from elman.metrics import perplexity

PARTS = ("train", "valid", "test")
VECTORS = {"train": "vectors", "valid": "valid_vectors", "test": "test_vectors"}
SPLIT = 0.9  # one text (and the built-in corpus): its first 90% trains, the last 10% validates
# Settings for `elman train` on the built-in corpus: a character-level model that trains
# in about two minutes on two cores (a tanh RNN of 512 units reads about 70,000
# characters a second on two cores, so it sees the 1M-character corpus about 7 times).
# Each training stream restarts from a zero state every 16 chunks (1,024 characters),
# two of the 32 at each step: without that, the first epoch's only cold starts are at
# step 1, and by step 300 the grown W_h gives the tanh RNN a second regime, one its
# output layer was never fit to, which some held-out streams started cold fall into
# (perplexity in the thousands; docs/evaluation.md).
BUILTIN: dict[str, Any] = {
    "hidden": 512,
    "level": "char",
    "epochs": 10,
    "max_minutes": 2.0,
    "restart_every": 16,
}


@dataclass
class LanguageModelData:
    """The parts a run reads (None where there is none) and its record."""

    parts: dict[str, Part | None]
    record: dict[str, Any] = field(default_factory=dict)
    builtin: bool = False  # the built-in corpus


class LanguageModelKind(runs.KindBase):
    """``elman.runs.Kind`` for the language model, plain or conditioned."""

    name = checkpoint.KIND
    checkpoint = checkpoint
    command = "train"
    roles = {
        "train": "training text (UTF-8); default: the built-in corpus",
        "valid": "validation text, evaluated after each epoch",
        "test": "test text, evaluated once at the end",
        "data": "instead of --train/--valid/--test: a directory holding train.txt, valid.txt "
        "and test.txt, or one text file split into its first 90%% (train) and last 10%% "
        "(validation)",
        "vectors": "--condition vector: one vector per line of --train (a NumPy .npy array)",
        "valid_vectors": "--condition vector: one vector per line of --valid",
        "test_vectors": "--condition vector: one vector per line of --test",
    }
    sections = {
        "model": LanguageModelConfig,
        "tokenizer": TokenizerConfig,
        "train": LanguageModelTrainConfig,
        "condition": ConditionConfig,
    }
    variants = {"on the built-in corpus": BUILTIN}
    recipes = RECIPES

    def defaults_for(self, inputs: runs.Inputs) -> dict[str, Any]:
        builtin = inputs.get("train") is None and inputs.get("data") is None
        return BUILTIN if builtin else {}

    # Reading -----------------------------------------------------------------------

    def read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False
    ) -> LanguageModelData:
        data = self._read(inputs, settings, resuming)
        if settings["condition"].condition != "vector":  # a vector model's lines need theirs
            data.record["examples"] = examples_of(data)
        return data

    def _read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool
    ) -> LanguageModelData:
        condition: ConditionConfig = settings["condition"]
        given = {role: value for role, value in inputs.items() if value is not None}
        vectors = [VECTORS[p] for p in PARTS if VECTORS[p] in given]
        if vectors and condition.condition != "vector":
            raise ElmanError("--vectors gives a vector condition; add --condition vector.")
        texts = [role for role in PARTS if role in given]
        if "data" in given and texts:
            raise ElmanError(
                f"--data replaces --train, --valid and --test; give --data or --{texts[0]}."
            )
        if condition.condition == "label":
            return read_labelled(given, condition)
        if condition.condition == "vector":
            size = condition.condition_size if resuming else None
            return read_with_vectors(given, size)
        if "data" in given:
            return read_data(given["data"])
        if "train" not in given:
            if "valid" in given:
                raise ElmanError(
                    "--valid needs --train; without --train the built-in corpus is split 90/10."
                )
            train, valid = split_text(tiny_shakespeare(), SPLIT)
            test = read_text(given["test"]) if "test" in given else None
            record = {"inputs": {"train": {"path": None, "sha256": runs.text_digest(train),
                                           "builtin": True}}}  # fmt: skip
            if test is not None:
                record["inputs"]["test"] = runs.input_record(given["test"], runs.text_digest(test))
            return LanguageModelData(_parts(train, valid, test), record, builtin=True)
        parts, record = {}, {"inputs": {}}
        for role in PARTS:
            text = _text(given.get(role))
            parts[role] = None if text is None else Part(text)
            if text is not None:
                record["inputs"][role] = runs.input_record(given[role], runs.text_digest(text))
        return LanguageModelData(parts, record)

    # Building ----------------------------------------------------------------------

    def build(self, data: LanguageModelData, settings: runs.Settings) -> Checkpoint:
        train = data.parts["train"]
        tokenizer_config: TokenizerConfig = settings["tokenizer"]
        tokenizer = tokenizer_config.fit(train.text)
        config = dataclasses.replace(settings["model"], vocab_size=len(tokenizer))
        check_memory(config)
        seed, condition = settings["train"].seed, settings["condition"]
        if not condition.conditioned:
            model = LanguageModel(config, seed=seed)
        else:
            if condition.condition == "vector":
                size = train.conditions.shape[1]
                condition = dataclasses.replace(condition, condition_size=size)
            labels = len(data.record.get("labels", []))
            model = ConditionedLanguageModel(config, condition, labels, seed=seed)
        return Checkpoint(model, tokenizer, settings["train"], tokenizer_config=tokenizer_config)

    def describe(self, ckpt: Checkpoint, data: LanguageModelData) -> list[str]:
        tokenizer = ckpt.tokenizer
        lines = [
            f"vocabulary: {len(tokenizer):,} {ckpt.tokenizer_config.level} tokens; model: "
            f"{ckpt.model.flat_params.size:,} parameters"
        ]
        if data.builtin:
            lines.append("training on the built-in Tiny Shakespeare corpus (first 90% train, "
                         "last 10% validation)")  # fmt: skip
        for name, role in (("validation", "valid"), ("test", "test")):
            part = data.parts[role]
            unknown = 0 if part is None else sum(tokenizer.unknown_tokens(part.text).values())
            if unknown:
                lines.append(
                    f"{name} text: {unknown:,} tokens are not in the training vocabulary and "
                    "count as <unk>"
                )
        return lines

    def task(self, ckpt: Checkpoint, data: LanguageModelData) -> LanguageModelTask:
        train, valid = data.parts["train"], data.parts["valid"]
        valid_text = None if valid is None else valid.text
        train_ids, valid_ids = training_ids(ckpt.tokenizer, train.text, valid_text,
                                            ckpt.train_config)  # fmt: skip
        conditions = None
        if train.conditions is not None:
            conditions = (train.conditions, None if valid is None else valid.conditions)
        encoded = None if valid is None else ckpt.tokenizer.encode_text(valid.text)
        return LanguageModelTask(ckpt, train_ids, valid_ids, conditions, encoded)

    # Finishing ---------------------------------------------------------------------

    def finish(
        self, ckpt: Checkpoint, data: LanguageModelData, say: Callable[[str], None]
    ) -> dict | None:
        """The test text's perplexity, if any; a sample (one per label of a label model)."""
        model, tokenizer, config = ckpt.model, ckpt.tokenizer, ckpt.train_config
        test, figures = data.parts["test"], None
        if test is not None:
            result = evaluate(model, tokenizer, test.text, config.eval_batch, config.bptt,
                              test.conditions, config.threads)  # fmt: skip
            figures = result.as_dict()
            say(
                f"test perplexity {result.perplexity:.2f} per token, {result.bits_per_char:.4f} "
                f"bits per character ({result.loss:.4f} nats/token, {result.tokens:,} tokens "
                f"scored, {result.unknown:,} of them <unk>, state {model.config.state})"
            )
        say("sample:")
        if ckpt.condition.condition == "label":
            for label in ckpt.labels[:5]:
                condition = label_id(ckpt.labels, label)
                line = generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed,
                                condition=condition, stop_at_line_end=True)  # fmt: skip
                say(f"{label}\t{line}")
        elif ckpt.condition.condition != "vector":
            say(generate(model, tokenizer, "", tokenizer.sample_length, seed=config.seed))
        return figures

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        valid = [r for r in history if "valid_loss" in r]
        if test is not None:
            return (
                f"test perplexity {test['perplexity']:.2f} per token, "
                f"{test['bits_per_char']:.4f} bits per character"
            )
        if not valid:
            return "no held-out figure"
        best = min(valid, key=lambda r: r["valid_loss"])
        loss, bits = best["valid_loss"], best.get("valid_bits_per_char")
        per_char = "" if bits is None else f", {bits:.4f} bits per character"
        return (
            f"validation loss {loss:.4f} nats/token (perplexity {perplexity(loss):.2f}{per_char})"
        )

    def save(self, directory: Path, ckpt: Checkpoint) -> None:
        checkpoint.save_checkpoint(directory, ckpt)


KIND = LanguageModelKind()


# Reading the inputs ----------------------------------------------------------------------


def examples_of(data: LanguageModelData) -> list[dict[str, Any]]:
    """A few held-out lines for the playground (``runs.examples``), with their labels for
    a label-conditioned model."""
    part = runs.held_out(data.parts)
    if part is None:
        return []
    lines = part.text.split("\n")
    if part.conditions is None:
        return runs.examples(lines)
    names = data.record["labels"]
    return runs.examples(lines[: len(part.conditions)], [names[k] for k in part.conditions])


def read_data(path: Any) -> LanguageModelData:
    """--data: a directory with train.txt, valid.txt and test.txt, or one file to split."""
    path = Path(path)
    if path.is_dir():
        files = {role: path / f"{role}.txt" for role in PARTS}
        missing = [f.name for f in files.values() if not f.is_file()]
        if missing:
            raise ElmanError(
                f"--data {path} should hold train.txt, valid.txt and test.txt, but "
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing; add "
                "them, or give one text file to split 90/10."
            )
        texts = {role: read_text(f) for role, f in files.items()}
        digest = runs.text_digest("".join(f"{len(t)}:{t}" for t in texts.values()))
        record = {"inputs": {"data": runs.input_record(path, digest)}}
        return LanguageModelData(_parts(*texts.values()), record)
    if path.is_file():
        text = read_text(path)
        train, valid = split_text(text, SPLIT)
        record = {"inputs": {"data": runs.input_record(path, runs.text_digest(text))},
                  "split": SPLIT}  # fmt: skip
        return LanguageModelData(_parts(train, valid, None), record)
    raise ElmanError(
        f"--data {path} does not exist; give a directory holding train.txt, valid.txt and "
        "test.txt, or one text file to split 90/10."
    )


def read_labelled(given: dict[str, Any], condition: ConditionConfig) -> LanguageModelData:
    """label<TAB>text files: --data split as the classifier splits it (stratified, seeded),
    or --train with --valid and --test; the labels are the training part's, sorted."""
    if "train" not in given and "data" not in given:
        raise ElmanError(
            "--condition label needs --train FILE (label<TAB>text lines) or --data FILE."
        )
    main = "data" if "data" in given else "train"
    examples = _examples(given[main])
    held_out = {role: _examples(given[role]) for role in ("valid", "test") if role in given}
    split = condition if main == "data" else SplitConfig(0.0, 0.0, condition.split_seed)
    fractions = {
        role: 0.0 if role in held_out else getattr(split, f"{role}_fraction")
        for role in ("valid", "test")
    }
    rows = stratified_split([e.label for e in examples], fractions["valid"], fractions["test"],
                            split.split_seed)  # fmt: skip
    parts_examples = [[examples[i] for i in part] for part in rows]
    parts_examples[1] = held_out.get("valid", parts_examples[1])
    parts_examples[2] = held_out.get("test", parts_examples[2])
    labels = sorted({e.label for e in parts_examples[0]})
    inputs = {main: runs.input_record(given[main], fingerprint(examples))}
    for role, found in held_out.items():
        inputs[role] = runs.input_record(given[role], fingerprint(found))
    record = {
        "inputs": inputs,
        "labels": labels,
        "split": fractions,
        "split_seed": split.split_seed,
    }
    parts = {
        role: labelled_part(part, labels) if part else None
        for role, part in zip(PARTS, parts_examples, strict=True)
    }
    return LanguageModelData(parts, record)


def read_with_vectors(given: dict[str, Any], size: int | None) -> LanguageModelData:
    """Texts with their vectors, the training vectors first (they set the size)."""
    if "data" in given:
        raise ElmanError("a vector condition reads --train and --vectors; --data is for labels.")
    if "train" not in given:
        raise ElmanError("--condition vector needs --train FILE (text lines) or --data FILE.")
    parts: dict[str, Part | None] = {}
    record: dict[str, Any] = {"inputs": {}}
    for role in PARTS:
        text, vectors = given.get(role), given.get(VECTORS[role])
        if (text is None) != (vectors is None):
            flag = VECTORS[role].replace("_", "-")
            raise ElmanError(f"--{role} and --{flag} go together: one vector per line of the text.")
        if text is None:
            parts[role] = None
            continue
        part = vector_part(_text(text), vectors, size)
        size = part.conditions.shape[1]
        parts[role] = part
        record["inputs"][role] = runs.input_record(text, runs.text_digest(part.text))
        vector_digest = runs.text_digest(np.ascontiguousarray(part.conditions).tobytes().hex())
        record["inputs"][VECTORS[role]] = runs.input_record(vectors, vector_digest)
    return LanguageModelData(parts, record)


def _examples(given: Any) -> list[Example]:
    return list(given) if isinstance(given, list) else read_labeled(given)


def _text(given: Any) -> str | None:
    """A text given by path or in memory (``runs.Text``)."""
    if given is None:
        return None
    return given.text if isinstance(given, runs.Text) else read_text(given)


def _parts(train: str, valid: str | None, test: str | None) -> dict[str, Part | None]:
    return {
        role: None if text is None else Part(text)
        for role, text in zip(PARTS, (train, valid, test), strict=True)
    }


# The Python entry point ------------------------------------------------------------------


def train(
    model: LanguageModel,
    tokenizer: Tokenizer,
    train_text: str,
    valid_text: str | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    catch_signals: bool = False,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``train_text`` and return one record per epoch: a run as
    ``elman train`` makes one, the texts given in memory.

    After each epoch (and when a step or time limit stops training) the model is
    evaluated on ``valid_text``; when validation perplexity does not improve at an
    epoch's end (or, with ``decay_after``, at every epoch's end from then on) the
    learning rate is divided by ``config.lr_decay``. With ``out_dir`` (refused when it
    holds a run, unless ``overwrite``), the best model so far (by validation perplexity,
    or the latest without validation text) is saved there with the texts' fingerprints,
    metrics are appended to ``out_dir/metrics.jsonl`` and the training state to
    ``out_dir/resume.safetensors``: ``resume=True`` here (``config``'s limits raising the
    run's own), or ``elman train --resume out_dir --train FILE [--valid FILE]`` with files
    holding the same texts, continues it. ``catch_signals`` turns SIGINT and SIGTERM into a
    save and a ``TrainingInterrupted``. On return ``model`` holds the best weights seen.
    """
    texts = {"train": runs.Text(train_text)}
    if valid_text is not None:
        texts["valid"] = runs.Text(valid_text)
    if resume:
        if out_dir is None:
            raise ValueError("resuming needs the out_dir that holds the training state")
        limits = {name: getattr(config, name) for name in runs.RESUMABLE} if config else None
        run = runs.resume(out_dir, texts, limits, progress=progress,
                          catch_signals=catch_signals, model=model)  # fmt: skip
        return run.history
    config = extended(config or TrainConfig(), LanguageModelTrainConfig)
    settings = {
        "model": model.config,
        "tokenizer": TokenizerConfig(level=tokenizer.level),
        "train": config,
        "condition": getattr(model, "condition", ConditionConfig()),
    }
    ckpt = Checkpoint(model, tokenizer, config)
    run = runs.start(KIND, texts, settings, out_dir, overwrite, ckpt=ckpt, progress=progress,
                     catch_signals=catch_signals)  # fmt: skip
    return run.history
