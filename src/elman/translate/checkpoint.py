"""A translator's checkpoint: the model, its two vocabularies and how it was trained.

config.json        "kind": "translator"; sections "model" (TranslatorModelConfig: the
                   decoder's vocabulary and both sides' shape), "translate"
                   (TranslateConfig: the source vocabulary's size, attention,
                   --reverse-source, decoding settings), "train" (TrainConfig),
                   "tokenizer" (TokenizerConfig, of both vocabularies), "data" (the
                   files, and the seeded split of --data) and "info" (the epoch record
                   it was saved at)
vocab.json         the source vocabulary ("source")
vocab-target.json  the target vocabulary ("target")
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import checkpoint
from elman.config import TokenizerConfig, TrainConfig
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.translate import REGISTRATION
from elman.translate.model import TranslateConfig, Translator, TranslatorModelConfig

KIND = REGISTRATION.name
SETTINGS = {
    "model": TranslatorModelConfig,
    "translate": TranslateConfig,
    "train": TrainConfig,
    "tokenizer": TokenizerConfig,
}
SECTIONS = (*SETTINGS, "data", "info")
VOCABULARIES = ("source", "target")


@dataclass
class TranslatorCheckpoint:
    """A trained translator with its vocabularies and what it was trained on."""

    model: Translator
    source: Tokenizer  # the source vocabulary
    target: Tokenizer  # the target vocabulary; its line end is <eos> (and the start token)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)  # files, the split of --data
    info: dict[str, Any] = field(default_factory=dict)  # the epoch record it was saved at
    tokenizer_config: TokenizerConfig | None = None  # how both were fitted (None: the level)

    kind = KIND

    def __post_init__(self) -> None:
        if self.tokenizer_config is None:
            self.tokenizer_config = TokenizerConfig(level=self.target.level)

    @property
    def translate_config(self) -> TranslateConfig:
        return self.model.translate

    @property
    def settings(self) -> dict[str, Any]:
        """Its settings, by the config.json section that holds each."""
        return {
            "model": self.model.config,
            "translate": self.translate_config,
            "tokenizer": self.tokenizer_config,
            "train": self.train_config,
        }


def save(directory: str | os.PathLike, ckpt: TranslatorCheckpoint) -> None:
    """Write a translator checkpoint into ``directory``."""
    sections = {**checkpoint.sections_of(ckpt.settings), "data": ckpt.data, "info": ckpt.info}
    vocabularies = {"source": ckpt.source, "target": ckpt.target}
    checkpoint.write_checkpoint(directory, KIND, sections, ckpt.model.params, vocabularies)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> TranslatorCheckpoint:
    """Read and validate the translator checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = checkpoint.read_checkpoint(
        directory, KIND, SECTIONS, VOCABULARIES
    )
    where = str(directory / checkpoint.CONFIG_FILE)
    settings = checkpoint.read_settings(config, SETTINGS, where)
    model_config, translate_config = settings["model"], settings["translate"]
    train_config, tokenizer_config = settings["train"], settings["tokenizer"]
    level = tokenizer_config.level
    source = checkpoint.vocabulary(
        directory, config, vocabularies, "source", translate_config.source_vocab_size, level
    )
    target = checkpoint.vocabulary(
        directory, config, vocabularies, "target", model_config.vocab_size, level
    )
    if target.eos_id is None:
        raise ElmanError(
            f"{directory}'s target vocabulary has no line end, which ends every translation; "
            "the checkpoint was edited or mixed up, retrain it."
        )
    model = Translator(model_config, translate_config, dtype=dtype)
    checkpoint.copy_tensors(model.params, tensors, directory / checkpoint.WEIGHTS_FILE)
    data, info = config.get("data", {}), config.get("info", {})
    return TranslatorCheckpoint(model, source, target, train_config, data, info, tokenizer_config)
