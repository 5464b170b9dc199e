"""The classifier as the training loop sees it: shuffled batches of whole texts, the
best model by validation macro F1 (ties to the lower loss)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman import training
from elman.classify import checkpoint
from elman.classify.data import LabeledBatch, LabeledData, class_weights, make_batches
from elman.classify.evaluate import evaluate
from elman.errors import ElmanError


class ClassifierTask(training.WholeSequenceTask):
    command = "classify train"
    unit = "texts"
    headline = "macro_f1"

    def __init__(
        self, ckpt: checkpoint.ClassifierCheckpoint, train: LabeledData, valid: LabeledData | None
    ) -> None:
        if len(train.labels) == 0:
            raise ElmanError("there are no training texts; give a larger --data file.")
        super().__init__(ckpt, train, valid if valid is not None and len(valid.labels) else None)
        balanced = ckpt.classifier_config.class_weights == "balanced"
        self.weights = class_weights(train.labels, self.model.classes) if balanced else None
        self.uniform_loss = math.log(self.model.classes)

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[LabeledBatch]:
        batch = self.ckpt.train_config.batch
        return make_batches(self.train_data, batch, rng, self.weights)

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        result = evaluate(self.model, self.valid_data, self.ckpt.train_config.eval_batch)
        return {
            "loss": result.loss,
            "accuracy": result.scores.accuracy,
            "macro_f1": result.scores.macro_f1,
        }

    def lengths(self, data: LabeledData) -> np.ndarray:
        return np.array([len(ids) for ids in data.sequences])

    def rows(self, data: LabeledData, rows: np.ndarray) -> LabeledData:
        return LabeledData([data.sequences[i] for i in rows], data.labels[rows])

    def save_checkpoint(self, out: Path) -> None:
        checkpoint.save(out, self.ckpt)


def train(
    ckpt: checkpoint.ClassifierCheckpoint,
    train_data: LabeledData,
    valid_data: LabeledData | None = None,
    out: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``ckpt.model`` with ``ckpt.train_config`` and return one record per epoch; with
    ``out``, the best model is saved there as a checkpoint, with ``metrics.jsonl`` and the
    training state. On return the model holds the best weights seen."""
    task = ClassifierTask(ckpt, train_data, valid_data)
    return training.train(task, ckpt.train_config, out, progress)
