"""Many-to-many with delay: a translator reads a whole sentence and writes another.

    kind.py        the kind: what its runs read, build and report; ``train``
    recipes.py     its recipes (addition, dates, Multi30k)
    model.py       TranslateConfig, Translator (encoder, bridge, conditional decoder)
    data.py        sentence pairs from files, vocabularies, token ids, batches
    decode.py      beam search and greedy decoding, ``translate``
    evaluate.py    perplexity, exact match, BLEU
    task.py        how the training loop trains it; ``build``
    checkpoint.py  its checkpoint

In Python::

    from elman import translate
    pairs = translate.read_data("addition.txt", "qa")
    train_pairs, valid_pairs, test_pairs = translate.split(pairs, 0.02, 0.1, seed=0)
    ckpt = translate.build(train_pairs, ModelConfig(cell="lstm", hidden=128),
                           TranslateConfig(reverse_source=True), TrainConfig(epochs=10),
                           TokenizerConfig(level="char"))
    translate.train(ckpt, train_pairs, valid_pairs, out="runs/addition")
    translate.translate(ckpt, ["16+75"])              # ['91']
    ckpt = translate.load("runs/addition")
    elman.resume("runs/addition", train=train_pairs, valid=valid_pairs)  # if interrupted
"""

from elman.lazy import exports
from elman.registry import Registration

# elman translate train|eval|predict; the kind itself is elman.translate.kind.KIND
REGISTRATION = Registration(
    "translator",
    "translate",
    "many-to-many with delay: read a sentence, write its translation",
    "elman.translate.kind",
)

__getattr__, __dir__ = exports(
    __name__,
    {
        "elman.translate.checkpoint": "TranslatorCheckpoint load save",
        "elman.translate.data": (
            "MAX_SOURCE_TOKENS MAX_TARGET_TOKENS Pair ParallelBatch ParallelData "
            "build_vocabularies encode make_batches read_aligned read_data split"
        ),
        "elman.translate.decode": "Translation beam_search translate translate_ids",
        "elman.translate.evaluate": "TranslationEvaluation",
        "elman.translate.model": "TranslateConfig Translator TranslatorModelConfig",
        "elman.translate.task": "TranslatorTask build encode_pairs",
        "elman.translate.kind": "train",
    },
)
