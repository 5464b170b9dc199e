"""Many-to-one: a classifier reads a whole text and outputs one label.

model.py       ClassifierConfig, Classifier
data.py        texts as token ids and labels, in batches
evaluate.py    probabilities, loss, accuracy, precision/recall/F1
task.py        how the training loop trains it
checkpoint.py  its checkpoint
"""

from elman.classify.checkpoint import ClassifierCheckpoint, load, save
from elman.classify.data import (
    LabeledBatch,
    LabeledData,
    class_weights,
    encode,
    make_batches,
    normalize,
    token_ids,
)
from elman.classify.evaluate import ClassifierEvaluation, evaluate, predict_proba
from elman.classify.model import Classifier, ClassifierConfig, init_from_language_model
from elman.classify.task import ClassifierTask, train

__all__ = [
    "Classifier",
    "ClassifierCheckpoint",
    "ClassifierConfig",
    "ClassifierEvaluation",
    "ClassifierTask",
    "LabeledBatch",
    "LabeledData",
    "class_weights",
    "encode",
    "evaluate",
    "init_from_language_model",
    "load",
    "make_batches",
    "normalize",
    "predict_proba",
    "save",
    "token_ids",
    "train",
]
