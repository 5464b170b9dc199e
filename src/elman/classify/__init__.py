"""Many-to-one: a classifier reads a whole text and outputs one label.

kind.py        the kind: what its runs read, build and report
model.py       ClassifierConfig, Classifier
data.py        texts as token ids and labels, in batches
evaluate.py    probabilities, loss, accuracy, precision/recall/F1
task.py        how the training loop trains it
recipes.py     its recipes (Korean movie reviews)
checkpoint.py  its checkpoint
"""

from elman.lazy import exports
from elman.registry import Registration

# elman classify train|eval|predict; the kind itself is elman.classify.kind.KIND
REGISTRATION = Registration(
    "classifier",
    "classify",
    "many-to-one: one label per text (spam filtering, sentiment)",
    "elman.classify.kind",
)

__getattr__, __dir__ = exports(
    __name__,
    {
        "elman.classify.checkpoint": "ClassifierCheckpoint load save",
        "elman.classify.data": (
            "LabeledBatch LabeledData class_weights encode make_batches normalize token_ids"
        ),
        "elman.classify.evaluate": "ClassifierEvaluation predict_proba",
        "elman.classify.model": "Classifier ClassifierConfig init_from_language_model",
        "elman.classify.task": "ClassifierTask train",
    },
)
