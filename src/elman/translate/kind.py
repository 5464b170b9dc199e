"""The translator as a kind of model: what its runs read (sentence pairs), build and
report (``elman.runs``).

Inputs, by role (the flags of ``elman translate train``): ``source`` and ``target``
(line-aligned files), ``valid_source``/``valid_target`` and ``test_source``/
``test_target`` likewise; or ``data``, one pair per line (``--format``), split into
training, validation and test parts after a seeded shuffle that the checkpoint
records. From Python, ``train``, ``valid`` and ``test`` may give lists of ``Pair``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from elman import runs
from elman.config import TokenizerConfig, TrainConfig
from elman.errors import ElmanError
from elman.translate import checkpoint
from elman.translate.checkpoint import TranslatorCheckpoint
from elman.translate.data import Pair, fingerprint, read_aligned, read_data, split
from elman.translate.evaluate import evaluate, summary
from elman.translate.model import TranslateConfig, TranslatorModelConfig, check_translator_config
from elman.translate.recipes import RECIPES
from elman.translate.task import TranslatorTask, build, check_training_memory, encode_pairs

# Defaults of `elman translate train`, over those of its dataclasses: an LSTM
# encoder-decoder over words with attention (TranslateConfig's default). The recipes
# (addition, dates, multi30k) set their own.
DEFAULTS: dict[str, Any] = dict(
    embed=128, hidden=256, cell="lstm", dropout=0.2,
    level="word", batch=64, epochs=10, eval_batch=64, lr=0.001, lr_decay=2.0,
)  # fmt: skip
PARTS = ("train", "valid", "test")
FILES = {"train": "", "valid": "valid_", "test": "test_"}  # the prefix of each part's flags


@dataclass
class TranslatorData:
    """The pairs of each part (empty where there are none) and their record."""

    parts: dict[str, list[Pair]]
    record: dict[str, Any] = field(default_factory=dict)


class TranslatorKind(runs.KindBase):
    """``elman.runs.Kind`` for the translator."""

    name = checkpoint.KIND
    checkpoint = checkpoint
    command = "translate train"
    roles = {
        "source": "source sentences, one per line",
        "target": "their translations, line by line",
        "valid_source": "validation sources",
        "valid_target": "validation translations",
        "test_source": "test sources, evaluated at the end",
        "test_target": "test translations",
        "data": "instead: one pair per line, split",
    }
    sections = {
        "model": TranslatorModelConfig,
        "translate": TranslateConfig,
        "tokenizer": TokenizerConfig,
        "train": TrainConfig,
    }
    defaults = DEFAULTS
    variants: dict[str, dict[str, Any]] = {}
    recipes = RECIPES
    refused = {
        "grow_vocab": "--grow-vocab grows a language model's vocabulary when elman train "
        "--init fine-tunes it; a translator is trained from the start, with vocabularies of "
        "its own pairs, so leave --grow-vocab out.",
        "init": "--init starts a language model or a classifier from a trained language "
        "model; a translator is trained from the start, so leave --init out.",
    }

    def read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False
    ) -> TranslatorData:
        config: TranslateConfig = settings["translate"]
        check_translator_config(settings["model"], config)
        given = {role: value for role, value in inputs.items() if value is not None}
        if any(part in given for part in PARTS):  # pairs in memory (the Python API)
            parts = {part: list(given.get(part) or []) for part in PARTS}
            record = {"inputs": {part: runs.input_record(None, fingerprint(pairs))
                                 for part, pairs in parts.items() if pairs}}  # fmt: skip
        elif "data" in given:
            parts, record = _split_data(given, config)
        else:
            parts, record = _aligned(given)
        if not parts["train"]:
            raise ElmanError(
                "there are no training pairs left; give more data or smaller fractions."
            )
        held = runs.held_out(parts)
        record["examples"] = runs.examples(
            [p.source for p in held],
            extra=[{"target": p.target.strip()} for p in held],
            shortest=1,
        )
        return TranslatorData(parts, record)

    def build(self, data: TranslatorData, settings: runs.Settings) -> TranslatorCheckpoint:
        return build(data.parts["train"], settings["model"], settings["translate"],
                     settings["train"], settings["tokenizer"])  # fmt: skip

    def describe(self, ckpt: TranslatorCheckpoint, data: TranslatorData) -> list[str]:
        parts = data.parts
        lines = [
            f"{len(parts['train']):,} training pairs, {len(parts['valid']):,} validation, "
            f"{len(parts['test']):,} test; vocabulary: {len(ckpt.source):,} source and "
            f"{len(ckpt.target):,} target {ckpt.tokenizer_config.level} tokens; model: "
            f"{ckpt.model.flat_params.size:,} parameters"
        ]
        for part in ("valid", "test"):
            if not parts[part]:
                continue
            d = encode_pairs(ckpt, parts[part])
            if d.unknown_source or d.unknown_target:
                lines.append(
                    f"{part}: {d.unknown_source:,} source and {d.unknown_target:,} target "
                    "tokens are not in the training vocabularies and count as <unk>"
                )
        return lines

    def task(self, ckpt: TranslatorCheckpoint, data: TranslatorData) -> TranslatorTask:
        train = encode_pairs(ckpt, data.parts["train"])
        valid = encode_pairs(ckpt, data.parts["valid"]) if data.parts["valid"] else None
        check_training_memory(ckpt, [part for part in (train, valid) if part is not None])
        return TranslatorTask(ckpt, train, valid)

    def finish(
        self, ckpt: TranslatorCheckpoint, data: TranslatorData, say: Callable[[str], None]
    ) -> dict | None:
        test = data.parts["test"]
        if not test:
            return None
        result = evaluate_pairs(
            ckpt, test, ckpt.translate_config.beam, ckpt.train_config.eval_batch
        )
        say(f"test: {summary(result)}")
        return result.as_dict()

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        if test is None:
            return "no test part"
        bleu = "" if test.get("bleu") is None else f", BLEU {test['bleu']:.2f}"
        return f"test exact {test['exact']:.4f}{bleu}, perplexity {test['perplexity']:.3f}"

    def check_flags(self, given: set[str], inputs: runs.Inputs) -> None:
        if "format" in given and inputs.get("data") is None:
            raise ElmanError(
                "--format says what a --data line holds; drop it with --source/--target."
            )


KIND = TranslatorKind()


def evaluate_pairs(ckpt: TranslatorCheckpoint, pairs: Sequence[Pair], beam: int, batch: int):
    """Perplexity, exact matches and BLEU of ``pairs`` (``translate.evaluate``)."""
    data = encode_pairs(ckpt, pairs)
    return evaluate(ckpt.model, data, [p.target for p in pairs], ckpt.target, beam, batch)


def _split_data(given: dict[str, Any], config: TranslateConfig) -> tuple[dict, dict]:
    """--data, split as ``config`` says; the record names the split for eval --split."""
    aligned = [role for role in given if role != "data"]
    if aligned:
        raise ElmanError(
            f"--data holds the pairs and is split into training, validation and test parts; "
            f"give --data or --{aligned[0].replace('_', '-')}, not both."
        )
    pairs = read_data(given["data"], config.format)
    train, valid, test = split(
        pairs, config.valid_fraction, config.test_fraction, config.split_seed
    )
    record = {
        "inputs": {"data": runs.input_record(given["data"], fingerprint(pairs))},
        "split": {
            "file": str(Path(given["data"]).resolve()),
            "pairs": len(pairs),
            "fingerprint": fingerprint(pairs),
            "format": config.format,
            "valid_fraction": config.valid_fraction,
            "test_fraction": config.test_fraction,
            "seed": config.split_seed,
            "sizes": [len(train), len(valid), len(test)],
        },
    }
    return {"train": train, "valid": valid, "test": test}, record


def _aligned(given: dict[str, Any]) -> tuple[dict, dict]:
    """Each part's line-aligned source and target files."""
    parts, inputs = {}, {}
    for part, prefix in FILES.items():
        source, target = given.get(f"{prefix}source"), given.get(f"{prefix}target")
        if (source is None) != (target is None):
            missing = f"--{prefix.replace('_', '-')}{'target' if target is None else 'source'}"
            raise ElmanError(f"{missing} is missing: give both sides of the pairs.")
        parts[part] = [] if source is None else read_aligned(source, target)
        if source is not None:
            digest = fingerprint(parts[part])
            inputs[f"{prefix}source"] = runs.input_record(source, digest)
            inputs[f"{prefix}target"] = runs.input_record(target, digest)
    if not parts["train"] and "source" not in inputs:
        raise ElmanError(
            "give the pairs to train on: --source and --target (line-aligned files) or "
            "--data FILE, or --resume DIR."
        )
    return parts, {"inputs": inputs}


