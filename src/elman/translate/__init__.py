"""Many-to-many with delay: a translator reads a whole sentence and writes another.

model.py       TranslateConfig, Translator (encoder, bridge, conditional decoder)
data.py        sentence pairs from files, vocabularies, token ids, batches
decode.py      beam search and greedy decoding, ``translate``
evaluate.py    perplexity, exact match, BLEU
task.py        how the training loop trains it; ``build`` and ``train``
checkpoint.py  its checkpoint

In Python::

    from elman import translate
    pairs = translate.read_data("addition.txt", "qa")
    train_pairs, valid_pairs, test_pairs = translate.split(pairs, 0.02, 0.1, seed=0)
    ckpt = translate.build(train_pairs, ModelConfig(cell="lstm", hidden=128),
                           TranslateConfig(reverse_source=True), TrainConfig(epochs=10))
    translate.train(ckpt, train_pairs, valid_pairs, out="runs/addition")
    translate.translate(ckpt, ["16+75"])              # ['91']
    ckpt = translate.load("runs/addition")
"""

from elman.translate.checkpoint import TranslatorCheckpoint, load, save
from elman.translate.data import (
    MAX_SOURCE_TOKENS,
    MAX_TARGET_TOKENS,
    Pair,
    ParallelBatch,
    ParallelData,
    build_vocabularies,
    encode,
    make_batches,
    read_aligned,
    read_data,
    split,
)
from elman.translate.decode import Translation, beam_search, translate, translate_ids
from elman.translate.evaluate import TranslationEvaluation, evaluate
from elman.translate.model import TranslateConfig, Translator
from elman.translate.task import TranslatorTask, build, encode_pairs, train

__all__ = [
    "MAX_SOURCE_TOKENS",
    "MAX_TARGET_TOKENS",
    "Pair",
    "ParallelBatch",
    "ParallelData",
    "TranslateConfig",
    "Translation",
    "TranslationEvaluation",
    "Translator",
    "TranslatorCheckpoint",
    "TranslatorTask",
    "beam_search",
    "build",
    "build_vocabularies",
    "encode",
    "encode_pairs",
    "evaluate",
    "load",
    "make_batches",
    "read_aligned",
    "read_data",
    "save",
    "split",
    "train",
    "translate",
    "translate_ids",
]
