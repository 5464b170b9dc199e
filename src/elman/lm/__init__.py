"""The language model: p(next token | the tokens before it), trained with truncated BPTT.

kind.py          the kind (runs read its texts, build, finish), and ``train``
config.py        LanguageModelConfig, LanguageModelTrainConfig: its own settings
model.py         LanguageModel: embedding -> recurrent layers -> affine -> softmax
conditioned.py   ConditionedLanguageModel: one line from a label or a vector
data.py          a text and its lines' conditions
task.py          how the training loop trains it
evaluate.py      perplexity and bits per character on held-out text
generate.py      sampling and scoring, with explicit state
dynamic_eval.py  dynamic evaluation
ngram.py         a character n-gram count model, the baseline of Korean recipes
recipes.py       its recipes (Penn Treebank, Tiny Shakespeare, Korean movie reviews)
checkpoint.py    its checkpoint
"""

from elman.lazy import exports
from elman.registry import Registration

REGISTRATION = Registration(
    name="language-model",
    family=None,
    help="",
    implementation="elman.lm.kind",
    reads_unnamed=True,
)

__getattr__, __dir__ = exports(
    __name__,
    {
        "elman.lm.checkpoint": "Checkpoint load save",
        "elman.lm.config": "LanguageModelConfig LanguageModelTrainConfig",
        "elman.lm.evaluate": "Evaluation perplexity",
        "elman.lm.generate": "LineScore score stream",
        "elman.lm.model": "LanguageModel",
        "elman.lm.task": "LanguageModelTask",
        "elman.lm.kind": "train",
    },
)
