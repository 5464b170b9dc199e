"""How well a classifier does: class probabilities, loss, accuracy, precision, recall, F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.classify.data import LabeledData, token_ids
from elman.classify.model import Classifier
from elman.data.padded import bucket, pad
from elman.metrics import Scores, confusion_matrix, scores


def predict_proba(model: Classifier, sequences: Sequence[np.ndarray], batch: int) -> np.ndarray:
    """Class probabilities (N, K) of each sequence, in input order, without dropout."""
    probs = np.empty((len(sequences), model.classes), np.float64)
    for index in bucket([len(s) for s in sequences], batch):
        ids, lengths = pad([sequences[i] for i in index])
        logits = model.logits(ids, lengths).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        probs[index] = logits / logits.sum(axis=1, keepdims=True)
    return probs


def predict_texts(ckpt: Any, texts: Sequence[str], batch: int | None = None) -> np.ndarray:
    """Class probabilities (N, K) of each text, read as the checkpoint's classifier was
    trained to read them (its tokenizer, normalisation and length limit)."""
    config = ckpt.classifier_config
    sequences = [token_ids(t, ckpt.tokenizer, config.normalize, config.max_length) for t in texts]
    return predict_proba(ckpt.model, sequences, batch or ckpt.train_config.eval_batch)


@dataclass(frozen=True)
class ClassifierEvaluation:
    loss: float  # mean cross-entropy, nats per text
    scores: Scores

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        return {**self.scores.as_dict(names), "loss": self.loss}


def evaluate(model: Classifier, data: LabeledData, batch: int) -> ClassifierEvaluation:
    """Loss, accuracy, per-class precision/recall/F1 and macro F1 on labelled data."""
    probs = predict_proba(model, data.sequences, batch)
    picked = probs[np.arange(len(data.labels)), data.labels]
    loss = float(-np.log(np.maximum(picked, 1e-300)).mean())
    confusion = confusion_matrix(data.labels, probs.argmax(axis=1), model.classes)
    return ClassifierEvaluation(loss, scores(confusion))
