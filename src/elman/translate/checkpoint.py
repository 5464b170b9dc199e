"""A translator's checkpoint: the model, its two vocabularies and how it was trained.

config.json        "kind": "translator"; sections "model" (ModelConfig: the decoder's
                   vocabulary and both sides' shape), "translate" (TranslateConfig: the
                   source vocabulary's size, attention, --reverse-source, decoding
                   settings), "train" (TrainConfig), "tokenizer" (the level of both
                   vocabularies), "data" (the files, and the seeded split of --data)
                   and "info" (the epoch record it was saved at)
vocab.json         the source vocabulary ("source")
vocab-target.json  the target vocabulary ("target")
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
    read_checkpoint,
    vocabulary,
    write_checkpoint,
)
from elman.config import ModelConfig, TrainConfig, from_dict
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.translate.model import TranslateConfig, Translator

KIND = "translator"
SECTIONS = ("model", "translate", "train", "tokenizer", "data", "info")
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

    kind = KIND

    @property
    def translate_config(self) -> TranslateConfig:
        return self.model.translate


def save(directory: str | os.PathLike, ckpt: TranslatorCheckpoint) -> None:
    """Write a translator checkpoint into ``directory``."""
    sections = {
        "model": dataclasses.asdict(ckpt.model.config),
        "translate": dataclasses.asdict(ckpt.translate_config),
        "train": dataclasses.asdict(ckpt.train_config),
        "tokenizer": {"level": ckpt.target.level},
        "data": ckpt.data,
        "info": ckpt.info,
    }
    vocabularies = {"source": ckpt.source, "target": ckpt.target}
    write_checkpoint(directory, KIND, sections, ckpt.model.params, vocabularies)


def load(directory: str | os.PathLike, dtype: np.dtype | type = np.float32) -> TranslatorCheckpoint:
    """Read and validate the translator checkpoint in ``directory``."""
    directory = Path(directory)
    config, vocabularies, tensors, _ = read_checkpoint(directory, KIND, SECTIONS, VOCABULARIES)
    where = str(directory / CONFIG_FILE)
    model_config = from_dict(ModelConfig, config.get("model", {}), where=where)
    translate_config = from_dict(TranslateConfig, config.get("translate", {}), where=where)
    train_config = from_dict(TrainConfig, config.get("train", {}), where=where)
    level = config.get("tokenizer", {}).get("level")
    source = vocabulary(
        directory, config, vocabularies, "source", translate_config.source_vocab_size, level
    )
    target = vocabulary(directory, config, vocabularies, "target", model_config.vocab_size, level)
    if target.eos_id is None:
        raise ElmanError(
            f"{directory}'s target vocabulary has no line end, which ends every translation; "
            "the checkpoint was edited or mixed up, retrain it."
        )
    model = Translator(model_config, translate_config, dtype=dtype)
    copy_tensors(model.params, tensors, directory / WEIGHTS_FILE)
    return TranslatorCheckpoint(
        model, source, target, train_config, config.get("data", {}), config.get("info", {})
    )
