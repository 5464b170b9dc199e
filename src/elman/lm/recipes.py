"""The language model's recipes: settings that reproduce published results, for
``elman train --recipe NAME`` (``elman.recipes`` says how they are written).

Units: elman's loss is the mean cross-entropy per token, so the settings of papers
that sum the loss over the T unrolled steps (Zaremba et al. 2014: SGD learning rate
1, gradient norm clipped at 5, T = 20 or 35) become learning rate T x 1 and clip
5 / T here (PyTorch's word_language_model example uses 20 and 0.25 for the same
reason).
"""

from __future__ import annotations

from elman.recipes import Recipe

NSMC_TEXT = "for p in train valid test; do cut -f2 ../shared/data/nsmc/$p.tsv > $p.txt; done"
PTB_FILES = "train.txt, valid.txt and test.txt of the Penn Treebank (Mikolov's version)"

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="ptb-rnn",
            summary="tanh RNN on PTB words, 512 units, locked dropout, adaptive softmax, "
            "weights averaged from epoch 6",
            published="test perplexity 124.7, Mikolov's RNN-LM (Mikolov 2011); KN-5 141.2",
            target="test perplexity <= 120 in <= 30 minutes of training",
            data=PTB_FILES,
            model={
                "cell": "rnn",
                "embed": 512,
                "hidden": 512,
                "dropout": 0.4,
                "dropout_kind": "locked",
                "softmax": "adaptive",  # 2000 / 3000 / 5000 words: ~3x the full softmax's speed
            },
            train={
                "level": "word",
                "batch": 20,
                "bptt": 35,
                "optimizer": "adam",
                "lr": 0.001,
                "clip": 0.25,
                "lr_decay": 4.0,
                "average_after": 5,  # Polyak averaging: test 123.10 against 124.66 without
                "epochs": 40,
                "max_minutes": 30.0,
            },
        ),
        Recipe(
            name="ptb-lstm-small",
            summary="Zaremba et al. 2014 small (2 x 200 LSTM, SGD, bptt 20) with tied "
            "embeddings and dropout 0.2",
            published="test perplexity 114.5, Zaremba et al. 2014 (small, no dropout)",
            target="test perplexity <= 110 in <= 30 minutes of training",
            data=PTB_FILES,
            model={
                "cell": "lstm",
                "layers": 2,
                "embed": 200,
                "hidden": 200,
                "tie": True,
                "dropout": 0.2,
            },
            train={
                "level": "word",
                "batch": 20,
                "bptt": 20,
                "optimizer": "sgd",
                "lr": 20.0,  # their 1 for a loss summed over 20 steps
                "clip": 0.25,  # their 5 / 20
                "lr_decay": 2.0,
                "decay_after": 5,  # theirs: 4, without dropout
                "epochs": 13,
                "max_minutes": 30.0,
            },
        ),
        Recipe(
            name="ptb-lstm-medium",
            summary="Zaremba et al. 2014 medium: 2 x 650 LSTM, dropout 0.5, 39 epochs",
            published="test perplexity 82.7, Zaremba et al. 2014 (medium)",
            target="test perplexity <= 82.7, however long it takes",
            data=PTB_FILES,
            model={"cell": "lstm", "layers": 2, "embed": 650, "hidden": 650, "dropout": 0.5},
            train={
                "level": "word",
                "batch": 20,
                "bptt": 35,
                "optimizer": "sgd",
                "lr": 35.0,  # their 1 for a loss summed over 35 steps
                "clip": 0.143,  # their 5 / 35
                "lr_decay": 1.25,  # their x 0.8 per epoch
                "decay_after": 6,
                "epochs": 39,
            },
        ),
        Recipe(
            name="shakespeare-char",
            summary="character-level 2 x 512 LSTM on Tiny Shakespeare (first 90% train)",
            published="validation loss 1.47 nats/char, nanoGPT's small character transformer",
            target="validation loss <= 1.47 nats/char in <= 30 minutes of training",
            data="one text file, split into the first 90% for training and the last 10% "
            "for validation (default: the built-in Tiny Shakespeare)",
            model={"cell": "lstm", "layers": 2, "embed": 64, "hidden": 512, "dropout": 0.25},
            train={
                "level": "char",
                "batch": 32,
                "bptt": 100,
                "optimizer": "adam",
                "lr": 0.002,
                "clip": 1.0,
                "lr_decay": 2.0,
                "epochs": 40,
                "max_minutes": 30.0,
            },
            builtin_data=True,
        ),
        Recipe(
            name="nsmc-lm",
            summary="Korean movie reviews, one a line: 16,000 unigram pieces, LSTM 384, "
            "adaptive softmax",
            published="a character 4-gram count model (Witten-Bell), 4.04 bits per character "
            "on the test text, measured beside it at the end",
            target="test <= 3.8 bits per character in <= 30 minutes of training",
            data="the text column of ../shared/data/nsmc's train.tsv, valid.tsv and test.tsv "
            f"({NSMC_TEXT})",
            example="elman train --recipe nsmc-lm --train train.txt --valid valid.txt "
            "--test test.txt --out runs/nsmc-lm",
            model={
                "cell": "lstm",
                "embed": 128,
                "hidden": 384,
                "dropout": 0.1,
                "softmax": "adaptive",
                "cutoffs": "2000,6000",
            },
            train={
                "level": "subword",  # 16,000 unigram pieces, the default (docs/tokens.md)
                "batch": 64,
                "bptt": 64,
                # without restarts the first epoch's validation, read from cold starts,
                # scored 5.05 bits per character against 4.13 for the same model a review
                # at a time (docs/korean.md)
                "restart_every": 16,
                "optimizer": "adam",
                "lr": 0.002,
                "lr_decay": 2.0,
                "epochs": 10,
                "max_minutes": 30.0,
            },
            char_ngram=4,
        ),
        Recipe(
            name="nsmc-conditioned",
            summary="Korean movie reviews written on demand for a sentiment: 8,000 BPE "
            "pieces, LSTM 256 started from the label and given it at every step",
            published="the same model without the label (held-out perplexity per label); "
            "real test reviews as read by the nsmc-sentiment classifier (its recall)",
            target="true label's perplexity below the wrong label's and the unconditioned "
            "model's; generated reviews classified as their label at least as often as real "
            "ones (benchmarks/conditioned.py)",
            data="labelled reviews (label<TAB>text): --train train.tsv --valid valid.tsv "
            "--test test.tsv of ../shared/data/nsmc",
            example="elman train --recipe nsmc-conditioned --train "
            "../shared/data/nsmc/train.tsv --valid ../shared/data/nsmc/valid.tsv --test "
            "../shared/data/nsmc/test.tsv --out runs/nsmc-conditioned",
            model={"cell": "lstm", "embed": 128, "hidden": 256, "dropout": 0.1},
            train={
                "level": "subword",
                "subword": "bpe",
                "vocab_size": 8000,
                "condition": "label",
                "peeky": True,
                "batch": 64,
                "optimizer": "adam",
                "lr": 0.003,
                "lr_decay": 2.0,
                "epochs": 10,
                "max_minutes": 20.0,
            },
        ),
    )
}
