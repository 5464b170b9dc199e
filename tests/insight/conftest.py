"""Shared by the insight tests: a synthetic text with quoted spans, and tiny character
models trained on it (once per session)."""

from __future__ import annotations

import numpy as np
import pytest

import elman
from elman.lm.config import LanguageModelTrainConfig

LOWER = "the a cat dog sat ran on in to and big red old new he she said".split()
UPPER = "QUICK FOX RUNS FAR AWAY NOW YES NO STOP GO HOME".split()


def quoted_text(seed: int, lines: int = 300) -> str:
    """Lines of lowercase words, most with one quoted span of UPPERCASE words: after a
    space inside quotes the next letter is uppercase, so a model that predicts well must
    remember whether it is inside quotes."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(lines):
        words = list(rng.choice(LOWER, rng.integers(3, 7)))
        if rng.random() < 0.7:
            quote = " ".join(rng.choice(UPPER, rng.integers(2, 6)))
            words.insert(int(rng.integers(1, len(words))), f'"{quote}"')
        out.append(" ".join(words))
    return "\n".join(out) + "\n"


TEXT = quoted_text(0)
HELD_OUT = quoted_text(1, 60)
TOKENIZER = elman.CharTokenizer.fit(TEXT)
HIDDEN = 24
STEPS = 150  # Adam steps: the LSTM's loss is then about 1.0 nats/char (uniform: 3.7)


def trained(cell: str) -> elman.LanguageModel:
    config = elman.ModelConfig(vocab_size=len(TOKENIZER), embed=16, hidden=HIDDEN, cell=cell)
    model = elman.LanguageModel(config, seed=0)
    settings = LanguageModelTrainConfig(
        max_steps=STEPS, batch=16, bptt=48, lr=0.01, optimizer="adam", epochs=1000
    )
    elman.train(model, TOKENIZER, TEXT, None, settings, progress=False)
    return model


@pytest.fixture(scope="session")
def trained_models() -> dict[str, elman.LanguageModel]:
    """An LSTM and a tanh RNN of the same size, trained alike on the same text."""
    return {cell: trained(cell) for cell in ("lstm", "rnn")}
