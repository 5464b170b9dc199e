"""The classifier as the training loop sees it: shuffled batches of whole texts, the
best model by validation macro F1 (ties to the lower loss)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman.classify import checkpoint
from elman.classify.data import LabeledBatch, LabeledData, class_weights, make_batches
from elman.classify.evaluate import evaluate
from elman.errors import ElmanError
from elman.training import Trainer


class ClassifierTask:
    command = "classify train"
    unit = "texts"

    def __init__(
        self,
        ckpt: checkpoint.ClassifierCheckpoint,
        train_data: LabeledData,
        valid_data: LabeledData | None,
    ) -> None:
        if len(train_data.labels) == 0:
            raise ElmanError("there are no training texts; give a larger --data file.")
        self.ckpt, self.model = ckpt, ckpt.model
        self.train_data = train_data
        self.valid_data = valid_data if valid_data is not None and len(valid_data.labels) else None
        balanced = ckpt.classifier_config.class_weights == "balanced"
        self.weights = class_weights(train_data.labels, self.model.classes) if balanced else None
        self.uniform_loss = math.log(self.model.classes)

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[LabeledBatch]:
        batch = self.ckpt.train_config.batch
        return make_batches(self.train_data, batch, rng, self.weights)

    def forward(self, batch: LabeledBatch) -> tuple[float, float, float]:
        loss = self.model.forward(batch)
        return loss, self.model.loss_sum, self.model.loss_count

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        result = evaluate(self.model, self.valid_data, self.ckpt.train_config.eval_batch)
        return {
            "loss": result.loss,
            "accuracy": result.scores.accuracy,
            "macro_f1": result.scores.macro_f1,
        }

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (figures["macro_f1"], -figures["loss"])

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {}

    def describe(self, record: dict[str, Any]) -> str:
        valid = f", valid macro_f1 {record['valid_macro_f1']:.4f}" if "valid_loss" in record else ""
        return f"train loss {record['train_loss']:.4f}{valid}"

    def save(self, out: Path, info: dict[str, Any]) -> None:
        self.ckpt.info = info
        checkpoint.save(out, self.ckpt)

    def carried_state(self) -> list:
        return []  # every text is read from a zero state

    def restore_carried_state(self, state: list) -> None:
        pass


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
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
    task = ClassifierTask(ckpt, train_data, valid_data)
    return Trainer(task, ckpt.train_config, out, progress).run()
