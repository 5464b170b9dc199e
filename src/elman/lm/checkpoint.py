"""A language model's checkpoint: the model, its tokenizer, how it was trained and on what.

config.json   "kind": "language-model"; sections "model" (LanguageModelConfig), "train"
              (TrainConfig), "tokenizer" (TokenizerConfig), "condition" (ConditionConfig,
              for a conditioned model), "info" (the epoch record it was saved at) and
              "data" (the training texts, for --resume)
vocab.json    the tokens
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from elman import checkpoint
from elman.config import TokenizerConfig, TrainConfig, extended
from elman.data.tokenizers import Tokenizer
from elman.lm import REGISTRATION
from elman.lm.conditioned import ConditionConfig, ConditionedLanguageModel
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
from elman.lm.model import LanguageModel

KIND = REGISTRATION.name
SETTINGS = {
    "model": LanguageModelConfig,
    "train": LanguageModelTrainConfig,
    "tokenizer": TokenizerConfig,
    "condition": ConditionConfig,
}
SECTIONS = (*SETTINGS, "info", "data")


@dataclass
class Checkpoint:
    """A trained model with what it needs to be used: its tokenizer and how it was trained."""

    model: LanguageModel | ConditionedLanguageModel
    tokenizer: Tokenizer
    train_config: LanguageModelTrainConfig = field(default_factory=LanguageModelTrainConfig)
    info: dict[str, Any] = field(default_factory=dict)  # free-form: epoch, step, valid perplexity
    data: dict[str, Any] = field(default_factory=dict)  # the texts it was trained on, for --resume
    tokenizer_config: TokenizerConfig | None = None  # how it was fitted (None: its level alone)

    kind = KIND

    def __post_init__(self) -> None:
        self.train_config = extended(self.train_config, LanguageModelTrainConfig)
        if self.tokenizer_config is None:
            self.tokenizer_config = TokenizerConfig(level=self.tokenizer.level)

    @property
    def condition(self) -> ConditionConfig:
        """How the model is conditioned (``condition == "none"``: it is not)."""
        return getattr(self.model, "condition", ConditionConfig())

    @property
    def settings(self) -> dict[str, Any]:
        """Its settings, by the config.json section that holds each (a plain model's
        condition is "none")."""
        return {
            "model": self.model.config,
            "tokenizer": self.tokenizer_config,
            "train": self.train_config,
            "condition": self.condition,
        }

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
    tokenizer_config: TokenizerConfig | None = None,
) -> None:
    """Write a language model's checkpoint into ``directory`` (created if needed).
    ``data`` records the training texts so that ``--resume`` can check them; when
    None, the record already in ``directory`` is kept."""
    if data is None:
        data = checkpoint.existing_section(Path(directory) / checkpoint.CONFIG_FILE, "data")
    sections = {
        "model": dataclasses.asdict(model.config),
        "tokenizer": dataclasses.asdict(tokenizer_config or TokenizerConfig(tokenizer.level)),
        "train": dataclasses.asdict(
            extended(train_config or TrainConfig(), LanguageModelTrainConfig)
        ),
        "info": info or {},
        "data": data,
    }
    if isinstance(model, ConditionedLanguageModel):
        sections["condition"] = dataclasses.asdict(model.condition)
    checkpoint.write_checkpoint(directory, KIND, sections, model.params, {"tokens": tokenizer})


def save_checkpoint(directory: str | os.PathLike, ckpt: Checkpoint) -> None:
    """Write ``ckpt`` (as ``save``, with everything the checkpoint holds)."""
    save(directory, ckpt.model, ckpt.tokenizer, ckpt.train_config, ckpt.info, ckpt.data,
         ckpt.tokenizer_config)  # fmt: skip


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> Checkpoint:
    """Read and validate the language-model checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = checkpoint.read_checkpoint(
        directory, KIND, SECTIONS, ("tokens",)
    )
    where = str(directory / checkpoint.CONFIG_FILE)
    settings = checkpoint.read_settings(config, SETTINGS, where)
    model_config, train_config = settings["model"], settings["train"]
    tokenizer_config, condition = settings["tokenizer"], settings["condition"]
    tokenizer = checkpoint.vocabulary(
        directory, config, vocabularies, "tokens", model_config.vocab_size, tokenizer_config.level
    )
    data = config.get("data", {})
    if condition.conditioned:
        labels = data.get("labels", []) if condition.condition == "label" else []
        if condition.condition == "label":
            checkpoint.distinct_names(labels, where, "data.labels", minimum=1)
        model = ConditionedLanguageModel(model_config, condition, len(labels), dtype=dtype)
    else:
        model = LanguageModel(model_config, dtype=dtype)
    checkpoint.copy_tensors(model.params, tensors, directory / checkpoint.WEIGHTS_FILE)
    return Checkpoint(
        model, tokenizer, train_config, config.get("info", {}), data, tokenizer_config
    )
