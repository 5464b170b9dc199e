"""Many-to-many, aligned: a tagger outputs one tag per word.

model.py       TaggerConfig, Tagger
data.py        sentences as word, character and tag ids, in batches
evaluate.py    accuracy, accuracy on unseen words, per-tag scores
task.py        how the training loop trains it
checkpoint.py  its checkpoint
"""

from elman.tag.checkpoint import TaggerCheckpoint, load, save
from elman.tag.data import (
    TaggedBatch,
    TaggedData,
    build_vocabularies,
    encode,
    make_batches,
    vocabulary_form,
    word_counts,
    word_ends,
)
from elman.tag.evaluate import TaggerEvaluation, evaluate, predict_ids
from elman.tag.model import Tagger, TaggerConfig
from elman.tag.task import TaggerTask, train

__all__ = [
    "TaggedBatch",
    "TaggedData",
    "Tagger",
    "TaggerCheckpoint",
    "TaggerConfig",
    "TaggerEvaluation",
    "TaggerTask",
    "build_vocabularies",
    "encode",
    "evaluate",
    "load",
    "make_batches",
    "predict_ids",
    "save",
    "train",
    "vocabulary_form",
    "word_counts",
    "word_ends",
]
