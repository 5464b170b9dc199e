"""A classifier's checkpoint: the model, its vocabulary, its labels and how it was trained.

config.json   "kind": "classifier"; sections "model" (EncoderConfig), "classifier"
              (ClassifierConfig), "train" (TrainConfig), "tokenizer" (TokenizerConfig),
              "data" (the labels, and the split of --data) and "info"
vocab.json    the tokens
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import checkpoint
from elman.blocks.encoder import EncoderConfig
from elman.classify import REGISTRATION
from elman.classify.model import Classifier, ClassifierConfig
from elman.config import TokenizerConfig, TrainConfig
from elman.data.tokenizers import Tokenizer

KIND = REGISTRATION.name
SETTINGS = {
    "model": EncoderConfig,
    "classifier": ClassifierConfig,
    "train": TrainConfig,
    "tokenizer": TokenizerConfig,
}
SECTIONS = (*SETTINGS, "data", "info")


@dataclass
class ClassifierCheckpoint:
    """A trained classifier with what it needs to be used and reproduced."""

    model: Classifier
    tokenizer: Tokenizer
    labels: list[str]
    classifier_config: ClassifierConfig = field(default_factory=ClassifierConfig)
    train_config: TrainConfig = field(default_factory=TrainConfig)
    data: dict[str, Any] = field(default_factory=dict)  # labels, the split of --data
    info: dict[str, Any] = field(default_factory=dict)  # the epoch record it was saved at
    tokenizer_config: TokenizerConfig | None = None  # how it was fitted (None: its level alone)

    kind = KIND

    def __post_init__(self) -> None:
        if self.tokenizer_config is None:
            self.tokenizer_config = TokenizerConfig(level=self.tokenizer.level)

    @property
    def settings(self) -> dict[str, Any]:
        """Its settings, by the config.json section that holds each."""
        return {
            "model": self.model.config,
            "classifier": self.classifier_config,
            "tokenizer": self.tokenizer_config,
            "train": self.train_config,
        }


def save(directory: str | os.PathLike, ckpt: ClassifierCheckpoint) -> None:
    """Write a classifier checkpoint into ``directory``."""
    data = {**ckpt.data, "labels": list(ckpt.labels)}
    sections = {**checkpoint.sections_of(ckpt.settings), "data": data, "info": ckpt.info}
    checkpoint.write_checkpoint(
        directory, KIND, sections, ckpt.model.params, {"tokens": ckpt.tokenizer}
    )


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> ClassifierCheckpoint:
    """Read and validate the classifier checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = checkpoint.read_checkpoint(
        directory, KIND, SECTIONS, ("tokens",)
    )
    where = str(directory / checkpoint.CONFIG_FILE)
    settings = checkpoint.read_settings(config, SETTINGS, where)
    model_config, classifier_config = settings["model"], settings["classifier"]
    train_config, tokenizer_config = settings["train"], settings["tokenizer"]
    data = config.get("data", {})
    labels = checkpoint.distinct_names(data.get("labels"), where, "data.labels", minimum=2)
    tokenizer = checkpoint.vocabulary(
        directory, config, vocabularies, "tokens", model_config.vocab_size, tokenizer_config.level
    )
    model = Classifier(model_config, len(labels), classifier_config.pooling, dtype=dtype)
    checkpoint.copy_tensors(model.params, tensors, directory / checkpoint.WEIGHTS_FILE)
    info = config.get("info", {})
    return ClassifierCheckpoint(
        model, tokenizer, labels, classifier_config, train_config, data, info, tokenizer_config
    )
