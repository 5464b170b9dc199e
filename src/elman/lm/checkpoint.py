"""A language model's checkpoint: the model, its tokenizer, how it was trained and on what.

config.json   "kind": "language-model"; sections "model" (ModelConfig), "train"
              (TrainConfig), "tokenizer" (its level), "info" (the epoch record it was
              saved at) and "data" (the training texts, for --resume)
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
    LANGUAGE_MODEL,
    WEIGHTS_FILE,
    copy_tensors,
    distinct_names,
    existing_section,
    read_checkpoint,
    vocabulary,
    write_checkpoint,
)
from elman.config import ModelConfig, TrainConfig, from_dict
from elman.data.tokenizers import Tokenizer
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.model import LanguageModel

KIND = LANGUAGE_MODEL
SECTIONS = ("model", "train", "tokenizer", "info", "data", "condition")


@dataclass
class Checkpoint:
    """A trained model with what it needs to be used: its tokenizer and how it was trained."""

    model: LanguageModel | ConditionedLanguageModel
    tokenizer: Tokenizer
    train_config: TrainConfig = field(default_factory=TrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # free-form: epoch, step, valid perplexity
    data: dict[str, Any] = field(default_factory=dict)  # the texts it was trained on, for --resume

    kind = KIND

    @property
    def condition(self) -> ConditionConfig:
        """How the model is conditioned (``condition == "none"``: it is not)."""
        return getattr(self.model, "condition", ConditionConfig())

    @property
    def labels(self) -> list[str]:
        """A label-conditioned model's labels, in the order of their ids."""
        return list(self.data.get("labels", []))


def save(
    directory: str | os.PathLike,
    model: LanguageModel | ConditionedLanguageModel,
    tokenizer: Tokenizer,
    train_config: TrainConfig | None = None,
    info: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Write a language model's checkpoint into ``directory`` (created if needed).
    ``data`` records the training texts so that ``--resume`` can check them; when
    None, the record already in ``directory`` is kept."""
    if data is None:
        data = existing_section(Path(directory) / CONFIG_FILE, "data")
    sections = {
        "model": dataclasses.asdict(model.config),
        "tokenizer": {"level": tokenizer.level},
        "train": dataclasses.asdict(train_config or TrainConfig()),
        "info": info or {},
        "data": data,
    }
    if isinstance(model, ConditionedLanguageModel):
        sections["condition"] = dataclasses.asdict(model.condition)
    write_checkpoint(directory, KIND, sections, model.params, {"tokens": tokenizer})


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Checkpoint:
    """Read and validate the language-model checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = read_checkpoint(directory, KIND, SECTIONS, ("tokens",))
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    level = config.get("tokenizer", {}).get("level")
    tokenizer = vocabulary(
        directory, config, vocabularies, "tokens", model_config.vocab_size, level
    )
    condition = from_dict(ConditionConfig, config.get("condition", {}), where=where)
    data = config.get("data", {})
    if condition.conditioned:
        labels = data.get("labels", []) if condition.condition == "label" else []
        if condition.condition == "label":
            distinct_names(labels, where, "data.labels", minimum=1)
        model = ConditionedLanguageModel(model_config, condition, len(labels), dtype=dtype)
    else:
        model = LanguageModel(model_config, dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return Checkpoint(model, tokenizer, train_config, config.get("info", {}), data)
