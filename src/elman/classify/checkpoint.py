"""A classifier's checkpoint: the model, its vocabulary, its labels and how it was trained.

config.json   "kind": "classifier"; sections "model" (ModelConfig), "classifier"
              (ClassifierConfig), "train" (TrainConfig), "tokenizer" (its level),
              "data" (the labels, and the split of --data) and "info"
vocab.json    the tokens
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
from elman.classify.model import Classifier, ClassifierConfig
from elman.config import ModelConfig, TrainConfig, from_dict
from elman.data.tokenizers import Tokenizer

KIND = "classifier"
SECTIONS = ("model", "classifier", "train", "tokenizer", "data", "info")


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

    kind = KIND


def save(directory: str | os.PathLike, ckpt: ClassifierCheckpoint) -> None:
    """Write a classifier checkpoint into ``directory``."""
    sections = {
        "model": dataclasses.asdict(ckpt.model.config),
        "classifier": dataclasses.asdict(ckpt.classifier_config),
        "train": dataclasses.asdict(ckpt.train_config),
        "tokenizer": {"level": ckpt.tokenizer.level},
        "data": {**ckpt.data, "labels": list(ckpt.labels)},
        "info": ckpt.info,
    }
    write_checkpoint(directory, KIND, sections, ckpt.model.params, {"tokens": ckpt.tokenizer})


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> ClassifierCheckpoint:
    """Read and validate the classifier checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = read_checkpoint(directory, KIND, SECTIONS, ("tokens",))
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    classifier_config = from_dict(ClassifierConfig, config.get("classifier", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    data = config.get("data", {})
    labels = distinct_names(data.get("labels"), where, "data.labels", minimum=2)
    level = config.get("tokenizer", {}).get("level")
    tokenizer = vocabulary(
        directory, config, vocabularies, "tokens", model_config.vocab_size, level
    )
    model = Classifier(model_config, len(labels), classifier_config.pooling, dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return ClassifierCheckpoint(
        model, tokenizer, labels, classifier_config, train_config, data, config.get("info", {})
    )
