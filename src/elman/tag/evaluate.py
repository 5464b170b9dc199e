"""How well a tagger does: accuracy over words and over the words the vocabulary lacks,
per-tag precision, recall and F1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.metrics import Scores, confusion_matrix, scores
from elman.nn.loss import cross_entropy
from elman.tag.data import TaggedData, make_batches
from elman.tag.model import Tagger


def predict_logits(model: Tagger, data: TaggedData, batch: int) -> list[np.ndarray]:
    """The tag logits of every word of every sentence, (T, K) each, in input order."""
    predicted: list[np.ndarray] = [np.zeros((0, model.tags))] * len(data.words)
    for b in make_batches(data, batch):
        logits = model.logits(b)  # (B, T, K)
        for row, i in enumerate(b.index):
            predicted[i] = logits[row, : b.lengths[row]]
    return predicted


def predict_ids(model: Tagger, data: TaggedData, batch: int) -> list[np.ndarray]:
    """The most likely tag id of every word of every sentence, in input order."""
    return [logits.argmax(axis=-1) for logits in predict_logits(model, data, batch)]


@dataclass(frozen=True)
class TaggerEvaluation:
    loss: float  # mean cross-entropy per word
    scores: Scores  # over all words: accuracy, per-tag precision/recall/F1
    oov_accuracy: float  # accuracy on the words the vocabulary lacks (nan if there are none)
    oov_words: int  # how many words those are

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            **self.scores.as_dict(names),
            "loss": self.loss,
            # JSON has no NaN: null when there were no out-of-vocabulary words
            "oov_accuracy": None if self.oov_words == 0 else self.oov_accuracy,
            "oov_words": self.oov_words,
        }


def evaluate(model: Tagger, data: TaggedData, batch: int) -> TaggerEvaluation:
    """Token accuracy, accuracy on out-of-vocabulary words and per-tag scores; padding
    is never scored. A word is out of vocabulary when it maps to <unk>."""
    total, count = 0.0, 0
    gold, predicted, oov = [], [], []
    for b in make_batches(data, batch):
        logits = model.logits(b)
        mask = b.mask
        predicted.append(logits.argmax(axis=-1)[mask])
        batch_total, batch_count = cross_entropy(logits, b.tags, mask)
        total += batch_total / max(batch_count, 1) * batch_count
        count += int(mask.sum())
        gold.append(b.tags[mask])
        oov.append(b.ids[mask] == 0)
    gold_ids, predicted_ids, oov_mask = (np.concatenate(a) for a in (gold, predicted, oov))
    correct = gold_ids == predicted_ids
    return TaggerEvaluation(
        loss=total / max(count, 1),
        scores=scores(confusion_matrix(gold_ids, predicted_ids, model.tags)),
        oov_accuracy=float(correct[oov_mask].mean()) if oov_mask.any() else float("nan"),
        oov_words=int(oov_mask.sum()),
    )


def summary(result: TaggerEvaluation) -> str:
    """A result in one line."""
    oov = (
        f"{result.oov_accuracy:.4f} on {result.oov_words:,} out-of-vocabulary words"
        if result.oov_words
        else "no out-of-vocabulary words"
    )
    return (
        f"accuracy {result.scores.accuracy:.4f} on {int(result.scores.support.sum()):,} "
        f"words, {oov}, macro F1 {result.scores.macro_f1:.4f}"
    )
