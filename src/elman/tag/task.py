"""The tagger as the training loop sees it: shuffled batches of sentences with word
dropout, the best model by validation accuracy (ties to the lower loss)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman.tag import checkpoint
from elman.tag.data import TaggedBatch, TaggedData, make_batches, word_counts
from elman.tag.evaluate import evaluate
from elman.training import Trainer


class TaggerTask:
    command = "tag train"
    unit = "words"

    def __init__(
        self,
        ckpt: checkpoint.TaggerCheckpoint,
        train_data: TaggedData,
        valid_data: TaggedData | None,
    ) -> None:
        self.ckpt, self.model = ckpt, ckpt.model
        self.train_data, self.valid_data = train_data, valid_data
        self.counts = word_counts(train_data, self.model.config.vocab_size)
        self.uniform_loss = math.log(self.model.tags)

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[TaggedBatch]:
        config, alpha = self.ckpt.train_config, self.ckpt.tagger_config.word_dropout
        return make_batches(self.train_data, config.batch, rng, alpha, self.counts)

    def forward(self, batch: TaggedBatch) -> tuple[float, float, float]:
        loss = self.model.forward(batch)
        return loss, self.model.loss_sum, self.model.loss_count

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        result = evaluate(self.model, self.valid_data, self.ckpt.train_config.eval_batch)
        figures = {"loss": result.loss, "accuracy": result.scores.accuracy}
        if result.oov_words:
            figures["oov_accuracy"] = result.oov_accuracy
        return figures

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (figures["accuracy"], -figures["loss"])

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {}

    def describe(self, record: dict[str, Any]) -> str:
        valid = f", valid accuracy {record['valid_accuracy']:.4f}" if "valid_loss" in record else ""
        return f"train loss {record['train_loss']:.4f}{valid}"

    def save(self, out: Path, info: dict[str, Any]) -> None:
        self.ckpt.info = info
        checkpoint.save(out, self.ckpt)

    def carried_state(self) -> list:
        return []  # every sentence is read from a zero state

    def restore_carried_state(self, state: list) -> None:
        pass


def train(
    ckpt: checkpoint.TaggerCheckpoint,
    train_data: TaggedData,
    valid_data: TaggedData | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``ckpt.model`` with ``ckpt.train_config`` and return one record per epoch; with
    ``out``, the best model is saved there as a checkpoint, with ``metrics.jsonl`` and the
    training state. On return the model holds the best weights seen."""
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    task = TaggerTask(ckpt, train_data, valid_data)
    return Trainer(task, ckpt.train_config, out, progress).run()
