"""The tagger as a kind of model: what its runs read (tagged sentences), build and report
(``elman.runs``).

Inputs, by role (the flags of ``elman tag train``): ``train``, ``valid`` and ``test``,
CoNLL-U files (*.conllu) or two-column token<TAB>tag files with a blank line after each
sentence, or lists of ``Sentence`` in memory.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from elman import runs
from elman.blocks.encoder import EncoderConfig
from elman.config import TokenizerConfig, TrainConfig
from elman.data.conllu import Sentence, read_tagged
from elman.errors import ElmanError
from elman.tag import checkpoint
from elman.tag.checkpoint import TaggerCheckpoint
from elman.tag.data import TaggedData, build_vocabularies, encode
from elman.tag.evaluate import evaluate, summary
from elman.tag.model import Tagger, TaggerConfig
from elman.tag.task import TaggerTask

# Defaults of `elman tag train`, over those of its dataclasses: a bidirectional LSTM over
# words with character features, which reaches the target on UD English EWT
# within ten minutes on two cores (docs/classify.md); --max-minutes stops a slow machine.
DEFAULTS: dict[str, Any] = dict(
    embed=100, hidden=128, cell="lstm", bidirectional=True, dropout=0.33,
    level="word", batch=32, epochs=12, max_minutes=8.0, eval_batch=64, lr_decay=2.0,
)  # fmt: skip
PARTS = ("train", "valid", "test")


@dataclass
class TaggerData:
    """The tagged sentences of each part (None where there is none) and their record."""

    parts: dict[str, list[Sentence] | None]
    record: dict[str, Any] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # each part's file, for messages


class TaggerKind(runs.KindBase):
    """``elman.runs.Kind`` for the tagger."""

    name = checkpoint.KIND
    checkpoint = checkpoint
    command = "tag train"
    roles = {
        "train": "tagged sentences to train on",
        "valid": "validation sentences, after each epoch",
        "test": "test sentences, evaluated once at the end",
    }
    sections = {
        "model": EncoderConfig,
        "tagger": TaggerConfig,
        "tokenizer": TokenizerConfig,
        "train": TrainConfig,
    }
    defaults = DEFAULTS
    fixed = {"level": "word"}  # a tagger reads words: of the tokenizer's settings, the limits

    def read(
        self, inputs: runs.Inputs, settings: runs.Settings, resuming: bool = False
    ) -> TaggerData:
        if inputs.get("train") is None:
            raise ElmanError("give --train, the tagged sentences to train on, or --resume DIR.")
        column = settings["tagger"].tag_column
        parts, record, names = {}, {"inputs": {}}, {}
        for role in PARTS:
            given = inputs.get(role)
            if given is None:
                parts[role] = None
                continue
            sentences = list(given) if isinstance(given, list) else read_tagged(given, column)
            parts[role] = sentences
            names[role] = "the data" if isinstance(given, list) else str(given)
            record["inputs"][role] = runs.input_record(given, sentences_digest(sentences))
        held = runs.held_out(parts) or []
        # As a person writes them (a treebank's # text), else the words with spaces between.
        record["examples"] = runs.examples([s.text or " ".join(s.words) for s in held])
        return TaggerData(parts, record, names)

    def build(self, data: TaggerData, settings: runs.Settings) -> TaggerCheckpoint:
        tagger_config, tokenizer_config = settings["tagger"], settings["tokenizer"]
        words, chars, tags = build_vocabularies(
            data.parts["train"], tagger_config.lowercase, tokenizer_config.max_vocab,
            tokenizer_config.min_count,
        )  # fmt: skip
        config = dataclasses.replace(settings["model"], vocab_size=len(words))
        model = Tagger(config, tagger_config, len(chars), len(tags), seed=settings["train"].seed)
        return TaggerCheckpoint(model, words, chars, tags, settings["train"],
                                tokenizer_config=tokenizer_config)  # fmt: skip

    def describe(self, ckpt: TaggerCheckpoint, data: TaggerData) -> list[str]:
        train = data.parts["train"]
        n_words = sum(len(s.words) for s in train)
        return [
            f"{len(train):,} training sentences ({n_words:,} words, {len(ckpt.tags)} tags); "
            f"vocabulary: {len(ckpt.words):,} words, {len(ckpt.chars):,} characters; model: "
            f"{ckpt.model.flat_params.size:,} parameters"
        ]

    def task(self, ckpt: TaggerCheckpoint, data: TaggerData) -> TaggerTask:
        return TaggerTask(
            ckpt, self._encoded(ckpt, data, "train"), self._encoded(ckpt, data, "valid")
        )

    def finish(
        self, ckpt: TaggerCheckpoint, data: TaggerData, say: Callable[[str], None]
    ) -> dict | None:
        test = self._encoded(ckpt, data, "test")
        if test is None:
            return None
        result = evaluate(ckpt.model, test, ckpt.train_config.eval_batch)
        say(f"test: {summary(result)}")
        return result.as_dict(ckpt.tags)

    def headline(self, test: dict | None, history: list[dict[str, Any]]) -> str:
        return "no test part" if test is None else f"test accuracy {test['accuracy']:.4f}"

    @staticmethod
    def _encoded(ckpt: TaggerCheckpoint, data: TaggerData, part: str) -> TaggedData | None:
        sentences = data.parts[part]
        if sentences is None:
            return None
        lowercase = ckpt.tagger_config.lowercase
        return encode(sentences, ckpt.words, ckpt.chars, ckpt.tags, lowercase, data.names[part])


KIND = TaggerKind()


def sentences_digest(sentences: Sequence[Sentence]) -> str:
    """SHA-256 of the sentences' words and tags, in order."""
    digest = hashlib.sha256()
    for s in sentences:
        digest.update(("\t".join(s.words) + "\n" + "\t".join(s.tags) + "\n\n").encode("utf-8"))
    return digest.hexdigest()
