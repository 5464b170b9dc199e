"""The classifier's recipes, for ``elman classify train --recipe NAME`` with the data each
names (``elman.recipes`` says how they are written)."""

from __future__ import annotations

from elman.recipes import Recipe

NSMC = "../shared/data/nsmc"

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            name="nsmc-sentiment",
            summary="Korean movie reviews, negative or positive: 8,000 BPE pieces, "
            "bidirectional GRU 256, max pooling over time, dropout 0.4, weights averaged "
            "from epoch 2",
            published="test accuracy 88.7-90.1%, Korean BERTs fine-tuned on GPUs (KoBERT "
            "88.7, KcBERT-Base 89.5); 82.5%, a word CNN from scratch (on NSMC's own split)",
            target="test accuracy >= 87.5% in <= 30 minutes of training",
            data="labelled reviews (label<TAB>text): --data train.tsv --valid valid.tsv "
            "--test test.tsv of ../shared/data/nsmc",
            example=f"elman classify train --recipe nsmc-sentiment --data {NSMC}/train.tsv "
            f"--valid {NSMC}/valid.tsv --test {NSMC}/test.tsv --out runs/nsmc-sentiment",
            model={
                "cell": "gru",
                "bidirectional": True,
                "embed": 128,
                "hidden": 256,
                "dropout": 0.4,  # 0.25 overfits from epoch 3 (valid 0.8655, then 0.8583)
            },
            train={
                "level": "subword",
                "subword": "bpe",  # learned in seconds; unigram takes minutes on this text
                "vocab_size": 8000,
                "batch": 64,
                "lr": 0.002,
                "lr_decay": 2.0,
                "average_after": 1,  # valid 0.8691, 0.8706 after epochs 2 and 3
                "epochs": 4,
                "max_minutes": 30.0,
            },
            kind={"pooling": "max"},
        ),
    )
}
