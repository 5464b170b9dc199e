"""Recipes: named settings that reproduce published results.

``elman train --recipe NAME --data DIR`` (language models) and ``elman translate train
--recipe NAME ...`` (translators) start from a recipe's settings; flags given on the
command line override them. Each recipe says which command it belongs to, and that
command refuses the others'. ``elman recipes`` lists them all. Each recipe names the
published figure it is measured against and what it reached here (docs/recipes.md,
docs/translate.md).

Units: elman's loss is the mean cross-entropy per token, so the settings of papers
that sum the loss over the T unrolled steps (Zaremba et al. 2014: SGD learning rate
1, gradient norm clipped at 5, T = 20 or 35) become learning rate T x 1 and clip
5 / T here (PyTorch's word_language_model example uses 20 and 0.25 for the same
reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from elman.errors import ElmanError

PTB_FILES = "train.txt, valid.txt and test.txt of the Penn Treebank (Mikolov's version)"


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    published: str  # the figure the recipe is measured against, with its source
    target: str  # what it should reach on 2 CPU cores
    data: str  # what --data (or the command's input flags) must hold
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig settings
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig settings
    builtin_data: bool = False  # without --data: the built-in Tiny Shakespeare
    command: str = "train"  # the elman command it is for: "train", "translate train"
    kind: dict[str, Any] = field(default_factory=dict)  # the command's own config's settings
    example: str = ""  # a command line that runs it, when --data DIR does not say it all


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
            name="addition",
            summary="sums of two numbers up to 999 written out digit by digit: LSTM 128 "
            "encoder-decoder, reversed question, general attention",
            published="99% exact answers, Keras' addition example (LSTM 128, reversed "
            "question) after about 100 epochs",
            target=">= 99% exact answers on the 5,000 held-out questions",
            data="the book's addition.txt (50,000 question_answer lines: 16+75  _91  ), split "
            "90/10 after a seeded shuffle (1,000 of the 45,000 held out for validation)",
            command="translate train",
            example="elman translate train --recipe addition --data "
            "../shared/data/dlfs2_seq/addition.txt",
            model={"cell": "lstm", "embed": 16, "hidden": 128},
            kind={
                "format": "qa",
                "reverse_source": True,
                "attention": "general",
                "valid_fraction": 0.02,
                "test_fraction": 0.1,
                "beam": 1,
            },
            train={
                "level": "char",
                "batch": 64,
                "lr": 0.005,
                "lr_decay": 2.0,
                "epochs": 12,
                "eval_batch": 256,
            },
        ),
        Recipe(
            name="dates",
            summary="dates written any of many ways to ISO 8601: bidirectional LSTM 128 "
            "encoder, LSTM 128 decoder with general attention",
            published="Deep Learning from Scratch 2's attention model converts almost every "
            "date correctly after a few epochs",
            target=">= 99.9% exact on the 5,000 held-out lines",
            data="the book's date.txt (50,000 question_answer lines: september 27, 1994 "
            "_1994-09-27), split 90/10 after a seeded shuffle (1,000 of the 45,000 held out "
            "for validation)",
            command="translate train",
            example="elman translate train --recipe dates --data ../shared/data/dlfs2_seq/date.txt",
            # Bidirectional: read one way, the "1" of "10/26/00" does not know a "0" follows,
            # and an LSTM 128 stalled at 97.6% writing month 01 for 10 (9 of 10 errors).
            model={"cell": "lstm", "embed": 16, "hidden": 128, "bidirectional": True},
            kind={
                "format": "qa",
                "attention": "general",
                "valid_fraction": 0.02,
                "test_fraction": 0.1,
                "beam": 1,
            },
            train={
                "level": "char",
                "batch": 64,
                "lr": 0.005,
                "lr_decay": 2.0,
                "epochs": 8,
                "eval_batch": 256,
            },
        ),
        Recipe(
            name="multi30k",
            summary="German to English image descriptions, words: bidirectional GRU encoder, "
            "GRU decoder with general attention, tied embeddings, dropout, Adam, at most 60 "
            "minutes, best validation perplexity kept",
            published="BLEU 28.3, test perplexity 25.6: bentrevett/pytorch-seq2seq's GRU with "
            "Bahdanau attention (20.5 M parameters, 10 GPU epochs); 20.6 without attention",
            target="test_2016_flickr BLEU >= 30 (lowercased tokenised text, beam search) in "
            "<= 60 minutes of training",
            data="line-aligned --source/--target files and --valid-source/--valid-target (and "
            "--test-source/--test-target), here Multi30k's lowercased tokenised "
            "*.lc.norm.tok.de/en; any pair of languages of that size",
            command="translate train",
            example="elman translate train --recipe multi30k "
            "--source ../shared/data/multi30k/train.lc.norm.tok.de "
            "--target ../shared/data/multi30k/train.lc.norm.tok.en "
            "--valid-source ../shared/data/multi30k/val.lc.norm.tok.de "
            "--valid-target ../shared/data/multi30k/val.lc.norm.tok.en "
            "--test-source ../shared/data/multi30k/test_2016_flickr.lc.norm.tok.de "
            "--test-target ../shared/data/multi30k/test_2016_flickr.lc.norm.tok.en",
            model={
                "cell": "gru",
                "embed": 256,
                "hidden": 256,
                "bidirectional": True,
                "tie": True,
                "dropout": 0.3,
            },
            kind={"attention": "general", "tokenized": True, "beam": 5},
            train={
                "level": "word",
                "min_count": 2,
                "batch": 64,
                "lr": 0.002,
                "lr_decay": 2.0,
                "epochs": 40,
                "max_minutes": 59.0,  # so that the validation after the cut ends within 60
                "eval_batch": 128,
            },
        ),
    )
}


def get_recipe(name: str, command: str = "train") -> Recipe:
    """The recipe called ``name`` for ``elman COMMAND``, or a clear error listing that
    command's recipes (or naming the command a recipe of another belongs to)."""
    ours = [recipe.name for recipe in RECIPES.values() if recipe.command == command]
    if name not in RECIPES:
        raise ElmanError(
            f"there is no recipe {name!r}; choose one of {', '.join(ours)} "
            "(elman recipes lists them)."
        )
    recipe = RECIPES[name]
    if recipe.command != command:
        raise ElmanError(
            f"the recipe {name} is for elman {recipe.command}, not elman {command}; run "
            f"elman {recipe.command} --recipe {name}, or choose one of {', '.join(ours)}."
        )
    return recipe