def train(
    ckpt: TranslatorCheckpoint,
    train_pairs: Sequence[Pair],
    valid_pairs: Sequence[Pair] | None = None,
    out: str | Path | None = None,
    progress: bool = True,
    test_pairs: Sequence[Pair] | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train ``ckpt.model`` on ``train_pairs`` with ``ckpt.train_config`` and return one
    record per epoch: a run as ``elman translate train`` makes one, the pairs given in
    memory. After each epoch it is validated on ``valid_pairs``; with ``out`` (refused
    when it holds a run, unless ``overwrite``) the best model (by validation perplexity) is
    saved there as a checkpoint, with ``metrics.jsonl`` and the training state, and
    ``elman.resume(out, train=..., valid=...)`` continues it. On return the model holds the
    best weights seen."""
    inputs = {"train": list(train_pairs), "valid": valid_pairs, "test": test_pairs}
    inputs = {role: list(pairs) for role, pairs in inputs.items() if pairs}
    run = runs.start(KIND, inputs, KIND.settings_of(ckpt), out, overwrite, ckpt=ckpt,
                     progress=progress)  # fmt: skip
    return run.history


def evaluation_pairs(
    ckpt: TranslatorCheckpoint,
    data: str | None,
    source: str | None,
    target: str | None,
    format: str | None = None,
    part: str = "all",
) -> list[Pair]:
    """The pairs to evaluate: two line-aligned files, or one file of pairs (``format``,
    by default the one the model was trained from), or its ``part`` ("train", "valid",
    "test") split as the run recorded (it must be the file the model was split from)."""
    if data is not None and source is not None:
        raise ElmanError("give --data or --source/--target, not both.")
    if data is None:
        if source is None or target is None:
            raise ElmanError("give the pairs to evaluate: --source and --target, or --data.")
        if part != "all":
            raise ElmanError("--split picks a part of --data; drop it with --source/--target.")
        return read_aligned(source, target)
    pairs = read_data(data, format or ckpt.translate_config.format)
    if part == "all":
        return pairs
    record = runs.recorded_split(ckpt, data, fingerprint(pairs), "pairs")
    parts = split(pairs, record["valid_fraction"], record["test_fraction"], record["seed"])
    return parts[PARTS.index(part)]
