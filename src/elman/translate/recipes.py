"""The translator's recipes, for ``elman translate train --recipe NAME`` with the data
each names (``elman.recipes`` says how they are written)."""

from __future__ import annotations

from elman.recipes import Recipe

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="addition",
            summary="sums of two numbers up to 999 written out digit by digit: LSTM 128 "
            "encoder-decoder, reversed question, general attention",
            published="99% exact answers, Keras' addition example (LSTM 128, reversed "
            "question) after about 100 epochs",
            target=">= 99% exact answers on the 5,000 held-out questions",
            data="the book's addition.txt (50,000 question_answer lines: 16+75  _91  ), split "
            "90/10 after a seeded shuffle (1,000 of the 45,000 held out for validation)",
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
