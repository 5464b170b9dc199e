"""Recipes: named settings that reproduce published results.

``elman train --recipe NAME --data DIR`` (language models), ``elman translate train
--recipe NAME ...`` (translators), ... start from a recipe's settings; flags given on
the command line override them. Each kind keeps its own recipes
(``elman.lm.recipes``, ``elman.translate.recipes``, ...: its ``Kind.recipes``);
``elman recipes`` lists them all. Each recipe names the published figure it is measured
against and what it reached here (docs/recipes.md, docs/translate.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    published: str  # the figure the recipe is measured against, with its source
    target: str  # what it should reach on 2 CPU cores
    data: str  # what --data (or the command's input flags) must hold
    # Its settings, by field name, grouped as the flags' help groups them: the model's
    # shape, the training loop's (and the tokenizer's), and the kind's own.
    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    kind: dict[str, Any] = field(default_factory=dict)
    builtin_data: bool = False  # without --data: the built-in corpus
    example: str = ""  # a command line that runs it, when --data DIR does not say it all
    char_ngram: int = 0  # a language model's: the order of the character n-gram count
    # model (elman.lm.ngram) trained and scored on the same texts at the end, beside it

    @property
    def settings(self) -> dict[str, Any]:
        """Every setting, field name -> value."""
        return {**self.model, **self.train, **self.kind}
