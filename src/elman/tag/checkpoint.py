"""A tagger's checkpoint: the model, its two vocabularies, its tags and how it was trained.

config.json        "kind": "tagger"; sections "model" (EncoderConfig), "tagger"
                   (TaggerConfig), "train" (TrainConfig), "tokenizer" (TokenizerConfig:
                   the words' level and limits), "data" (the tags) and "info"
vocab.json         the words
vocab-chars.json   the characters (checkpoints from before named vocabularies kept
                   them in config.json, as data.chars, and still load)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import checkpoint
from elman.blocks.encoder import EncoderConfig
from elman.config import TokenizerConfig, TrainConfig
from elman.data.tokenizers import CharTokenizer, WordTokenizer, tokenizer_from_json
from elman.tag import REGISTRATION
from elman.tag.model import Tagger, TaggerConfig

KIND = REGISTRATION.name
SETTINGS = {
    "model": EncoderConfig,
    "tagger": TaggerConfig,
    "train": TrainConfig,
    "tokenizer": TokenizerConfig,
}
SECTIONS = (*SETTINGS, "data", "info")


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
    tokenizer_config: TokenizerConfig | None = None  # the words' limits (None: none)

    kind = KIND

    def __post_init__(self) -> None:
        if self.tokenizer_config is None:
            self.tokenizer_config = TokenizerConfig(level=self.words.level)

    @property
    def tagger_config(self) -> TaggerConfig:
        return self.model.tagger_config

    @property
    def settings(self) -> dict[str, Any]:
        """Its settings, by the config.json section that holds each."""
        return {
            "model": self.model.config,
            "tagger": self.tagger_config,
            "tokenizer": self.tokenizer_config,
            "train": self.train_config,
        }


def save(directory: str | os.PathLike, ckpt: TaggerCheckpoint) -> None:
    """Write a tagger checkpoint into ``directory``."""
    data = {**ckpt.data, "tags": list(ckpt.tags)}
    sections = {**checkpoint.sections_of(ckpt.settings), "data": data, "info": ckpt.info}
    vocabularies = {"words": ckpt.words, "chars": ckpt.chars}
    checkpoint.write_checkpoint(directory, KIND, sections, ckpt.model.params, vocabularies)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> TaggerCheckpoint:
    """Read and validate the tagger checkpoint in ``directory``."""
    directory = Path(directory)
    names = ("words", "chars")
    config, vocabularies, tensors, _ = checkpoint.read_checkpoint(directory, KIND, SECTIONS, names)
    where = str(directory / checkpoint.CONFIG_FILE)
    # A tagger from before TaggerConfig.split read sentences split at whitespace alone.
    config = {**config, "tagger": {"split": "whitespace", **config.get("tagger", {})}}
    settings = checkpoint.read_settings(config, SETTINGS, where)
    model_config, tagger_config = settings["model"], settings["tagger"]
    train_config, tokenizer_config = settings["train"], settings["tokenizer"]
    data = config.get("data", {})
    tags = checkpoint.distinct_names(data.get("tags"), where, "data.tags", minimum=1)
    if "chars" not in vocabularies:  # a checkpoint from before named vocabularies
        chars_json = {"level": "char", "tokens": data.get("chars")}
        vocabularies["chars"] = tokenizer_from_json(chars_json, f"{where} chars")
    chars = vocabularies["chars"]
    words = checkpoint.vocabulary(
        directory, config, vocabularies, "words", model_config.vocab_size, tokenizer_config.level
    )
    model = Tagger(model_config, tagger_config, len(chars), len(tags), dtype=dtype)
    checkpoint.copy_tensors(model.params, tensors, directory / checkpoint.WEIGHTS_FILE)
    info = config.get("info", {})
    return TaggerCheckpoint(model, words, chars, tags, train_config, info, data, tokenizer_config)
