"""The figures elman reports: perplexity from a loss, and classification scores from a
confusion matrix (accuracy, per-class precision, recall and F1, macro F1; taggers use
the same scores over tokens).

``perplexity(loss)`` is exp(loss), or ``inf`` once that no longer fits a float (a loss
above about 709.8 nats), so a model that scores a text very badly gets the figure
``inf`` instead of a crash.

>>> perplexity(1.0) == math.e, perplexity(1e6)
(True, inf)

>>> s = scores(confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], 2))
>>> s.accuracy, s.precision.tolist(), s.recall.tolist()
(0.75, [1.0, 0.6666666666666666], [0.5, 1.0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# exp(x) overflows a float64 above log(max float) = 709.78...
_LARGEST_EXPONENT = math.log(np.finfo(np.float64).max)


def perplexity(loss: float) -> float:
    """exp(loss): the perplexity of a mean cross-entropy in nats; ``inf`` where it would
    overflow, NaN for a NaN loss."""
    return math.exp(loss) if loss <= _LARGEST_EXPONENT else math.inf


def confusion_matrix(
    gold: Sequence[int] | np.ndarray, predicted: Sequence[int] | np.ndarray, classes: int
) -> np.ndarray:
    """(K, K) counts: row = gold class, column = predicted class."""
    gold, predicted = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    if gold.shape != predicted.shape:
        raise ValueError(f"expected as many predictions as gold labels, got {predicted.shape}")
    counts = np.bincount(gold * classes + predicted, minlength=classes * classes)
    return counts.reshape(classes, classes)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (as sklearn's zero_division=0)."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


@dataclass(frozen=True)
class Scores:
    """What a confusion matrix says about a classifier, class by class and overall."""

    confusion: np.ndarray  # (K, K) counts, row = gold, column = predicted
    accuracy: float  # correct / all
    precision: np.ndarray  # (K,) correct among those predicted as the class
    recall: np.ndarray  # (K,) correct among those of the class
    f1: np.ndarray  # (K,) harmonic mean of precision and recall (0 when both are 0)
    support: np.ndarray  # (K,) how many of each class there were
    macro_f1: float  # mean F1 over the classes that occur, in gold or in predictions

    def as_dict(self, names: Sequence[str]) -> dict[str, Any]:
        """JSON-ready: accuracy, macro F1, per-class scores by name, the confusion matrix."""
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "total": int(self.support.sum()),
            "classes": {
                name: {
                    "precision": float(self.precision[k]),
                    "recall": float(self.recall[k]),
                    "f1": float(self.f1[k]),
                    "support": int(self.support[k]),
                }
                for k, name in enumerate(names)
            },
            "labels": list(names),
            "confusion": self.confusion.tolist(),
        }


def scores(confusion: np.ndarray) -> Scores:
    """Scores of a (K, K) confusion matrix."""
    confusion = np.asarray(confusion, dtype=np.int64)
    correct = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(correct, predicted)
    recall = _ratio(correct, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    # A class neither present nor predicted says nothing about the model: leave it out
    # of the mean rather than count it as F1 = 0 (sklearn averages over the labels seen).
    seen = (support + predicted) > 0
    total = int(confusion.sum())
    return Scores(
        confusion=confusion,
        accuracy=float(correct.sum() / total) if total else 0.0,
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        macro_f1=float(f1[seen].mean()) if seen.any() else 0.0,
    )


def report(s: Scores, names: Sequence[str]) -> str:
    """A plain-text table: one row per class, then accuracy and macro F1."""
    width = max([len(n) for n in names] + [5])
    lines = [f"{'class':<{width}}  precision  recall      f1  support"]
    for k, name in enumerate(names):
        if s.support[k] == 0 and s.confusion[:, k].sum() == 0:
            continue
        lines.append(
            f"{name:<{width}}  {s.precision[k]:9.4f}  {s.recall[k]:6.4f}  {s.f1[k]:6.4f}"
            f"  {s.support[k]:7,}"
        )
    lines.append(f"{'accuracy':<{width}}  {s.accuracy:.4f} of {int(s.support.sum()):,}")
    lines.append(f"{'macro F1':<{width}}  {s.macro_f1:.4f}")
    return "\n".join(lines)


def confusion_report(s: Scores, names: Sequence[str]) -> str:
    """The confusion matrix as a table: rows gold, columns predicted."""
    corner = "gold \\ predicted"
    width = max([len(n) for n in names] + [len(corner)])
    cell = max([len(n) for n in names] + [len(f"{int(s.confusion.max(initial=0)):,}")])
    lines = [f"{corner:<{width}}  " + "  ".join(f"{n:>{cell}}" for n in names)]
    for k, name in enumerate(names):
        row = "  ".join(f"{int(v):>{cell},}" for v in s.confusion[k])
        lines.append(f"{name:<{width}}  {row}")
    return "\n".join(lines)
