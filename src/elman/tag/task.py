"""The tagger as the training loop sees it: shuffled batches of sentences with word
dropout, the best model by validation accuracy (ties to the lower loss)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman import training
from elman.tag import checkpoint
from elman.tag.data import TaggedBatch, TaggedData, make_batches, word_counts
from elman.tag.evaluate import evaluate


class TaggerTask(training.WholeSequenceTask):
    command = "tag train"
    unit = "words"
    headline = "accuracy"

    def __init__(
        self, ckpt: checkpoint.TaggerCheckpoint, train: TaggedData, valid: TaggedData | None
    ) -> None:
        super().__init__(ckpt, train, valid)
        self.counts = word_counts(train, self.model.config.vocab_size)
        self.uniform_loss = math.log(self.model.tags)

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[TaggedBatch]:
        config, alpha = self.ckpt.train_config, self.ckpt.tagger_config.word_dropout
        return make_batches(self.train_data, config.batch, rng, alpha, self.counts)

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        result = evaluate(self.model, self.valid_data, self.ckpt.train_config.eval_batch)
        figures = {"loss": result.loss, "accuracy": result.scores.accuracy}
        if result.oov_words:
            figures["oov_accuracy"] = result.oov_accuracy
        return figures

    def lengths(self, data: TaggedData) -> np.ndarray:
        return np.array([len(ids) for ids in data.words])

    def rows(self, data: TaggedData, rows: np.ndarray) -> TaggedData:
        pick = [int(i) for i in rows]
        return TaggedData(
            [data.words[i] for i in pick], [data.tags[i] for i in pick],
            [data.forms[i] for i in pick], data.chars,
        )  # fmt: skip

    def save_checkpoint(self, out: Path) -> None:
        checkpoint.save(out, self.ckpt)


def train(
    ckpt: checkpoint.TaggerCheckpoint,
    train_data: TaggedData,
    valid_data: TaggedData | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``ckpt.model`` with ``ckpt.train_config`` (see ``elman.classify.train``)."""
    return training.train(
        TaggerTask(ckpt, train_data, valid_data), ckpt.train_config, out, progress
    )
