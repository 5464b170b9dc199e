"""A tagger's checkpoint: the model, its two vocabularies, its tags and how it was trained.

config.json        "kind": "tagger"; sections "model" (ModelConfig), "tagger"
                   (TaggerConfig), "train" (TrainConfig), "tokenizer" (the words'
                   level), "data" (the tags) and "info"
vocab.json         the words
vocab-chars.json   the characters (checkpoints from before named vocabularies kept
                   them in config.json, as data.chars, and still load)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    copy_tensors,
    distinct_names,
    read_checkpoint,
    vocabulary,
    write_checkpoint,
)
from elman.config import ModelConfig, TrainConfig, from_dict
from elman.data.tokenizers import CharTokenizer, WordTokenizer, tokenizer_from_json
from elman.tag.model import Tagger, TaggerConfig

KIND = "tagger"
SECTIONS = ("model", "tagger", "train", "tokenizer", "data", "info")


@dataclass
class TaggerCheckpoint:
    """A trained tagger with its vocabularies and tag set."""

    model: Tagger
    words: WordTokenizer
    chars: CharTokenizer
    tags: list[str]
    train_config: TrainConfig = field(default_factory=TrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # the epoch record it was saved at
    data: dict[str, Any] = field(default_factory=dict)  # the files it was trained on

    kind = KIND

    @property
    def tagger_config(self) -> TaggerConfig:
        return self.model.tagger_config


def save(directory: str | os.PathLike, ckpt: TaggerCheckpoint) -> None:
    """Write a tagger checkpoint into ``directory``."""
    sections = {
        "model": dataclasses.asdict(ckpt.model.config),
        "tagger": dataclasses.asdict(ckpt.tagger_config),
        "train": dataclasses.asdict(ckpt.train_config),
        "tokenizer": {"level": ckpt.words.level},
        "data": {**ckpt.data, "tags": list(ckpt.tags)},
        "info": ckpt.info,
    }
    vocabularies = {"words": ckpt.words, "chars": ckpt.chars}
    write_checkpoint(directory, KIND, sections, ckpt.model.params, vocabularies)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> TaggerCheckpoint:
    """Read and validate the tagger checkpoint in ``directory``."""
    directory = Path(directory)
    names = ("words", "chars")
    config, vocabularies, tensors, _ = read_checkpoint(directory, KIND, SECTIONS, names)
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    tagger_config = from_dict(TaggerConfig, config.get("tagger", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    data = config.get("data", {})
    tags = distinct_names(data.get("tags"), where, "data.tags", minimum=1)
    if "chars" not in vocabularies:  # a checkpoint from before named vocabularies
        chars_json = {"level": "char", "tokens": data.get("chars")}
        vocabularies["chars"] = tokenizer_from_json(chars_json, f"{where} chars")
    chars = vocabularies["chars"]
    level = config.get("tokenizer", {}).get("level")
    words = vocabulary(directory, config, vocabularies, "words", model_config.vocab_size, level)
    model = Tagger(model_config, tagger_config, len(chars), len(tags), dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    info = config.get("info", {})
    return TaggerCheckpoint(model, words, chars, tags, train_config, info, data)
