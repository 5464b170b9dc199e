"""Many-to-many, aligned: a tagger outputs one tag per word.

kind.py        the kind: what its runs read, build and report
model.py       TaggerConfig, Tagger
data.py        sentences as word, character and tag ids, in batches
evaluate.py    accuracy, accuracy on unseen words, per-tag scores
task.py        how the training loop trains it
checkpoint.py  its checkpoint
"""

from elman.lazy import exports
from elman.registry import Registration

# elman tag train|eval|predict; the kind itself is elman.tag.kind.KIND
REGISTRATION = Registration(
    "tagger",
    "tag",
    "many-to-many: one tag per word (part of speech, named entities)",
    "elman.tag.kind",
)

__getattr__, __dir__ = exports(
    __name__,
    {
        "elman.tag.checkpoint": "TaggerCheckpoint load save",
        "elman.tag.data": (
            "TaggedBatch TaggedData build_vocabularies encode make_batches "
            "vocabulary_form word_counts word_ends"
        ),
        "elman.tag.evaluate": "TaggerEvaluation predict_ids",
        "elman.tag.model": "Tagger TaggerConfig",
        "elman.tag.task": "TaggerTask train",
    },
)
